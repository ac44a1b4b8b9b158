/**
 * Payments end to end: validation against catalog, accounts and the country's rules, the
 * idempotent create, the charge through channels (or the wallet hold on the ledger, or the cash
 * desk), consent, and the one place that changes a payment's status (apply).
 *
 * Shape of a create (no database transaction is ever held across a remote call):
 *   1. reads: player (accounts), price (catalog), then country rules (catalog) + routing (channels);
 *   2. T1: caps under a per-player advisory lock, the payment row (PROCESSING), the idempotency
 *      key, the audit entry, the safety-net job;
 *   3. the charge: channels `_runProcedure(CHARGE, reference = serial)` / the wallet hold;
 *   4. T2: the state machine applies the answer, effects are queued, the event is notified, the
 *      key is completed with the answer.
 * A crash after T1 leaves a PROCESSING payment the safety-net job resolves (channels is
 * idempotent on the reference and keeps the run), so nothing is ever charged twice.
 */
import {
  AppError,
  ErrorCode,
  addJob,
  assertMsisdn,
  assertVisible,
  badInput,
  conflict,
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
  type StatusEvent,
} from '@coinslot/kernel';
import type { Logger } from '@coinslot/kernel';
import type { Clients, PriceFacts, PlayerFacts, RoutedChannel } from '../../clients';
import type { BillingKeys, Config } from '../../config';
import { keyedHash, requestHash } from '../../crypto';
import { SCHEMA, pgDate, pgJson } from '../../database';
import { crashPoint } from '../../crash';
import { cashDeskUrl, signCashDeskToken } from '../../domain/cash-desk';
import {
  CARRIER_KINDS,
  checkCaps,
  checkChargeRules,
  refused,
  type CountryRules,
} from '../../domain/rules';
import { derivedUuid, mintSerial } from '../../domain/serial';
import {
  INITIAL_PAYMENT_STATUS,
  failureCodeOf,
  isFinalPayment,
  paymentTransition,
  type NextAction,
  type Outcome,
  type PaymentOperation,
  type PaymentStatus,
} from '../../domain/state-machine';
import { StatusEvents } from '../../events';
import { JOB, resolvePaymentKey } from '../../jobs/names';
import {
  assertIdempotencyKey,
  type IdempotencyService,
  type IdempotentRequest,
} from '../idempotency/idempotency.service';
import type { WebhookService } from '../webhook/webhook.service';
import { refusedBeforeMoving, toOutcome } from './outcomes';
import {
  fulfilmentOf,
  paymentById,
  paymentBySerial,
  snapshotOf,
  type Fulfilment,
  type PaymentRow,
  type PaymentSnapshot,
} from './payment.rows';

export interface PaymentDeps {
  config: Config;
  orm: MikroORM;
  log: Logger;
  clients: Clients;
  keys: BillingKeys;
  events: StatusEvents;
  idempotency: IdempotencyService;
  webhooks: WebhookService;
}

export interface CreatePaymentCommand {
  merchantId: string;
  /** The portal that asked (null for payments billing makes itself, e.g. plan renewals). */
  portalId: string | null;
  idempotencyKey: string;
  playerId: string;
  priceId: string;
  orderRef: string;
  channelId?: string | null;
  msisdn?: string | null;
  cardToken?: string | null;
  returnUrl?: string | null;
  /** Plan prices are charged only through subscriptions (createPaymentForPlan). */
  subscriptionId?: string | null;
  /** The subscription period the payment pays for (with subscriptionId). */
  subscriptionPeriod?: number | null;
}

/**
 * Told, in the transaction that makes a subscription's payment SUCCEEDED, FAILED or CANCELED,
 * so the subscription moves with it (the recurring module).
 */
export interface SubscriptionPaymentHook {
  paymentFinal(tx: EntityManager, payment: PaymentRow): Promise<void>;
}

export interface ApplyOptions {
  /** The run version of a CHARGE answer: an answer not newer than the last applied is stale. */
  version?: number | null;
  channelId?: string | null;
  /** Complete this idempotency key with the resulting answer, in the same transaction. */
  completeKey?: Pick<IdempotentRequest, 'merchantId' | 'key'>;
  /** Extra columns of the same update (e.g. clearing a consent lease). */
  clearConfirming?: boolean;
  actor?: Principal;
  audit?: string;
}

