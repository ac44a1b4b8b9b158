/**
 * Card PSP (Stripe PaymentIntents style): wire types and pure conversions. No I/O here.
 *
 * - form encoding with bracket notation (`metadata[reference]=X`, `a[0]=b`) and its inverse;
 * - amounts: integer minor units on the wire, still validated both ways;
 * - the one exhaustive PaymentIntent status → outcome map;
 * - error bodies → outcomes (decline codes, throttling, idempotency errors);
 * - `Stripe-Signature` header build / parse / verify (node:crypto only).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { DeclineCode, Outcome } from '../types';
import { assertNever } from '../types';

// ---------------------------------------------------------------------------------------------
// Form encoding (application/x-www-form-urlencoded, bracket notation)

export type FormValue =
  string | number | bigint | boolean | null | undefined | FormValue[] | FormObject;
export interface FormObject {
  [key: string]: FormValue;
}

function encodePart(s: string): string {
  // encodeURIComponent leaves !'()* alone; that is valid in a form body.
  return encodeURIComponent(s);
}

/**
 * Nested objects become `a[b][c]=v`, arrays `a[0]=v` (indices, as the PSP's SDKs send them).
 * `undefined` and `null` are left out; brackets stay literal, the segments are percent-encoded.
 */
export function encodeForm(data: FormObject): string {
  const out: string[] = [];
  const walk = (prefix: string, value: FormValue): void => {
    if (value === undefined || value === null) return;
    if (Array.isArray(value)) {
      value.forEach((v, i) => walk(`${prefix}[${i}]`, v));
      return;
    }
    if (typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) walk(`${prefix}[${encodePart(k)}]`, v);
      return;
    }
    out.push(`${prefix}=${encodePart(String(value))}`);
  };
  for (const [k, v] of Object.entries(data)) walk(encodePart(k), v);
  return out.join('&');
}

export type DecodedForm = { [key: string]: string | DecodedForm | DecodedForm[] | string[] };

/** Splits `a[b][0]` into `['a', 'b', '0']`; a malformed key is kept whole. */
export function splitFormKey(key: string): string[] {
  const open = key.indexOf('[');
  if (open <= 0) return [key];
  const parts = [key.slice(0, open)];
  let rest = key.slice(open);
  while (rest.length > 0) {
    const m = /^\[([^\]]*)\]/.exec(rest);
    if (!m) return [key];
    parts.push(m[1]!);
    rest = rest.slice(m[0].length);
  }
  return parts;
}

/**
 * The inverse of encodeForm: objects, and arrays where every key at a level is an index.
 * Throws on conflicting shapes (`a=1&a[b]=2`), which a server answers with a 400.
 */
export function decodeForm(body: string): DecodedForm {
  // Null-prototype objects: a key such as `__proto__` or `toString` is data, nothing more.
  type Node = { [k: string]: string | Node };
  const fresh = <T>(): T => Object.create(null) as T;
  const root = fresh<Node>();
  for (const [key, value] of new URLSearchParams(body)) {
    const path = splitFormKey(key);
    let node = root;
    for (let i = 0; i < path.length; i += 1) {
      const seg = path[i]!;
      const next = Object.hasOwn(node, seg) ? node[seg] : undefined;
      if (i === path.length - 1) {
        if (next !== undefined) throw new Error(`duplicate form key ${key}`);
        node[seg] = value;
      } else if (next === undefined) {
        const created = fresh<Node>();
        node[seg] = created;
        node = created;
      } else if (typeof next === 'string') {
        throw new Error(`conflicting form key ${key}`);
      } else {
        node = next;
      }
    }
  }
  const arrays = (n: Node): DecodedForm => {
    const out = fresh<DecodedForm>();
    for (const [k, v] of Object.entries(n)) {
      if (typeof v === 'string') {
        out[k] = v;
        continue;
      }
      const keys = Object.keys(v);
      const isArray = keys.length > 0 && keys.every((x, i) => x === String(i));
      const converted = arrays(v);
      out[k] = isArray ? (keys.map((x) => converted[x]) as DecodedForm[] | string[]) : converted;
    }
    return out;
  };
  return arrays(root);
}

/** Canonical form of a body, for comparing the parameters of two requests. */
export function canonicalForm(body: string): string {
  return [...new URLSearchParams(body)]
    .map(([k, v]) => `${k}=${v}`)
    .sort()
    .join('&');
}

