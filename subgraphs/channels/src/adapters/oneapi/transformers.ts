/**
 * GSMA OneAPI Payment v1: wire types and pure conversions (PROTOCOLS.md §4).
 *
 * Requests are `application/x-www-form-urlencoded` (v1) or the later JSON profile; answers are
 * JSON with amounts as JSON numbers in major units. Nothing here does I/O.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import {
  currency as currencyInfo,
  formatMinorAsDecimal,
  maskMsisdn,
  parseDecimalToMinor,
  parseFloatToMinor,
} from '@coinslot/kernel';
import type { DeclineCode, Outcome } from '../types';
import { assertNever } from '../types';

// ---------------------------------------------------------------------------------------------
// Amounts
// ---------------------------------------------------------------------------------------------

/** An amount from the provider that is not exactly what it must be: never accepted silently. */
export class AmountConflict extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AmountConflict';
  }
}

/** ISO 4217 exponent; OneAPI bills real currencies only (no virtual coins). */
export function exponentOf(code: string): number {
  const info = currencyInfo(code);
  if (!info || info.virtual) throw new RangeError(`OneAPI cannot bill currency "${code}"`);
  return info.exponent;
}

/** Request side: bigint minor units → decimal string in major units ("199" USD → "1.99"). */
export function toWireAmount(minor: bigint, code: string): string {
  if (minor < 0n) throw new RangeError('amounts on the wire are never negative');
  return formatMinorAsDecimal(minor, exponentOf(code));
}

/**
 * Response side: a JSON number (or, from lenient servers, a decimal string) in major units →
 * bigint minor units, only when exact at the currency's exponent. 1.999 USD is a conflict.
 */