const SERVICE_ACTOR: Principal = { kind: 'service', service: 'billing' };
const NO_CHANNEL_YET_MS = 120_000;
const MAX_RESOLVE_ATTEMPTS = 40;
const ORDER_REF_MAX = 200;
const OTP = /^[0-9]{4,10}$/;

interface Prepared {
  player: PlayerFacts;
  price: PriceFacts;
  amount: bigint;
  msisdn: string | null;
  timezone: string;
  route: RoutedChannel | null;
  cardToken: string | null;
  rules: CountryRules | null;
}

export class PaymentService {
  /** Set by the runtime: plan subscriptions follow their payments' final statuses. */
  subscriptionHook: SubscriptionPaymentHook | null = null;

  constructor(private readonly d: PaymentDeps) {}

  // ------------------------------------------------------------------------------ create

  /** createPayment: idempotent on (merchant, idempotencyKey). */
  async create(em: EntityManager, cmd: CreatePaymentCommand): Promise<PaymentSnapshot> {
    const key = assertIdempotencyKey(cmd.idempotencyKey);
    const orderRef = cmd.orderRef.trim();
    if (!orderRef || orderRef.length > ORDER_REF_MAX)
      throw badInput(`orderRef must be 1 to ${ORDER_REF_MAX} characters.`, 'orderRef');
    if (!isUuid(cmd.playerId)) throw notFound('Player');
    if (!isUuid(cmd.priceId)) throw notFound('Price');
    if (cmd.channelId != null && !isUuid(cmd.channelId))
      throw badInput('channelId must be a channel id.', 'channelId');
    if (cmd.returnUrl != null && !/^https?:\/\/\S+$/.test(cmd.returnUrl))
      throw badInput('returnUrl must be an http(s) URL.', 'returnUrl');
    const req: IdempotentRequest = {
      merchantId: cmd.merchantId,
      key,
      operation: 'createPayment',
      hash: requestHash([
        'createPayment',
        cmd.playerId,
        cmd.priceId,
        orderRef,
        cmd.channelId ?? null,
        cmd.msisdn ? keyedHash(this.d.keys.msisdnKey, cmd.msisdn) : null,
        cmd.cardToken ? keyedHash(this.d.keys.msisdnKey, `card:${cmd.cardToken}`) : null,
        cmd.returnUrl ?? null,
        cmd.subscriptionId ?? null,
        ...(cmd.subscriptionPeriod != null ? [cmd.subscriptionPeriod] : []),
      ]),
    };
    return this.d.idempotency.execute<PaymentSnapshot>(em, req, {
      fresh: () => this.createFresh({ ...cmd, orderRef }, req),
      replay: (response) => response as PaymentSnapshot,
      recover: async (row) => {
        // The first request died after its first transaction: its payment is the answer.
        const payment = row.payment_id
          ? await paymentById(this.d.orm.em.fork(), row.payment_id)
          : null;
        if (!payment)
          throw new AppError(
            ErrorCode.IDEMPOTENCY_KEY_IN_USE,
            'The idempotency key is in use; retry shortly.',
          );
        const snapshot = snapshotOf(payment);
        await this.d.orm.em
          .fork()
          .transactional((tx) => this.d.idempotency.complete(tx, req, snapshot));
        return snapshot;
      },
    });
  }

