import {
  AppError,
  ErrorCode,
  actorOf,
  badInput,
  forbidden,
  isUuid,
  newId,
  notFound,
  query,
  type EntityManager,
  type RequestContext,
} from '@coinslot/kernel';
import type { Logger } from 'pino';
import type { CodeHasher } from '../../codes/crypto';
import { jobSchemaName } from '../../database';
import { asDate, isExpired, type BatchRow, type CardRow, type Ts } from '../../rows';
import type { Clients } from '../../clients';
import type { CodecCache } from '../format/format.service';
import { conflictBecause } from '../batch/batch.service';
import { eraseSpentChunk } from '../virtual/virtual.service';
import { FailureLimiter, type LimiterKeys } from './limiter';
import { type Delivery, markDelivered, type Delivered, type RedeemedValue } from './delivery';

export interface ActivationDeps {
  hasher: CodeHasher;
  codecs: CodecCache;
  limiter: FailureLimiter;
  clients: Clients;
  delivery: Delivery;
  log: Logger;
  deliveryRetryDelaySeconds: number;
}

export interface ActivationResult {
  card: CardRow;
  batch: Pick<BatchRow, 'expires_at'>;
  value: RedeemedValue;
  delivered: Delivered | null;
}

/** The one answer for every code that does not open a card of the caller's merchant. */
const invalidCode = () =>
  new AppError(
    ErrorCode.NOT_FOUND,
    'Invalid activation code. Check the code on the card and try again.',
    { reason: 'INVALID_CODE' },
  );

interface RedeemedRow extends CardRow {
  jobs: number;
  credit_amount: string | null;
  credit_currency: string | null;
  service_id: string | null;
  access_days: number | null;
  expires_at: Ts | null;
}

/**
 * Activation, in the order that protects the codes: who may act for the player; lockouts;
 * the check character (a typo never reaches the database); one HMAC lookup that also redeems
 * (ACTIVE → REDEEMED by a conditional UPDATE, so one code wins exactly once); the delivery job
 * in the same transaction; then the delivery inline.
 */
export class ActivationService {
  constructor(private readonly deps: ActivationDeps) {}

  async activate(
    ctx: RequestContext,
    input: { playerId: string; activationCode: string },
  ): Promise<ActivationResult> {
    const { deps } = this;
    const p = ctx.principal;
    const playerId = input.playerId;
    let merchantId: string;
    if (p.kind === 'player') {
      if (p.playerId !== playerId) throw notFound('Player');
      merchantId = p.merchantId;
    } else if (p.kind === 'portal') {
      if (!isUuid(playerId)) throw notFound('Player');
      await deps.clients.assertPlayerVisible(p, playerId);
      merchantId = p.merchantId;
    } else {
      throw forbidden("Activating a card needs the portal's API key or the player's own token.");
    }
    const keys = FailureLimiter.keys(playerId, ctx.clientIp, p.kind);
    await deps.limiter.assertAllowed(keys);

    const code = await this.wellFormed(ctx.em, merchantId, input.activationCode);
    if (!code) {
      await deps.limiter.recordFailure(keys);
      throw badInput(
        'This activation code looks mistyped: check each character against the card (codes never contain 0, O, 1, I or L).',
        'activationCode',
      );
    }
    const hash = deps.hasher.hash(code);
    const activationId = newId();
    const actor = actorOf(p);
    // One statement, hence one transaction and one round trip on the hot path: redeem the card
    // (ACTIVE → REDEEMED only once, whatever the concurrency), queue its delivery job keyed by the
    // card (the outbox), and append the audit row — all three or none.
    const [redeemed] = await query<RedeemedRow>(
      ctx.em,
      `with r as (
         update scratch_cards.card c
            set status = 'REDEEMED', activation_id = ?, redeemed_by = ?, redeemed_at = now()
           from scratch_cards.batch b
          where c.code_hash = ? and b.id = c.batch_id and c.merchant_id = ?
            and c.status = 'ACTIVE' and b.status = 'APPROVED'
            and (b.expires_at is null or b.expires_at > now())
            and (not c.for_sale or c.sold_to_payment_id is not null)
         returning c.*, b.credit_amount, b.credit_currency, b.service_id, b.access_days, b.expires_at),
       job as (
         select "${jobSchemaName}".add_job('deliver_card', json_build_object('cardId', r.id), run_at => now() + ?::interval,
                  max_attempts => 50, job_key => 'deliver:' || r.id::text) as j
           from r),
       audit as (
         insert into scratch_cards.audit_log (actor_kind, actor_id, action, target_type, target_id, outcome, details)
         select ?, ?, 'card.activate', 'ScratchCard', r.id::text, 'succeeded',
                jsonb_build_object('playerId', r.redeemed_by, 'serialNumber', r.serial_number, 'activationId', r.activation_id)
           from r)
       select r.*, (select count(*) from job)::int as jobs from r`,
      [
        activationId,
        playerId,
        hash,
        merchantId,
        `${deps.deliveryRetryDelaySeconds} seconds`,
        actor.kind,
        actor.id,
      ],
    );
    if (redeemed?.for_sale) {
      // Housekeeping after the fact (the redemption is committed): a failure here only delays erasure.
      await eraseSpentChunk(ctx.em, redeemed.batch_id, redeemed.running).catch((err: unknown) =>
        deps.log.warn({ err, batchId: redeemed.batch_id }, 'vault chunk erasure deferred'),
      );
    }
    if (!redeemed) throw await this.whyNot(ctx.em, hash, merchantId, keys);

    const value: RedeemedValue = {
      cardId: redeemed.id,
      activationId,
      serialNumber: redeemed.serial_number,
      merchantId,
      playerId,
      creditAmount: redeemed.credit_amount !== null ? BigInt(redeemed.credit_amount) : null,
      creditCurrency: redeemed.credit_currency,
      serviceId: redeemed.service_id,
      accessDays: redeemed.access_days,
    };
    let delivered: Delivered | null = null;
    try {
      delivered = await deps.delivery.deliver(value);
      await markDelivered(ctx.em, redeemed.id, delivered.ref, true);
    } catch (err) {
      // The redemption and its job are committed: the job delivers later (idempotently).
      deps.log.warn(
        { err, cardId: redeemed.id },
        'inline delivery failed; the delivery job will retry',
      );
    }
    return { card: redeemed, batch: { expires_at: redeemed.expires_at }, value, delivered };
  }

