import {
  AppError,
  ErrorCode,
  Money,
  addJob,
  badInput,
  conflict,
  forbidden,
  isUuid,
  isVirtualCurrency,
  newId,
  notFound,
  pgArray,
  query,
  recordAudit,
  type EntityManager,
  type Principal,
} from '@coinslot/kernel';
import { validateFormatForBatch, type CardFormat } from '../../codes/format';
import { SCHEMA } from '../../database';
import { asDate, isExpired, type BatchRow } from '../../rows';
import {
  type ScratchCardKind,
  ScratchCardStatus,
  type CreateScratchCardBatchInput,
} from '../../types';

export const MAX_ACCESS_DAYS = 3650;

/** A validated batch request: exactly one value, a known merchant. */
export interface NewBatch {
  merchantId: string;
  kind: ScratchCardKind;
  count: number;
  value:
    | { kind: 'wallet'; amount: bigint; currency: string }
    | { kind: 'service'; serviceId: string; days: number };
  expiresAt: Date | null;
}

/** Checks the input's own shape (what needs no other subgraph); merchantId may still be open. */
export function parseBatchInput(
  input: CreateScratchCardBatchInput,
  maxBatchSize: number,
): Omit<NewBatch, 'merchantId'> & { merchantId: string | null } {
  if (!Number.isInteger(input.count) || input.count < 1 || input.count > maxBatchSize) {
    throw badInput(`count must be between 1 and ${maxBatchSize}.`, 'count');
  }
  const hasWallet = input.walletCredit != null;
  const hasService = input.serviceId != null || input.accessDays != null;
  if (hasWallet === hasService) {
    throw badInput(
      'Give exactly one value per card: walletCredit, or serviceId with accessDays.',
      hasWallet ? 'serviceId' : 'walletCredit',
    );
  }
  let value: NewBatch['value'];
  if (hasWallet) {
    const money = Money.fromInput(input.walletCredit!);
    if (money.amountMinor <= 0n)
      throw badInput('walletCredit must be a positive amount.', 'walletCredit');
    if (!isVirtualCurrency(money.currency)) {
      throw badInput(
        'walletCredit is in coins: use the merchant\'s virtual currency (e.g. "GEMS").',
        'walletCredit',
      );
    }
    value = { kind: 'wallet', amount: money.amountMinor, currency: money.currency };
  } else {
    if (input.serviceId == null || input.accessDays == null) {
      throw badInput(
        'A service card needs both serviceId and accessDays.',
        input.serviceId == null ? 'serviceId' : 'accessDays',
      );
    }
    if (!isUuid(input.serviceId)) throw badInput('serviceId must be a UUID.', 'serviceId');
    if (
      !Number.isInteger(input.accessDays) ||
      input.accessDays < 1 ||
      input.accessDays > MAX_ACCESS_DAYS
    ) {
      throw badInput(`accessDays must be between 1 and ${MAX_ACCESS_DAYS}.`, 'accessDays');
    }
    value = { kind: 'service', serviceId: input.serviceId, days: input.accessDays };
  }
  const expiresAt = input.expiresAt ?? null;
  if (expiresAt && expiresAt.getTime() <= Date.now())
    throw badInput('expiresAt must be in the future.', 'expiresAt');
  if (input.merchantId != null && !isUuid(input.merchantId))
    throw badInput('merchantId must be a UUID.', 'merchantId');
  return {
    merchantId: input.merchantId ?? null,
    kind: input.kind,
    count: input.count,
    value,
    expiresAt,
  };
}

const LOCK_BATCH = `select * from scratch_cards.batch where id = ? for update`;

export class BatchService {
  async get(em: EntityManager, id: string): Promise<BatchRow | null> {
    if (!isUuid(id)) return null;
    const [row] = await query<BatchRow>(em, `select * from scratch_cards.batch where id = ?`, [id]);
    return row ?? null;
  }

  async byIds(em: EntityManager, ids: readonly string[]): Promise<BatchRow[]> {
    const valid = ids.filter(isUuid);
    if (!valid.length) return [];
    return query<BatchRow>(em, `select * from scratch_cards.batch where id = any(?::uuid[])`, [
      pgArray(valid),
    ]);
  }

  list(em: EntityManager, merchantId: string, limit = 200): Promise<BatchRow[]> {
    return query<BatchRow>(
      em,
      `select * from scratch_cards.batch where merchant_id = ? order by created_at desc, id desc limit ?`,
      [merchantId, limit],
    );
  }