  private async prepare(cmd: CreatePaymentCommand): Promise<Prepared> {
    const { clients } = this.d;
    const [player, price] = await Promise.all([
      clients.player(cmd.playerId),
      clients.price(cmd.priceId),
    ]);
    if (!player || player.merchantId !== cmd.merchantId) throw notFound('Player');
    if (!price || price.merchantId !== cmd.merchantId) throw notFound('Price');
    if (price.planId && !cmd.subscriptionId) {
      throw refused(
        ErrorCode.BAD_USER_INPUT,
        'PLAN_PRICE',
        'This price renews a plan: start a subscription (subscribe) instead of a one-off payment.',
        {
          field: 'priceId',
        },
      );
    }
    if (!price.purchasable) {
      throw refused(
        ErrorCode.CONFLICT,
        'PRICE_NOT_PURCHASABLE',
        'This price (or its product) is not on sale any more; fetch the current offers.',
      );
    }
    if (player.country !== price.country) {
      throw refused(
        ErrorCode.BAD_USER_INPUT,
        'COUNTRY_MISMATCH',
        `The price is for ${price.country} and the player is registered in ${player.country}: pick a price of the player's country.`,
        { field: 'priceId' },
      );
    }
    const kind = price.channelKind;
    const carrier = CARRIER_KINDS.has(kind);
    let msisdn: string | null = null;
    if (carrier) {
      const raw = cmd.msisdn ?? player.msisdn;
      if (!raw) {
        throw refused(
          ErrorCode.BAD_USER_INPUT,
          'MSISDN_REQUIRED',
          `${kind} charges the phone bill: pass msisdn (E.164) or register the player with one.`,
          {
            field: 'msisdn',
          },
        );
      }
      msisdn = assertMsisdn(raw).e164;
    }
    if (cmd.cardToken != null && kind !== 'CARD')
      throw badInput(`cardToken is only for CARD prices; this price is ${kind}.`, 'cardToken');
    const amount = BigInt(price.amount.amountMinor);
    const [country, routes] = await Promise.all([
      carrier ? clients.country(price.country) : Promise.resolve(null),
      clients.route({
        merchantId: cmd.merchantId,
        channelKind: kind,
        country: price.country,
        currency: price.currency,
        msisdn,
        channelId: cmd.channelId ?? null,
      }),
    ]);
    const timezone = player.timezone ?? country?.timezones[0] ?? 'UTC';
    if (carrier && country?.rules) {
      checkChargeRules(
        country.rules,
        { amount, currency: price.currency, country: price.country },
        timezone,
      );
      // Consent is the carrier's to ask (it answers with an OTP action when the subscriber has
      // not consented, e.g. test number 55): in a consent country, carrier billing must go
      // through a channel that can ask. Premium SMS consent is the MO opt-in at the SMSC.
      const route = routes[0];
      if (
        country.rules.consentRequired &&
        kind === 'CARRIER_BILLING' &&
        route &&
        !route.capabilities.consent.some((c) => c === 'OTP' || c === 'REDIRECT')
      ) {
        throw refused(
          ErrorCode.CONFLICT,
          'CONSENT_UNAVAILABLE',
          `${price.country} requires the subscriber's consent for carrier billing, and channel ${route.code} cannot ask for it; pick another channel or payment method.`,
        );
      }
    }
    return {
      player,
      price,
      amount,
      msisdn,
      timezone,
      route: routes[0] ?? null,
      cardToken: cmd.cardToken ?? null,
      rules: carrier ? (country?.rules ?? null) : null,
    };
  }