export function fromWireAmount(value: number | string, code: string): bigint {
  const exponent = exponentOf(code);
  try {
    if (typeof value === 'number') {
      if (!Number.isFinite(value) || value < 0) throw new RangeError(`${value} is not an amount`);
      return parseFloatToMinor(value, exponent);
    }
    const minor = parseDecimalToMinor(value, exponent);
    if (minor < 0n) throw new RangeError(`${value} is negative`);
    return minor;
  } catch (err) {
    throw new AmountConflict(
      `amount ${JSON.stringify(value)} ${code} is not exact: ${(err as Error).message}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Identifiers and URLs
// ---------------------------------------------------------------------------------------------

/** `tel:+E164` from an MSISDN written with or without "+". */
export function endUserIdOf(msisdn: string): string {
  const digits = msisdn.replace(/\D/g, '');
  if (!/^[1-9]\d{6,14}$/.test(digits)) throw new RangeError('not an E.164 MSISDN');
  return `tel:+${digits}`;
}

/** The `{endUserId}` path segment (URL-encoded: `tel%3A%2B…`). */
export function endUserSegment(endUserId: string): string {
  return encodeURIComponent(endUserId);
}

export interface PaymentPaths {
  amount: string;
  amountResource(serverReferenceCode: string): string;
  reservation: string;
  reservationResource(transactionId: string): string;
  transactions: string;
  consents: string;
  consentResource(consentId: string): string;
}

/** URIs under `{base}/1/payment/{endUserId}/…`. */
export function paymentPaths(baseUrl: string, endUserId: string): PaymentPaths {
  const root = `${baseUrl.replace(/\/+$/, '')}/1/payment/${endUserSegment(endUserId)}`;
  return {
    amount: `${root}/transactions/amount`,
    amountResource: (id) => `${root}/transactions/amount/${encodeURIComponent(id)}`,
    reservation: `${root}/transactions/amountReservation`,
    reservationResource: (id) => `${root}/transactions/amountReservation/${encodeURIComponent(id)}`,
    transactions: `${root}/transactions`,
    consents: `${root}/consents`,
    consentResource: (id) => `${root}/consents/${encodeURIComponent(id)}`,
  };
}

// ---------------------------------------------------------------------------------------------
// Request encoding (form for v1, JSON for the later profile)
// ---------------------------------------------------------------------------------------------

export type Encoding = 'form' | 'json';
export type TransactionWrapper = 'amountTransaction' | 'amountReservationTransaction';

/** The v1 form fields of an amount or reservation operation. */
export interface PaymentFields {
  endUserId: string;
  transactionOperationStatus: 'Charged' | 'Refunded' | 'Reserved' | 'Released';
  referenceCode: string;
  description: string;
  /** Absent on a release, which moves no amount. */
  currency?: string;
  /** Decimal string in major units. */
  amount?: string;
  clientCorrelator?: string;
  originalServerReferenceCode?: string;
  referenceSequence?: number;
  callbackURL?: string;
  onBehalfOf?: string;
  purchaseCategoryCode?: string;
  channel?: 'Wap' | 'Web' | 'SMS';
  serviceID?: string;
  productID?: string;
  /** Coinslot simulator extension: the verified OTP consent this charge is made under. */
  consentId?: string;
}

const FORM_ORDER: readonly (keyof PaymentFields)[] = [
  'endUserId',
  'transactionOperationStatus',
  'referenceCode',
  'referenceSequence',
  'originalServerReferenceCode',
  'description',
  'currency',
  'amount',
  'clientCorrelator',
  'onBehalfOf',
  'purchaseCategoryCode',
  'channel',
  'serviceID',
  'productID',
  'callbackURL',
  'consentId',
];

/** `application/x-www-form-urlencoded`, absent fields left out, in a stable order. */
export function encodeForm(fields: Readonly<Record<string, string | number | undefined>>): string {
  const params = new URLSearchParams();
  const keys = [
    ...FORM_ORDER.filter((k) => k in fields),
    ...Object.keys(fields).filter((k) => !FORM_ORDER.includes(k as keyof PaymentFields)),
  ];
  for (const key of keys) {
    const value = fields[key];
    if (value === undefined || value === '') continue;
    params.append(key, String(value));
  }
  return params.toString();
}

export function decodeForm(body: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(body)) if (!(k in out)) out[k] = v;
  return out;
}

/** The JSON profile (OMA ParlayREST / OneAPI v2+): the same data, nested. */
export function toJsonBody(wrapper: TransactionWrapper, f: PaymentFields): Record<string, unknown> {
  const chargingMetaData = {
    onBehalfOf: f.onBehalfOf,
    purchaseCategoryCode: f.purchaseCategoryCode,
    channel: f.channel,
    serviceId: f.serviceID,
    productId: f.productID,
  };
  return {
    [wrapper]: {
      endUserId: f.endUserId,
      transactionOperationStatus: f.transactionOperationStatus,
      referenceCode: f.referenceCode,
      referenceSequence: f.referenceSequence,
      originalServerReferenceCode: f.originalServerReferenceCode,
      clientCorrelator: f.clientCorrelator,
      callbackURL: f.callbackURL,
      consentId: f.consentId,
      paymentAmount: {
        chargingInformation: { description: f.description, currency: f.currency, amount: f.amount },
        chargingMetaData: Object.values(chargingMetaData).some((v) => v !== undefined)
          ? chargingMetaData
          : undefined,
      },
    },
  };
}

export function encodePaymentBody(
  wrapper: TransactionWrapper,
  fields: PaymentFields,
  encoding: Encoding,
): { contentType: string; body: string } {
  switch (encoding) {
    case 'form':
      return {
        contentType: 'application/x-www-form-urlencoded',
        body: encodeForm(fields as unknown as Record<string, string | number | undefined>),
      };
    case 'json':
      return { contentType: 'application/json', body: JSON.stringify(toJsonBody(wrapper, fields)) };
    default:
      return assertNever(encoding);
  }
}

const JsonRequest = z.object({
  endUserId: z.string().optional(),
  transactionOperationStatus: z.string().optional(),
  referenceCode: z.string().optional(),
  referenceSequence: z.union([z.number(), z.string()]).optional(),
  originalServerReferenceCode: z.string().optional(),
  clientCorrelator: z.string().optional(),
  callbackURL: z.string().optional(),
  consentId: z.string().optional(),
  paymentAmount: z
    .object({
      chargingInformation: z
        .object({
          description: z.string().optional(),
          currency: z.string().optional(),
          amount: z.union([z.string(), z.number()]).optional(),
          code: z.string().optional(),
        })
        .loose()
        .optional(),
      chargingMetaData: z.record(z.string(), z.unknown()).optional(),
    })
    .loose()
    .optional(),
});

/**
 * Server side (simulator): either encoding back to flat v1 fields. Unknown content types and
 * unreadable bodies give `undefined`.
 */
export function decodePaymentBody(
  contentType: string | undefined,
  body: string,
): Record<string, string> | undefined {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/x-www-form-urlencoded') return decodeForm(body);
  if (type !== 'application/json') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (!parsed || typeof parsed !== 'object') return undefined;
  const inner =
    (parsed as Record<string, unknown>).amountTransaction ??
    (parsed as Record<string, unknown>).amountReservationTransaction;
  const r = JsonRequest.safeParse(inner);
  if (!r.success) return undefined;
  const t = r.data;
  const ci = t.paymentAmount?.chargingInformation;
  const md = (t.paymentAmount?.chargingMetaData ?? {}) as Record<string, unknown>;
  const flat: Record<string, string | undefined> = {
    endUserId: t.endUserId,
    transactionOperationStatus: t.transactionOperationStatus,
    referenceCode: t.referenceCode,
    referenceSequence: t.referenceSequence === undefined ? undefined : String(t.referenceSequence),
    originalServerReferenceCode: t.originalServerReferenceCode,
    clientCorrelator: t.clientCorrelator,
    callbackURL: t.callbackURL,
    consentId: t.consentId,
    description: ci?.description,
    currency: ci?.currency,
    amount: ci?.amount === undefined ? undefined : String(ci.amount),
    code: ci?.code,
    onBehalfOf: typeof md.onBehalfOf === 'string' ? md.onBehalfOf : undefined,
    purchaseCategoryCode:
      typeof md.purchaseCategoryCode === 'string' ? md.purchaseCategoryCode : undefined,
    channel: typeof md.channel === 'string' ? md.channel : undefined,
  };
  return Object.fromEntries(
    Object.entries(flat).filter((e): e is [string, string] => e[1] !== undefined),
  );
}

// ---------------------------------------------------------------------------------------------
// Response types
// ---------------------------------------------------------------------------------------------

const WireAmount = z.union([z.number(), z.string()]);

const ChargingInformation = z
  .object({
    amount: WireAmount.optional(),
    currency: z.string().optional(),
    description: z.string().optional(),
    code: z.string().optional(),
  })
  .loose();

const PaymentAmount = z
  .object({
    chargingInformation: ChargingInformation.optional(),
    totalAmountCharged: WireAmount.optional(),
    amountReserved: WireAmount.optional(),
  })
  .loose();

export const AmountTransactionSchema = z
  .object({
    endUserId: z.string().optional(),
    clientCorrelator: z.string().optional(),
    referenceCode: z.string().optional(),
    serverReferenceCode: z.string().optional(),
    originalServerReferenceCode: z.string().optional(),
    resourceURL: z.string().optional(),
    transactionOperationStatus: z.string(),
    referenceSequence: z.union([z.number(), z.string()]).optional(),
    paymentAmount: PaymentAmount.optional(),
  })
  .loose();
export type AmountTransaction = z.infer<typeof AmountTransactionSchema>;

const AmountEnvelope = z.object({ amountTransaction: AmountTransactionSchema });
const ReservationEnvelope = z.object({ amountReservationTransaction: AmountTransactionSchema });

/** `{amountTransaction}` or `{amountReservationTransaction}` → the transaction, else undefined. */
export function parseTransaction(
  json: unknown,
): { wrapper: TransactionWrapper; txn: AmountTransaction } | undefined {
  const a = AmountEnvelope.safeParse(json);
  if (a.success) return { wrapper: 'amountTransaction', txn: a.data.amountTransaction };
  const r = ReservationEnvelope.safeParse(json);
  if (r.success)
    return { wrapper: 'amountReservationTransaction', txn: r.data.amountReservationTransaction };
  return undefined;
}

export const TransactionListSchema = z
  .object({
    paymentTransactionList: z
      .object({
        amountTransaction: z.array(AmountTransactionSchema).optional(),
        amountReservationTransaction: z.array(AmountTransactionSchema).optional(),
        resourceURL: z.string().optional(),
      })
      .loose(),
  })
  .loose();
export type TransactionList = z.infer<typeof TransactionListSchema>;

const ExceptionSchema = z
  .object({
    messageId: z.string(),
    text: z.string().optional(),
    variables: z.array(z.string()).optional(),
  })
  .loose();
export const RequestErrorSchema = z.object({
  requestError: z.union([
    z.object({ serviceException: ExceptionSchema }).loose(),
    z.object({ policyException: ExceptionSchema }).loose(),
  ]),
});

export interface ProviderException {
  type: 'service' | 'policy';
  messageId: string;
  text?: string;
  variables?: string[];
}

export function parseRequestError(json: unknown): ProviderException | undefined {
  const r = RequestErrorSchema.safeParse(json);
  if (!r.success) return undefined;
  const e = r.data.requestError;
  if ('serviceException' in e)
    return {
      type: 'service',
      ...(e as { serviceException: z.infer<typeof ExceptionSchema> }).serviceException,
    };
  return {
    type: 'policy',
    ...(e as { policyException: z.infer<typeof ExceptionSchema> }).policyException,
  };
}

/**
 * Coinslot's OTP consent resource (simulator extension: OneAPI v1 has no consent API, the
 * operator checks the OTP and only then accepts the charge).
 */
export const CONSENT_STATUSES = ['pending', 'verified', 'failed', 'expired'] as const;
export type ConsentStatus = (typeof CONSENT_STATUSES)[number];

export const ConsentSchema = z.object({
  consent: z
    .object({
      consentId: z.string(),
      resourceURL: z.string().optional(),
      status: z.enum(CONSENT_STATUSES),
      attemptsLeft: z.number().int().nonnegative().optional(),
      endUserId: z.string().optional(),
      referenceCode: z.string().optional(),
      clientCorrelator: z.string().optional(),
      purpose: z.enum(['Charged', 'Reserved']).optional(),
      paymentAmount: PaymentAmount.optional(),
    })
    .loose(),
});
export type Consent = z.infer<typeof ConsentSchema>['consent'];

/** Policy exception ids of the consent extension. */
export const CONSENT_REQUIRED = 'POL3000';
export const CONSENT_NOT_VERIFIED = 'POL3001';
export const CONSENT_EXPIRED = 'POL3002';

export function consentOutcome(c: Consent, providerRef?: string): Outcome {
  switch (c.status) {
    case 'pending':
      return {
        kind: 'pending',
        completion: 'poll',
        providerRef: providerRef ?? c.consentId,
        action: { kind: 'OTP', attemptsLeft: c.attemptsLeft },
      };
    case 'verified':
      // Verified but not charged yet: the caller charges next.
      return { kind: 'pending', completion: 'poll', providerRef: providerRef ?? c.consentId };
    case 'failed':
      return {
        kind: 'declined',
        code: 'INVALID_OTP',
        providerRef: providerRef ?? c.consentId,
        message: 'OTP attempts exhausted',
      };
    case 'expired':
      return {
        kind: 'declined',
        code: 'CONSENT_EXPIRED',
        providerRef: providerRef ?? c.consentId,
        message: 'OTP consent expired',
      };
    default:
      return assertNever(c.status);
  }
}

// ---------------------------------------------------------------------------------------------
// The status map
// ---------------------------------------------------------------------------------------------

/** `transactionOperationStatus` values (Denied/Refused: OMA enumeration, to confirm). */
export const TRANSACTION_STATUSES = [
  'Charged',
  'Refunded',
  'Reserved',
  'Released',
  'Processing',
  'Denied',
  'Refused',
] as const;
export type TransactionStatus = (typeof TRANSACTION_STATUSES)[number];

/** Case-insensitive: the reference server calls back with `charged`. */
export function parseTransactionStatus(value: string): TransactionStatus | undefined {
  const lower = value.trim().toLowerCase();
  return TRANSACTION_STATUSES.find((s) => s.toLowerCase() === lower);
}

/** Which of our procedures a transaction resource answers for. */
export type PaymentOperation = 'charge' | 'refund' | 'reserve' | 'capture' | 'release';

/**
 * The one map from a transaction's status to an outcome, for the operation we asked about.
 * `completion` is how a Processing transaction will finish.
 */
export function outcomeForStatus(
  status: TransactionStatus,
  op: PaymentOperation,
  ctx: { providerRef?: string; completion?: 'poll' | 'callback' } = {},
): Outcome {
  const providerRef = ctx.providerRef;
  const ok: Outcome = { kind: 'succeeded', providerRef };
  const unexpected = (): Outcome => ({
    kind: 'unknown',
    reason: `status ${status} is unexpected for ${op}`,
    providerRef,
  });
  switch (status) {
    case 'Charged':
      // A captured reservation is still a made reservation; a release that met a capture failed.
      if (op === 'charge' || op === 'capture' || op === 'reserve') return ok;
      if (op === 'release')
        return {
          kind: 'declined',
          code: 'DENIED',
          providerRef,
          providerCode: status,
          message: 'reservation was captured',
        };
      return unexpected();
    case 'Refunded':
      // Servers that mark the original as refunded: the charge itself did happen.
      if (op === 'refund' || op === 'charge' || op === 'capture') return ok;
      return unexpected();
    case 'Reserved':
      if (op === 'reserve') return ok;
      if (op === 'capture' || op === 'release')
        return {
          kind: 'unknown',
          reason: `reservation still Reserved; ${op} not applied yet`,
          providerRef,
        };
      return unexpected();
    case 'Released':
      if (op === 'release' || op === 'reserve') return ok;
      if (op === 'capture')
        return {
          kind: 'declined',
          code: 'DENIED',
          providerRef,
          providerCode: status,
          message: 'reservation was released',
        };
      return unexpected();
    case 'Processing':
      return { kind: 'pending', completion: ctx.completion ?? 'poll', providerRef };
    case 'Denied':
      return { kind: 'declined', code: 'DENIED', providerRef, providerCode: status };
    case 'Refused':
      return {
        kind: 'declined',
        code: 'DENIED',
        providerRef,
        providerCode: status,
        message: 'refused',
      };
    default:
      return assertNever(status);
  }
}

/** The amount a transaction reports for an operation, as minor units (throws AmountConflict). */
export function reportedAmount(
  txn: AmountTransaction,
  op: PaymentOperation,
  fallbackCurrency?: string,
): { amount: bigint; currency: string } | undefined {
  const pa = txn.paymentAmount;
  const code = pa?.chargingInformation?.currency ?? fallbackCurrency;
  if (!pa || !code) return undefined;
  let wire: number | string | undefined;
  switch (op) {
    case 'charge':
    case 'capture':
      wire = pa.totalAmountCharged ?? pa.chargingInformation?.amount;
      break;
    case 'reserve':
      // chargingInformation.amount is what was reserved in total; amountReserved is what is left.
      wire = pa.chargingInformation?.amount ?? pa.amountReserved;
      break;
    case 'refund':
      wire = pa.chargingInformation?.amount;
      break;
    case 'release':
      return undefined;
    default:
      return assertNever(op);
  }
  if (wire === undefined) return undefined;
  return { amount: fromWireAmount(wire, code), currency: code };
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

export type ErrorClass =
  | { type: 'declined'; code: DeclineCode; providerCode?: string; message?: string }
  | { type: 'consentRequired'; providerCode: string }
  /** Possibly committed (or a replay with other data): resolve by status. */
  | { type: 'unknown'; reason: string };

const POLICY_CODES: Readonly<Record<string, DeclineCode>> = {
  POL1000: 'INSUFFICIENT_FUNDS',
  POL0001: 'DENIED',
  POL1001: 'LIMIT_EXCEEDED',
  POL0254: 'LIMIT_EXCEEDED',
  POL1002: 'DENIED',
  POL0253: 'CANCELED_BY_USER',
  [CONSENT_NOT_VERIFIED]: 'INVALID_OTP',
  [CONSENT_EXPIRED]: 'CONSENT_EXPIRED',
};

/** An HTTP error answer to a money-moving request. */
export function classifyError(httpStatus: number, err: ProviderException | undefined): ErrorClass {
  const providerCode = err?.messageId;
  const message = err?.text;
  if (httpStatus === 503 || httpStatus === 429)
    return {
      type: 'declined',
      code: 'CHANNEL_UNAVAILABLE',
      providerCode: providerCode ?? `HTTP${httpStatus}`,
      message,
    };
  if (httpStatus >= 500)
    return {
      type: 'unknown',
      reason: `HTTP ${httpStatus}${providerCode ? ` ${providerCode}` : ''} after send`,
    };
  if (httpStatus === 401)
    return {
      type: 'declined',
      code: 'CHANNEL_UNAVAILABLE',
      providerCode: 'HTTP401',
      message: 'authentication with the operator failed',
    };
  if (providerCode === CONSENT_REQUIRED) return { type: 'consentRequired', providerCode };
  if (providerCode === 'SVC0005')
    return { type: 'unknown', reason: 'SVC0005: clientCorrelator already used with other data' };
  if (providerCode && POLICY_CODES[providerCode])
    return { type: 'declined', code: POLICY_CODES[providerCode]!, providerCode, message };
  if (httpStatus >= 400 && httpStatus < 500) {
    // SVC0004 (no valid address), SVC0270 (charge failed), other SVC/POL: rejected, nothing committed.
    return {
      type: 'declined',
      code: 'DENIED',
      providerCode: providerCode ?? `HTTP${httpStatus}`,
      message,
    };
  }
  return { type: 'unknown', reason: `unexpected HTTP ${httpStatus}` };
}

// ---------------------------------------------------------------------------------------------
// Callback path tokens and redaction
// ---------------------------------------------------------------------------------------------

/** Per-payment unguessable token for the callback path (HMAC of our reference). */
export function callbackToken(key: string, reference: string): string {
  return createHmac('sha256', key).update(`oneapi-callback\0${reference}`).digest('base64url');
}

export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

const SECRET_KEYS = new Set([
  'authorization',
  'password',
  'otp',
  'pin',
  'token',
  'secret',
  'callbacksecret',
  'callbacktokenkey',
]);
const TEL = /(tel:\+?|tel%3A%2B|tel%3a%2b)(\d{5,15})/g;

function maskDigits(digits: string): string {
  return maskMsisdn(`+${digits}`).slice(1);
}

/**
 * Deep copy for the interaction log: secrets dropped, MSISDNs masked (the ones we know, and any
 * `tel:` URI), callback tokens cut off.
 */
export function redact<T>(
  value: T,
  msisdns: readonly (string | undefined)[] = [],
  callbackBase?: string,
): T {
  const known = msisdns
    .filter((m): m is string => !!m)
    .map((m) => m.replace(/\D/g, ''))
    .filter((d) => d.length >= 5);
  const fixString = (s: string): string => {
    let out = s.replace(TEL, (_m, prefix: string, digits: string) => prefix + maskDigits(digits));
    for (const d of known) out = out.split(d).join(maskDigits(d));
    if (callbackBase && out.startsWith(callbackBase)) out = `${callbackBase}/[token]`;
    return out;
  };
  const walk = (v: unknown, key?: string): unknown => {
    if (key && SECRET_KEYS.has(key.toLowerCase())) return '[REDACTED]';
    if (typeof v === 'string') return fixString(v);
    if (v instanceof Date) return v;
    if (Array.isArray(v)) return v.map((x) => walk(x));
    if (v && typeof v === 'object') {
      return Object.fromEntries(
        Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, walk(x, k)]),
      );
    }
    return v;
  };
  return walk(value) as T;
}
