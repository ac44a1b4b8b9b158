/**
 * Entitlements: a player's access to a merchant's service until `valid_until`. Every grant
 * (a payment's delivery, a scratch card, a plan period) extends it by its days from
 * max(now, valid_until) and is idempotent on its key: the same key again returns the
 * entitlement and adds nothing; the same key with other parameters is IDEMPOTENCY_KEY_REUSED.
 */
import {
  AppError,
  ErrorCode,
  badInput,
  byKey,
  isUuid,
  loader,
  newId,
  oneByKey,
  pgArray,
  query,
  recordAudit,
  type EntityManager,
  type Principal,
  type RequestContext,
} from '@coinslot/kernel';
import { SCHEMA, pgDate } from '../../database';
import { Entitlement, ServiceRef } from '../../types';

export interface EntitlementRow {
  id: string;
  merchant_id: string;
  player_id: string;
  service_id: string;
  valid_until: Date | string;
  created_at: Date | string;
  updated_at: Date | string;
}

export interface GrantInput {
  idempotencyKey: string;
  merchantId: string;
  playerId: string;
  serviceId: string;
  days: number;
  source: string;
  sourceRef?: string | null;
}

export function toEntitlement(r: EntitlementRow, now = Date.now()): Entitlement {
  const validUntil = pgDate(r.valid_until);
  return Object.assign(new Entitlement(), {
    id: r.id,
    service: Object.assign(new ServiceRef(), { id: r.service_id }),
    validUntil,
    active: validUntil.getTime() > now,
    merchantId: r.merchant_id,
    playerId: r.player_id,
  });
}

export const MAX_GRANT_DAYS = 3660;

export class EntitlementService {
  async grant(em: EntityManager, actor: Principal, input: GrantInput): Promise<EntitlementRow> {
    const key = input.idempotencyKey.trim();
    if (!key || key.length > 255)
      throw badInput('idempotencyKey must be 1 to 255 characters.', 'idempotencyKey');
    for (const field of ['merchantId', 'playerId', 'serviceId'] as const) {
      if (!isUuid(input[field])) throw badInput(`${field} must be a UUID.`, field);
    }
    if (!Number.isInteger(input.days) || input.days < 1 || input.days > MAX_GRANT_DAYS) {
      throw badInput(`days must be between 1 and ${MAX_GRANT_DAYS}.`, 'days');
    }
    return em.transactional(async (tx) => {
      const replay = await this.byGrantKey(tx, key);
      if (replay) return this.sameGrant(replay, input);
      await query(
        tx,
        `insert into billing.entitlement (id, merchant_id, player_id, service_id, valid_until) values (?, ?, ?, ?, now())
         on conflict (merchant_id, player_id, service_id) do nothing`,
        [newId(), input.merchantId, input.playerId, input.serviceId],
      );
      const [ent] = await query<EntitlementRow>(
        tx,
        `select * from billing.entitlement where merchant_id = ? and player_id = ? and service_id = ? for update`,
        [input.merchantId, input.playerId, input.serviceId],
      );
      // Under the entitlement's lock: a concurrent grant with the same key has committed by now.
      const raced = await this.byGrantKey(tx, key);
      if (raced) return this.sameGrant(raced, input);
      const [updated] = await query<EntitlementRow>(
        tx,
        `update billing.entitlement set valid_until = greatest(valid_until, now()) + (? * interval '1 day'), updated_at = now()
          where id = ? returning *`,
        [input.days, ent!.id],
      );
      await query(
        tx,
        `insert into billing.entitlement_grant (id, entitlement_id, idempotency_key, days, source, source_ref, valid_until_before, valid_until_after)
         values (?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          newId(),
          ent!.id,
          key,
          input.days,
          input.source,
          input.sourceRef ?? null,
          pgDate(ent!.valid_until).toISOString(),
          pgDate(updated!.valid_until).toISOString(),
        ],
      );
      await recordAudit(tx, SCHEMA, actor, {
        action: 'entitlement.grant',
        targetType: 'Entitlement',
        targetId: ent!.id,
        outcome: 'succeeded',
        details: {
          key,
          days: input.days,
          source: input.source,
          serviceId: input.serviceId,
          playerId: input.playerId,
          validUntil: pgDate(updated!.valid_until).toISOString(),
        },
      });
      return updated!;
    });
  }

  private async byGrantKey(
    tx: EntityManager,
    key: string,
  ): Promise<(EntitlementRow & { days: number }) | null> {
    const [row] = await query<EntitlementRow & { days: number }>(
      tx,
      `select e.*, g.days from billing.entitlement_grant g join billing.entitlement e on e.id = g.entitlement_id where g.idempotency_key = ?`,
      [key],
    );
    return row ?? null;
  }

  private sameGrant(row: EntitlementRow & { days: number }, input: GrantInput): EntitlementRow {
    if (
      row.merchant_id !== input.merchantId ||
      row.player_id !== input.playerId ||
      row.service_id !== input.serviceId ||
      row.days !== input.days
    ) {
      throw new AppError(
        ErrorCode.IDEMPOTENCY_KEY_REUSED,
        `Grant ${input.idempotencyKey} was made with other parameters.`,
      );
    }
    const { days: _days, ...entitlement } = row;
    return entitlement;
  }
}

export const entitlements = new EntitlementService();

export function entitlementLoader(ctx: RequestContext) {
  return loader<string, EntitlementRow | null>(ctx, 'entitlement:id', async (ids) => {
    const valid = ids.filter(isUuid);
    const rows = valid.length
      ? await query<EntitlementRow>(
          ctx.em,
          `select * from billing.entitlement where id = any(?::uuid[])`,
          [pgArray(valid)],
        )
      : [];
    return oneByKey(ids, rows, (r) => r.id);
  });
}

export function playerEntitlementsLoader(ctx: RequestContext) {
  return loader<string, EntitlementRow[]>(ctx, 'entitlement:player', async (playerIds) => {
    const valid = playerIds.filter(isUuid);
    const rows = valid.length
      ? await query<EntitlementRow>(
          ctx.em,
          `select * from billing.entitlement where player_id = any(?::uuid[]) order by valid_until desc`,
          [pgArray(valid)],
        )
      : [];
    return byKey(playerIds, rows, (r) => r.player_id);
  });
}
