/**
 * Recurring plan subscriptions (ARCHITECTURE.md §1 point 6). Every charge is an ordinary payment
 * made through PaymentService.createForPlan (same validation, country rules, idempotency, state
 * machine, fulfilment and webhooks), naming the subscription and the period it pays for.
 *
 *   subscribe ─ first payment ─┬─ SUCCEEDED ─► ACTIVE (period 1, access granted, renewal job)
 *                              ├─ FAILED/CANCELED ─► CANCELED (FIRST_PAYMENT_FAILED)
 *                              └─ in flight (OTP, callback) ─► PENDING until it is final
 *   renewal job (period n+1) ─┬─ SUCCEEDED ─► ACTIVE (period n+1, access extended, next job)
 *                             ├─ FAILED ─► PAST_DUE, retried +1, +2, +4 days, then CANCELED
 *                             └─ refused by the caps/hours ─► deferred (no attempt counted)
 *
 * The subscription moves in the same transaction as its payment's final status (the payment
 * service calls paymentFinal), and the next job is added there too (the outbox). Jobs are
 * keyed by subscription and period; a job whose period is paid already does nothing, and the
 * charge of one attempt is idempotent on `subscription:<id>:<period>:<attempt>`, so a job that
 * runs twice never charges twice. No transaction is held across a remote call.
 */
import { hkdfSync } from 'node:crypto';
import {
  AppError,
  ErrorCode,
  addJob,
  assertMsisdn,
  assertVisible,
  badInput,
  forbidden,
  isUuid,
  maskMsisdn,
  newId,
  notFound,
  query,
  recordAudit,
  type EntityManager,
  type MikroORM,
  type Principal,
} from '@coinslot/kernel';
import type { Logger } from '@coinslot/kernel';
import type { Clients, PriceFacts } from '../../clients';
import type { BillingKeys } from '../../config';
import { keyedHash, open, requestHash, seal } from '../../crypto';
import { SCHEMA, pgDate } from '../../database';
import {
  DAY_MS,
  firstAllowedAt,
  nextLocalDayAt,
  nextLocalMonthAt,
  periodDays,
  retryAt,
  type ChargingHours,
} from '../../domain/recurring';
import { CARRIER_KINDS, refused } from '../../domain/rules';
import { JOB, renewSubscriptionKey } from '../../jobs/names';
import { MAX_GRANT_DAYS, type EntitlementService } from '../entitlement/entitlement.service';
import {
  assertIdempotencyKey,
  type IdempotencyService,
  type IdempotentRequest,
  type KeyRow,
} from '../idempotency/idempotency.service';
import type { PaymentRow, PaymentSnapshot } from '../payment/payment.rows';
import type { PaymentService, SubscriptionPaymentHook } from '../payment/payment.service';
import {
  subscriptionById,
  subscriptionSnapshot,
  type CancelReason,
  type SubscriptionRow,
  type SubscriptionSnapshot,
  type SubscriptionStatus,
} from './subscription.rows';

/** Kinds billing can charge again without the player at hand (a card needs the cash desk). */
export const RECURRING_KINDS = ['CARRIER_BILLING', 'PREMIUM_SMS', 'WALLET'] as const;
type RecurringKind = (typeof RECURRING_KINDS)[number];

const SERVICE_ACTOR: Principal = { kind: 'service', service: 'billing' };
const RENEW_MAX_ATTEMPTS = 25;

export interface SubscribeCommand {
  merchantId: string;
  portalId: string;
  idempotencyKey: string;
  playerId: string;
  planId: string;
  channelId?: string | null;
  msisdn?: string | null;
}

export interface SubscribeAnswer {
  subscription: SubscriptionSnapshot;
  payment: PaymentSnapshot;
}

export interface SubscriptionDeps {
  orm: MikroORM;
  log: Logger;
  clients: Clients;
  keys: BillingKeys;
  idempotency: IdempotencyService;
  payments: PaymentService;
  entitlements: EntitlementService;
}

/** The key of one charge attempt of one period (the payment's idempotency key). */
export const chargeKey = (subscriptionId: string, period: number, attempt: number) =>
  `subscription:${subscriptionId}:${period}:${attempt}`;
/** The entitlement grant of one paid period. */
export const periodGrantKey = (subscriptionId: string, period: number) =>
  `subscription:${subscriptionId}:${period}`;