  private async createFresh(
    cmd: CreatePaymentCommand,
    req: IdempotentRequest,
  ): Promise<PaymentSnapshot> {
    const p = await this.prepare(cmd);
    const { price, player } = p;
    const kind = price.channelKind;
    const fulfilment: Fulfilment = {
      productKind: price.productKind,
      productId: price.productId,
      variantId: price.variantId,
      variantSku: price.variantSku,
      walletCredit: price.walletCredit,
      accessDays: price.accessDays,
      serviceId: price.serviceId,
      planId: price.planId,
      scratchCardBatchId: price.scratchCardBatchId,
    };
    const cashDesk = kind === 'CARD' && !p.cardToken;
    const id = newId();
    const actor: Principal = cmd.portalId
      ? { kind: 'portal', merchantId: cmd.merchantId, portalId: cmd.portalId }
      : SERVICE_ACTOR;
    const events: StatusEvent[] = [];

    const created = await this.d.orm.em.fork().transactional(async (tx) => {
      // The key first: a concurrent request with the same key waits here, then replays.
      await this.d.idempotency.claim(tx, req, { paymentId: id });
      if (p.rules) {
        // Caps are sums over this table: one player's concurrent payments are checked one at a time.
        await query(tx, `select pg_advisory_xact_lock(hashtext(?))`, [`billing:caps:${player.id}`]);
        const spent = await this.spent(tx, player.id, kind, p.rules.currency, p.timezone);
        checkCaps(
          p.rules,
          { amount: p.amount, currency: price.currency, country: price.country },
          spent,
          p.timezone,
        );
      }
      let row: PaymentRow | undefined;
      for (let attempt = 0; !row; attempt += 1) {
        if (attempt > 5) throw new Error('could not mint a unique serial number');
        [row] = await query<PaymentRow>(
          tx,
          `insert into billing.payment (id, serial_number, merchant_id, portal_id, player_id, order_ref, price_id, variant_id,
             plan_id, subscription_id, subscription_period, product_kind, channel_id, channel_kind, country, msisdn_masked,
             msisdn_hash, amount, currency, status, fulfilment)
           values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?::bigint, ?, ?, ?::jsonb)
           on conflict (serial_number) do nothing returning *`,
          [
            id,
            mintSerial(),
            cmd.merchantId,
            cmd.portalId,
            player.id,
            cmd.orderRef,
            price.id,
            price.variantId,
            price.planId,
            cmd.subscriptionId ?? null,
            cmd.subscriptionId ? (cmd.subscriptionPeriod ?? null) : null,
            price.productKind,
            p.route?.id ?? cmd.channelId ?? null,
            kind,
            price.country,
            p.msisdn ? maskMsisdn(p.msisdn) : null,
            p.msisdn ? keyedHash(this.d.keys.msisdnKey, p.msisdn) : null,
            p.amount.toString(),
            price.currency,
            INITIAL_PAYMENT_STATUS,
            JSON.stringify(fulfilment),
          ],
        );
      }
      await recordAudit(tx, SCHEMA, actor, {
        action: 'payment.create',
        targetType: 'Payment',
        targetId: id,
        outcome: 'succeeded',
        details: {
          serialNumber: row.serial_number,
          orderRef: cmd.orderRef,
          priceId: price.id,
          channelKind: kind,
          amountMinor: p.amount.toString(),
          currency: price.currency,
          playerId: player.id,
        },
      });
      if (cashDesk) {
        // No card yet: the player enters it on the cash desk (billing's own "redirect").
        const token = signCashDeskToken(
          this.d.keys.cashDeskKey,
          { id, merchantId: cmd.merchantId, playerId: player.id },
          this.d.config.CASH_DESK_TOKEN_TTL_SECONDS,
        );
        const outcome: Outcome = {
          kind: 'pending',
          action: { kind: 'REDIRECT', url: cashDeskUrl(this.d.config.PUBLIC_BASE_URL, id, token) },
        };
        return this.applyLocked(tx, row, 'charge', outcome, { completeKey: req }, events);
      }
      await this.scheduleResolve(tx, id, 0);
      return { snapshot: snapshotOf(row), changed: false };
    });
    this.d.events.afterCommit(events);
    if (cashDesk) return created.snapshot;

    const payment = (await paymentById(this.d.orm.em.fork(), id))!;
    let charged: { outcome: Outcome; version: number | null; channelId: string | null };
    if (kind === 'WALLET') {
      charged = { outcome: await this.walletHold(payment), version: null, channelId: null };
    } else {
      charged = await this.channelCharge(payment, fulfilment, {
        msisdn: p.msisdn,
        cardToken: p.cardToken,
        returnUrl: cmd.returnUrl ?? null,
        channelId: cmd.channelId ?? null,
      });
    }
    crashPoint('after-charge-sent'); // test-only (src/crash.ts): inert unless armed by env
    const { snapshot } = await this.apply(id, 'charge', charged.outcome, {
      completeKey: req,
      version: charged.version,
      channelId: charged.channelId,
    });
    crashPoint('after-result-saved'); // test-only (src/crash.ts)
    return snapshot;
  }

  /** The player's charges of a kind in the current local day and month (in flight or done). */
  private async spent(
    tx: EntityManager,
    playerId: string,
    kind: string,
    currency: string,
    timezone: string,
  ): Promise<{ day: bigint; month: bigint }> {
    const [row] = await query<{ day: string | null; month: string | null }>(
      tx,
      `select coalesce(sum(amount) filter (where created_at >= date_trunc('day', now() at time zone ?) at time zone ?), 0)::text as day,
              coalesce(sum(amount), 0)::text as month
         from billing.payment
        where player_id = ? and channel_kind = ? and currency = ? and status in ('PROCESSING', 'SUCCEEDED')
          and created_at >= date_trunc('month', now() at time zone ?) at time zone ?`,
      [timezone, timezone, playerId, kind, currency, timezone, timezone],
    );
    return { day: BigInt(row?.day ?? '0'), month: BigInt(row?.month ?? '0') };
  }