  /** The normalised code when it is well formed for one of the merchant's code shapes. */
  private async wellFormed(
    em: EntityManager,
    merchantId: string,
    raw: string,
  ): Promise<string | null> {
    if (raw.length > 100) return null;
    for (const fresh of [false, true]) {
      const codecs = await this.deps.codecs.forMerchant(em, merchantId, fresh);
      for (const c of codecs) {
        const code = c.normalise(raw);
        if (c.isWellFormed(code)) return code;
      }
    }
    return null;
  }

  /** Tells apart what a client can act on; everything else is the same "invalid code". */
  private async whyNot(
    em: EntityManager,
    hash: Buffer,
    merchantId: string,
    keys: LimiterKeys,
  ): Promise<AppError> {
    const [row] = await query<CardRow & { batch_status: string; expires_at: Ts | null }>(
      em,
      `select c.*, b.status as batch_status, b.expires_at
         from scratch_cards.card c join scratch_cards.batch b on b.id = c.batch_id
        where c.code_hash = ?`,
      [hash],
    );
    if (
      !row ||
      row.merchant_id !== merchantId ||
      (row.for_sale && !row.sold_to_payment_id && row.status !== 'REDEEMED')
    ) {
      await this.deps.limiter.recordFailure(keys);
      return invalidCode();
    }
    if (row.status === 'REDEEMED') {
      return conflictBecause(
        'ALREADY_REDEEMED',
        'This card has already been activated; a card can be used once.',
        {
          redeemedAt: asDate(row.redeemed_at)?.toISOString(),
        },
      );
    }
    if (row.status === 'VOIDED' || row.batch_status === 'VOIDED') {
      return conflictBecause(
        'VOIDED',
        'This card has been voided and cannot be activated. Contact customer care with its serial number.',
      );
    }
    if (row.status === 'EXPIRED' || isExpired(row.expires_at)) {
      return conflictBecause('EXPIRED', 'This card has expired and can no longer be activated.', {
        expiredAt: asDate(row.expires_at)?.toISOString(),
      });
    }
    if (row.status === 'INACTIVE' || row.batch_status !== 'APPROVED') {
      return conflictBecause(
        'NOT_ACTIVE',
        'This card is not active yet (its batch awaits approval). Try again later.',
      );
    }
    return conflictBecause(
      'NOT_ACTIVE',
      'This card cannot be activated right now. Try again later.',
    );
  }
}