const orderRefOf = (subscriptionId: string, period: number) =>
  `subscription:${subscriptionId}:${period}`;

/** The MSISDN a subscription charges, sealed at rest (AES-256-GCM, AAD: the subscription id). */
function msisdnSealKey(keys: BillingKeys): Buffer {
  return Buffer.from(
    hkdfSync('sha256', keys.webhookKey, Buffer.alloc(0), 'billing msisdn seal', 32),
  );
}
export const sealMsisdn = (keys: BillingKeys, subscriptionId: string, msisdn: string) =>
  seal(msisdnSealKey(keys), msisdn, `subscription:${subscriptionId}`);
const openMsisdn = (keys: BillingKeys, subscriptionId: string, sealed: string) =>
  open(msisdnSealKey(keys), sealed, `subscription:${subscriptionId}`);

const hoursOf = (s: SubscriptionRow): ChargingHours => ({
  from: s.charging_hour_from,
  to: s.charging_hour_to,
});

/** The `reason` of a refusal made before anything was charged; null for anything else. */
function refusalOf(err: unknown): string | null {
  if (!(err instanceof AppError)) return null;
  if (
    err.code !== ErrorCode.BAD_USER_INPUT &&
    err.code !== ErrorCode.CONFLICT &&
    err.code !== ErrorCode.NOT_FOUND &&
    err.code !== ErrorCode.FORBIDDEN
  ) {
    return null;
  }
  return typeof err.extensions.reason === 'string' ? err.extensions.reason : err.code;
}

export class SubscriptionService implements SubscriptionPaymentHook {
  constructor(private readonly d: SubscriptionDeps) {}

  // ---------------------------------------------------------------------------- subscribe

  /** subscribe: idempotent on (merchant, idempotencyKey), like createPayment. */
  async subscribe(em: EntityManager, cmd: SubscribeCommand): Promise<SubscribeAnswer> {
    const key = assertIdempotencyKey(cmd.idempotencyKey);
    if (!isUuid(cmd.playerId)) throw notFound('Player');
    if (!isUuid(cmd.planId)) throw notFound('Plan');
    if (cmd.channelId != null && !isUuid(cmd.channelId))
      throw badInput('channelId must be a channel id.', 'channelId');
    const req: IdempotentRequest = {
      merchantId: cmd.merchantId,
      key,
      operation: 'subscribe',
      hash: requestHash([
        'subscribe',
        cmd.playerId,
        cmd.planId,
        cmd.channelId ?? null,
        cmd.msisdn ? keyedHash(this.d.keys.msisdnKey, cmd.msisdn) : null,
      ]),
    };
    return this.d.idempotency.execute<SubscribeAnswer>(em, req, {
      fresh: () => this.subscribeFresh(cmd, req),
      replay: (response) => response as SubscribeAnswer,
      recover: (row) => this.recoverSubscribe(req, row),
    });
  }

  private async choosePrice(cmd: SubscribeCommand, country: string): Promise<PriceFacts> {
    const { clients } = this.d;
    const [planData, channelData] = await Promise.all([
      clients.catalog.request<{
        plan: { id: string; prices: { id: string; channelKind: string }[] } | null;
      }>(
        `query ($id: ID!, $country: String!) { plan(id: $id) { id prices(country: $country) { id channelKind } } }`,
        { id: cmd.planId, country },
      ),
      cmd.channelId
        ? clients.channels
            .request<{ channel: { id: string; kind: string } | null }>(
              `query ($id: ID!) { channel(id: $id) { id kind } }`,
              { id: cmd.channelId },
            )
            .catch((err: unknown) => {
              if (err instanceof AppError && err.code === ErrorCode.NOT_FOUND)
                return { channel: null };
              throw err;
            })
        : Promise.resolve(null),
    ]);
    const plan = planData.plan;
    if (!plan) throw notFound('Plan');
    let kinds: readonly string[] = RECURRING_KINDS;
    if (channelData) {
      const kind = channelData.channel?.kind;
      if (!kind) throw badInput(`Channel ${cmd.channelId} does not exist.`, 'channelId');
      if (!(RECURRING_KINDS as readonly string[]).includes(kind)) {
        throw refused(
          ErrorCode.BAD_USER_INPUT,
          'NOT_RECURRING',
          `A ${kind} channel cannot renew a subscription without the player (no stored card); pick a carrier-billing, premium SMS or wallet channel.`,
          { field: 'channelId' },
        );
      }
      kinds = [kind];
    }
    const choice = kinds
      .map((k) => plan.prices.find((p) => p.channelKind === k))
      .find((p) => p !== undefined);
    if (!choice) {
      throw refused(
        ErrorCode.CONFLICT,
        'PLAN_NOT_OFFERED',
        `The plan has no active ${kinds.join(' / ')} price in ${country}, the player's country; subscriptions renew through carrier billing, premium SMS or the wallet.`,
      );
    }
    const price = await clients.price(choice.id);
    if (!price || price.merchantId !== cmd.merchantId || price.planId !== plan.id)
      throw notFound('Plan');
    return price;
  }

