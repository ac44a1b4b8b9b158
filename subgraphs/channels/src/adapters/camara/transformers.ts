/**
 * CAMARA Carrier Billing v0.5.0 + Carrier Billing Refund v0.3.0: wire types, pure conversions
 * and the one status → outcome map. No I/O here.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import {
  currency as currencyInfo,
  formatMinorAsDecimal,
  isIsoCurrency,
  maskMsisdn,
  parseFloatToMinor,
} from '@coinslot/kernel';
import type { Completion, DeclineCode, Outcome } from '../types';
import { assertNever } from '../types';

export const PAYMENTS_BASE = '/carrier-billing/v0.5';
export const REFUNDS_BASE = '/carrier-billing-refund/v0.3';
export const TOKEN_PATH = '/oauth2/token';
export const EVENT_PREFIX_PAYMENT = 'org.camaraproject.carrier-billing.v0.';
export const EVENT_PREFIX_REFUND = 'org.camaraproject.carrier-billing-refund.v0.';
export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Scopes of the 2-legged token (one token per account and scope set) plus the one purpose. */
export const SCOPES = [
  'carrier-billing:payments:create',
  'carrier-billing:payments:read',
  'carrier-billing:payments:write',
  'carrier-billing-refund:refunds:create',
  'carrier-billing-refund:refunds:read',
] as const;
export const PURPOSE = 'dpv:RequestedServiceProvision';
export const DUPLICATE_CORRELATOR_MESSAGE = 'clientCorrelator already exist on server';
export const X_CORRELATOR = /^[a-zA-Z0-9-_:;./<>{}]{0,256}$/;
export const E164 = /^\+[1-9][0-9]{4,14}$/;

// ---------------------------------------------------------------------------------------------
// Amounts: JSON numbers in major units, written with exactly the currency's exponent digits.
// ---------------------------------------------------------------------------------------------

/** The ISO 4217 exponent; CAMARA takes ISO currencies only. */
export function exponentOf(code: string): number {
  const info = currencyInfo(code);
  if (!info || !isIsoCurrency(code)) throw new RangeError(`"${code}" is not an ISO 4217 currency`);
  return info.exponent;
}

/** A JSON number kept as its decimal text, so "1.90" is written as 1.90 and not 1.9. */
export class WireDecimal {
  constructor(readonly text: string) {
    if (!/^\d+(\.\d+)?$/.test(text)) throw new RangeError(`not a wire decimal: ${text}`);
  }
  toJSON(): string {
    return `${SENTINEL}${this.text}${SENTINEL}`;
  }
}
const SENTINEL = `~dec${randomBytes(8).toString('hex')}~`;
const SENTINEL_RE = new RegExp(`"${SENTINEL}(\\d+(?:\\.\\d+)?)${SENTINEL}"`, 'g');

/** JSON.stringify, with WireDecimal values written as bare JSON numbers. */
export function stringifyWire(value: unknown): string {
  return JSON.stringify(value).replace(SENTINEL_RE, '$1');
}

/** bigint minor units → wire amount (199n EUR → 1.99; 1500n KWD → 1.500). */
export function toWireAmount(minor: bigint, code: string): WireDecimal {
  if (minor <= 0n) throw new RangeError('CAMARA amounts are positive (minimum 0.001)');
  return new WireDecimal(formatMinorAsDecimal(minor, exponentOf(code)));
}

/** Wire amount → bigint minor units; anything inexact at the currency's exponent throws. */
export function fromWireAmount(value: unknown, code: string): bigint {
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw new RangeError(`amount is not a JSON number: ${String(value)}`);
  return parseFloatToMinor(value, exponentOf(code));
}

// ---------------------------------------------------------------------------------------------
// Wire schemas (responses and callbacks are parsed; request bodies are typed)
// ---------------------------------------------------------------------------------------------

export const PAYMENT_STATUSES = [
  'processing',
  'pending_validation',
  'reserved',
  'succeeded',
  'denied',
  'cancelled',
] as const;
export const PaymentStatusSchema = z.enum(PAYMENT_STATUSES);
export type PaymentStatus = z.infer<typeof PaymentStatusSchema>;
export const RefundStatusSchema = z.enum(['processing', 'denied', 'succeeded']);
export type RefundStatus = z.infer<typeof RefundStatusSchema>;

