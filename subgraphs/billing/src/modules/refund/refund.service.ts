/**
 * Refunds: full (the whole remaining amount when no amount is given), partial, several, never
 * more than what remains. The payment row is locked while a refund is created, and the amount
 * of a refund counts against the payment from its creation (a failed refund gives it back),
 * so concurrent refunds cannot together exceed the payment.
 *
 * Money goes back the way it came: through the channel that took it (channels REFUND with
 * reference `<serial>:R<n>`, on the charge's reference), or, for a wallet payment, as coins
 * (a posted transfer coin_sales → player_wallet). Refunds have their own states
 * (PROCESSING → SUCCEEDED | FAILED) and are idempotent like payments.
 */
import {
  AppError,
  ErrorCode,
  MoneyType,
  addJob,
  assertVisible,
  badInput,
  byKey,
  conflict,
  forbidden,
  isUuid,
  loader,
  newId,
  notFound,
  parseMinorUnits,
  pgArray,
  query,
  recordAudit,
  type EntityManager,
  type MikroORM,
  type Principal,
  type RequestContext,
  type StatusEvent,
} from '@coinslot/kernel';
import type { Logger } from '@coinslot/kernel';
import type { Clients } from '../../clients';
import type { Config } from '../../config';
import { requestHash } from '../../crypto';
import { SCHEMA, pgDate } from '../../database';
import { derivedUuid } from '../../domain/serial';
import {
  refundTransition,
  type Outcome,
  type RefundOperation,
  type RefundStatus,
} from '../../domain/state-machine';
import { StatusEvents } from '../../events';
import { JOB, resolveRefundKey } from '../../jobs/names';
import { Refund, type RefundStatusEnum } from '../../types';
import {
  assertIdempotencyKey,
  type IdempotencyService,
  type IdempotentRequest,
} from '../idempotency/idempotency.service';
import { refusedBeforeMoving, toOutcome } from '../payment/outcomes';
import {
  paymentById,
  snapshotOf,
  type PaymentRow,
  type PaymentSnapshot,
} from '../payment/payment.rows';
import { walletHoldId } from '../payment/payment.service';
import type { WebhookService } from '../webhook/webhook.service';

export interface RefundRow {
  id: string;
  payment_id: string;
  merchant_id: string;
  number: number;
  reference: string;
  amount: string;
  currency: string;
  status: RefundStatus;
  failure_code: string | null;
  reason: string | null;
  outcome_version: number;
  created_at: Date | string;
  updated_at: Date | string;
  final_at: Date | string | null;
}

export interface RefundSnapshot {
  id: string;
  paymentId: string;
  merchantId: string;
  playerId: string;
  status: RefundStatus;
  amountMinor: string;
  currency: string;
  reason: string | null;
  failureCode: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface RefundAnswer {
  refund: RefundSnapshot;
  payment: PaymentSnapshot;
}

export function refundSnapshot(r: RefundRow, playerId: string): RefundSnapshot {
  return {
    id: r.id,
    paymentId: r.payment_id,
    merchantId: r.merchant_id,
    playerId,
    status: r.status,
    amountMinor: BigInt(r.amount).toString(),
    currency: r.currency,
    reason: r.reason,
    failureCode: r.failure_code,
    createdAt: pgDate(r.created_at).toISOString(),
    updatedAt: pgDate(r.updated_at).toISOString(),
  };
}

export function toRefund(s: RefundSnapshot): Refund {
  return Object.assign(new Refund(), {
    id: s.id,
    status: s.status as RefundStatusEnum,
    amount: MoneyType.from(BigInt(s.amountMinor), s.currency),
    reason: s.reason,
    failureCode: s.failureCode,
    createdAt: new Date(s.createdAt),
    updatedAt: new Date(s.updatedAt),
    paymentId: s.paymentId,
    merchantId: s.merchantId,
    playerId: s.playerId,
  });
}

export interface RefundDeps {
  config: Config;
  orm: MikroORM;
  log: Logger;
  clients: Clients;
  events: StatusEvents;
  idempotency: IdempotencyService;
  webhooks: WebhookService;
}

const REASON_MAX = 500;

export class RefundService {
  constructor(private readonly d: RefundDeps) {}

