/**
 * Parlay X 2.1 Payment (SOAP 1.1, document/literal) wire facts as pure functions: namespaces,
 * envelopes, the two security headers, xsd:decimal ⇄ minor units, and the one exhaustive map
 * from what the provider answered to an outcome. No I/O here.
 */
import { createHash } from 'node:crypto';
import { XMLParser } from 'fast-xml-parser';
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
// Namespaces and paths
// ---------------------------------------------------------------------------------------------

export const NS = {
  soapenv: 'http://schemas.xmlsoap.org/soap/envelope/',
  common: 'http://www.csapi.org/schema/parlayx/common/v2_1',
  amountCharging: 'http://www.csapi.org/schema/parlayx/payment/amount_charging/v2_1/local',
  reserveAmountCharging:
    'http://www.csapi.org/schema/parlayx/payment/reserve_amount_charging/v2_1/local',
  accountManagement: 'http://www.csapi.org/schema/parlayx/account_management/v2_2/local',
  /**
   * NOT Parlay X: a vendor charge-record lookup by referenceCode. Parlay X Payment has no status
   * operation; some SDPs expose a CDR/transaction query, and the Coinslot simulator implements
   * this one. Operators without it resolve `unknown` through the settlement report instead.
   */
  vendorStatus: 'urn:coinslot:parlayx:vendor:charge_status:v1',
  wsse: 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd',
  wsu: 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd',
  huawei: 'http://www.huawei.com.cn/schema/common/v2_1',
} as const;

export const PASSWORD_DIGEST_TYPE =
  'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest';
export const PASSWORD_TEXT_TYPE =
  'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText';
export const BASE64_ENCODING =
  'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary';

export const PATHS = {
  amountCharging: '/AmountChargingService/services/AmountCharging',
  reserveAmountCharging: '/ReserveAmountChargingService/services/ReserveAmountCharging',
  accountManagement: '/AccountManagementService/services/AccountManagement',
} as const;

// ---------------------------------------------------------------------------------------------
// Amounts: xsd:decimal in major units, string arithmetic only
// ---------------------------------------------------------------------------------------------

export function exponentOf(code: string): number {
  const info = currencyInfo(code);
  if (!info) throw new RangeError(`unknown currency "${code}"`);
  return info.exponent;
}

/** 199n GBP → "1.99"; 500n JPY → "500"; 1234n KWD → "1.234". */
export function toXsdDecimal(amount: bigint, code: string): string {
  if (amount < 0n) throw new RangeError('Parlay X amounts are not negative');
  return formatMinorAsDecimal(amount, exponentOf(code));
}

/**
 * "1.99" GBP → 199n. More fraction digits than the currency allows, a sign, an exponent or
 * anything but digits is an amount conflict (RangeError), never a rounding.
 */
export function fromXsdDecimal(text: string, code: string): bigint {
  const trimmed = text.trim();
  if (!/^\+?\d+(\.\d+)?$/.test(trimmed) && !/^\+?\.\d+$/.test(trimmed)) {
    throw new RangeError(`not an xsd:decimal amount: "${text}"`);
  }
  const unsigned = trimmed.replace(/^\+/, '');
  return parseDecimalToMinor(
    unsigned.startsWith('.') ? `0${unsigned}` : unsigned,
    exponentOf(code),
  );
}

/** node-soap hands xsd:decimal to code as a JS float: accept it only when exact. */
export function fromSoapFloat(n: number, code: string): bigint {
  return parseFloatToMinor(n, exponentOf(code));
}

// ---------------------------------------------------------------------------------------------
// Security headers
// ---------------------------------------------------------------------------------------------

/** PasswordDigest = Base64(SHA-1(nonceBytes ‖ created ‖ password)), nonce given in Base64. */
export function passwordDigest(nonceBase64: string, created: string, password: string): string {
  return createHash('sha1')
    .update(Buffer.from(nonceBase64, 'base64'))
    .update(created, 'utf8')
    .update(password, 'utf8')
    .digest('base64');
}

/** Huawei SDP: spPassword = MD5(spId + password + timeStamp), hex, case per deployment. */
export function huaweiSpPassword(
  spId: string,
  password: string,
  timeStamp: string,
  letterCase: 'upper' | 'lower' = 'upper',
): string {
  const hex = createHash('md5')
    .update(spId + password + timeStamp, 'utf8')
    .digest('hex');
  return letterCase === 'upper' ? hex.toUpperCase() : hex;
}