export const ChargingInformationSchema = z.looseObject({
  amount: z.number().positive(),
  currency: z.string().regex(/^[A-Z]{3}$/),
  description: z.string().optional(),
  isTaxIncluded: z.boolean().optional(),
  taxAmount: z.number().optional(),
});

export const ValidationInfoSchema = z.discriminatedUnion('action', [
  z.looseObject({ action: z.literal('validate'), authorizationId: z.string().min(1) }),
  z.looseObject({ action: z.literal('open'), validationURL: z.string().url() }),
]);
export type ValidationInfo = z.infer<typeof ValidationInfoSchema>;

export const PaymentSchema = z.looseObject({
  paymentId: z.string().min(1),
  paymentStatus: PaymentStatusSchema,
  paymentCreationDate: z.string().optional(),
  paymentDate: z.string().optional(),
  validationInfo: ValidationInfoSchema.optional(),
  amountTransaction: z.looseObject({
    phoneNumber: z.string().optional(),
    clientCorrelator: z.string().optional(),
    referenceCode: z.string(),
    resourceURL: z.string().optional(),
    serverReferenceCode: z.string().optional(),
    paymentAmount: z.looseObject({ chargingInformation: ChargingInformationSchema }),
  }),
});
export type Payment = z.infer<typeof PaymentSchema>;
export const PaymentListSchema = z.array(PaymentSchema);

export const RefundSchema = z.looseObject({
  refundId: z.string().min(1),
  refundStatus: RefundStatusSchema,
  type: z.enum(['total', 'partial']),
  refundCreationDate: z.string().optional(),
  refundDate: z.string().optional(),
  amountTransaction: z.looseObject({
    clientCorrelator: z.string().optional(),
    referenceCode: z.string(),
    refundAmount: z.looseObject({ chargingInformation: ChargingInformationSchema.optional() }),
  }),
});
export type Refund = z.infer<typeof RefundSchema>;
export const RefundListSchema = z.array(RefundSchema);

export const RemainingAmountSchema = z.looseObject({
  amount: z.number().nonnegative(),
  currency: z.string(),
});

export const ErrorInfoSchema = z.looseObject({
  status: z.number().int(),
  code: z.string(),
  message: z.string(),
});
export type ErrorInfo = z.infer<typeof ErrorInfoSchema>;

export const TokenResponseSchema = z.looseObject({
  access_token: z.string().min(1),
  token_type: z.string().regex(/^bearer$/i),
  expires_in: z.number().int().positive(),
  scope: z.string().optional(),
});

export const CloudEventSchema = z.looseObject({
  id: z.string().min(1),
  source: z.string().min(1),
  type: z.string().min(1),
  specversion: z.literal('1.0'),
  time: z.string().optional(),
  datacontenttype: z.string().optional(),
  data: z.looseObject({
    paymentId: z.string().min(1),
    refundId: z.string().optional(),
    status: z.string().optional(),
    description: z.string().optional(),
    denialReason: z.string().optional(),
    paymentDate: z.string().optional(),
    refundDate: z.string().optional(),
  }),
});
export type CloudEvent = z.infer<typeof CloudEventSchema>;

// Request bodies, as we send them (amounts as WireDecimal) and as the simulator parses them.
export interface ChargingInformationOut {
  amount: WireDecimal;
  currency: string;
  description: string;
}
export interface SinkCredential {
  credentialType: 'ACCESSTOKEN';
  accessToken: string;
  accessTokenExpiresUtc: string;
  accessTokenType: 'bearer';
}
export interface CreatePaymentBody {
  amountTransaction: {
    phoneNumber?: string;
    clientCorrelator?: string;
    referenceCode: string;
    paymentAmount: {
      chargingInformation: ChargingInformationOut;
      chargingMetaData?: { merchantName?: string; merchantIdentifier?: string };
    };
  };
  sink?: string;
  sinkCredential?: SinkCredential;
}
export interface CreateRefundBody {
  type: 'total' | 'partial';
  reason?: string;
  sink?: string;
  sinkCredential?: SinkCredential;
  amountTransaction: {
    clientCorrelator?: string;
    referenceCode: string;
    refundAmount: {
      chargingInformation?: ChargingInformationOut;
      chargingMetaData?: { merchantIdentifier?: string };
    };
  };
}