  async refund(
    em: EntityManager,
    actor: Principal,
    input: {
      idempotencyKey: string;
      paymentId: string;
      amountMinor?: string | null;
      reason?: string | null;
    },
  ): Promise<RefundAnswer> {
    if (actor.kind !== 'portal' && actor.kind !== 'admin')
      throw forbidden('Refunds need a portal API key (or an admin key).');
    const key = assertIdempotencyKey(input.idempotencyKey);
    if (!isUuid(input.paymentId)) throw notFound('Payment');
    const requested = input.amountMinor != null ? parseMinorUnits(input.amountMinor) : null;
    if (requested != null && requested <= 0n)
      throw badInput('amountMinor must be positive.', 'amountMinor');
    const reason = input.reason?.trim() || null;
    if (reason && reason.length > REASON_MAX)
      throw badInput(`reason must be at most ${REASON_MAX} characters.`, 'reason');
    const payment = await paymentById(em, input.paymentId);
    if (!payment) throw notFound('Payment');
    assertVisible(
      actor,
      'Payment',
      payment && { merchantId: payment.merchant_id, playerId: payment.player_id },
    );
    const req: IdempotentRequest = {
      merchantId: payment.merchant_id,
      key,
      operation: 'refundPayment',
      hash: requestHash(['refundPayment', payment.id, requested?.toString() ?? null, reason]),
    };
    return this.d.idempotency.execute<RefundAnswer>(em, req, {
      fresh: () => this.fresh(actor, payment.id, requested, reason, req),
      replay: (response) => response as RefundAnswer,
      recover: async (row) => {
        const em2 = this.d.orm.em.fork();
        const refund = row.refund_id ? await this.byId(em2, row.refund_id) : null;
        const p = await paymentById(em2, payment.id);
        if (!refund || !p)
          throw new AppError(
            ErrorCode.IDEMPOTENCY_KEY_IN_USE,
            'The idempotency key is in use; retry shortly.',
          );
        const answer = { refund: refundSnapshot(refund, p.player_id), payment: snapshotOf(p) };
        await this.d.orm.em
          .fork()
          .transactional((tx) => this.d.idempotency.complete(tx, req, answer));
        return answer;
      },
    });
  }

  private async fresh(
    actor: Principal,
    paymentId: string,
    requested: bigint | null,
    reason: string | null,
    req: IdempotentRequest,
  ): Promise<RefundAnswer> {
    const id = newId();
    const { refund, payment, full } = await this.d.orm.em.fork().transactional(async (tx) => {
      // The key first: a concurrent request with the same key waits here, then replays.
      await this.d.idempotency.claim(tx, req, { paymentId, refundId: id });
      const p = await paymentById(tx, paymentId, true);
      if (!p) throw notFound('Payment');
      if (p.status !== 'SUCCEEDED')
        throw conflict(
          `Payment ${p.serial_number} is ${p.status}: only a succeeded payment can be refunded.`,
        );
      const remaining = BigInt(p.amount) - BigInt(p.refunded_amount);
      if (remaining <= 0n)
        throw conflict(`Payment ${p.serial_number} is already refunded in full.`);
      const amount = requested ?? remaining;
      if (amount > remaining) {
        throw new AppError(
          ErrorCode.BAD_USER_INPUT,
          `Only ${remaining} ${p.currency} minor units of payment ${p.serial_number} remain to refund; ask for at most that.`,
          {
            field: 'amountMinor',
            reason: 'REFUND_EXCEEDS_REMAINING',
            remainingMinor: remaining.toString(),
          },
        );
      }
      const number = p.refund_count + 1;
      const [r] = await query<RefundRow>(
        tx,
        `insert into billing.refund (id, payment_id, merchant_id, number, reference, amount, currency, status, reason)
         values (?, ?, ?, ?, ?, ?::bigint, ?, 'PROCESSING', ?) returning *`,
        [
          id,
          p.id,
          p.merchant_id,
          number,
          `${p.serial_number}:R${number}`,
          amount.toString(),
          p.currency,
          reason,
        ],
      );
      const [updated] = await query<PaymentRow>(
        tx,
        `update billing.payment set refunded_amount = refunded_amount + ?::bigint, refund_count = ?, updated_at = now() where id = ? returning *`,
        [amount.toString(), number, p.id],
      );
      await recordAudit(tx, SCHEMA, actor, {
        action: 'refund.create',
        targetType: 'Refund',
        targetId: id,
        outcome: 'succeeded',
        details: {
          paymentId: p.id,
          serialNumber: p.serial_number,
          amountMinor: amount.toString(),
          currency: p.currency,
          reason,
        },
      });
      await this.scheduleResolve(tx, id, 0);
      return { refund: r!, payment: updated!, full: amount === remaining };
    });
    const { outcome, version } = await this.execute(payment, refund, full);
    return this.apply(refund.id, 'refund', outcome, { version, completeKey: req, actor });
  }