/**
 * `Idempotency-Key` for one operation on one of our references: `<reference>:<operation>`,
 * or a hash of it when that would pass the PSP's 255-character limit.
 */
export function idempotencyKey(reference: string, operation: string): string {
  const key = `${reference}:${operation}`;
  return key.length <= 255 ? key : `sha256:${createHash('sha256').update(key).digest('hex')}`;
}

// ---------------------------------------------------------------------------------------------
// Amounts: integer minor units on the wire

/** Stripe's largest amount (8 digits). */
export const MAX_WIRE_AMOUNT = 99_999_999n;

/**
 * Currencies the PSP represents differently from ISO 4217: ISK and UGX have exponent 0 in ISO
 * but travel in a two-decimal representation whose fraction is always 00.
 */
const WIRE_SHIFT: Record<string, bigint> = { ISK: 100n, UGX: 100n };
/** Three-decimal currencies: the last digit must be 0 for the PSP's acquirers. */
const THREE_DECIMAL = new Set(['BHD', 'JOD', 'KWD', 'OMR', 'TND']);

export class AmountError extends Error {
  override name = 'AmountError';
}

export function toWireCurrency(currency: string): string {
  if (!/^[A-Z]{3}$/.test(currency)) throw new AmountError(`not an ISO 4217 code: ${currency}`);
  return currency.toLowerCase();
}

export function fromWireCurrency(currency: unknown): string {
  if (typeof currency !== 'string' || !/^[a-z]{3}$/.test(currency))
    throw new AmountError(`bad wire currency ${String(currency)}`);
  return currency.toUpperCase();
}

/** Our minor units (bigint) → the integer the PSP expects. */
export function toWireAmount(amount: bigint, currency: string): number {
  if (typeof amount !== 'bigint') throw new AmountError('amount must be a bigint');
  if (amount <= 0n) throw new AmountError(`amount must be positive: ${amount}`);
  const wire = amount * (WIRE_SHIFT[currency] ?? 1n);
  if (wire > MAX_WIRE_AMOUNT) throw new AmountError(`amount too large: ${amount}`);
  if (THREE_DECIMAL.has(currency) && wire % 10n !== 0n)
    throw new AmountError(`${currency} amounts must end in 0`);
  return Number(wire);
}

/** The PSP's integer → our minor units; anything but a safe non-negative integer is a conflict. */
export function fromWireAmount(value: unknown, currency: string): bigint {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new AmountError(`not an integer amount: ${JSON.stringify(value)}`);
  }
  const wire = BigInt(value);
  const shift = WIRE_SHIFT[currency] ?? 1n;
  if (wire % shift !== 0n)
    throw new AmountError(`${currency} wire amount ${value} is not a multiple of ${shift}`);
  return wire / shift;
}

// ---------------------------------------------------------------------------------------------
// Wire types

export const INTENT_STATUSES = [
  'requires_payment_method',
  'requires_confirmation',
  'requires_action',
  'processing',
  'requires_capture',
  'succeeded',
  'canceled',
] as const;
export type IntentStatus = (typeof INTENT_STATUSES)[number];

export const REFUND_STATUSES = [
  'pending',
  'requires_action',
  'succeeded',
  'failed',
  'canceled',
] as const;
export type RefundStatus = (typeof REFUND_STATUSES)[number];

export interface PaymentError {
  type: string;
  code?: string;
  decline_code?: string;
  message?: string;
  param?: string;
  payment_intent?: PaymentIntent;
}

export interface PaymentIntent {
  id: string;
  object: 'payment_intent';
  amount: number;
  amount_capturable: number;
  amount_received: number;
  currency: string;
  status: IntentStatus;
  capture_method: 'automatic' | 'automatic_async' | 'manual';
  metadata: Record<string, string>;
  description?: string | null;
  client_secret?: string | null;
  created: number;
  latest_charge?: string | null;
  payment_method?: string | null;
  last_payment_error?: PaymentError | null;
  next_action?: {
    type: string;
    redirect_to_url?: { url: string; return_url?: string | null };
  } | null;
  cancellation_reason?: string | null;
  livemode?: boolean;
}

export interface Refund {
  id: string;
  object: 'refund';
  amount: number;
  currency: string;
  status: RefundStatus;
  payment_intent: string;
  charge?: string | null;
  metadata: Record<string, string>;
  reason?: string | null;
  failure_reason?: string | null;
  created: number;
}