const pad2 = (n: number) => (n < 10 ? `0${n}` : String(n));
/** yyyyMMddHHmmss, UTC. */
export function huaweiTimestamp(at: Date): string {
  return (
    at.getUTCFullYear().toString() +
    pad2(at.getUTCMonth() + 1) +
    pad2(at.getUTCDate()) +
    pad2(at.getUTCHours()) +
    pad2(at.getUTCMinutes()) +
    pad2(at.getUTCSeconds())
  );
}

export function parseHuaweiTimestamp(text: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  return new Date(Date.UTC(y, mo - 1, d, h, mi, s));
}

export function wsseHeader(
  username: string,
  password: string,
  nonceBase64: string,
  created: string,
): string {
  return (
    `<wsse:Security soapenv:mustUnderstand="1" xmlns:wsse="${NS.wsse}" xmlns:wsu="${NS.wsu}">` +
    `<wsse:UsernameToken wsu:Id="UsernameToken-1">` +
    `<wsse:Username>${xmlEscape(username)}</wsse:Username>` +
    `<wsse:Password Type="${PASSWORD_DIGEST_TYPE}">${passwordDigest(nonceBase64, created, password)}</wsse:Password>` +
    `<wsse:Nonce EncodingType="${BASE64_ENCODING}">${nonceBase64}</wsse:Nonce>` +
    `<wsu:Created>${created}</wsu:Created>` +
    `</wsse:UsernameToken></wsse:Security>`
  );
}

export interface HuaweiHeaderInput {
  spId: string;
  password: string;
  timeStamp: string;
  serviceId?: string;
  /** End-user address for OA/FA, e.g. "tel:+447700900000". */
  endUser?: string;
  letterCase?: 'upper' | 'lower';
}

export function huaweiHeader(h: HuaweiHeaderInput): string {
  return (
    `<v2:RequestSOAPHeader xmlns:v2="${NS.huawei}">` +
    `<v2:spId>${xmlEscape(h.spId)}</v2:spId>` +
    `<v2:spPassword>${huaweiSpPassword(h.spId, h.password, h.timeStamp, h.letterCase)}</v2:spPassword>` +
    (h.serviceId ? `<v2:serviceId>${xmlEscape(h.serviceId)}</v2:serviceId>` : '') +
    `<v2:timeStamp>${h.timeStamp}</v2:timeStamp>` +
    (h.endUser
      ? `<v2:OA>${xmlEscape(h.endUser)}</v2:OA><v2:FA>${xmlEscape(h.endUser)}</v2:FA>`
      : '') +
    `</v2:RequestSOAPHeader>`
  );
}

// ---------------------------------------------------------------------------------------------
// Envelopes (template strings: byte-exact namespaces, no per-request WSDL work)
// ---------------------------------------------------------------------------------------------