  /** Cards per status (expiry applied), one grouped query for many batches. */
  async counts(
    em: EntityManager,
    batches: readonly Pick<BatchRow, 'id' | 'expires_at'>[],
  ): Promise<Map<string, Map<ScratchCardStatus, number>>> {
    const result = new Map<string, Map<ScratchCardStatus, number>>();
    if (!batches.length) return result;
    const rows = await query<{ batch_id: string; status: string; n: number }>(
      em,
      `select batch_id, status, count(*)::int as n from scratch_cards.card where batch_id = any(?::uuid[]) group by batch_id, status`,
      [pgArray(batches.map((b) => b.id))],
    );
    const expired = new Set(batches.filter((b) => isExpired(b.expires_at)).map((b) => b.id));
    for (const r of rows) {
      let status = r.status as ScratchCardStatus;
      if (
        expired.has(r.batch_id) &&
        (status === ScratchCardStatus.ACTIVE || status === ScratchCardStatus.INACTIVE)
      ) {
        status = ScratchCardStatus.EXPIRED;
      }
      const m = result.get(r.batch_id) ?? new Map<ScratchCardStatus, number>();
      m.set(status, (m.get(status) ?? 0) + r.n);
      result.set(r.batch_id, m);
    }
    return result;
  }

  /** Records the batch and queues its generation in one transaction (the outbox). */
  async create(
    em: EntityManager,
    principal: Extract<Principal, { kind: 'admin' }>,
    input: NewBatch,
    format: CardFormat,
  ): Promise<BatchRow> {
    validateFormatForBatch(format, input.count);
    return em.transactional(async (tx) => {
      const id = newId();
      const wallet = input.value.kind === 'wallet' ? input.value : null;
      const service = input.value.kind === 'service' ? input.value : null;
      const [row] = await query<BatchRow>(
        tx,
        `insert into scratch_cards.batch (id, merchant_id, kind, count, credit_amount, credit_currency, service_id, access_days,
           expires_at, serial_prefix, running_width, alphabet, code_length, group_size, created_by)
         values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) returning *`,
        [
          id,
          input.merchantId,
          input.kind,
          input.count,
          wallet?.amount.toString() ?? null,
          wallet?.currency ?? null,
          service?.serviceId ?? null,
          service?.days ?? null,
          input.expiresAt?.toISOString() ?? null,
          format.serialPrefix,
          format.runningWidth,
          format.alphabet,
          format.codeLength,
          format.groupSize,
          principal.adminId,
        ],
      );
      await addJob(
        tx,
        SCHEMA,
        'generate_batch',
        { batchId: id },
        { jobKey: `generate:${id}`, maxAttempts: 10 },
      );
      await recordAudit(tx, SCHEMA, principal, {
        action: 'batch.create',
        targetType: 'ScratchCardBatch',
        targetId: id,
        outcome: 'succeeded',
        details: {
          merchantId: input.merchantId,
          kind: input.kind,
          count: input.count,
          ...(wallet
            ? { walletCredit: { amountMinor: wallet.amount.toString(), currency: wallet.currency } }
            : {}),
          ...(service ? { serviceId: service.serviceId, accessDays: service.days } : {}),
          expiresAt: input.expiresAt?.toISOString() ?? null,
        },
      });
      return row!;
    });
  }

