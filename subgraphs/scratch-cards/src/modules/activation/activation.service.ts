import {
  AppError,
  ErrorCode,
  actorOf,
  badInput,
  forbidden,
  isUuid,
  newId,
  notFound,
  pgArray,
  query,
  type EntityManager,
  type MikroORM,
  type RequestContext,
} from '@coinslot/kernel';
import DataLoader from 'dataloader';
import type { Logger } from 'pino';
import type { CodeHasher } from '../../codes/crypto';
import { asDate, isExpired, type BatchRow, type CardRow, type Ts } from '../../rows';
import type { Clients } from '../../clients';
import type { CodecCache } from '../format/format.service';
import { conflictBecause } from '../batch/batch.service';
import { eraseSpentChunk } from '../virtual/virtual.service';
import { FailureLimiter, lockedOut, type LimiterKeys } from './limiter';
import {
  type Delivery,
  markDelivered,
  owedBy,
  type Delivered,
  type RedeemedValue,
} from './delivery';

export interface ActivationDeps {
  orm: MikroORM;
  batchConcurrency: number;
  batchMax: number;
  hasher: CodeHasher;
  codecs: CodecCache;
  limiter: FailureLimiter;
  clients: Clients;
  delivery: Delivery;
  log: Logger;
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
  actor_kind: string;
  actor_id: string;
  credit_amount: string | null;
  credit_currency: string | null;
  service_id: string | null;
  access_days: number | null;
  expires_at: Ts | null;
}

/** One activation waiting for its batch. */
interface Attempt {
  hash: Buffer;
  /** The hash as hex: the batch's key for duplicates and its parameter to PostgreSQL. */
  hashHex: string;
  merchantId: string;
  playerId: string;
  keys: LimiterKeys;
  actor: { kind: string; id: string | null };
}

/**
 * DataLoader's `batchScheduleFn`: a batch starts at once while fewer than `limit` run; otherwise
 * it keeps collecting activations until a running one ends. Idle, nothing waits; under load the
 * batches grow, and the database sees one statement per batch instead of one per activation.
 */
class BatchGate {
  private running = 0;
  private readonly ready: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  readonly schedule = (dispatch: () => void): void => {
    if (this.running < this.limit) {
      this.running += 1;
      setImmediate(dispatch);
    } else {
      this.ready.push(dispatch);
    }
  };

  done(): void {
    const next = this.ready.shift();
    if (next) setImmediate(next);
    else this.running -= 1;
  }
}

/**
 * Activation, in the order that protects the codes: who may act for the player; the check
 * character (a typo never reaches the database); then, batched with the activations arriving at
 * the same time: the lockouts; one HMAC lookup that also redeems (ACTIVE → REDEEMED by a
 * conditional UPDATE, so one code wins exactly once) and appends the audit rows; then the
 * deliveries, as one ledger call. The redemption also writes the card into the delivery outbox
 * (card_delivery_due), which a delivery empties; the `deliver_pending_cards` sweep delivers what a
 * failure or a crash between the two steps left (idempotently: the ledger transfer is keyed by
 * the activation id).
 */
export class ActivationService {
  private readonly gate: BatchGate;
  private readonly loader: DataLoader<Attempt, ActivationResult>;