/** What the simulator accepts as a create/prepare body. */
export const CreatePaymentInSchema = z.object({
  amountTransaction: z.object({
    phoneNumber: z.string().regex(E164).optional(),
    clientCorrelator: z.string().min(1).max(256).optional(),
    referenceCode: z.string().min(1),
    paymentAmount: z.object({
      chargingInformation: z.object({
        amount: z.number().min(0.001),
        currency: z.string().regex(/^[A-Z]{3}$/),
        description: z.string().min(1),
        isTaxIncluded: z.boolean().optional(),
        taxAmount: z.number().optional(),
      }),
      chargingMetaData: z
        .looseObject({
          merchantName: z.string().optional(),
          merchantIdentifier: z.string().optional(),
        })
        .optional(),
      paymentDetails: z.array(z.looseObject({})).optional(),
    }),
  }),
  sink: z.string().optional(),
  sinkCredential: z
    .object({
      credentialType: z.literal('ACCESSTOKEN'),
      accessToken: z.string().min(1),
      accessTokenExpiresUtc: z.string(),
      accessTokenType: z.literal('bearer'),
    })
    .optional(),
});
export const CreateRefundInSchema = z.object({
  type: z.enum(['total', 'partial']),
  reason: z.string().optional(),
  sink: z.string().optional(),
  sinkCredential: CreatePaymentInSchema.shape.sinkCredential,
  amountTransaction: z.object({
    clientCorrelator: z.string().min(1).max(256).optional(),
    referenceCode: z.string().min(1),
    refundAmount: z.looseObject({
      chargingInformation:
        CreatePaymentInSchema.shape.amountTransaction.shape.paymentAmount.shape.chargingInformation.optional(),
    }),
  }),
});
export const ValidateInSchema = z.object({
  authorizationId: z.string().min(1),
  code: z.string().min(1),
});
export const PhoneInSchema = z
  .object({ phoneNumber: z.string().regex(E164).optional() })
  .optional();

// ---------------------------------------------------------------------------------------------
// Status → outcome: the one map
// ---------------------------------------------------------------------------------------------

/** What our procedure wanted from the payment (or refund) whose status we read. */
export type Intent = 'CHARGE' | 'RESERVE' | 'RELEASE' | 'REFUND';

export interface StatusContext {
  intent: Intent;
  /** How a pending outcome will complete: callback when we gave a sink, else poll. */
  completion: Completion;
  providerRef?: string;
  validationInfo?: ValidationInfo;
  denialReason?: string;
  amount?: bigint;
  currency?: string;
  attemptsLeft?: number;
}

/**
 * paymentStatus (and refundStatus, a subset of it) → outcome. Exhaustive over the enum.
 * CHARGE: money taken on `succeeded`. RESERVE: done on `reserved`. RELEASE: done when nothing
 * is held any more. REFUND: only processing/succeeded/denied exist.
 */