  private async subscribeFresh(
    cmd: SubscribeCommand,
    req: IdempotentRequest,
  ): Promise<SubscribeAnswer> {
    const { clients } = this.d;
    // Reads: the player (accounts), the plan's price in the player's country (catalog) — never
    // the client's word — and, for carrier billing, the country's charging hours.
    const player = await clients.player(cmd.playerId);
    if (!player || player.merchantId !== cmd.merchantId) throw notFound('Player');
    const price = await this.choosePrice(cmd, player.country);
    if (!price.purchasable) {
      throw refused(
        ErrorCode.CONFLICT,
        'PRICE_NOT_PURCHASABLE',
        'This plan (or its price) is not on sale any more; fetch the current offers.',
      );
    }
    const interval = price.planInterval as SubscriptionRow['interval'] | null;
    const count = price.planIntervalCount;
    if (!interval || !count || !price.serviceId)
      throw new Error(`plan price ${price.id} has no interval or service`);
    const longest = count * (interval === 'MONTH' ? 31 : interval === 'WEEK' ? 7 : 1);
    if (longest > MAX_GRANT_DAYS) {
      throw badInput(`Plans longer than ${MAX_GRANT_DAYS} days cannot be subscribed to.`, 'planId');
    }
    const kind = price.channelKind as RecurringKind;
    const carrier = CARRIER_KINDS.has(kind);
    let msisdn: string | null = null;
    if (carrier) {
      const raw = cmd.msisdn ?? player.msisdn;
      if (!raw) {
        throw refused(
          ErrorCode.BAD_USER_INPUT,
          'MSISDN_REQUIRED',
          `${kind} charges the phone bill: pass msisdn (E.164) or register the player with one.`,
          { field: 'msisdn' },
        );
      }
      msisdn = assertMsisdn(raw).e164;
    }
    const country = carrier ? await clients.country(price.country) : null;
    const timezone = player.timezone ?? country?.timezones[0] ?? 'UTC';
    const id = newId();

    await this.d.orm.em.fork().transactional(async (tx) => {
      // The key first: a concurrent request with the same key waits here, then replays.
      await this.d.idempotency.claim(tx, req, { subscriptionId: id });
      // One live subscription per player and service (plan_subscription_live_idx).
      const [inserted] = await query<{ id: string }>(
        tx,
        `insert into billing.plan_subscription (id, merchant_id, portal_id, player_id, plan_id, service_id, price_id,
           channel_id, channel_kind, country, timezone, charging_hour_from, charging_hour_to, interval, interval_count,
           amount, currency, msisdn_masked, msisdn_hash, msisdn_sealed, status)
         values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?::bigint, ?, ?, ?, ?, 'PENDING')
         on conflict do nothing returning id`,
        [
          id,
          cmd.merchantId,
          cmd.portalId,
          player.id,
          price.planId,
          price.serviceId,
          price.id,
          cmd.channelId ?? null,
          kind,
          price.country,
          timezone,
          country?.rules?.chargingHourFrom ?? null,
          country?.rules?.chargingHourTo ?? null,
          interval,
          count,
          BigInt(price.amount.amountMinor).toString(),
          price.currency,
          msisdn ? maskMsisdn(msisdn) : null,
          msisdn ? keyedHash(this.d.keys.msisdnKey, msisdn) : null,
          msisdn ? sealMsisdn(this.d.keys, id, msisdn) : null,
        ],
      );
      if (!inserted) {
        throw refused(
          ErrorCode.CONFLICT,
          'ALREADY_SUBSCRIBED',
          "The player already has a subscription to this plan's service; cancel it first (cancelSubscription).",
        );
      }
    });
    return this.firstCharge(req, id, cmd.portalId);
  }

