import {
  byKey,
  isUuid,
  loader,
  oneByKey,
  pgArray,
  query,
  type EntityManager,
  type RequestContext,
} from '@coinslot/kernel';
import { pgDate } from '../../database';
import type { PlanIntervalValue } from '../../domain/recurring';
import {
  PlanRef,
  PlanSubscription,
  PlayerRef,
  PriceRef,
  type SubscriptionStatusEnum,
} from '../../types';

export type SubscriptionStatus = 'PENDING' | 'ACTIVE' | 'PAST_DUE' | 'CANCELED';
export type CancelReason =
  'REQUESTED' | 'PERIOD_END' | 'FIRST_PAYMENT_FAILED' | 'PAYMENT_FAILED' | 'NOT_CHARGEABLE';

type Timestamp = Date | string;

/** billing.plan_subscription as the driver returns it (bigints as strings). */
export interface SubscriptionRow {
  id: string;
  merchant_id: string;
  portal_id: string | null;
  player_id: string;
  plan_id: string;
  service_id: string;
  price_id: string;
  channel_id: string | null;
  channel_kind: 'CARRIER_BILLING' | 'PREMIUM_SMS' | 'WALLET';
  country: string;
  timezone: string;
  charging_hour_from: number | null;
  charging_hour_to: number | null;
  interval: PlanIntervalValue;
  interval_count: number;
  amount: string;
  currency: string;
  msisdn_masked: string | null;
  msisdn_hash: string | null;
  msisdn_sealed: string | null;
  status: SubscriptionStatus;
  /** The last period paid (0 before the first payment succeeded). */
  period: number;
  current_period_start: Timestamp | null;
  current_period_end: Timestamp | null;
  next_charge_at: Timestamp | null;
  cancel_at_period_end: boolean;
  canceled_at: Timestamp | null;
  cancel_reason: CancelReason | null;
  failed_attempts: number;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** A subscription as clients see it, frozen (subscribe's stored idempotent answer). */
export interface SubscriptionSnapshot {
  id: string;
  status: SubscriptionStatus;
  merchantId: string;
  playerId: string;
  planId: string;
  priceId: string;
  nextChargeAt: string | null;
  currentPeriodStart: string | null;
  currentPeriodEnd: string | null;
  cancelAtPeriodEnd: boolean;
  canceledAt: string | null;
  failedAttempts: number;
  createdAt: string;
}

const iso = (v: Timestamp | null) => (v === null ? null : pgDate(v).toISOString());

export function subscriptionSnapshot(row: SubscriptionRow): SubscriptionSnapshot {
  return {
    id: row.id,
    status: row.status,
    merchantId: row.merchant_id,
    playerId: row.player_id,
    planId: row.plan_id,
    priceId: row.price_id,
    nextChargeAt: iso(row.next_charge_at),
    currentPeriodStart: iso(row.current_period_start),
    currentPeriodEnd: iso(row.current_period_end),
    cancelAtPeriodEnd: row.cancel_at_period_end,
    canceledAt: iso(row.canceled_at),
    failedAttempts: row.failed_attempts,
    createdAt: iso(row.created_at)!,
  };
}

const date = (v: string | null) => (v === null ? null : new Date(v));

export function toPlanSubscription(s: SubscriptionSnapshot): PlanSubscription {
  return Object.assign(new PlanSubscription(), {
    id: s.id,
    status: s.status as SubscriptionStatusEnum,
    nextChargeAt: date(s.nextChargeAt),
    currentPeriodStart: date(s.currentPeriodStart),
    currentPeriodEnd: date(s.currentPeriodEnd),
    cancelAtPeriodEnd: s.cancelAtPeriodEnd,
    canceledAt: date(s.canceledAt),
    failedAttempts: s.failedAttempts,
    createdAt: new Date(s.createdAt),
    plan: Object.assign(new PlanRef(), { id: s.planId }),
    player: Object.assign(new PlayerRef(), { id: s.playerId }),
    price: Object.assign(new PriceRef(), { id: s.priceId }),
    merchantId: s.merchantId,
  });
}

export async function subscriptionById(
  em: EntityManager,
  id: string,
  lock = false,
): Promise<SubscriptionRow | null> {
  if (!isUuid(id)) return null;
  const [row] = await query<SubscriptionRow>(
    em,
    `select * from billing.plan_subscription where id = ?${lock ? ' for update' : ''}`,
    [id],
  );
  return row ?? null;
}

export function subscriptionLoader(ctx: RequestContext) {
  return loader<string, SubscriptionRow | null>(ctx, 'subscription:id', async (ids) => {
    const valid = ids.filter(isUuid);
    const rows = valid.length
      ? await query<SubscriptionRow>(
          ctx.em,
          `select * from billing.plan_subscription where id = any(?::uuid[])`,
          [pgArray(valid)],
        )
      : [];
    return oneByKey(ids, rows, (r) => r.id);
  });
}

/** Player.subscriptions for many players in one query, newest first. */
export function playerSubscriptionsLoader(ctx: RequestContext) {
  return loader<string, SubscriptionRow[]>(ctx, 'subscription:player', async (playerIds) => {
    const valid = playerIds.filter(isUuid);
    const rows = valid.length
      ? await query<SubscriptionRow>(
          ctx.em,
          `select * from billing.plan_subscription where player_id = any(?::uuid[]) order by created_at desc, id desc`,
          [pgArray(valid)],
        )
      : [];
    return byKey(playerIds, rows, (r) => r.player_id);
  });
}