export function outcomeOf(status: PaymentStatus, ctx: StatusContext): Outcome {
  const { intent, providerRef } = ctx;
  const succeeded = (): Outcome => ({
    kind: 'succeeded',
    providerRef,
    amount: ctx.amount,
    currency: ctx.currency,
  });
  const pending = (): Outcome => ({ kind: 'pending', completion: ctx.completion, providerRef });
  const unexpected = (): Outcome => ({
    kind: 'unknown',
    reason: `unexpected status "${status}" for ${intent}`,
    providerRef,
  });
  switch (status) {
    case 'processing':
      return pending();
    case 'pending_validation':
      if (intent === 'REFUND') return unexpected();
      if (intent === 'RELEASE') return pending();
      if (ctx.validationInfo?.action === 'open') {
        return {
          kind: 'pending',
          completion: ctx.completion,
          providerRef,
          action: { kind: 'REDIRECT', url: ctx.validationInfo.validationURL },
        };
      }
      return {
        kind: 'pending',
        completion: 'poll',
        providerRef,
        action: { kind: 'OTP', attemptsLeft: ctx.attemptsLeft },
      };
    case 'reserved':
      if (intent === 'RESERVE') return succeeded();
      if (intent === 'REFUND') return unexpected();
      // CHARGE: validated but not confirmed yet; RELEASE: still held.
      return { kind: 'pending', completion: 'poll', providerRef };
    case 'succeeded':
      if (intent === 'RELEASE')
        return {
          kind: 'declined',
          code: 'DENIED',
          providerRef,
          providerCode: 'PAYMENT_CONFIRMED',
          message: 'the payment was already confirmed',
        };
      return succeeded();
    case 'denied':
      if (intent === 'RELEASE') return { kind: 'succeeded', providerRef };
      return {
        kind: 'declined',
        code: declineCodeOfReason(ctx.denialReason),
        providerRef,
        providerCode: 'denied',
        message: ctx.denialReason,
      };
    case 'cancelled':
      if (intent === 'RELEASE') return { kind: 'succeeded', providerRef };
      if (intent === 'REFUND') return unexpected();
      return {
        kind: 'declined',
        code: 'CONSENT_EXPIRED',
        providerRef,
        providerCode: 'cancelled',
        message: 'the reservation was cancelled or expired',
      };
    default:
      return assertNever(status);
  }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/**
 * CARRIER_BILLING.PAYMENT_DENIED carries one code for every denial; operators tell the reason in
 * `message` (and events in `denialReason`). First match wins; anything else is DENIED.
 */
export const DENIAL_REASONS: readonly (readonly [RegExp, DeclineCode])[] = [
  [/insufficient|not enough|no credit|credit limit reached|balance|funds/i, 'INSUFFICIENT_FUNDS'],
  [/threshold|spending limit|amount limit|limit exceeded/i, 'LIMIT_EXCEEDED'],
];

export function declineCodeOfReason(reason: string | undefined): DeclineCode {
  for (const [re, code] of DENIAL_REASONS) if (reason && re.test(reason)) return code;
  return 'DENIED';
}

/** What an error answer means; the adapter decides per operation what to do with it. */
export type ErrorVerdict =
  | { kind: 'declined'; code: DeclineCode }
  /** Sent, maybe processed: resolve by status. */
  | { kind: 'unknown' }
  /** The clientCorrelator (or prepared payment) already exists: the first call was registered. */
  | { kind: 'duplicate' }
  /** 401: the token was refused; nothing was processed. */
  | { kind: 'reauth' }
  /** 403 PERMISSION_DENIED: not allowed this way (createPayment: the user must validate first). */
  | { kind: 'permission' }
  /** Wrong OTP with attempts left. */
  | { kind: 'invalid-code' }
  /** Validation attempts exhausted; the payment is denied. */
  | { kind: 'validation-failed' }
  | { kind: 'already-confirmed' }
  | { kind: 'already-cancelled' };

export function classifyError(httpStatus: number, body: ErrorInfo | undefined): ErrorVerdict {
  const code = body?.code ?? '';
  const message = body?.message ?? '';
  switch (httpStatus) {
    case 400:
      if (code === 'INVALID_ARGUMENT' && message.includes(DUPLICATE_CORRELATOR_MESSAGE))
        return { kind: 'duplicate' };
      if (code === 'CARRIER_BILLING.INVALID_CODE') return { kind: 'invalid-code' };
      if (code === 'CARRIER_BILLING.VALIDATION_FAILED') return { kind: 'validation-failed' };
      if (code === 'INVALID_TOKEN' || code === 'INVALID_CREDENTIAL') return { kind: 'reauth' };
      return { kind: 'declined', code: 'DENIED' };
    case 401:
      return { kind: 'reauth' };
    case 403:
      if (code === 'CARRIER_BILLING.PAYMENT_DENIED')
        return { kind: 'declined', code: declineCodeOfReason(message) };
      if (code === 'PERMISSION_DENIED') return { kind: 'permission' };
      return { kind: 'declined', code: 'DENIED' };
    case 404:
      return { kind: 'declined', code: 'DENIED' };
    case 409:
      if (code === 'CARRIER_BILLING.PAYMENT_CONFIRMED') return { kind: 'already-confirmed' };
      if (code === 'CARRIER_BILLING.PAYMENT_CANCELLED') return { kind: 'already-cancelled' };
      if (code === 'ALREADY_EXISTS') return { kind: 'duplicate' };
      return { kind: 'declined', code: 'DENIED' };
    case 410:
      return { kind: 'declined', code: 'DENIED' };
    case 422:
      if (
        code.endsWith('USER_AMOUNT_THRESHOLD_OVERPASSED') ||
        code === 'CARRIER_BILLING.UNAUTHORIZED_AMOUNT'
      )
        return { kind: 'declined', code: 'LIMIT_EXCEEDED' };
      return { kind: 'declined', code: 'DENIED' };
    case 429:
    case 503:
      return { kind: 'declined', code: 'CHANNEL_UNAVAILABLE' };
    case 501:
      // Documented NOT_IMPLEMENTED: the operation does not exist here, nothing was done.
      return { kind: 'declined', code: 'CHANNEL_UNAVAILABLE' };
    default:
      return httpStatus >= 500 ? { kind: 'unknown' } : { kind: 'declined', code: 'DENIED' };
  }
}

// ---------------------------------------------------------------------------------------------
// CloudEvents
// ---------------------------------------------------------------------------------------------

export type EventName =
  | 'payment-pending-validation'
  | 'payment-reserved'
  | 'payment-completed'
  | 'payment-cancelled'
  | 'payment-denied'
  | 'refund-completed'
  | 'refund-denied'
  | 'refund-in-bill';

export function eventNameOf(type: string): EventName | undefined {
  const name = type.startsWith(EVENT_PREFIX_PAYMENT)
    ? type.slice(EVENT_PREFIX_PAYMENT.length)
    : type.startsWith(EVENT_PREFIX_REFUND)
      ? type.slice(EVENT_PREFIX_REFUND.length)
      : undefined;
  const known: readonly string[] = [
    'payment-pending-validation',
    'payment-reserved',
    'payment-completed',
    'payment-cancelled',
    'payment-denied',
    'refund-completed',
    'refund-denied',
    'refund-in-bill',
  ];
  return name && known.includes(name) ? (name as EventName) : undefined;
}

export function eventTypeOf(name: EventName): string {
  return (name.startsWith('refund-') ? EVENT_PREFIX_REFUND : EVENT_PREFIX_PAYMENT) + name;
}

/** The status an event announces (used when the re-read after a callback is not possible). */
export function statusOfEvent(name: EventName): PaymentStatus {
  switch (name) {
    case 'payment-pending-validation':
      return 'pending_validation';
    case 'payment-reserved':
      return 'reserved';
    case 'payment-completed':
    case 'refund-completed':
    case 'refund-in-bill':
      return 'succeeded';
    case 'payment-cancelled':
      return 'cancelled';
    case 'payment-denied':
    case 'refund-denied':
      return 'denied';
    default:
      return assertNever(name);
  }
}

// ---------------------------------------------------------------------------------------------
// Redaction for the interaction log
// ---------------------------------------------------------------------------------------------

const SECRET_KEYS = new Set([
  'accesstoken',
  'access_token',
  'authorization',
  'client_assertion',
  'client_id',
  'otp',
  'password',
  'refresh_token',
  'id_token',
]);
const PHONE_KEYS = new Set(['phonenumber', 'msisdn']);
const PHONE_IN_TEXT = /\+[1-9]\d{6,14}/g;
const BARE_PHONE = /^[1-9]\d{7,14}$/;

/** A JSON-safe deep copy with credentials and OTPs removed and MSISDNs masked. */
export function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      const key = k.toLowerCase();
      if (SECRET_KEYS.has(key)) out[k] = '[REDACTED]';
      else if (PHONE_KEYS.has(key) && typeof v === 'string') out[k] = maskMsisdn(v);
      else out[k] = redact(v);
    }
    return out;
  }
  if (typeof value === 'string')
    return BARE_PHONE.test(value)
      ? maskMsisdn(value)
      : value.replace(PHONE_IN_TEXT, (m) => maskMsisdn(m));
  if (typeof value === 'bigint') return value.toString();
  return value;
}