  /**
   * The first period's payment, then the answer stored under the key. A payment refused before
   * anything was charged (country rules, consent, routing) takes the subscription with it:
   * refused requests store nothing, and the same key may be used again.
   */
  private async firstCharge(
    req: IdempotentRequest,
    id: string,
    portalId: string | null,
  ): Promise<SubscribeAnswer> {
    const sub = (await subscriptionById(this.d.orm.em.fork(), id))!;
    let payment: PaymentSnapshot;
    try {
      payment = await this.charge(sub, 1, 1);
    } catch (err) {
      const [charged] = await query(
        this.d.orm.em.fork(),
        `select id from billing.payment where subscription_id = ? limit 1`,
        [id],
      );
      if (!charged && refusalOf(err)) {
        await this.d.orm.em.fork().transactional(async (tx) => {
          await query(
            tx,
            `delete from billing.plan_subscription where id = ? and status = 'PENDING' and period = 0`,
            [id],
          );
          await query(
            tx,
            `delete from billing.idempotency_key where merchant_id = ? and key = ? and state = 'running'`,
            [req.merchantId, req.key],
          );
        });
      }
      throw err;
    }
    return this.d.orm.em.fork().transactional(async (tx) => {
      const now = (await subscriptionById(tx, id))!;
      await recordAudit(
        tx,
        SCHEMA,
        portalId ? { kind: 'portal', merchantId: now.merchant_id, portalId } : SERVICE_ACTOR,
        {
          action: 'subscription.create',
          targetType: 'PlanSubscription',
          targetId: id,
          outcome: 'succeeded',
          details: {
            playerId: now.player_id,
            planId: now.plan_id,
            priceId: now.price_id,
            channelKind: now.channel_kind,
            amountMinor: BigInt(now.amount).toString(),
            currency: now.currency,
            paymentId: payment.id,
            status: now.status,
          },
        },
      );
      const answer: SubscribeAnswer = { subscription: subscriptionSnapshot(now), payment };
      await this.d.idempotency.complete(tx, req, answer);
      return answer;
    });
  }

  /** The first request died after its first transaction: finish it (the charge is idempotent). */
  private async recoverSubscribe(req: IdempotentRequest, row: KeyRow): Promise<SubscribeAnswer> {
    const sub = row.subscription_id
      ? await subscriptionById(this.d.orm.em.fork(), row.subscription_id)
      : null;
    if (!sub) {
      throw new AppError(
        ErrorCode.IDEMPOTENCY_KEY_IN_USE,
        'The idempotency key is in use; retry shortly.',
      );
    }
    // The first payment's own key replays it (or makes it, if the request died before).
    return this.firstCharge(req, sub.id, sub.portal_id);
  }

  /** One attempt at one period's charge: an ordinary payment, idempotent on its key. */
  private charge(sub: SubscriptionRow, period: number, attempt: number): Promise<PaymentSnapshot> {
    return this.d.payments.createForPlan(this.d.orm.em.fork(), {
      merchantId: sub.merchant_id,
      idempotencyKey: chargeKey(sub.id, period, attempt),
      playerId: sub.player_id,
      priceId: sub.price_id,
      orderRef: orderRefOf(sub.id, period),
      channelId: sub.channel_id,
      msisdn: sub.msisdn_sealed ? openMsisdn(this.d.keys, sub.id, sub.msisdn_sealed) : null,
      subscriptionId: sub.id,
      subscriptionPeriod: period,
    });
  }

  // ------------------------------------------------------------------------------- cancel

