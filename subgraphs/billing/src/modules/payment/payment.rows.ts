import { MoneyType, query, type EntityManager } from '@coinslot/kernel';
import { pgDate, pgJson } from '../../database';
import type { FailureCode, NextAction as Action, PaymentStatus } from '../../domain/state-machine';
import { NextAction, type NextActionKind, Payment, type PaymentStatusEnum } from '../../types';

/** What a payment delivers, copied from the price when it was created (the catalog may change). */
export interface Fulfilment {
  productKind: 'COIN_PACK' | 'ITEM' | 'SERVICE_ACCESS' | null;
  productId: string | null;
  variantId: string | null;
  variantSku: string | null;
  walletCredit: { amountMinor: string; currency: string } | null;
  accessDays: number | null;
  serviceId: string | null;
  planId: string | null;
  scratchCardBatchId: string | null;
}

export type ChannelKindValue = 'CARRIER_BILLING' | 'PREMIUM_SMS' | 'CARD' | 'WALLET';

/** billing.payment as the driver returns it (bigints as strings). */
export interface PaymentRow {
  id: string;
  serial_number: string;
  merchant_id: string;
  portal_id: string | null;
  player_id: string;
  order_ref: string;
  price_id: string;
  variant_id: string | null;
  plan_id: string | null;
  subscription_id: string | null;
  /** The subscription period this payment pays for (with subscription_id). */
  subscription_period: number | null;
  product_kind: string | null;
  channel_id: string | null;
  channel_kind: ChannelKindValue;
  country: string;
  msisdn_masked: string | null;
  msisdn_hash: string | null;
  amount: string;
  currency: string;
  status: PaymentStatus;
  failure_code: FailureCode | null;
  refunded_amount: string;
  refund_count: number;
  next_action: Action | string | null;
  consent_attempts: number;
  confirming_until: Date | string | null;
  outcome_version: number;
  fulfilment: Fulfilment | string;
  created_at: Date | string;
  updated_at: Date | string;
  final_at: Date | string | null;
}

/**
 * A payment as clients see it, frozen: what createPayment stores as the idempotent answer and
 * what every resolver builds the GraphQL object from.
 */
export interface PaymentSnapshot {
  id: string;
  serialNumber: string;
  orderRef: string;
  status: PaymentStatus;
  failureCode: FailureCode | null;
  amountMinor: string;
  refundedMinor: string;
  currency: string;
  nextAction: Action | null;
  merchantId: string;
  playerId: string;
  priceId: string;
  channelId: string | null;
  createdAt: string;
  updatedAt: string;
}

export function snapshotOf(row: PaymentRow): PaymentSnapshot {
  return {
    id: row.id,
    serialNumber: row.serial_number,
    orderRef: row.order_ref,
    status: row.status,
    failureCode: row.failure_code,
    amountMinor: BigInt(row.amount).toString(),
    refundedMinor: BigInt(row.refunded_amount).toString(),
    currency: row.currency,
    nextAction: pgJson<Action>(row.next_action),
    merchantId: row.merchant_id,
    playerId: row.player_id,
    priceId: row.price_id,
    channelId: row.channel_id,
    createdAt: pgDate(row.created_at).toISOString(),
    updatedAt: pgDate(row.updated_at).toISOString(),
  };
}

export function toPayment(s: PaymentSnapshot): Payment {
  const action = s.nextAction
    ? Object.assign(new NextAction(), {
        kind: s.nextAction.kind as NextActionKind,
        url: s.nextAction.url ?? null,
        attemptsLeft: s.nextAction.attemptsLeft ?? null,
      })
    : null;
  return Object.assign(new Payment(), {
    id: s.id,
    serialNumber: s.serialNumber,
    orderRef: s.orderRef,
    status: s.status as PaymentStatusEnum,
    failureCode: s.failureCode,
    amount: MoneyType.from(BigInt(s.amountMinor), s.currency),
    refundedAmount: MoneyType.from(BigInt(s.refundedMinor), s.currency),
    nextAction: action,
    createdAt: new Date(s.createdAt),
    updatedAt: new Date(s.updatedAt),
    merchantId: s.merchantId,
    playerId: s.playerId,
    priceId: s.priceId,
    channelId: s.channelId,
  });
}

export const fulfilmentOf = (row: PaymentRow): Fulfilment => pgJson<Fulfilment>(row.fulfilment)!;

export async function paymentById(
  em: EntityManager,
  id: string,
  lock = false,
): Promise<PaymentRow | null> {
  const [row] = await query<PaymentRow>(
    em,
    `select * from billing.payment where id = ?${lock ? ' for update' : ''}`,
    [id],
  );
  return row ?? null;
}

export async function paymentBySerial(
  em: EntityManager,
  serial: string,
): Promise<PaymentRow | null> {
  const [row] = await query<PaymentRow>(
    em,
    `select * from billing.payment where serial_number = ?`,
    [serial],
  );
  return row ?? null;
}