export interface SearchResult<T> {
  object: 'search_result';
  data: T[];
  has_more: boolean;
  next_page?: string | null;
  url?: string;
}

export interface StripeEvent {
  id: string;
  object: 'event';
  type: string;
  created: number;
  api_version?: string;
  livemode?: boolean;
  data: { object: unknown; previous_attributes?: unknown };
  request?: { id: string | null; idempotency_key: string | null } | null;
}

export class WireError extends Error {
  override name = 'WireError';
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isStringRecord(v: unknown): v is Record<string, string> {
  return isRecord(v) && Object.values(v).every((x) => typeof x === 'string');
}

/** Checks the fields we rely on; anything else (a new status, a missing id) is unreadable. */
export function parsePaymentIntent(v: unknown): PaymentIntent {
  if (!isRecord(v) || v.object !== 'payment_intent') throw new WireError('not a payment_intent');
  if (typeof v.id !== 'string' || !v.id) throw new WireError('payment_intent without id');
  if (!(INTENT_STATUSES as readonly unknown[]).includes(v.status))
    throw new WireError(`unknown status ${String(v.status)}`);
  for (const f of ['amount', 'amount_capturable', 'amount_received'] as const) {
    if (typeof v[f] !== 'number') throw new WireError(`payment_intent.${f} missing`);
  }
  if (typeof v.currency !== 'string') throw new WireError('payment_intent.currency missing');
  if (!isStringRecord(v.metadata)) throw new WireError('payment_intent.metadata missing');
  return v as unknown as PaymentIntent;
}

export function parseRefund(v: unknown): Refund {
  if (!isRecord(v) || v.object !== 'refund') throw new WireError('not a refund');
  if (typeof v.id !== 'string' || !v.id) throw new WireError('refund without id');
  if (!(REFUND_STATUSES as readonly unknown[]).includes(v.status))
    throw new WireError(`unknown refund status ${String(v.status)}`);
  if (typeof v.amount !== 'number' || typeof v.currency !== 'string')
    throw new WireError('refund amount missing');
  if (!isStringRecord(v.metadata)) throw new WireError('refund.metadata missing');
  return v as unknown as Refund;
}

export function parseSearch(v: unknown): SearchResult<PaymentIntent> {
  if (!isRecord(v) || v.object !== 'search_result' || !Array.isArray(v.data))
    throw new WireError('not a search_result');
  return {
    object: 'search_result',
    data: v.data.map(parsePaymentIntent),
    has_more: v.has_more === true,
  };
}

export function parseError(v: unknown): PaymentError | undefined {
  if (!isRecord(v) || !isRecord(v.error) || typeof v.error.type !== 'string') return undefined;
  return v.error as unknown as PaymentError;
}

export function parseEvent(v: unknown): StripeEvent {
  if (
    !isRecord(v) ||
    v.object !== 'event' ||
    typeof v.id !== 'string' ||
    typeof v.type !== 'string'
  )
    throw new WireError('not an event');
  if (typeof v.created !== 'number' || !isRecord(v.data))
    throw new WireError('event without created/data');
  return v as unknown as StripeEvent;
}

// ---------------------------------------------------------------------------------------------
// Status → outcome

/** Which of our procedures an intent is being looked at for. */
export type IntentView = 'CHARGE' | 'RESERVE' | 'CAPTURE' | 'RELEASE';

/** The view a bare intent (webhook, status without procedure) stands for. */
export function defaultView(pi: Pick<PaymentIntent, 'capture_method' | 'status'>): IntentView {
  if (pi.capture_method !== 'manual') return 'CHARGE';
  if (pi.status === 'succeeded') return 'CAPTURE';
  if (pi.status === 'canceled') return 'RELEASE';
  return 'RESERVE';
}

/** A card error → our decline code. */
export function declineCode(
  err: Pick<PaymentError, 'code' | 'decline_code'> | null | undefined,
): DeclineCode {
  switch (err?.decline_code) {
    case 'insufficient_funds':
      return 'INSUFFICIENT_FUNDS';
    case 'card_velocity_exceeded':
    case 'withdrawal_count_limit_exceeded':
      return 'LIMIT_EXCEEDED';
    default:
      // card_declined / generic_decline / do_not_honor / fraudulent / expired_card / authentication failures
      return 'DENIED';
  }
}

function redirectAction(pi: PaymentIntent): { kind: 'REDIRECT'; url: string } | undefined {
  const url = pi.next_action?.redirect_to_url?.url;
  return typeof url === 'string' && url ? { kind: 'REDIRECT', url } : undefined;
}

/**
 * The one map from a PaymentIntent status to an outcome. Amounts are the wire integers turned
 * into minor units; the caller checks them against what it asked for.
 */
export function intentOutcome(pi: PaymentIntent, view: IntentView): Outcome {
  const providerRef = pi.id;
  const currency = fromWireCurrency(pi.currency);
  const status: IntentStatus = pi.status;
  switch (status) {
    case 'requires_payment_method': {
      // Confirmed and failed (the PSP puts the intent back here), or never given a card.
      const err = pi.last_payment_error;
      if (view === 'RELEASE') return { kind: 'pending', completion: 'poll', providerRef };
      return {
        kind: 'declined',
        code: declineCode(err),
        providerRef,
        providerCode: err?.decline_code ?? err?.code ?? 'requires_payment_method',
        message: err?.message,
      };
    }
    case 'requires_confirmation':
      return { kind: 'pending', completion: 'poll', providerRef };
    case 'requires_action': {
      const action = redirectAction(pi);
      return action
        ? { kind: 'pending', completion: 'callback', providerRef, action }
        : { kind: 'pending', completion: 'callback', providerRef };
    }
    case 'processing':
      return { kind: 'pending', completion: 'callback', providerRef };
    case 'requires_capture':
      if (view === 'RESERVE')
        return {
          kind: 'succeeded',
          providerRef,
          amount: fromWireAmount(pi.amount_capturable, currency),
          currency,
        };
      return { kind: 'pending', completion: 'poll', providerRef };
    case 'succeeded':
      if (view === 'RELEASE')
        return {
          kind: 'declined',
          code: 'DENIED',
          providerRef,
          providerCode: 'payment_intent_unexpected_state',
          message: 'already captured',
        };
      return {
        kind: 'succeeded',
        providerRef,
        amount: fromWireAmount(pi.amount_received, currency),
        currency,
      };
    case 'canceled':
      if (view === 'RELEASE') return { kind: 'succeeded', providerRef };
      return {
        kind: 'declined',
        code:
          pi.cancellation_reason === 'requested_by_customer' ||
          pi.cancellation_reason === 'abandoned'
            ? 'CANCELED_BY_USER'
            : 'DENIED',
        providerRef,
        providerCode: `canceled${pi.cancellation_reason ? `:${pi.cancellation_reason}` : ''}`,
      };
    default:
      return assertNever(status);
  }
}

export function refundOutcome(r: Refund): Outcome {
  const providerRef = r.id;
  const currency = fromWireCurrency(r.currency);
  const status: RefundStatus = r.status;
  switch (status) {
    case 'succeeded':
      return {
        kind: 'succeeded',
        providerRef,
        amount: fromWireAmount(r.amount, currency),
        currency,
      };
    case 'pending':
    case 'requires_action':
      return { kind: 'pending', completion: 'callback', providerRef };
    case 'failed':
    case 'canceled':
      return {
        kind: 'declined',
        code: 'DENIED',
        providerRef,
        providerCode: r.failure_reason ?? status,
      };
    default:
      return assertNever(status);
  }
}

/**
 * An HTTP error answer → outcome, or 'in-progress' when another request with the same
 * Idempotency-Key is executing (safe to ask again with the same key).
 *
 * `moneyMoving`: the request may have committed, so an ambiguous answer is `unknown`.
 */
export function errorOutcome(
  status: number,
  body: unknown,
  moneyMoving: boolean,
): Outcome | 'in-progress' {
  const err = parseError(body);
  const providerCode = err?.decline_code ?? err?.code ?? err?.type ?? String(status);
  const message = err?.message;
  if (status === 429 || status === 503)
    return { kind: 'declined', code: 'CHANNEL_UNAVAILABLE', providerCode, message };
  if (status === 401 || status === 403)
    return { kind: 'declined', code: 'CHANNEL_UNAVAILABLE', providerCode, message };
  if (status === 409 && err?.type === 'idempotency_error') return 'in-progress';
  if (err?.type === 'idempotency_error') {
    // The key was used with other parameters: the reference already stands for another request.
    return { kind: 'unknown', reason: `idempotency conflict: ${message ?? providerCode}` };
  }
  if (status === 402 || err?.type === 'card_error') {
    const providerRef =
      isRecord(err?.payment_intent) && typeof err.payment_intent.id === 'string'
        ? err.payment_intent.id
        : undefined;
    return { kind: 'declined', code: declineCode(err), providerRef, providerCode, message };
  }
  if (status >= 500 || !err) {
    // A 500 is stored under the key: the request may or may not have executed.
    return moneyMoving
      ? { kind: 'unknown', reason: `HTTP ${status}` }
      : { kind: 'unknown', reason: `HTTP ${status} on a read` };
  }
  // 400/404 invalid_request_error: validated and refused before anything moved.
  return { kind: 'declined', code: 'DENIED', providerCode, message };
}

// ---------------------------------------------------------------------------------------------
// Webhook signatures: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`

export const DEFAULT_TOLERANCE_SEC = 300;

export interface SignatureHeader {
  timestamp: number;
  v1: string[];
}

export function parseSignatureHeader(
  header: string | string[] | undefined,
): SignatureHeader | undefined {
  const text = Array.isArray(header) ? header.join(',') : header;
  if (!text) return undefined;
  let timestamp: number | undefined;
  const v1: string[] = [];
  for (const item of text.split(',')) {
    const eq = item.indexOf('=');
    if (eq <= 0) continue;
    const k = item.slice(0, eq).trim();
    const v = item.slice(eq + 1).trim();
    if (k === 't') {
      if (!/^\d{1,12}$/.test(v) || timestamp !== undefined) return undefined;
      timestamp = Number(v);
    } else if (k === 'v1' && /^[0-9a-f]{64}$/i.test(v)) {
      v1.push(v.toLowerCase());
    }
  }
  if (timestamp === undefined || v1.length === 0) return undefined;
  return { timestamp, v1 };
}

/** hex(HMAC-SHA256(secret, t + "." + rawBody)) over the raw bytes. */
export function computeSignature(
  secret: string,
  timestamp: number,
  rawBody: Buffer | string,
): string {
  return createHmac('sha256', secret).update(`${timestamp}.`, 'utf8').update(rawBody).digest('hex');
}

/** The header the PSP sends: one v1 per active secret (two while a secret is being rotated). */
export function signatureHeader(
  secrets: readonly string[],
  timestamp: number,
  rawBody: Buffer | string,
): string {
  return [
    `t=${timestamp}`,
    ...secrets.map((s) => `v1=${computeSignature(s, timestamp, rawBody)}`),
  ].join(',');
}

export type SignatureCheck = { ok: true; timestamp: number } | { ok: false; reason: string };

/** Accepts when any v1 matches any of our secrets and |now − t| ≤ tolerance. */
export function verifySignature(
  header: string | string[] | undefined,
  rawBody: Buffer,
  secrets: readonly string[],
  toleranceSec: number,
  nowSec: number,
): SignatureCheck {
  const parsed = parseSignatureHeader(header);
  if (!parsed) return { ok: false, reason: 'missing or unreadable signature header' };
  if (secrets.length === 0) return { ok: false, reason: 'no webhook secret configured' };
  let matched = false;
  for (const secret of secrets) {
    const expected = Buffer.from(computeSignature(secret, parsed.timestamp, rawBody), 'hex');
    for (const candidate of parsed.v1) {
      // Always compare everything: no early exit that depends on which secret matched.
      if (timingSafeEqual(expected, Buffer.from(candidate, 'hex'))) matched = true;
    }
  }
  if (!matched) return { ok: false, reason: 'no matching v1 signature' };
  if (Math.abs(nowSec - parsed.timestamp) > toleranceSec)
    return { ok: false, reason: 'timestamp outside tolerance' };
  return { ok: true, timestamp: parsed.timestamp };
}

// ---------------------------------------------------------------------------------------------
// Redaction for the interaction log

/** Keeps a short, non-identifying prefix of a token (`tok_…`). */
export function tokenPrefix(token: string | undefined): string | undefined {
  if (!token) return token;
  return `${token.slice(0, 4)}…`;
}

const SECRET_FIELDS = new Set(['client_secret', 'token', 'secret']);

/** Deep copy without client secrets or card tokens. */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (SECRET_FIELDS.has(k)) out[k] = typeof v === 'string' ? tokenPrefix(v) : '[redacted]';
    else out[k] = redact(v, depth + 1);
  }
  return out;
}