  /** The CHARGE on channels; a refusal before anything moved is a failure, anything else unknown. */
  private async channelCharge(
    payment: PaymentRow,
    fulfilment: Fulfilment,
    extra: {
      msisdn: string | null;
      cardToken: string | null;
      returnUrl: string | null;
      channelId: string | null;
    },
  ): Promise<{ outcome: Outcome; version: number | null; channelId: string | null }> {
    const description = `${fulfilment.variantSku ?? 'Purchase'} (${payment.order_ref})`.slice(
      0,
      200,
    );
    try {
      const run = await this.d.clients.runProcedure({
        reference: payment.serial_number,
        procedure: 'CHARGE',
        merchantId: payment.merchant_id,
        channelKind: payment.channel_kind,
        channelId: extra.channelId,
        country: payment.country,
        msisdn: extra.msisdn,
        cardToken: extra.cardToken,
        amountMinor: BigInt(payment.amount).toString(),
        currency: payment.currency,
        description,
        returnUrl: extra.returnUrl,
      });
      return { outcome: toOutcome(run.outcome), version: run.version, channelId: run.channelId };
    } catch (err) {
      if (refusedBeforeMoving(err)) {
        this.d.log.warn(
          { err: err.message, paymentId: payment.id },
          'channels refused the charge before anything moved',
        );
        return {
          outcome: { kind: 'declined', code: 'CHANNEL_UNAVAILABLE' },
          version: null,
          channelId: null,
        };
      }
      this.d.log.warn(
        { err, paymentId: payment.id },
        'charge outcome unknown: the safety net will ask channels',
      );
      return { outcome: { kind: 'unknown' }, version: null, channelId: null };
    }
  }