  /**
   * cancelSubscription. atPeriodEnd on an ACTIVE subscription: no more renewals, ACTIVE until
   * current_period_end, then CANCELED by the period's job. Otherwise (and for PENDING or
   * PAST_DUE, which have no paid period left to run out): CANCELED now. Access already paid
   * for is kept. Repeating it changes nothing.
   */
  async cancel(
    actor: Principal,
    subscriptionId: string,
    atPeriodEnd: boolean,
  ): Promise<SubscriptionSnapshot> {
    if (actor.kind !== 'portal' && actor.kind !== 'player' && actor.kind !== 'admin')
      throw forbidden();
    if (!isUuid(subscriptionId)) throw notFound('Subscription');
    return this.d.orm.em.fork().transactional(async (tx) => {
      const sub = await subscriptionById(tx, subscriptionId, true);
      assertVisible(
        actor,
        'Subscription',
        sub && { merchantId: sub.merchant_id, playerId: sub.player_id },
      );
      const row = sub!;
      if (row.status === 'CANCELED') return subscriptionSnapshot(row);
      if (atPeriodEnd && row.status === 'ACTIVE') {
        if (row.cancel_at_period_end) return subscriptionSnapshot(row);
        const end = pgDate(row.current_period_end!);
        const [updated] = await query<SubscriptionRow>(
          tx,
          `update billing.plan_subscription set cancel_at_period_end = true, next_charge_at = null, updated_at = now()
            where id = ? returning *`,
          [row.id],
        );
        // The next period's job now ends the subscription instead of charging it.
        await this.scheduleRenewal(tx, row.id, row.period + 1, end);
        await recordAudit(tx, SCHEMA, actor, {
          action: 'subscription.cancel',
          targetType: 'PlanSubscription',
          targetId: row.id,
          outcome: 'succeeded',
          details: { atPeriodEnd: true, status: row.status, currentPeriodEnd: end.toISOString() },
        });
        return subscriptionSnapshot(updated!);
      }
      const updated = await this.cancelNow(tx, row, 'REQUESTED');
      await recordAudit(tx, SCHEMA, actor, {
        action: 'subscription.cancel',
        targetType: 'PlanSubscription',
        targetId: row.id,
        outcome: 'succeeded',
        details: { atPeriodEnd: false, from: row.status },
      });
      return subscriptionSnapshot(updated);
    });
  }

  private async cancelNow(
    tx: EntityManager,
    sub: SubscriptionRow,
    reason: CancelReason,
  ): Promise<SubscriptionRow> {
    const [updated] = await query<SubscriptionRow>(
      tx,
      `update billing.plan_subscription set status = 'CANCELED', canceled_at = now(), cancel_reason = ?,
         next_charge_at = null, updated_at = now()
        where id = ? returning *`,
      [reason, sub.id],
    );
    await this.removeRenewal(tx, sub.id, sub.period + 1);
    return updated!;
  }

  // ------------------------------------------------------------------------------ renewal

  /** The renewal job of `period` (keyed `renew:<id>:<period>`): charge it, or end the subscription. */
  async renew(subscriptionId: string, period: number): Promise<void> {
    const sub = await subscriptionById(this.d.orm.em.fork(), subscriptionId);
    if (!sub || (sub.status !== 'ACTIVE' && sub.status !== 'PAST_DUE')) return;
    if (period !== sub.period + 1) return; // paid already, or not due: a duplicate or stale job
    if (sub.cancel_at_period_end) {
      await this.endAtPeriodEnd(subscriptionId, period);
      return;
    }
    let hours = hoursOf(sub);
    if (CARRIER_KINDS.has(sub.channel_kind)) {
      // The country's hours may have changed since the subscription was made.
      const country = await this.d.clients.country(sub.country);
      hours = {
        from: country?.rules?.chargingHourFrom ?? null,
        to: country?.rules?.chargingHourTo ?? null,
      };
      if (hours.from !== sub.charging_hour_from || hours.to !== sub.charging_hour_to) {
        await query(
          this.d.orm.em.fork(),
          `update billing.plan_subscription set charging_hour_from = ?, charging_hour_to = ?, updated_at = now() where id = ?`,
          [hours.from, hours.to, sub.id],
        );
      }
    }
    try {
      // The outcome moves the subscription through paymentFinal, now or when it is known.
      await this.charge(sub, period, sub.failed_attempts + 1);
    } catch (err) {
      const reason = refusalOf(err);
      if (!reason) throw err; // unknown (a service down): the job is retried with backoff
      await this.refusedRenewal(sub.id, period, reason, hours, err as AppError);
    }
  }