  constructor(private readonly deps: ActivationDeps) {
    this.gate = new BatchGate(deps.batchConcurrency);
    this.loader = new DataLoader<Attempt, ActivationResult>(
      async (attempts) => {
        try {
          return await this.redeemMany(attempts);
        } finally {
          this.gate.done();
        }
      },
      { cache: false, maxBatchSize: deps.batchMax, batchScheduleFn: this.gate.schedule },
    );
  }

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
    const code = await this.wellFormed(() => ctx.em, merchantId, input.activationCode);
    if (!code) {
      // A locked-out caller is told so before anything else, mistyped code or not.
      await deps.limiter.assertAllowed(keys);
      await deps.limiter.recordFailure(keys);
      throw badInput(
        'This activation code looks mistyped: check each character against the card (codes never contain 0, O, 1, I or L).',
        'activationCode',
      );
    }
    const hash = deps.hasher.hash(code);
    return this.loader.load({
      hash,
      hashHex: hash.toString('hex'),
      merchantId,
      playerId,
      keys,
      actor: actorOf(p),
    });
  }

  /** One batch: lockouts, redemption, deliveries — each a single round trip for all attempts. */
  private async redeemMany(attempts: readonly Attempt[]): Promise<(ActivationResult | Error)[]> {
    const { deps } = this;
    const em = deps.orm.em.fork();
    const results: (ActivationResult | Error | undefined)[] = new Array(attempts.length);
    const waits = await deps.limiter.lockedOutMany(attempts.map((a) => a.keys));
    // The first attempt of each code takes part; a second one in the same batch loses to it.
    const byHash = new Map<string, number>();
    const later: number[] = [];
    attempts.forEach((a, i) => {
      if (waits[i]! > 0) results[i] = lockedOut(waits[i]!);
      else if (byHash.has(a.hashHex)) later.push(i);
      else byHash.set(a.hashHex, i);
    });
    const taking = [...byHash.values()];
    const activationIds = new Map(taking.map((i) => [i, newId()]));
    const redeemed =
      taking.length === 0
        ? []
        : await query<RedeemedRow>(
            em,
            `with req as (
               select decode(h, 'hex') as code_hash, m as merchant_id, a as activation_id,
                      p as player_id, ak as actor_kind, nullif(ai, '') as actor_id
                 from unnest(?::text[], ?::uuid[], ?::uuid[], ?::uuid[], ?::text[], ?::text[])
                   as x(h, m, a, p, ak, ai)),
             r as (
               update scratch_cards.card c
                  set status = 'REDEEMED', activation_id = q.activation_id, redeemed_by = q.player_id,
                      redeemed_at = now()
                 from req q, scratch_cards.batch b
                where c.code_hash = q.code_hash and c.merchant_id = q.merchant_id and b.id = c.batch_id
                  and c.status = 'ACTIVE' and b.status = 'APPROVED'
                  and (b.expires_at is null or b.expires_at > now())
                  and (not c.for_sale or c.sold_to_payment_id is not null)
               returning c.*, b.credit_amount, b.credit_currency, b.service_id, b.access_days,
                         b.expires_at, q.actor_kind, q.actor_id),
             due as (
               insert into scratch_cards.card_delivery_due (card_id) select r.id from r),
             audit as (
               insert into scratch_cards.audit_log (actor_kind, actor_id, action, target_type, target_id, outcome, details)
               select r.actor_kind, r.actor_id, 'card.activate', 'ScratchCard', r.id::text, 'succeeded',
                      jsonb_build_object('playerId', r.redeemed_by, 'serialNumber', r.serial_number,
                                         'activationId', r.activation_id)
                 from r)
             select r.* from r`,
            [
              pgArray(taking.map((i) => attempts[i]!.hashHex)),
              pgArray(taking.map((i) => attempts[i]!.merchantId)),
              pgArray(taking.map((i) => activationIds.get(i)!)),
              pgArray(taking.map((i) => attempts[i]!.playerId)),
              pgArray(taking.map((i) => attempts[i]!.actor.kind)),
              pgArray(taking.map((i) => attempts[i]!.actor.id ?? '')),
            ],
          );
    const byActivation = new Map(redeemed.map((r) => [r.activation_id!, r]));
    const values: { index: number; row: RedeemedRow; value: RedeemedValue }[] = [];
    for (const i of taking) {
      const row = byActivation.get(activationIds.get(i)!);
      if (row) values.push({ index: i, row, value: owedBy(row) });
    }
    // Codes that opened nothing: tell apart what the caller can act on (and count failures).
    const opened = new Set(values.map((v) => v.index));
    const failed = [...taking.filter((i) => !opened.has(i)), ...later];
    await Promise.all(
      failed.map(async (i) => {
        const a = attempts[i]!;
        results[i] = await this.whyNot(em, a.hash, a.merchantId, a.keys).catch(
          (err: unknown) => err as Error,
        );
      }),
    );
    for (const { row } of values) {
      if (!row.for_sale) continue;
      // Housekeeping after the fact (the redemption is committed): a failure only delays erasure.
      await eraseSpentChunk(em, row.batch_id, row.running).catch((err: unknown) =>
        deps.log.warn({ err, batchId: row.batch_id }, 'vault chunk erasure deferred'),
      );
    }
    if (values.length > 0) {
      const outcome = await deps.delivery.deliverMany(values.map((v) => v.value));
      for (const { index, row, value } of values) {
        const d = outcome.get(value.cardId);
        const ok = d && !(d instanceof Error) ? d : null;
        if (!ok)
          deps.log.warn(
            { err: d, cardId: value.cardId },
            'inline delivery failed; the delivery sweep will retry',
          );
        results[index] = { card: row, batch: { expires_at: row.expires_at }, value, delivered: ok };
      }
      await markDelivered(em, outcome).catch((err: unknown) =>
        // Delivered but not marked: the sweep finds the transfer already made (idempotent) and marks it.
        deps.log.warn({ err }, 'delivery mark deferred to the delivery sweep'),
      );
    }
    return results.map((r) => r ?? new Error('activation left without an outcome'));
  }

  /** The normalised code when it is well formed for one of the merchant's code shapes. */
  private async wellFormed(
    emOf: () => EntityManager,
    merchantId: string,
    raw: string,
  ): Promise<string | null> {
    if (raw.length > 100) return null;
    for (const fresh of [false, true]) {
      const codecs = await this.deps.codecs.forMerchant(emOf, merchantId, fresh);
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
