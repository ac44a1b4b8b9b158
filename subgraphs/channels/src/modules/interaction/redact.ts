/**
 * Defence in depth for the interaction log. Adapters already redact what they record; this
 * pass runs again on everything before it is stored, so one adapter's slip cannot leak:
 * values under secret-looking keys are replaced, phone numbers in text are masked, and
 * bigints become strings (JSON has none).
 */
import { maskMsisdn } from '@coinslot/kernel';

const SECRET_KEY =
  /pass(word|wd)?|secret|token|otp|^pin$|authori[sz]ation|credential|private|assertion|api[-_]?key|signature|cookie|^code$|validationcode/i;
/** A phone number in text: 9 to 15 digits, optionally after "+" or "tel:", not part of an id ("SIM-…", "abc…"). */
const PHONE = /(?<![\w-])(tel:)?(\+?)(\d{9,15})(?!\d)/g;
const MAX_DEPTH = 8;
const MAX_STRING = 2_000;

export function maskPhones(text: string): string {
  return text.replace(
    PHONE,
    (_m, tel: string | undefined, plus: string, digits: string) =>
      (tel ?? '') + maskMsisdn(plus + digits),
  );
}

export function redactValue(value: unknown, depth = 0): unknown {
  if (value === null || value === undefined) return value ?? null;
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'string')
    return maskPhones(value.length > MAX_STRING ? value.slice(0, MAX_STRING) + '…' : value);
  if (typeof value === 'number' || typeof value === 'boolean') return value;
  if (value instanceof Date) return value.toISOString();
  if (Buffer.isBuffer(value)) return `<${value.length} bytes>`;
  if (depth >= MAX_DEPTH) return '[…]';
  if (Array.isArray(value)) return value.slice(0, 100).map((v) => redactValue(v, depth + 1));
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      out[k] =
        SECRET_KEY.test(k) && v !== null && v !== undefined && typeof v !== 'boolean'
          ? '[redacted]'
          : redactValue(v, depth + 1);
    }
    return out;
  }
  return String(value);
}
