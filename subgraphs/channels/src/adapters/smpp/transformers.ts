/**
 * SMPP 3.4 wire facts for premium (MT-billed) SMS: PDU fields, receipts, and the two outcome
 * maps (message_state / receipt stat, and submit_sm_resp command_status). Pure functions only.
 *
 * No amount travels: the price point is the premium short code (source_addr) plus a tariff
 * code in `billing_identification` (SMPP 5.0 TLV 0x060B, accepted by node-smpp on 3.4 binds).
 */
import * as smpp from 'smpp';
import { maskMsisdn } from '@coinslot/kernel';
import type { DeclineCode, Outcome } from '../types';
import { assertNever } from '../types';

// ---------------------------------------------------------------------------------------------
// Vendor TLVs (0x1400–0x3FFF). Our reference travels in `coinslot_reference` so that an SMSC
// that supports it can find a message whose submit_sm_resp was lost (query_sm by reference).

export const REFERENCE_TLV = 'coinslot_reference';
export const REFERENCE_TLV_ID = 0x14f0;
/**
 * Premium services that need the subscriber's opt-in (double opt-in, test number 55): the MT
 * carries how the subscriber consented (`OTP`), and only after the channel checked it. An MT
 * without it is refused with VENDOR_RCONSENT and nothing is charged.
 */
export const OPT_IN_TLV = 'coinslot_opt_in';
export const OPT_IN_TLV_ID = 0x14f1;
export const OPT_IN_OTP = 'OTP';

export function registerVendorTlvs(): void {
  if (!smpp.tlvs[REFERENCE_TLV])
    smpp.addTLV(REFERENCE_TLV, { id: REFERENCE_TLV_ID, type: smpp.types.tlv.string });
  if (!smpp.tlvs[OPT_IN_TLV])
    smpp.addTLV(OPT_IN_TLV, { id: OPT_IN_TLV_ID, type: smpp.types.tlv.string });
}
registerVendorTlvs();

/** billing_identification format octet: 0x80–0xFF are vendor specific (SMPP 5.0 §4.8.4.3). */
export const BILLING_FORMAT_TARIFF = 0x80;

// ---------------------------------------------------------------------------------------------
// command_status

export const STATUS = {
  ESME_ROK: 0x00,
  ESME_RSYSERR: 0x08,
  ESME_RINVSRCADR: 0x0a,
  ESME_RINVDSTADR: 0x0b,
  ESME_RINVMSGID: 0x0c,
  ESME_RBINDFAIL: 0x0d,
  ESME_RINVPASWD: 0x0e,
  ESME_RINVSYSID: 0x0f,
  ESME_RMSGQFUL: 0x14,
  ESME_RSUBMITFAIL: 0x45,
  ESME_RINVDSTTON: 0x50,
  ESME_RINVDSTNPI: 0x51,
  ESME_RTHROTTLED: 0x58,
  ESME_RX_T_APPN: 0x64,
  ESME_RX_P_APPN: 0x65,
  ESME_RQUERYFAIL: 0x67,
  ESME_RMISSINGTLV: 0xc3,
  ESME_RINVTLVVAL: 0xc4,
  ESME_RUNKNOWNERR: 0xff,
  ESME_RPROHIBITED: 0x101,
  /** Vendor range 0x400–0x4FF (this channel's billing platform): subscriber spending limit reached. */
  VENDOR_RSPENDLIMIT: 0x401,
  /** Vendor: prepaid balance too low for the price point (pre-delivery check). */
  VENDOR_RNOCREDIT: 0x402,
  /** Vendor: subscriber barred from premium services. */
  VENDOR_RBARRED: 0x403,
  /** Vendor: the premium service needs the subscriber's opt-in first (no opt-in TLV). */
  VENDOR_RCONSENT: 0x404,
} as const;

export function statusName(status: number): string {
  for (const [name, value] of Object.entries(STATUS)) if (value === status) return name;
  for (const [name, value] of Object.entries(smpp.errors)) if (value === status) return name;
  return `0x${status.toString(16).padStart(8, '0')}`;
}

export const BIND_REFUSALS: readonly number[] = [
  STATUS.ESME_RINVPASWD,
  STATUS.ESME_RINVSYSID,
  STATUS.ESME_RBINDFAIL,
];