  /** Moves the money back: coins on the ledger, or the channel's REFUND procedure. */
  private async execute(
    payment: PaymentRow,
    refund: RefundRow,
    full: boolean,
  ): Promise<{ outcome: Outcome; version: number | null }> {
    if (payment.channel_kind === 'WALLET')
      return { outcome: await this.walletRefund(payment, refund), version: null };
    try {
      const run = await this.d.clients.runProcedure({
        reference: refund.reference,
        procedure: 'REFUND',
        merchantId: payment.merchant_id,
        amountMinor: BigInt(refund.amount).toString(),
        currency: refund.currency,
        chargeReference: payment.serial_number,
        full,
        description: (refund.reason ?? 'refund').slice(0, 200),
      });
      return { outcome: toOutcome(run.outcome), version: run.version };
    } catch (err) {
      if (refusedBeforeMoving(err)) {
        this.d.log.warn({ err: err.message, refundId: refund.id }, 'channels refused the refund');
        return { outcome: { kind: 'declined', code: 'CHANNEL_UNAVAILABLE' }, version: null };
      }
      this.d.log.warn(
        { err, refundId: refund.id },
        'refund outcome unknown: the safety net will ask channels',
      );
      return { outcome: { kind: 'unknown' }, version: null };
    }
  }

  /** Coins back: the purchase's hold is captured first (if delivery has not yet), then reversed. */
  private async walletRefund(payment: PaymentRow, refund: RefundRow): Promise<Outcome> {
    const { clients } = this.d;
    try {
      const hold = await clients.postTransfer(walletHoldId(payment.id));
      if (hold.state !== 'posted') return { kind: 'declined', code: 'DENIED' };
    } catch (err) {
      // A voided hold: the coins never left the wallet, there is nothing to give back.
      if (
        err instanceof AppError &&
        (err.code === ErrorCode.CONFLICT || err.code === ErrorCode.NOT_FOUND)
      )
        return { kind: 'declined', code: 'DENIED' };
      this.d.log.warn({ err, refundId: refund.id }, 'wallet refund: capture outcome unknown');
      return { kind: 'unknown' };
    }
    try {
      const [wallet, sales] = await Promise.all([
        clients.ledgerAccount({
          kind: 'player_wallet',
          currency: payment.currency,
          merchantId: payment.merchant_id,
          playerId: payment.player_id,
        }),
        clients.ledgerAccount({
          kind: 'coin_sales',
          currency: payment.currency,
          merchantId: payment.merchant_id,
        }),
      ]);
      await clients.transfer({
        id: derivedUuid('wallet-refund', refund.id),
        debitAccountId: sales,
        creditAccountId: wallet,
        amount: BigInt(refund.amount),
        currency: refund.currency,
        kind: 'refund.wallet',
        reference: refund.reference,
      });
      return { kind: 'succeeded' };
    } catch (err) {
      this.d.log.warn(
        { err, refundId: refund.id },
        'wallet refund outcome unknown: the safety net retries it',
      );
      return { kind: 'unknown' };
    }
  }

