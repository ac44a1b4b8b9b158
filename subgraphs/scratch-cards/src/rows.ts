import { MoneyType } from '@coinslot/kernel';
import { serialNumber, type CardFormat } from './codes/format';
import {
  ScratchCard,
  ScratchCardBatch,
  type ScratchCardBatchStatus,
  type ScratchCardKind,
  ScratchCardStatus,
  ServiceRef,
  PlayerRef,
} from './types';

/** A timestamptz as raw queries return it: MikroORM's driver hands them over as strings. */
export type Ts = Date | string;

export function asDate(v: Ts): Date;
export function asDate(v: Ts | null): Date | null;
export function asDate(v: Ts | null): Date | null {
  if (v === null) return null;
  return v instanceof Date ? v : new Date(v);
}

/** scratch_cards.batch as the driver returns it (bigint columns as strings). */
export interface BatchRow {
  id: string;
  number: string;
  merchant_id: string;
  kind: 'PHYSICAL' | 'VIRTUAL';
  count: number;
  credit_amount: string | null;
  credit_currency: string | null;
  service_id: string | null;
  access_days: number | null;
  expires_at: Ts | null;
  status: 'GENERATING' | 'PENDING_APPROVAL' | 'APPROVED' | 'VOIDED';
  generated_count: number;
  serial_prefix: string;
  running_width: number;
  alphabet: string;
  code_length: number;
  group_size: number;
  created_by: string;
  created_at: Ts;
  generated_at: Ts | null;
  approved_by: string | null;
  approved_at: Ts | null;
  voided_by: string | null;
  voided_at: Ts | null;
  exported_at: Ts | null;
  vault_erased_at: Ts | null;
}

export interface CardRow {
  id: string;
  batch_id: string;
  merchant_id: string;
  running: number;
  serial_number: string;
  status: 'INACTIVE' | 'ACTIVE' | 'REDEEMED' | 'VOIDED' | 'EXPIRED';
  for_sale: boolean;
  activation_id: string | null;
  redeemed_by: string | null;
  redeemed_at: Ts | null;
  delivered_at: Ts | null;
  delivery_ref: string | null;
  sold_to_payment_id: string | null;
  sold_to_player_id: string | null;
  sold_at: Ts | null;
  voided_at: Ts | null;
}

export function batchFormat(
  b: Pick<BatchRow, 'serial_prefix' | 'running_width' | 'alphabet' | 'code_length' | 'group_size'>,
): CardFormat {
  return {
    serialPrefix: b.serial_prefix,
    runningWidth: b.running_width,
    alphabet: b.alphabet,
    codeLength: b.code_length,
    groupSize: b.group_size,
  };
}

export function isExpired(expiresAt: Ts | null, now = new Date()): boolean {
  return expiresAt !== null && asDate(expiresAt).getTime() <= now.getTime();
}

/**
 * What a card is now: its own state, except that an open card (INACTIVE/ACTIVE) of an expired
 * batch is EXPIRED even before the expiry job has rewritten it.
 */
export function effectiveStatus(
  card: Pick<CardRow, 'status'>,
  batch: Pick<BatchRow, 'expires_at'>,
): ScratchCardStatus {
  if ((card.status === 'INACTIVE' || card.status === 'ACTIVE') && isExpired(batch.expires_at))
    return ScratchCardStatus.EXPIRED;
  return card.status as ScratchCardStatus;
}

export function toBatch(r: BatchRow): ScratchCardBatch {
  const number = Number(r.number);
  return Object.assign(new ScratchCardBatch(), {
    id: r.id,
    number,
    merchantId: r.merchant_id,
    kind: r.kind as ScratchCardKind,
    status: r.status as ScratchCardBatchStatus,
    count: r.count,
    generatedCount: r.generated_count,
    walletCredit:
      r.credit_amount !== null ? MoneyType.from(BigInt(r.credit_amount), r.credit_currency!) : null,
    service: r.service_id ? Object.assign(new ServiceRef(), { id: r.service_id }) : null,
    accessDays: r.access_days,
    expiresAt: asDate(r.expires_at),
    firstSerialNumber: serialNumber(r.serial_prefix, number, 1, r.running_width),
    lastSerialNumber: serialNumber(r.serial_prefix, number, r.count, r.running_width),
    createdBy: r.created_by,
    createdAt: asDate(r.created_at),
    approvedBy: r.approved_by,
    approvedAt: asDate(r.approved_at),
    voidedAt: asDate(r.voided_at),
    exportedAt: asDate(r.exported_at),
  });
}

export function toCard(c: CardRow, batch: Pick<BatchRow, 'expires_at'>): ScratchCard {
  return Object.assign(new ScratchCard(), {
    id: c.id,
    serialNumber: c.serial_number,
    status: effectiveStatus(c, batch),
    redeemedBy: c.redeemed_by ? Object.assign(new PlayerRef(), { id: c.redeemed_by }) : null,
    redeemedAt: asDate(c.redeemed_at),
    deliveredAt: asDate(c.delivered_at),
    soldToPaymentId: c.sold_to_payment_id,
    soldAt: asDate(c.sold_at),
    batchId: c.batch_id,
    merchantId: c.merchant_id,
  });
}