/** How a submit_sm_resp command_status is handled. */
export type SubmitClass =
  | 'ACCEPTED'
  | 'THROTTLED'
  | 'UNAVAILABLE'
  | 'BAD_DESTINATION'
  | 'SPEND_LIMIT'
  | 'NO_CREDIT'
  /** Not charged: the subscriber must opt in first (the adapter asks for an OTP). */
  | 'CONSENT_REQUIRED'
  | 'REJECTED';

export function classifySubmitStatus(status: number): SubmitClass {
  switch (status) {
    case STATUS.ESME_ROK:
      return 'ACCEPTED';
    case STATUS.ESME_RTHROTTLED:
      return 'THROTTLED';
    case STATUS.ESME_RSYSERR:
    case STATUS.ESME_RMSGQFUL:
    case STATUS.ESME_RX_T_APPN:
      return 'UNAVAILABLE';
    case STATUS.ESME_RINVDSTADR:
    case STATUS.ESME_RINVDSTTON:
    case STATUS.ESME_RINVDSTNPI:
    case STATUS.VENDOR_RBARRED:
      return 'BAD_DESTINATION';
    case STATUS.VENDOR_RSPENDLIMIT:
      return 'SPEND_LIMIT';
    case STATUS.VENDOR_RNOCREDIT:
      return 'NO_CREDIT';
    case STATUS.VENDOR_RCONSENT:
      return 'CONSENT_REQUIRED';
    default:
      return 'REJECTED';
  }
}

/**
 * A non-zero submit_sm_resp status means the SMSC did not accept the MT, so nothing was charged:
 * every rejection is a `declined`. THROTTLED is retried by the adapter first (back off, do not fail);
 * CONSENT_REQUIRED starts the OTP opt-in when the account can ask for one (DENIED otherwise).
 */
export function submitRejection(
  status: number,
  cls: Exclude<SubmitClass, 'ACCEPTED'>,
): Outcome & { kind: 'declined' } {
  const providerCode = statusName(status);
  const declined = (code: DeclineCode) => ({ kind: 'declined' as const, code, providerCode });
  switch (cls) {
    case 'THROTTLED':
    case 'UNAVAILABLE':
      return declined('CHANNEL_UNAVAILABLE');
    case 'BAD_DESTINATION':
      return declined('DENIED');
    case 'SPEND_LIMIT':
      return declined('LIMIT_EXCEEDED');
    case 'NO_CREDIT':
      return declined('INSUFFICIENT_FUNDS');
    case 'CONSENT_REQUIRED':
    case 'REJECTED':
      return declined('DENIED');
    default:
      return assertNever(cls);
  }
}

// ---------------------------------------------------------------------------------------------
// message_state (TLV 0x0427, query_sm_resp) and Appendix B `stat:`

export const MESSAGE_STATES = [
  'SCHEDULED',
  'ENROUTE',
  'DELIVERED',
  'EXPIRED',
  'DELETED',
  'UNDELIVERABLE',
  'ACCEPTED',
  'UNKNOWN',
  'REJECTED',
  'SKIPPED',
] as const;
export type MessageState = (typeof MESSAGE_STATES)[number];

/** message_state value → name (SMPP 3.4 §5.3.2.35; 0 is SCHEDULED in 5.0). */
export function messageStateFromNumber(n: number): MessageState | undefined {
  return MESSAGE_STATES[n];
}

export function messageStateNumber(state: MessageState): number {
  return MESSAGE_STATES.indexOf(state);
}

const STAT_TO_STATE: Record<string, MessageState> = {
  DELIVRD: 'DELIVERED',
  EXPIRED: 'EXPIRED',
  DELETED: 'DELETED',
  UNDELIV: 'UNDELIVERABLE',
  ACCEPTD: 'ACCEPTED',
  UNKNOWN: 'UNKNOWN',
  REJECTD: 'REJECTED',
  ENROUTE: 'ENROUTE',
  SCHEDUL: 'SCHEDULED',
  SKIPPED: 'SKIPPED',
};