  /** The only writer of a refund's status (and of the payment's refunded amount after creation). */
  async apply(
    refundId: string,
    op: RefundOperation,
    outcome: Outcome,
    opts: {
      version?: number | null;
      completeKey?: Pick<IdempotentRequest, 'merchantId' | 'key'>;
      actor?: Principal;
    } = {},
  ): Promise<RefundAnswer> {
    const events: StatusEvent[] = [];
    const answer = await this.d.orm.em.fork().transactional(async (tx) => {
      const [head] = await query<{ payment_id: string }>(
        tx,
        `select payment_id from billing.refund where id = ?`,
        [refundId],
      );
      if (!head) throw notFound('Refund');
      // Lock order: payment, then refund (as in refund creation).
      let payment = (await paymentById(tx, head.payment_id, true))!;
      let refund = (await this.byId(tx, refundId, true))!;
      const stale = opts.version != null && opts.version <= refund.outcome_version;
      if (!stale) {
        const t = refundTransition(refund.status, op, outcome);
        [refund] = (await query<RefundRow>(
          tx,
          `update billing.refund set status = ?, failure_code = ?, outcome_version = greatest(outcome_version, coalesce(?, outcome_version)),
             updated_at = case when ? then now() else updated_at end, final_at = case when ? then now() else final_at end
           where id = ? returning *`,
          [
            t.to,
            t.changed && outcome.kind === 'declined' ? outcome.code : refund.failure_code,
            opts.version ?? null,
            t.changed,
            t.changed,
            refund.id,
          ],
        )) as [RefundRow];
        if (t.changed) {
          if (t.to === 'FAILED') {
            [payment] = (await query<PaymentRow>(
              tx,
              `update billing.payment set refunded_amount = refunded_amount - ?::bigint, updated_at = now() where id = ? returning *`,
              [BigInt(refund.amount).toString(), payment.id],
            )) as [PaymentRow];
          }
          if (t.to === 'SUCCEEDED') {
            await addJob(
              tx,
              SCHEMA,
              JOB.SETTLE_REFUND,
              { refundId: refund.id },
              { jobKey: `settle-refund:${refund.id}`, maxAttempts: 20 },
            );
          }
          await query(tx, `select "${SCHEMA}_jobs".remove_job(?)`, [resolveRefundKey(refund.id)]);
          await this.d.webhooks.enqueue(tx, {
            merchantId: refund.merchant_id,
            type: t.to === 'SUCCEEDED' ? 'refund.succeeded' : 'refund.failed',
            key: `refund.${t.to.toLowerCase()}:${refund.id}`,
            paymentId: payment.id,
            refundId: refund.id,
            data: {
              refund: {
                id: refund.id,
                paymentId: payment.id,
                serialNumber: payment.serial_number,
                status: refund.status,
                amount: {
                  amountMinor: BigInt(refund.amount).toString(),
                  currency: refund.currency,
                },
                reason: refund.reason,
                failureCode: refund.failure_code,
              },
            },
          });
          await recordAudit(tx, SCHEMA, opts.actor ?? { kind: 'service', service: 'billing' }, {
            action: `refund.${op}`,
            targetType: 'Refund',
            targetId: refund.id,
            outcome: 'succeeded',
            details: { to: t.to, outcome: outcome.kind, paymentId: payment.id },
          });
          const event = StatusEvents.paymentEvent(payment.id, {
            status: payment.status,
            refundId: refund.id,
            refundStatus: refund.status,
          });
          await this.d.events.inTransaction(tx, event);
          events.push(event);
        }
      }
      const result: RefundAnswer = {
        refund: refundSnapshot(refund, payment.player_id),
        payment: snapshotOf(payment),
      };
      if (opts.completeKey) await this.d.idempotency.complete(tx, opts.completeKey, result);
      return result;
    });
    this.d.events.afterCommit(events);
    return answer;
  }

  async scheduleResolve(tx: EntityManager, refundId: string, attempt: number): Promise<void> {
    const delay = Math.min(
      this.d.config.RESOLVE_MAX_DELAY_MS,
      this.d.config.RESOLVE_DELAY_MS * 2 ** Math.min(attempt, 20),
    );
    await addJob(
      tx,
      SCHEMA,
      JOB.RESOLVE_REFUND,
      { refundId, attempt },
      { jobKey: resolveRefundKey(refundId), runAt: new Date(Date.now() + delay), maxAttempts: 5 },
    );
  }