  /**
   * Owner approval, four eyes: never by the admin who created the batch. Every card of the batch
   * becomes ACTIVE in the same transaction.
   */
  async approve(
    em: EntityManager,
    principal: Extract<Principal, { kind: 'admin' }>,
    id: string,
  ): Promise<BatchRow> {
    if (!isUuid(id)) throw notFound('Scratch card batch');
    const refused = async (reason: string) =>
      recordAudit(em.fork(), SCHEMA, principal, {
        action: 'batch.approve',
        targetType: 'ScratchCardBatch',
        targetId: id,
        outcome: 'refused',
        details: { reason },
      });
    const outcome = await em.transactional(async (tx) => {
      const [b] = await query<BatchRow>(tx, LOCK_BATCH, [id]);
      if (!b) throw notFound('Scratch card batch');
      if (b.created_by === principal.adminId) return { refuse: 'creator' as const };
      if (b.status !== 'PENDING_APPROVAL') {
        throw conflict(
          b.status === 'GENERATING'
            ? `The batch is still generating (${b.generated_count} of ${b.count}); approve it once it is PENDING_APPROVAL.`
            : `Only a batch pending approval can be approved; this one is ${b.status}.`,
        );
      }
      if (isExpired(b.expires_at)) throw conflict('The batch has expired; void it instead.');
      const [row] = await query<BatchRow>(
        tx,
        `update scratch_cards.batch set status = 'APPROVED', approved_by = ?, approved_at = now() where id = ? returning *`,
        [principal.adminId, id],
      );
      await query(
        tx,
        `update scratch_cards.card set status = 'ACTIVE' where batch_id = ? and status = 'INACTIVE'`,
        [id],
      );
      if (b.expires_at) {
        await addJob(
          tx,
          SCHEMA,
          'expire_batch',
          { batchId: id },
          { jobKey: `expire:${id}`, runAt: asDate(b.expires_at), maxAttempts: 25 },
        );
      }
      await recordAudit(tx, SCHEMA, principal, {
        action: 'batch.approve',
        targetType: 'ScratchCardBatch',
        targetId: id,
        outcome: 'succeeded',
        details: { count: b.count },
      });
      return { row: row! };
    });
    if ('refuse' in outcome) {
      await refused('approver created the batch');
      throw forbidden('A batch must be approved by an owner other than the admin who created it.');
    }
    return outcome.row;
  }

  /** Voids a batch at any stage: open cards become VOIDED, the vault and export links are erased. */
  async void(
    em: EntityManager,
    principal: Extract<Principal, { kind: 'admin' }>,
    id: string,
  ): Promise<BatchRow> {
    if (!isUuid(id)) throw notFound('Scratch card batch');
    return em.transactional(async (tx) => {
      const [b] = await query<BatchRow>(tx, LOCK_BATCH, [id]);
      if (!b) throw notFound('Scratch card batch');
      if (b.status === 'VOIDED') throw conflict('The batch is already voided.');
      const [row] = await query<BatchRow>(
        tx,
        `update scratch_cards.batch set status = 'VOIDED', voided_by = ?, voided_at = now(),
           vault_erased_at = coalesce(vault_erased_at, now()) where id = ? returning *`,
        [principal.adminId, id],
      );
      const [voided] = await query<{ n: number }>(
        tx,
        `with v as (update scratch_cards.card set status = 'VOIDED', voided_at = now()
                     where batch_id = ? and status in ('INACTIVE', 'ACTIVE') returning 1)
         select count(*)::int as n from v`,
        [id],
      );
      await query(tx, `delete from scratch_cards.card_vault where batch_id = ?`, [id]);
      await query(
        tx,
        `update scratch_cards.export_token set revoked_at = now() where batch_id = ? and used_at is null and revoked_at is null`,
        [id],
      );
      await recordAudit(tx, SCHEMA, principal, {
        action: 'batch.void',
        targetType: 'ScratchCardBatch',
        targetId: id,
        outcome: 'succeeded',
        details: { previousStatus: b.status, cardsVoided: voided!.n },
      });
      return row!;
    });
  }

  /** The expiry job: open cards of an expired batch become EXPIRED; its clear codes are no longer needed. */
  async expire(em: EntityManager, id: string): Promise<number> {
    return em.transactional(async (tx) => {
      const [b] = await query<BatchRow>(tx, LOCK_BATCH, [id]);
      if (!b || !isExpired(b.expires_at)) return 0;
      const [row] = await query<{ n: number }>(
        tx,
        `with e as (update scratch_cards.card set status = 'EXPIRED' where batch_id = ? and status in ('INACTIVE', 'ACTIVE') returning 1)
         select count(*)::int as n from e`,
        [id],
      );
      await query(tx, `delete from scratch_cards.card_vault where batch_id = ?`, [id]);
      await query(
        tx,
        `update scratch_cards.batch set vault_erased_at = coalesce(vault_erased_at, now()) where id = ?`,
        [id],
      );
      return row!.n;
    });
  }
}

export const batches = new BatchService();

/** CONFLICT with a machine-readable reason, for states a client should tell apart. */
export function conflictBecause(
  reason: string,
  message: string,
  extra: Record<string, unknown> = {},
): AppError {
  return new AppError(ErrorCode.CONFLICT, message, { reason, ...extra });
}