export function messageStateFromStat(stat: string): MessageState | undefined {
  return STAT_TO_STATE[stat.trim().toUpperCase()];
}

/** The 7-letter Appendix B stat for a state (used in receipts and stable event ids). */
export function statOf(state: MessageState): string {
  switch (state) {
    case 'DELIVERED':
      return 'DELIVRD';
    case 'UNDELIVERABLE':
      return 'UNDELIV';
    case 'ACCEPTED':
      return 'ACCEPTD';
    case 'REJECTED':
      return 'REJECTD';
    case 'SCHEDULED':
      return 'SCHEDUL';
    case 'EXPIRED':
    case 'DELETED':
    case 'UNKNOWN':
    case 'ENROUTE':
    case 'SKIPPED':
      return state;
    default:
      return assertNever(state);
  }
}

/**
 * This channel's billing error codes, carried in the receipt's `err:` field / network_error_code
 * TLV and in query_sm_resp `error_code`. They refine UNDELIV/REJECTD; anything else is DENIED.
 */
export const BILLING_ERRORS: Readonly<Record<string, DeclineCode>> = {
  '101': 'INSUFFICIENT_FUNDS', // prepaid balance below the price point
  '102': 'LIMIT_EXCEEDED', // daily/monthly premium spending cap
  '103': 'DENIED', // barred from premium services / operator policy
};

export function normalizeErr(err: string | number | undefined): string | undefined {
  if (err === undefined || err === '') return undefined;
  const s = String(err).trim();
  return /^\d+$/.test(s) ? s.padStart(3, '0').slice(-3) : s.toUpperCase();
}

export function isFinalState(state: MessageState): boolean {
  const o = stateOutcome(state);
  return o.kind === 'succeeded' || o.kind === 'declined';
}

/** The one exhaustive map from a message state (+ billing error) to an outcome. */
export function stateOutcome(state: MessageState, err?: string, providerRef?: string): Outcome {
  const code = normalizeErr(err);
  const declined = (fallback: DeclineCode): Outcome => ({
    kind: 'declined',
    code: (code && BILLING_ERRORS[code]) || fallback,
    providerRef,
    providerCode: code && code !== '000' ? `${statOf(state)}/${code}` : statOf(state),
  });
  switch (state) {
    case 'DELIVERED':
      // MT-billed: delivery of the premium MT is the charge.
      return { kind: 'succeeded', providerRef };
    case 'UNDELIVERABLE':
    case 'REJECTED':
    case 'EXPIRED':
    case 'DELETED':
    case 'SKIPPED':
      // Not delivered, not billed.
      return declined('DENIED');
    case 'SCHEDULED':
    case 'ENROUTE':
      return { kind: 'pending', completion: 'callback', providerRef };
    case 'ACCEPTED':
    case 'UNKNOWN':
      // Not proof of billing either way: leave it to query_sm or the settlement report.
      return { kind: 'unknown', reason: `message_state ${state}`, providerRef };
    default:
      return assertNever(state);
  }
}

// ---------------------------------------------------------------------------------------------
// Message ids: some SMSCs answer submit_sm_resp in hex and put decimal in the receipt text.

const HEX = /^[0-9a-f]+$/i;
const DEC = /^\d+$/;

/** Every key under which an id may be matched: its raw form and its numeric value read as hex and as decimal. */
export function idKeys(id: string): string[] {
  const raw = id.trim().toLowerCase();
  if (!raw) return [];
  const keys = [`raw:${raw}`];
  if (raw.length <= 32) {
    if (HEX.test(raw)) keys.push(`num:${BigInt(`0x${raw}`).toString()}`);
    if (DEC.test(raw)) keys.push(`num:${BigInt(raw).toString()}`);
  }
  return [...new Set(keys)];
}

// ---------------------------------------------------------------------------------------------
// Delivery receipts

export interface Receipt {
  messageId: string;
  state: MessageState;
  /** Billing/network error, 3 digits. */
  err?: string;
  /** Where id and state were read from. */
  source: 'tlv' | 'text';
  /** The other representation seen in the same PDU (text id when TLVs won), for matching. */
  altMessageId?: string;
  submitDate?: Date;
  doneDate?: Date;
}