  /** A renewal refused before anything was charged: deferred (hours, caps) or the end. */
  private async refusedRenewal(
    subscriptionId: string,
    period: number,
    reason: string,
    hours: ChargingHours,
    err: AppError,
  ): Promise<void> {
    await this.d.orm.em.fork().transactional(async (tx) => {
      const sub = await subscriptionById(tx, subscriptionId, true);
      if (!sub || (sub.status !== 'ACTIVE' && sub.status !== 'PAST_DUE')) return;
      if (period !== sub.period + 1) return;
      const now = new Date();
      const deferTo =
        reason === 'OUTSIDE_CHARGING_HOURS'
          ? firstAllowedAt(now, sub.timezone, hours)
          : reason === 'DAILY_LIMIT'
            ? nextLocalDayAt(now, sub.timezone, hours)
            : reason === 'MONTHLY_LIMIT'
              ? nextLocalMonthAt(now, sub.timezone, hours)
              : null;
      if (deferTo) {
        // Not an attempt: nothing was charged, the caps or hours said "not now".
        await query(
          tx,
          `update billing.plan_subscription set next_charge_at = ?, updated_at = now() where id = ?`,
          [deferTo.toISOString(), sub.id],
        );
        await this.scheduleRenewal(tx, sub.id, period, deferTo);
        await recordAudit(tx, SCHEMA, SERVICE_ACTOR, {
          action: 'subscription.defer',
          targetType: 'PlanSubscription',
          targetId: sub.id,
          outcome: 'succeeded',
          details: { period, reason, nextChargeAt: deferTo.toISOString() },
        });
        return;
      }
      // The plan, its price, the player or the channel cannot be charged any more.
      this.d.log.warn(
        { subscriptionId, period, reason, err: err.message },
        'renewal refused for good: subscription canceled',
      );
      await this.cancelNow(tx, sub, 'NOT_CHARGEABLE');
      await recordAudit(tx, SCHEMA, SERVICE_ACTOR, {
        action: 'subscription.cancel',
        targetType: 'PlanSubscription',
        targetId: sub.id,
        outcome: 'succeeded',
        details: {
          period,
          reason: 'NOT_CHARGEABLE',
          refusal: reason,
          message: err.message.slice(0, 300),
        },
      });
    });
  }

  /** Canceled at period end: CANCELED once the period is over (a run before that reschedules). */
  private async endAtPeriodEnd(subscriptionId: string, period: number): Promise<void> {
    await this.d.orm.em.fork().transactional(async (tx) => {
      const sub = await subscriptionById(tx, subscriptionId, true);
      if (!sub || sub.status === 'CANCELED' || sub.status === 'PENDING') return;
      if (!sub.cancel_at_period_end || period !== sub.period + 1) return;
      const end = pgDate(sub.current_period_end!);
      if (end.getTime() > Date.now()) {
        await this.scheduleRenewal(tx, sub.id, period, end);
        return;
      }
      await this.cancelNow(tx, sub, 'PERIOD_END');
      await recordAudit(tx, SCHEMA, SERVICE_ACTOR, {
        action: 'subscription.end',
        targetType: 'PlanSubscription',
        targetId: sub.id,
        outcome: 'succeeded',
        details: { period: sub.period, currentPeriodEnd: end.toISOString() },
      });
    });
  }

  private async scheduleRenewal(
    tx: EntityManager,
    subscriptionId: string,
    period: number,
    runAt: Date,
  ): Promise<void> {
    await addJob(
      tx,
      SCHEMA,
      JOB.RENEW_SUBSCRIPTION,
      { subscriptionId, period },
      {
        jobKey: renewSubscriptionKey(subscriptionId, period),
        runAt,
        maxAttempts: RENEW_MAX_ATTEMPTS,
      },
    );
  }

  private async removeRenewal(
    tx: EntityManager,
    subscriptionId: string,
    period: number,
  ): Promise<void> {
    await query(tx, `select "${SCHEMA}_jobs".remove_job(?)`, [
      renewSubscriptionKey(subscriptionId, period),
    ]);
  }

  // --------------------------------------------------- the payment's final status (hook)

  /**
   * In the transaction that made a subscription's payment final (payment row locked): the
   * subscription follows. Must not throw for domain reasons — the payment's status depends on
   * this transaction committing.
   */
  async paymentFinal(tx: EntityManager, payment: PaymentRow): Promise<void> {
    const sub = await subscriptionById(tx, payment.subscription_id!, true);
    const period = payment.subscription_period;
    if (!sub || period == null || period !== sub.period + 1) {
      this.d.log.warn(
        { paymentId: payment.id, subscriptionId: payment.subscription_id, period },
        'final payment of no period being charged: subscription unchanged',
      );
      return;
    }
    if (payment.status === 'SUCCEEDED') await this.periodPaid(tx, sub, payment, period);
    else await this.chargeFailed(tx, sub, payment, period);
  }