  /** The safety net of a refund still processing. */
  async resolve(refundId: string, attempt: number): Promise<void> {
    const em = this.d.orm.em.fork();
    const refund = await this.byId(em, refundId);
    if (!refund || refund.status !== 'PROCESSING') return;
    const payment = (await paymentById(em, refund.payment_id))!;
    if (payment.channel_kind === 'WALLET') {
      await this.apply(refundId, 'resolve', await this.walletRefund(payment, refund));
    } else {
      const run = await this.d.clients.procedureRun(refund.reference);
      if (run)
        await this.apply(refundId, 'resolve', toOutcome(run.outcome), { version: run.version });
      else if (Date.now() - pgDate(refund.created_at).getTime() > 120_000) {
        await this.apply(refundId, 'resolve', { kind: 'declined', code: 'CHANNEL_UNAVAILABLE' });
      }
    }
    const now = await this.byId(em.fork(), refundId);
    if (now?.status === 'PROCESSING' && attempt + 1 < 40) {
      await this.d.orm.em
        .fork()
        .transactional((tx) => this.scheduleResolve(tx, refundId, attempt + 1));
    }
  }

  /** channels' hand-off of a REFUND run. */
  async handOff(reference: string, version: number, outcome: Outcome): Promise<void> {
    const [refund] = await query<RefundRow>(
      this.d.orm.em.fork(),
      `select * from billing.refund where reference = ?`,
      [reference],
    );
    if (!refund) {
      this.d.log.warn({ reference }, 'hand-off for an unknown refund: ignored');
      return;
    }
    await this.apply(refund.id, 'resolve', outcome, {
      version,
      actor: { kind: 'service', service: 'channels' },
    });
  }

  /**
   * Gives a wallet payment's coins back without a client's request (its delivery failed for
   * good): a refund record of the whole remaining amount, succeeded, so refundedAmount tells.
   */
  async recordAutomaticRefund(paymentId: string, reason: string): Promise<void> {
    await this.d.orm.em.fork().transactional(async (tx) => {
      const p = await paymentById(tx, paymentId, true);
      if (!p) return;
      const remaining = BigInt(p.amount) - BigInt(p.refunded_amount);
      if (remaining <= 0n) return;
      const number = p.refund_count + 1;
      const id = newId();
      await query(
        tx,
        `insert into billing.refund (id, payment_id, merchant_id, number, reference, amount, currency, status, reason, final_at)
         values (?, ?, ?, ?, ?, ?::bigint, ?, 'SUCCEEDED', ?, now())`,
        [
          id,
          p.id,
          p.merchant_id,
          number,
          `${p.serial_number}:R${number}`,
          remaining.toString(),
          p.currency,
          reason,
        ],
      );
      await query(
        tx,
        `update billing.payment set refunded_amount = amount, refund_count = ?, updated_at = now() where id = ?`,
        [number, p.id],
      );
      await recordAudit(
        tx,
        SCHEMA,
        { kind: 'service', service: 'billing' },
        {
          action: 'refund.automatic',
          targetType: 'Refund',
          targetId: id,
          outcome: 'succeeded',
          details: {
            paymentId: p.id,
            amountMinor: remaining.toString(),
            currency: p.currency,
            reason,
          },
        },
      );
      await this.d.events.inTransaction(
        tx,
        StatusEvents.paymentEvent(p.id, {
          status: p.status,
          refundId: id,
          refundStatus: 'SUCCEEDED',
        }),
      );
    });
  }

  async byId(em: EntityManager, id: string, lock = false): Promise<RefundRow | null> {
    const [row] = await query<RefundRow>(
      em,
      `select * from billing.refund where id = ?${lock ? ' for update' : ''}`,
      [id],
    );
    return row ?? null;
  }
}

/** Refunds of each payment asked for, one query per request. */
export function refundsLoader(ctx: RequestContext) {
  return loader<string, RefundRow[]>(ctx, 'refunds:payment', async (paymentIds) => {
    const valid = paymentIds.filter(isUuid);
    const rows = valid.length
      ? await query<RefundRow>(
          ctx.em,
          `select * from billing.refund where payment_id = any(?::uuid[]) order by number`,
          [pgArray(valid)],
        )
      : [];
    return byKey(paymentIds, rows, (r) => r.payment_id);
  });
}