const XML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
};
export function xmlEscape(text: string): string {
  return /[&<>"']/.test(text) ? text.replace(/[&<>"']/g, (c) => XML_ESCAPES[c]!) : text;
}

export function envelope(header: string, body: string): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>` +
    `<soapenv:Envelope xmlns:soapenv="${NS.soapenv}">` +
    `<soapenv:Header>${header}</soapenv:Header>` +
    `<soapenv:Body>${body}</soapenv:Body></soapenv:Envelope>`
  );
}

export function telUri(msisdn: string): string {
  return `tel:${msisdn.startsWith('+') ? msisdn : `+${msisdn}`}`;
}

export interface ChargingInformation {
  description: string;
  currency?: string;
  /** xsd:decimal text, already converted with toXsdDecimal. */
  amount?: string;
  /** Operator price point, when the channel sends codes instead of amounts. */
  code?: string;
}

/**
 * ChargingInformation lives in the common schema (elements unqualified); the operation's own
 * parts (endUserIdentifier, charge, referenceCode, …) are qualified in the local namespace.
 */
function chargingInformation(tag: string, c: ChargingInformation): string {
  return (
    `<loc:${tag}>` +
    `<description>${xmlEscape(c.description)}</description>` +
    (c.currency ? `<currency>${xmlEscape(c.currency)}</currency>` : '') +
    (c.amount !== undefined ? `<amount>${c.amount}</amount>` : '') +
    (c.code ? `<code>${xmlEscape(c.code)}</code>` : '') +
    `</loc:${tag}>`
  );
}

const el = (name: string, value: string) => `<loc:${name}>${xmlEscape(value)}</loc:${name}>`;

export function chargeAmountBody(
  ns: string,
  endUser: string,
  charge: ChargingInformation,
  referenceCode: string,
): string {
  return (
    `<loc:chargeAmount xmlns:loc="${ns}">` +
    el('endUserIdentifier', endUser) +
    chargingInformation('charge', charge) +
    el('referenceCode', referenceCode) +
    `</loc:chargeAmount>`
  );
}

/**
 * refundAmount carries the same three parts. Parlay X 2.1 has no field naming the charge being
 * refunded; `originalReferenceCode` (our charge's referenceCode, in the role of OneAPI's
 * originalServerReferenceCode) is an operator extension, left out when the channel is
 * configured without it.
 */
export function refundAmountBody(
  ns: string,
  endUser: string,
  charge: ChargingInformation,
  referenceCode: string,
  originalReferenceCode?: string,
): string {
  return (
    `<loc:refundAmount xmlns:loc="${ns}">` +
    el('endUserIdentifier', endUser) +
    chargingInformation('charge', charge) +
    el('referenceCode', referenceCode) +
    (originalReferenceCode ? el('originalReferenceCode', originalReferenceCode) : '') +
    `</loc:refundAmount>`
  );
}

export function reserveAmountBody(
  ns: string,
  endUser: string,
  charge: ChargingInformation,
): string {
  return `<loc:reserveAmount xmlns:loc="${ns}">${el('endUserIdentifier', endUser)}${chargingInformation('charge', charge)}</loc:reserveAmount>`;
}

export function chargeReservationBody(
  ns: string,
  reservationId: string,
  charge: ChargingInformation,
  referenceCode: string,
): string {
  return (
    `<loc:chargeReservation xmlns:loc="${ns}">` +
    el('reservationIdentifier', reservationId) +
    chargingInformation('charge', charge) +
    el('referenceCode', referenceCode) +
    `</loc:chargeReservation>`
  );
}

export function releaseReservationBody(ns: string, reservationId: string): string {
  return `<loc:releaseReservation xmlns:loc="${ns}">${el('reservationIdentifier', reservationId)}</loc:releaseReservation>`;
}

export function getBalanceBody(ns: string, endUser: string, pin?: string): string {
  return `<loc:getBalance xmlns:loc="${ns}">${el('endUserIdentifier', endUser)}${pin ? el('endUserPin', pin) : ''}</loc:getBalance>`;
}

export function chargeStatusBody(ns: string, referenceCode: string): string {
  return `<loc:getChargeStatus xmlns:loc="${ns}">${el('referenceCode', referenceCode)}</loc:getChargeStatus>`;
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

const ARRAY_TAGS = new Set(['variables', 'result']);
export const xmlParser = new XMLParser({
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  ignoreAttributes: false,
  isArray: (name) => ARRAY_TAGS.has(name),
});

export type XmlNode = string | { [key: string]: unknown };

/** Text of an element that may carry attributes ({'#text', '@_…'}) or be empty. */
export function textOf(node: unknown): string | undefined {
  if (node === undefined || node === null) return undefined;
  if (typeof node === 'string') return node;
  if (typeof node === 'object' && '#text' in (node as object)) {
    const t = (node as Record<string, unknown>)['#text'];
    return typeof t === 'string' ? t : t === undefined ? undefined : String(t);
  }
  if (typeof node === 'object') return '';
  return String(node);
}

export function childOf(node: unknown, name: string): unknown {
  return node && typeof node === 'object' ? (node as Record<string, unknown>)[name] : undefined;
}

export interface SoapFault {
  faultcode: string;
  faultstring: string;
  /** ServiceException / PolicyException in the detail, when present. */
  exception?: 'ServiceException' | 'PolicyException';
  /** SVCnnnn / POLnnnn from the detail, or from faultcode on SDPs that put it there. */
  messageId?: string;
  text?: string;
  variables: string[];
}

export type ParsedEnvelope =
  | { kind: 'body'; element: string; content: unknown; header: unknown }
  | { kind: 'fault'; fault: SoapFault };

/** Throws on anything that is not a SOAP 1.1 envelope with one body element. */
export function parseEnvelope(xml: string): ParsedEnvelope {
  const doc = xmlParser.parse(xml) as Record<string, unknown>;
  const env = doc.Envelope;
  if (!env || typeof env !== 'object') throw new Error('no SOAP Envelope');
  const body = (env as Record<string, unknown>).Body;
  if (body === undefined) throw new Error('no SOAP Body');
  const name =
    body && typeof body === 'object'
      ? Object.keys(body).find((k) => !k.startsWith('@_'))
      : undefined;
  if (!name) throw new Error('empty SOAP Body');
  const content = (body as Record<string, unknown>)[name];
  if (name === 'Fault') return { kind: 'fault', fault: parseFault(content) };
  return { kind: 'body', element: name, content, header: (env as Record<string, unknown>).Header };
}

const CODE_RE = /\b((?:SVC|POL)\d{4})\b/;

export function parseFault(node: unknown): SoapFault {
  const faultcode = textOf(childOf(node, 'faultcode'))?.trim() ?? '';
  const faultstring = textOf(childOf(node, 'faultstring'))?.trim() ?? '';
  const detail = childOf(node, 'detail');
  const fault: SoapFault = { faultcode, faultstring, variables: [] };
  for (const exception of ['ServiceException', 'PolicyException'] as const) {
    const ex = childOf(detail, exception);
    if (ex === undefined) continue;
    fault.exception = exception;
    fault.messageId = textOf(childOf(ex, 'messageId'))?.trim();
    fault.text = textOf(childOf(ex, 'text'));
    const vars = childOf(ex, 'variables');
    fault.variables = (Array.isArray(vars) ? vars : vars === undefined ? [] : [vars]).map(
      (v) => textOf(v) ?? '',
    );
    break;
  }
  if (!fault.messageId) fault.messageId = CODE_RE.exec(faultcode)?.[1];
  return fault;
}

// ---------------------------------------------------------------------------------------------
// What the provider answered → outcome: one exhaustive map
// ---------------------------------------------------------------------------------------------

export const KNOWN_FAULT_CODES = [
  'SVC0001',
  'SVC0002',
  'SVC0003',
  'SVC0004',
  'SVC0005',
  'SVC0007',
  'SVC0250',
  'SVC0251',
  'SVC0270',
  'POL0001',
  'POL0002',
  'POL0012',
  'POL0220',
  'POL0253',
  'POL0254',
  'POL1000',
  'POL1001',
  'POL1002',
  'POL1004',
  'POL1005',
  'POL1006',
  'POL2010',
  'POL2011',
] as const;
export type KnownFaultCode = (typeof KNOWN_FAULT_CODES)[number];
const KNOWN = new Set<string>(KNOWN_FAULT_CODES);

/** Everything a Parlay X endpoint can answer other than the expected response element. */
export type ProviderCondition =
  | KnownFaultCode
  /** SVC0270 naming our own referenceCode as already charged: the simulator's duplicate answer. */
  | 'SVC0270_DUPLICATE'
  | 'SVC_OTHER'
  | 'POL_OTHER'
  /** wsse:FailedAuthentication and friends, HTTP 401/403. */
  | 'AUTH_FAILED'
  | 'HTTP_UNAVAILABLE'
  /** 4xx without a SOAP fault (wrong path, bad request): refused before processing. */
  | 'HTTP_REFUSED'
  /** 5xx without a SOAP fault: we cannot tell whether anything was committed. */
  | 'HTTP_OTHER'
  /** A SOAP fault with no SVC/POL code: cannot tell either. */
  | 'UNCODED_FAULT';

export type Disposition =
  | { kind: 'declined'; code: DeclineCode }
  /** The referenceCode already holds a committed request: ours, so the attempt has succeeded. */
  | { kind: 'duplicate' }
  /** The end user must consent first (OTP checked by the channel, then a reservation is charged). */
  | { kind: 'consent' }
  | { kind: 'unknown' };

const declined = (code: DeclineCode): Disposition => ({ kind: 'declined', code });

export function dispositionOf(condition: ProviderCondition): Disposition {
  switch (condition) {
    case 'SVC0001': // service error: the operator failed, nothing was applied; fail over
      return declined('CHANNEL_UNAVAILABLE');
    case 'SVC0002': // invalid input value (our bug): logged with providerCode
    case 'SVC0003': // invalid value, with the list of valid ones
    case 'SVC0004': // no valid addresses: unknown or barred number
    case 'SVC0007': // invalid charging information (configuration)
    case 'SVC0250': // getBalance: end-user authentication failed
    case 'SVC0251': // unknown voucher
    case 'SVC0270': // charge failed on a fresh reference: business denial
    case 'SVC_OTHER':
    case 'POL0001': // policy error
    case 'POL0012': // too many description entries
    case 'POL0220': // vouchers not accepted
    case 'POL1004': // refund below minimum
    case 'POL1005': // refund needs the original reference
    case 'POL1006': // invalid original reference
    case 'POL2010': // inconsistent transaction (over-refund, over-capture)
    case 'POL_OTHER':
      return declined('DENIED');
    case 'SVC0005': // duplicate correlator
    case 'SVC0270_DUPLICATE':
      return { kind: 'duplicate' };
    case 'POL0002': // privacy/consent verification failed: consent first
      return { kind: 'consent' };
    case 'POL0253': // refused by user
      return declined('CANCELED_BY_USER');
    case 'POL0254': // over the per-charge limit
    case 'POL1001': // charging limit exceeded
    case 'POL1002': // charge too soon (velocity limit)
      return declined('LIMIT_EXCEEDED');
    case 'POL1000': // insufficient credit
      return declined('INSUFFICIENT_FUNDS');
    case 'POL2011': // transaction (reservation) expired
      return declined('CONSENT_EXPIRED');
    case 'AUTH_FAILED': // our credentials: nothing processed; the account is unusable, fail over
    case 'HTTP_UNAVAILABLE': // 503 / 429 before commit
    case 'HTTP_REFUSED':
      return declined('CHANNEL_UNAVAILABLE');
    case 'HTTP_OTHER':
    case 'UNCODED_FAULT':
      return { kind: 'unknown' };
    default:
      return assertNever(condition);
  }
}

const AUTH_FAULTS =
  /(^|:)(FailedAuthentication|InvalidSecurity|InvalidSecurityToken|FailedCheck|SecurityTokenUnavailable)$/;

/**
 * Names the condition of a SOAP fault. `referenceCode` is the one we sent, so an SVC0270 naming
 * it as a duplicate can be told from a plain charge failure.
 */
export function conditionOfFault(fault: SoapFault, referenceCode?: string): ProviderCondition {
  if (AUTH_FAULTS.test(fault.faultcode)) return 'AUTH_FAILED';
  const id = fault.messageId?.toUpperCase();
  if (!id || !/^(SVC|POL)\d{4}$/.test(id)) return 'UNCODED_FAULT';
  if (id === 'SVC0270' && referenceCode !== undefined && isDuplicateOf(fault, referenceCode))
    return 'SVC0270_DUPLICATE';
  if (KNOWN.has(id)) return id as KnownFaultCode;
  return id.startsWith('SVC') ? 'SVC_OTHER' : 'POL_OTHER';
}

export function isDuplicateOf(fault: SoapFault, referenceCode: string): boolean {
  return (
    fault.variables[0] === referenceCode &&
    /duplicate/i.test(`${fault.text ?? ''} ${fault.faultstring}`)
  );
}

/** The amount the duplicate answer reports as already charged (variables: ref, amount, currency). */
export function duplicateAmount(
  fault: SoapFault,
): { amount: string; currency: string } | undefined {
  const [, amount, currency] = fault.variables;
  return amount && currency ? { amount, currency } : undefined;
}

export function conditionOfHttpStatus(status: number): ProviderCondition {
  if (status === 503 || status === 429) return 'HTTP_UNAVAILABLE';
  if (status === 401 || status === 403) return 'AUTH_FAILED';
  if (status >= 400 && status < 500) return 'HTTP_REFUSED';
  return 'HTTP_OTHER';
}

export function outcomeOfCondition(
  condition: ProviderCondition,
  fault?: SoapFault,
  providerRef?: string,
): Outcome {
  const d = dispositionOf(condition);
  switch (d.kind) {
    case 'declined':
      return {
        kind: 'declined',
        code: d.code,
        providerCode:
          fault?.messageId ?? (condition === 'AUTH_FAILED' ? 'FailedAuthentication' : condition),
        message: fault ? maskDigits(fault.text ?? fault.faultstring) : undefined,
        ...(providerRef ? { providerRef } : {}),
      };
    case 'duplicate':
      return { kind: 'succeeded', ...(providerRef ? { providerRef } : {}) };
    case 'consent':
      return {
        kind: 'declined',
        code: 'DENIED',
        providerCode: fault?.messageId ?? condition,
        message: 'end-user consent required',
      };
    case 'unknown':
      return { kind: 'unknown', reason: `unreadable provider answer (${condition})` };
    default:
      return assertNever(d);
  }
}

// ---------------------------------------------------------------------------------------------
// Vendor charge-record lookup (see NS.vendorStatus)
// ---------------------------------------------------------------------------------------------

export const CHARGE_STATES = ['PROCESSING', 'CHARGED', 'REFUNDED', 'NOT_FOUND'] as const;
export type ChargeState = (typeof CHARGE_STATES)[number];

export interface ChargeRecord {
  state: ChargeState;
  amount?: string;
  currency?: string;
  refundedAmount?: string;
}

export function parseChargeRecord(content: unknown): ChargeRecord {
  const result = childOf(content, 'result');
  const r = Array.isArray(result) ? result[0] : result;
  const state = textOf(childOf(r, 'state'))?.trim();
  if (!state || !(CHARGE_STATES as readonly string[]).includes(state))
    throw new Error(`unexpected charge state "${state}"`);
  return {
    state: state as ChargeState,
    amount: textOf(childOf(r, 'amount'))?.trim() || undefined,
    currency: textOf(childOf(r, 'currency'))?.trim() || undefined,
    refundedAmount: textOf(childOf(r, 'refundedAmount'))?.trim() || undefined,
  };
}

/** What a charge record says about the procedure we asked for. */
export function outcomeOfChargeRecord(rec: ChargeRecord, procedure: 'CHARGE' | 'REFUND'): Outcome {
  switch (rec.state) {
    case 'PROCESSING':
      return { kind: 'pending', completion: 'poll' };
    case 'CHARGED':
    case 'REFUNDED': {
      if ((rec.state === 'CHARGED') !== (procedure === 'CHARGE')) {
        return {
          kind: 'unknown',
          reason: `the referenceCode belongs to a ${rec.state === 'CHARGED' ? 'charge' : 'refund'}`,
        };
      }
      if (!rec.amount || !rec.currency) return { kind: 'succeeded' };
      try {
        return {
          kind: 'succeeded',
          amount: fromXsdDecimal(rec.amount, rec.currency),
          currency: rec.currency,
        };
      } catch {
        return {
          kind: 'unknown',
          reason: `amount conflict: the operator reports "${rec.amount}" ${rec.currency}`,
        };
      }
    }
    case 'NOT_FOUND':
      // Nothing under this referenceCode reached the operator: no money moved.
      return {
        kind: 'declined',
        code: 'CHANNEL_UNAVAILABLE',
        providerCode: 'NOT_FOUND',
        message: 'no request with this referenceCode reached the operator',
      };
    default:
      return assertNever(rec.state);
  }
}

// ---------------------------------------------------------------------------------------------
// Balances (Account Management getBalance)
// ---------------------------------------------------------------------------------------------

export interface WireBalance {
  balanceType?: string;
  amount: string;
}

/** Accepts `result` as Balance[] {balanceType, amount} or as a bare decimal. */
export function parseBalances(content: unknown): WireBalance[] {
  const result = childOf(content, 'result');
  const items = Array.isArray(result) ? result : result === undefined ? [] : [result];
  return items.map((r) => {
    if (typeof r === 'string') return { amount: r.trim() };
    const amount = textOf(childOf(r, 'amount'))?.trim();
    if (!amount) throw new Error('balance without amount');
    return { balanceType: textOf(childOf(r, 'balanceType'))?.trim(), amount };
  });
}

// ---------------------------------------------------------------------------------------------
// Redaction
// ---------------------------------------------------------------------------------------------

/** Masks anything that looks like an MSISDN (7+ digits) inside free text. */
export function maskDigits(text: string): string {
  return text.replace(/\+?\d{7,15}/g, (m) => maskMsisdn(m));
}

export function maskedEndUser(msisdn: string): string {
  return `tel:${maskMsisdn(msisdn.startsWith('+') ? msisdn : `+${msisdn}`)}`;
}

export function faultSummary(fault: SoapFault): Record<string, unknown> {
  return {
    faultcode: fault.faultcode,
    ...(fault.messageId ? { messageId: fault.messageId } : {}),
    text: maskDigits(fault.text ?? fault.faultstring),
    ...(fault.variables.length ? { variables: fault.variables.map(maskDigits) } : {}),
  };
}