  /** The wallet's "charge": a pending ledger transfer player_wallet → coin_sales. */
  async walletHold(payment: PaymentRow): Promise<Outcome> {
    const { clients } = this.d;
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
        id: walletHoldId(payment.id),
        debitAccountId: wallet,
        creditAccountId: sales,
        amount: BigInt(payment.amount),
        currency: payment.currency,
        kind: 'payment.wallet',
        reference: payment.serial_number,
        pending: true,
      });
      return { kind: 'succeeded' };
    } catch (err) {
      if (err instanceof AppError && err.code === ErrorCode.CONFLICT)
        return { kind: 'declined', code: 'INSUFFICIENT_FUNDS' };
      this.d.log.warn(
        { err, paymentId: payment.id },
        'wallet hold outcome unknown: the safety net retries it',
      );
      return { kind: 'unknown' };
    }
  }

  // ----------------------------------------------------------------------------- confirm

  /** confirmPayment: the OTP the player typed goes to the channel's consent procedure. */
  async confirm(actor: Principal, paymentId: string, otp: string): Promise<PaymentSnapshot> {
    if (!isUuid(paymentId)) throw notFound('Payment');
    if (actor.kind !== 'portal' && actor.kind !== 'player' && actor.kind !== 'admin')
      throw forbidden();
    const code = otp.trim();
    if (!OTP.test(code))
      throw badInput('otp must be the 4 to 10 digits the player received.', 'otp');
    const em = this.d.orm.em.fork();
    const current = await paymentById(em, paymentId);
    if (!current) throw notFound('Payment');
    assertVisible(
      actor,
      'Payment',
      current && { merchantId: current.merchant_id, playerId: current.player_id },
    );
    const action = pgJson<NextAction>(current.next_action);
    if (current.status !== 'REQUIRES_ACTION' || action?.kind !== 'OTP') {
      throw conflict(
        `Payment ${current.serial_number} is ${current.status} and waits for no one-time password.`,
      );
    }
    const [lease] = await query<{ consent_attempts: number }>(
      em,
      `update billing.payment set consent_attempts = consent_attempts + 1, confirming_until = now() + interval '30 seconds'
        where id = ? and status = 'REQUIRES_ACTION' and (confirming_until is null or confirming_until < now())
        returning consent_attempts`,
      [paymentId],
    );
    if (!lease)
      throw conflict('Another confirmation of this payment is in progress; wait for its answer.');
    let outcome: Outcome;
    try {
      const run = await this.d.clients.runProcedure({
        reference: `${current.serial_number}:C${lease.consent_attempts}`,
        procedure: 'CONSENT',
        merchantId: current.merchant_id,
        amountMinor: '0',
        currency: current.currency,
        chargeReference: current.serial_number,
        otp: code,
      });
      outcome = toOutcome(run.outcome);
    } catch (err) {
      if (refusedBeforeMoving(err)) {
        // Refused before the carrier was asked (e.g. a malformed OTP): the action still waits.
        await query(em, `update billing.payment set confirming_until = null where id = ?`, [
          paymentId,
        ]);
        throw err;
      }
      this.d.log.warn(
        { err, paymentId },
        'consent outcome unknown: the safety net will ask channels',
      );
      outcome = { kind: 'unknown' };
    }
    const result = await this.apply(paymentId, 'confirm', outcome, {
      clearConfirming: true,
      actor,
      audit: 'payment.confirm',
    });
    return result.snapshot;
  }

  // ------------------------------------------------------------------------- the writer

  /** The only way a payment's status changes: one transaction, the row locked, the table consulted. */
  async apply(
    paymentId: string,
    op: PaymentOperation,
    outcome: Outcome,
    opts: ApplyOptions = {},
  ): Promise<{ snapshot: PaymentSnapshot; changed: boolean }> {
    const events: StatusEvent[] = [];
    const result = await this.d.orm.em.fork().transactional(async (tx) => {
      const row = await paymentById(tx, paymentId, true);
      if (!row) throw notFound('Payment');
      return this.applyLocked(tx, row, op, outcome, opts, events);
    });
    this.d.events.afterCommit(events);
    return result;
  }

  private async applyLocked(
    tx: EntityManager,
    row: PaymentRow,
    op: PaymentOperation,
    outcome: Outcome,
    opts: ApplyOptions,
    events: StatusEvent[],
  ): Promise<{ snapshot: PaymentSnapshot; changed: boolean }> {
    const stale = opts.version != null && opts.version <= row.outcome_version;
    let after = row;
    let changed = false;
    if (!stale) {
      const t = paymentTransition(row.status, op, outcome);
      const to: PaymentStatus = t.to;
      const before = pgJson<NextAction>(row.next_action);
      const action: NextAction | null =
        to === 'REQUIRES_ACTION'
          ? outcome.kind === 'pending' && outcome.action
            ? outcome.action
            : before
          : null;
      const actionChanged = JSON.stringify(action) !== JSON.stringify(before);
      const failure = failureCodeOf(t, outcome) ?? (t.changed ? null : row.failure_code);
      changed = t.changed || actionChanged;
      const [updated] = await query<PaymentRow>(
        tx,
        `update billing.payment set status = ?, failure_code = ?, next_action = ?::jsonb,
           outcome_version = greatest(outcome_version, coalesce(?, outcome_version)),
           channel_id = coalesce(?, channel_id),
           confirming_until = case when ? then null else confirming_until end,
           updated_at = case when ? then now() else updated_at end,
           final_at = case when ? then now() else final_at end
         where id = ? returning *`,
        [
          to,
          to === 'FAILED' || to === 'CANCELED' ? failure : null,
          action ? JSON.stringify(action) : null,
          opts.version ?? null,
          opts.channelId ?? null,
          opts.clearConfirming ?? false,
          changed,
          t.changed && isFinalPayment(to),
          row.id,
        ],
      );
      after = updated!;
      if (t.changed) await this.onEnter(tx, after, row.status);
      if (changed) {
        const event = StatusEvents.paymentEvent(after.id, {
          status: after.status,
          failureCode: after.failure_code,
        });
        await this.d.events.inTransaction(tx, event);
        events.push(event);
      }
      if (opts.audit || t.changed) {
        await recordAudit(tx, SCHEMA, opts.actor ?? SERVICE_ACTOR, {
          action: opts.audit ?? `payment.${op}`,
          targetType: 'Payment',
          targetId: row.id,
          outcome: 'succeeded',
          details: {
            from: row.status,
            to,
            outcome: outcome.kind,
            ...(outcome.kind === 'declined' ? { code: outcome.code } : {}),
          },
        });
      }
    } else if (opts.clearConfirming) {
      await query(tx, `update billing.payment set confirming_until = null where id = ?`, [row.id]);
    }
    const snapshot = snapshotOf(after);
    if (opts.completeKey) await this.d.idempotency.complete(tx, opts.completeKey, snapshot);
    return { snapshot, changed };
  }

  /** Effects of entering a status, queued in the same transaction (the outbox). */
  private async onEnter(tx: EntityManager, row: PaymentRow, from: PaymentStatus): Promise<void> {
    switch (row.status) {
      case 'SUCCEEDED':
        await addJob(
          tx,
          SCHEMA,
          JOB.FULFIL,
          { paymentId: row.id },
          { jobKey: `fulfil:${row.id}`, maxAttempts: 20 },
        );
        await this.cancelResolve(tx, row.id);
        await this.d.webhooks.enqueue(tx, paymentEvent('payment.succeeded', row));
        if (row.subscription_id) await this.subscriptionHook?.paymentFinal(tx, row);
        return;
      case 'FAILED':
      case 'CANCELED':
        await this.cancelResolve(tx, row.id);
        if (row.channel_kind === 'WALLET') {
          await addJob(
            tx,
            SCHEMA,
            JOB.RELEASE_HOLD,
            { paymentId: row.id },
            { jobKey: `release:${row.id}`, maxAttempts: 20 },
          );
        }
        await this.d.webhooks.enqueue(
          tx,
          paymentEvent(row.status === 'FAILED' ? 'payment.failed' : 'payment.canceled', row),
        );
        if (row.subscription_id) await this.subscriptionHook?.paymentFinal(tx, row);
        return;
      case 'PROCESSING':
      case 'REQUIRES_ACTION':
        if (from !== row.status) await this.scheduleResolve(tx, row.id, 0);
        return;
    }
  }

  async scheduleResolve(tx: EntityManager, paymentId: string, attempt: number): Promise<void> {
    const base = this.d.config.RESOLVE_DELAY_MS;
    const delay = Math.min(this.d.config.RESOLVE_MAX_DELAY_MS, base * 2 ** Math.min(attempt, 20));
    await addJob(
      tx,
      SCHEMA,
      JOB.RESOLVE_PAYMENT,
      { paymentId, attempt },
      {
        jobKey: resolvePaymentKey(paymentId),
        runAt: new Date(Date.now() + delay),
        maxAttempts: 5,
      },
    );
  }

  private async cancelResolve(tx: EntityManager, paymentId: string): Promise<void> {
    await query(tx, `select "${SCHEMA}_jobs".remove_job(?)`, [resolvePaymentKey(paymentId)]);
  }

  // ------------------------------------------------------------------ outcomes learnt later

  /** The safety net: asks for the outcome of a payment still open, with backoff. */
  async resolve(paymentId: string, attempt: number): Promise<void> {
    const em = this.d.orm.em.fork();
    const row = await paymentById(em, paymentId);
    if (!row || isFinalPayment(row.status)) return;
    const action = pgJson<NextAction>(row.next_action);
    if (row.channel_kind === 'WALLET') {
      await this.apply(row.id, 'resolve', await this.walletHold(row));
    } else if (
      row.status === 'REQUIRES_ACTION' &&
      action?.kind === 'REDIRECT' &&
      isCashDesk(action, this.d.config.PUBLIC_BASE_URL)
    ) {
      return; // Waits for the player at the cash desk; nothing was sent to a channel yet.
    } else {
      const run = await this.d.clients.procedureRun(row.serial_number);
      if (run) {
        await this.apply(row.id, 'resolve', toOutcome(run.outcome), {
          version: run.version,
          channelId: run.channelId,
        });
      } else if (Date.now() - pgDate(row.created_at).getTime() > NO_CHANNEL_YET_MS) {
        // Channels persists a run before it calls any provider: no run, nothing was charged.
        await this.apply(row.id, 'resolve', { kind: 'declined', code: 'CHANNEL_UNAVAILABLE' });
      }
    }
    const now = await paymentById(em.fork(), paymentId);
    if (now && !isFinalPayment(now.status) && attempt + 1 < MAX_RESOLVE_ATTEMPTS) {
      await this.d.orm.em
        .fork()
        .transactional((tx) => this.scheduleResolve(tx, paymentId, attempt + 1));
    }
  }

  /** channels' hand-off of a CHARGE or CONSENT run whose outcome changed after our call. */
  async handOff(input: {
    reference: string;
    suffix: string | null;
    version: number;
    channelId: string;
    amountMinor: string;
    currency: string;
    outcome: Outcome;
  }): Promise<void> {
    const serial = input.reference.split(':')[0]!;
    const row = await paymentBySerial(this.d.orm.em.fork(), serial);
    if (!row) {
      this.d.log.warn({ reference: input.reference }, 'hand-off for an unknown payment: ignored');
      return;
    }
    if (input.suffix === null) {
      if (BigInt(input.amountMinor) !== BigInt(row.amount) || input.currency !== row.currency) {
        this.d.log.error(
          { reference: input.reference, amount: input.amountMinor, currency: input.currency },
          'hand-off amount differs from the payment: not applied',
        );
        await recordAudit(
          this.d.orm.em.fork(),
          SCHEMA,
          { kind: 'service', service: 'channels' },
          {
            action: 'payment.outcome',
            targetType: 'Payment',
            targetId: row.id,
            outcome: 'refused',
            details: {
              reason: 'amount_conflict',
              amountMinor: input.amountMinor,
              currency: input.currency,
            },
          },
        );
        return;
      }
      await this.apply(row.id, 'resolve', input.outcome, {
        version: input.version,
        channelId: input.channelId,
        actor: { kind: 'service', service: 'channels' },
      });
      return;
    }
    // A consent run's outcome is its charge's; only a final one is news (the charge run's own
    // hand-off carries the same fact with the charge's version).
    if (input.outcome.kind === 'succeeded' || input.outcome.kind === 'declined') {
      await this.apply(row.id, 'resolve', input.outcome, {
        actor: { kind: 'service', service: 'channels' },
      });
    }
  }

  /**
   * The cash desk (a later page) charges the card the player entered: the same CHARGE, from
   * REQUIRES_ACTION, one at a time (a lease, like consent). Kept here so the page needs no
   * payment logic of its own.
   */
  async chargeCard(
    paymentId: string,
    cardToken: string,
    returnUrl: string | null,
  ): Promise<PaymentSnapshot> {
    const em = this.d.orm.em.fork();
    const row = await paymentById(em, paymentId);
    if (!row) throw notFound('Payment');
    const action = pgJson<NextAction>(row.next_action);
    if (
      row.channel_kind !== 'CARD' ||
      row.status !== 'REQUIRES_ACTION' ||
      !action ||
      !isCashDesk(action, this.d.config.PUBLIC_BASE_URL)
    ) {
      throw conflict(`Payment ${row.serial_number} does not wait for a card.`);
    }
    const [lease] = await query(
      em,
      `update billing.payment set confirming_until = now() + interval '90 seconds'
        where id = ? and status = 'REQUIRES_ACTION' and (confirming_until is null or confirming_until < now())
        returning id`,
      [paymentId],
    );
    if (!lease)
      throw conflict('A card is already being charged for this payment; wait for its answer.');
    const { outcome, version, channelId } = await this.channelCharge(row, fulfilmentOf(row), {
      msisdn: null,
      cardToken,
      returnUrl,
      channelId: row.channel_id,
    });
    const result = await this.apply(paymentId, 'charge', outcome, {
      version,
      channelId,
      clearConfirming: true,
    });
    if (!isFinalPayment(result.snapshot.status)) {
      // From now on a channel holds the outcome: the safety net watches it (e.g. 3-D Secure).
      await this.d.orm.em.fork().transactional((tx) => this.scheduleResolve(tx, paymentId, 0));
    }
    return result.snapshot;
  }

  /**
   * The recurring task's entry: a payment billing makes itself for a plan subscription's period
   * (no portal; the subscription id makes plan prices chargeable). Same validation, rules,
   * idempotency and state machine as createPayment.
   */
  async createForPlan(
    em: EntityManager,
    cmd: Omit<CreatePaymentCommand, 'portalId' | 'cardToken' | 'returnUrl'> & {
      subscriptionId: string;
      subscriptionPeriod: number;
    },
  ): Promise<PaymentSnapshot> {
    return this.create(em, { ...cmd, portalId: null, cardToken: null, returnUrl: null });
  }
}

export const walletHoldId = (paymentId: string) => derivedUuid('wallet-hold', paymentId);

function isCashDesk(action: NextAction, publicBaseUrl: string): boolean {
  return (action.url ?? '').startsWith(`${publicBaseUrl.replace(/\/+$/, '')}/cash-desk/`);
}

/** The body of a payment.* webhook. */
export function paymentEvent(type: string, row: PaymentRow) {
  return {
    merchantId: row.merchant_id,
    type,
    key: `${type}:${row.id}`,
    paymentId: row.id,
    data: {
      payment: {
        id: row.id,
        serialNumber: row.serial_number,
        orderRef: row.order_ref,
        status: row.status,
        failureCode: row.failure_code,
        amount: { amountMinor: BigInt(row.amount).toString(), currency: row.currency },
        refundedAmount: {
          amountMinor: BigInt(row.refunded_amount).toString(),
          currency: row.currency,
        },
        playerId: row.player_id,
        priceId: row.price_id,
        productKind: row.product_kind,
        variantId: row.variant_id,
        channelKind: row.channel_kind,
        createdAt: pgDate(row.created_at).toISOString(),
        updatedAt: pgDate(row.updated_at).toISOString(),
      },
    },
  };
}