export interface ReceiptText {
  id?: string;
  sub?: string;
  dlvrd?: string;
  submitDate?: Date;
  doneDate?: Date;
  stat?: string;
  err?: string;
  text?: string;
}

/** YYMMDDhhmm or YYMMDDhhmmss, read as UTC. */
export function parseReceiptDate(value: string | undefined): Date | undefined {
  const m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?$/.exec(value ?? '');
  if (!m) return undefined;
  const [, yy, mo, dd, hh, mi, ss] = m;
  const d = new Date(
    Date.UTC(
      2000 + Number(yy),
      Number(mo) - 1,
      Number(dd),
      Number(hh),
      Number(mi),
      Number(ss ?? '0'),
    ),
  );
  return Number.isNaN(d.getTime()) ? undefined : d;
}

export function formatReceiptDate(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}`;
}

/** Appendix B: `id:… sub:… dlvrd:… submit date:… done date:… stat:… err:… text:…` (keys in any case). */
export function parseReceiptText(body: string): ReceiptText {
  const textAt = body.search(/\btext:/i);
  const head = textAt >= 0 ? body.slice(0, textAt) : body;
  const field = (name: string) =>
    new RegExp(`(?:^|\\s)${name}:\\s*(\\S*)`, 'i').exec(head)?.[1] || undefined;
  return {
    id: field('id'),
    sub: field('sub'),
    dlvrd: field('dlvrd'),
    submitDate: parseReceiptDate(field('submit date')),
    doneDate: parseReceiptDate(field('done date')),
    stat: field('stat'),
    err: field('err'),
    text: textAt >= 0 ? body.slice(textAt + 5) : undefined,
  };
}

/** short_message decoded by node-smpp is `{message, udh?}`; raw PDUs may hold a Buffer or a string. */
export function messageText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('latin1');
  if (value && typeof value === 'object' && 'message' in value)
    return messageText((value as { message: unknown }).message);
  return '';
}

const ESM_RECEIPT_BITS = 0x04 | 0x20; // MC delivery receipt, intermediate delivery notification

export function isReceipt(pdu: Record<string, unknown>): boolean {
  return typeof pdu.esm_class === 'number' && (pdu.esm_class & ESM_RECEIPT_BITS) !== 0;
}

/** network_error_code TLV: 1 octet network type, 2 octets error code. */
function networkErrorCode(value: unknown): string | undefined {
  if (Buffer.isBuffer(value) && value.length >= 3) return String(value.readUInt16BE(1));
  return undefined;
}

/** Reads a receipt: TLVs first (receipted_message_id, message_state), then the Appendix B text. */
export function parseReceipt(pdu: Record<string, unknown>): Receipt | undefined {
  if (!isReceipt(pdu)) return undefined;
  const text = parseReceiptText(messageText(pdu.short_message) || messageText(pdu.message_payload));
  const tlvId =
    typeof pdu.receipted_message_id === 'string' && pdu.receipted_message_id.trim()
      ? pdu.receipted_message_id.trim()
      : undefined;
  const tlvState =
    typeof pdu.message_state === 'number' ? messageStateFromNumber(pdu.message_state) : undefined;
  const textState = text.stat ? messageStateFromStat(text.stat) : undefined;
  const state = tlvState ?? textState;
  const messageId = tlvId ?? text.id;
  if (!state || !messageId) return undefined;
  return {
    messageId,
    altMessageId: tlvId && text.id && text.id !== tlvId ? text.id : undefined,
    state,
    err: normalizeErr(networkErrorCode(pdu.network_error_code) ?? text.err),
    source: tlvId && tlvState ? 'tlv' : 'text',
    submitDate: text.submitDate,
    doneDate: text.doneDate,
  };
}

/** An Appendix B receipt body (simulator side, and tests). */
export function formatReceiptText(r: {
  id: string;
  stat: string;
  err?: string;
  submitted: Date;
  done: Date;
  text?: string;
  delivered: boolean;
}): string {
  const n = r.delivered ? '001' : '000';
  return `id:${r.id} sub:001 dlvrd:${n} submit date:${formatReceiptDate(r.submitted)} done date:${formatReceiptDate(r.done)} stat:${r.stat} err:${r.err ?? '000'} text:${(r.text ?? '').slice(0, 20)}`;
}

// ---------------------------------------------------------------------------------------------
// Outbound PDUs

/** "199=PP199,500=PP500": minor units → tariff code (the price point). */
export function parsePricePoints(spec: string): Map<bigint, string> {
  const map = new Map<bigint, string>();
  for (const part of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^(\d+)\s*=\s*([A-Za-z0-9_-]+)$/.exec(part);
    if (!m) throw new Error(`bad SMPP price point "${part}" (expected minorUnits=tariffCode)`);
    map.set(BigInt(m[1]), m[2]);
  }
  return map;
}

const E164 = /^\+?[1-9]\d{6,14}$/;

export function destinationAddr(msisdn: string): string | undefined {
  const compact = msisdn.replace(/[\s-]/g, '');
  return E164.test(compact) ? compact.replace(/^\+/, '') : undefined;
}

export interface SubmitFields {
  destinationAddr: string;
  shortCode: string;
  tariff: string;
  reference: string;
  text: string;
  serviceType?: string;
  /** How the subscriber opted in (OPT_IN_OTP), for services that need it. */
  optIn?: string;
}

export function buildSubmitSm(f: SubmitFields): smpp.PduOptions {
  const text = f.text || 'Coinslot purchase';
  const long = Buffer.byteLength(text, 'utf8') > 140;
  return {
    service_type: f.serviceType ?? '',
    source_addr_ton: smpp.TON.NETWORK_SPECIFIC,
    source_addr_npi: smpp.NPI.UNKNOWN,
    source_addr: f.shortCode,
    dest_addr_ton: smpp.TON.INTERNATIONAL,
    dest_addr_npi: smpp.NPI.ISDN,
    destination_addr: f.destinationAddr,
    registered_delivery: smpp.REGISTERED_DELIVERY.FINAL,
    ...(long ? { message_payload: text } : { short_message: text }),
    billing_identification: { format: BILLING_FORMAT_TARIFF, data: Buffer.from(f.tariff, 'ascii') },
    [REFERENCE_TLV]: f.reference,
    ...(f.optIn ? { [OPT_IN_TLV]: f.optIn } : {}),
  };
}

/** query_sm by message_id, or (id unknown: submit_sm_resp lost) by our reference TLV. */
export function buildQuerySm(q: {
  messageId?: string;
  reference: string;
  shortCode: string;
}): smpp.PduOptions {
  return {
    message_id: q.messageId ?? '',
    source_addr_ton: smpp.TON.NETWORK_SPECIFIC,
    source_addr_npi: smpp.NPI.UNKNOWN,
    source_addr: q.shortCode,
    ...(q.messageId ? {} : { [REFERENCE_TLV]: q.reference }),
  };
}

// ---------------------------------------------------------------------------------------------
// Redaction for the interaction log: never the password, MSISDNs masked.

export function redactSubmit(o: smpp.PduOptions): Record<string, unknown> {
  const billing = o.billing_identification as { format: number; data: Buffer } | undefined;
  return {
    source_addr: o.source_addr,
    destination_addr: maskMsisdn(String(o.destination_addr ?? '')),
    registered_delivery: o.registered_delivery,
    service_type: o.service_type || undefined,
    billing_identification: billing
      ? { format: billing.format, tariff: billing.data.toString('ascii') }
      : undefined,
    [REFERENCE_TLV]: o[REFERENCE_TLV],
    [OPT_IN_TLV]: o[OPT_IN_TLV],
    text_length: messageText(o.short_message ?? o.message_payload).length,
  };
}

export function redactDeliverSm(
  pdu: Record<string, unknown>,
  receipt: Receipt | undefined,
): Record<string, unknown> {
  return {
    esm_class: pdu.esm_class,
    source_addr: maskMsisdn(String(pdu.source_addr ?? '')),
    destination_addr: pdu.destination_addr,
    receipted_message_id: pdu.receipted_message_id,
    message_state: pdu.message_state,
    receipt: receipt
      ? {
          id: receipt.messageId,
          stat: statOf(receipt.state),
          err: receipt.err,
          source: receipt.source,
        }
      : undefined,
  };
}