  private async periodPaid(
    tx: EntityManager,
    sub: SubscriptionRow,
    payment: PaymentRow,
    period: number,
  ): Promise<void> {
    // The period is the access it buys: from the end of the access already held (or now), one
    // plan interval — the same grant every delivery of the service makes.
    const [held] = await query<{ valid_until: Date | string }>(
      tx,
      `select valid_until from billing.entitlement where merchant_id = ? and player_id = ? and service_id = ?`,
      [sub.merchant_id, sub.player_id, sub.service_id],
    );
    const now = new Date();
    const heldUntil = held ? pgDate(held.valid_until) : null;
    const from = heldUntil && heldUntil > now ? heldUntil : now;
    const days = Math.min(
      MAX_GRANT_DAYS,
      periodDays(from, sub.interval, sub.interval_count, sub.timezone),
    );
    const entitlement = await this.d.entitlements.grant(tx, SERVICE_ACTOR, {
      idempotencyKey: periodGrantKey(sub.id, period),
      merchantId: sub.merchant_id,
      playerId: sub.player_id,
      serviceId: sub.service_id,
      days,
      source: 'subscription',
      sourceRef: payment.id,
    });
    const end = pgDate(entitlement.valid_until);
    const start = new Date(end.getTime() - days * DAY_MS);
    // Paid while being canceled: the period is granted, nothing more is charged.
    const canceled = sub.status === 'CANCELED';
    const status: SubscriptionStatus = canceled ? 'CANCELED' : 'ACTIVE';
    const next =
      canceled || sub.cancel_at_period_end ? null : firstAllowedAt(end, sub.timezone, hoursOf(sub));
    await query(
      tx,
      `update billing.plan_subscription set status = ?, period = ?, current_period_start = ?, current_period_end = ?,
         next_charge_at = ?, failed_attempts = 0, updated_at = now()
        where id = ?`,
      [status, period, start.toISOString(), end.toISOString(), next?.toISOString() ?? null, sub.id],
    );
    await this.removeRenewal(tx, sub.id, period);
    if (!canceled) {
      await this.scheduleRenewal(tx, sub.id, period + 1, next ?? end);
    }
    await recordAudit(tx, SCHEMA, SERVICE_ACTOR, {
      action: period === 1 ? 'subscription.activate' : 'subscription.renew',
      targetType: 'PlanSubscription',
      targetId: sub.id,
      outcome: 'succeeded',
      details: {
        period,
        paymentId: payment.id,
        from: sub.status,
        to: status,
        currentPeriodStart: start.toISOString(),
        currentPeriodEnd: end.toISOString(),
        nextChargeAt: next?.toISOString() ?? null,
      },
    });
  }

  private async chargeFailed(
    tx: EntityManager,
    sub: SubscriptionRow,
    payment: PaymentRow,
    period: number,
  ): Promise<void> {
    if (sub.status === 'CANCELED') return;
    let to: SubscriptionStatus = 'CANCELED';
    let reason: CancelReason | null = null;
    let next: Date | null = null;
    const failures = sub.failed_attempts + 1;
    if (period === 1) {
      // Nothing was ever paid: the subscription never started.
      reason = 'FIRST_PAYMENT_FAILED';
    } else if (sub.cancel_at_period_end) {
      reason = 'PERIOD_END';
    } else {
      next = retryAt(new Date(), failures, sub.timezone, hoursOf(sub));
      if (next) to = 'PAST_DUE';
      else reason = 'PAYMENT_FAILED';
    }
    if (to === 'CANCELED') {
      await query(tx, `update billing.plan_subscription set failed_attempts = ? where id = ?`, [
        failures,
        sub.id,
      ]);
      await this.cancelNow(tx, sub, reason!);
    } else {
      await query(
        tx,
        `update billing.plan_subscription set status = 'PAST_DUE', failed_attempts = ?, next_charge_at = ?, updated_at = now()
          where id = ?`,
        [failures, next!.toISOString(), sub.id],
      );
      await this.scheduleRenewal(tx, sub.id, period, next!);
    }
    await recordAudit(tx, SCHEMA, SERVICE_ACTOR, {
      action: to === 'CANCELED' ? 'subscription.cancel' : 'subscription.past_due',
      targetType: 'PlanSubscription',
      targetId: sub.id,
      outcome: 'succeeded',
      details: {
        period,
        paymentId: payment.id,
        failureCode: payment.failure_code,
        failedAttempts: failures,
        from: sub.status,
        to,
        reason,
        nextChargeAt: next?.toISOString() ?? null,
      },
    });
  }
}
