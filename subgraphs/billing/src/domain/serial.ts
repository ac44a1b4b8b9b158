import { createHash, randomBytes } from 'node:crypto';

/**
 * Payment serial numbers: ours, minted for the third party (the carrier's reference, the PSP's
 * idempotency key, the channels' reference prefix) and shown to support staff.
 *
 *   CS + 10 chars of the millisecond clock + 5 random chars + 1 check char   (18 characters)
 *
 * Crockford base32 (no I, L, O, U: nothing to misread on a phone call), time-ordered so serials
 * of one day sort together, and a Luhn mod 32 check character that catches every single-character
 * typo and every adjacent transposition except 0↔Z (Luhn mod N's one blind spot). Only letters
 * and digits: safe in every protocol's reference field (CAMARA referenceCode, Parlay X, OneAPI,
 * SMPP TLVs, card PSP metadata).
 */
export const SERIAL_PREFIX = 'CS';
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const N = ALPHABET.length;

function encode(value: bigint, width: number): string {
  let out = '';
  let v = value;
  for (let i = 0; i < width; i += 1) {
    out = ALPHABET[Number(v % 32n)]! + out;
    v /= 32n;
  }
  return out;
}

/** Luhn mod N over the base32 digits (right to left, every second one doubled). */
export function checkChar(body: string): string {
  let sum = 0;
  let factor = 2;
  for (let i = body.length - 1; i >= 0; i -= 1) {
    const code = ALPHABET.indexOf(body[i]!);
    if (code < 0) throw new RangeError(`"${body[i]}" is not a serial character`);
    const addend = factor * code;
    sum += Math.floor(addend / N) + (addend % N);
    factor = factor === 2 ? 1 : 2;
  }
  return ALPHABET[(N - (sum % N)) % N]!;
}

export function mintSerial(now = Date.now(), random: Buffer = randomBytes(4)): string {
  const time = encode(BigInt(now), 10);
  const rand = encode(BigInt(random.readUInt32BE(0)) & 0x1ffffffn, 5);
  const body = time + rand;
  return SERIAL_PREFIX + body + checkChar(body);
}

/** Whether a string is a well-formed serial (prefix, alphabet, length, check character). */
export function isSerial(value: string): boolean {
  if (!/^CS[0-9A-HJKMNP-TV-Z]{16}$/.test(value)) return false;
  const body = value.slice(2, -1);
  return checkChar(body) === value.slice(-1);
}

/** A stable id derived from a name, for transfers and marks a replay must find again (RFC 4122 v5 layout). */
export function derivedUuid(namespace: string, name: string): string {
  const hash = createHash('sha1').update(`coinslot-billing:${namespace}:${name}`).digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
