import { randomBytes } from 'node:crypto';
import { badInput } from '@coinslot/kernel';

/**
 * Upper-case letters and digits without the look-alikes 0/O, 1/I/L: 36 − 5 = 31 characters.
 * (There is no 32-character set of A–Z/0–9 without those five; 31 being prime is what lets the
 * check character below catch every single substitution and every transposition.)
 */
export const DEFAULT_ALPHABET = '23456789ABCDEFGHJKMNPQRSTUVWXYZ';
export const DEFAULT_CODE_LENGTH = 16;
export const DEFAULT_GROUP_SIZE = 4;
export const DEFAULT_SERIAL_PREFIX = 'SC';
export const DEFAULT_RUNNING_WIDTH = 7;
/** Digits of the batch part of a serial number (a system-wide batch sequence; grows if needed). */
export const BATCH_PART_WIDTH = 6;

/** How a merchant's cards look: serial pattern and activation-code shape. */
export interface CardFormat {
  serialPrefix: string;
  runningWidth: number;
  alphabet: string;
  /** Characters of the activation code, the check character included. */
  codeLength: number;
  /** Characters per printed group ("ABCD-EFGH-…"); 0 prints the code in one piece. */
  groupSize: number;
}

export const DEFAULT_FORMAT: CardFormat = {
  serialPrefix: DEFAULT_SERIAL_PREFIX,
  runningWidth: DEFAULT_RUNNING_WIDTH,
  alphabet: DEFAULT_ALPHABET,
  codeLength: DEFAULT_CODE_LENGTH,
  groupSize: DEFAULT_GROUP_SIZE,
};

/** Minimum code space: a guesser's odds stay below 2^-64 per try for a single card. */
export const MIN_CODE_SPACE = 2n ** 64n;
/** And at least a million unused codes per card of a batch, so a guess hits ~1 in 10^6 at worst. */
export const MIN_SPACE_PER_CARD = 1_000_000n;

const PREFIX = /^[A-Z]{1,8}$/;
const ALPHABET_CHARS = /^[A-Z0-9]+$/;

function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let d = 2; d * d <= n; d += 1) if (n % d === 0) return false;
  return true;
}

/** Which check-character scheme the alphabet allows (see checkValue). */
export function checkScheme(
  alphabetSize: number,
  codeLength: number,
): 'weighted-prime' | 'luhn' | null {
  if (isPrime(alphabetSize) && codeLength < alphabetSize) return 'weighted-prime';
  if (alphabetSize % 2 === 0) return 'luhn';
  return null;
}

/** Random characters a code carries (all but the check character). */
export function codeSpace(format: Pick<CardFormat, 'alphabet' | 'codeLength'>): bigint {
  return BigInt(format.alphabet.length) ** BigInt(format.codeLength - 1);
}

/** Validates a format on its own (shape, check scheme, ≥ 2^64 codes); BAD_USER_INPUT names the field. */
export function validateFormat(format: CardFormat): CardFormat {
  if (!PREFIX.test(format.serialPrefix))
    throw badInput('serialPrefix must be 1–8 upper-case letters (e.g. "GEMS").', 'serialPrefix');
  if (
    !Number.isInteger(format.runningWidth) ||
    format.runningWidth < 3 ||
    format.runningWidth > 12
  ) {
    throw badInput('runningWidth must be between 3 and 12 digits.', 'runningWidth');
  }
  const a = format.alphabet;
  if (!ALPHABET_CHARS.test(a) || new Set(a).size !== a.length) {
    throw badInput('alphabet must be distinct upper-case letters and digits.', 'alphabet');
  }
  if (a.length < 16) throw badInput('alphabet needs at least 16 characters.', 'alphabet');
  if (!Number.isInteger(format.codeLength) || format.codeLength < 8 || format.codeLength > 32) {
    throw badInput(
      'codeLength must be between 8 and 32 characters (the check character included).',
      'codeLength',
    );
  }
  if (!checkScheme(a.length, format.codeLength)) {
    throw badInput(
      `An alphabet of ${a.length} characters cannot carry a check character: use an even size or a prime larger than codeLength (e.g. 31).`,
      'alphabet',
    );
  }
  if (
    !Number.isInteger(format.groupSize) ||
    format.groupSize < 0 ||
    format.groupSize > 8 ||
    format.groupSize === 1
  ) {
    throw badInput('groupSize must be 0 (no grouping) or 2–8 characters.', 'groupSize');
  }
  if (codeSpace(format) < MIN_CODE_SPACE) {
    const bits = (format.codeLength - 1) * Math.log2(a.length);
    throw badInput(
      `Codes of ${format.codeLength} characters over ${a.length} symbols carry ${bits.toFixed(1)} bits; at least 64 are required. Use longer codes or a larger alphabet.`,
      'codeLength',
    );
  }
  return format;
}

/** Validates a format for a batch of `count` cards: enough codes and enough running-number digits. */
export function validateFormatForBatch(format: CardFormat, count: number): void {
  validateFormat(format);
  const needed = MIN_SPACE_PER_CARD * BigInt(count);
  if (codeSpace(format) < needed) {
    throw badInput(
      `The code format allows ${codeSpace(format)} codes, fewer than 10^6 × ${count} cards: use longer codes or a larger alphabet.`,
      'count',
    );
  }
  if (String(count).length > format.runningWidth) {
    throw badInput(
      `A batch of ${count} cards needs running numbers of ${String(count).length} digits; the format has ${format.runningWidth}.`,
      'count',
    );
  }
}

/** The alphabet as a lookup table: char code → value, -1 outside the alphabet. */
export function alphabetIndex(alphabet: string): Int16Array {
  const index = new Int16Array(128).fill(-1);
  for (let i = 0; i < alphabet.length; i += 1) index[alphabet.charCodeAt(i)] = i;
  return index;
}

/**
 * The check value of a payload. A prime-sized alphabet uses Σ (i+2)·v_i with weight 1 for the
 * check character, mod N: all weights differ and are non-zero mod the prime, so any single
 * substitution and any transposition of two different characters changes the sum. Even-sized
 * alphabets use Luhn mod N (single substitutions and most adjacent transpositions).
 */
function checkValue(
  values: ArrayLike<number>,
  length: number,
  n: number,
  scheme: 'weighted-prime' | 'luhn',
): number {
  if (scheme === 'weighted-prime') {
    let sum = 0;
    for (let i = 0; i < length; i += 1) sum += (i + 2) * values[i]!;
    return (n - (sum % n)) % n;
  }
  let factor = 2;
  let sum = 0;
  for (let i = length - 1; i >= 0; i -= 1) {
    let addend = factor * values[i]!;
    factor = factor === 2 ? 1 : 2;
    addend = Math.floor(addend / n) + (addend % n);
    sum += addend;
  }
  return (n - (sum % n)) % n;
}

/** Fast, allocation-light code maker and checker for one format. */
export class CodeCodec {
  readonly n: number;
  private readonly index: Int16Array;
  private readonly scheme: 'weighted-prime' | 'luhn';
  private readonly limit: number;
  private readonly values: Uint8Array;

  constructor(readonly format: Pick<CardFormat, 'alphabet' | 'codeLength' | 'groupSize'>) {
    this.n = format.alphabet.length;
    this.index = alphabetIndex(format.alphabet);
    const scheme = checkScheme(this.n, format.codeLength);
    if (!scheme) throw new Error(`alphabet of ${this.n} cannot carry a check character`);
    this.scheme = scheme;
    // Rejection sampling keeps every character equally likely: bytes ≥ limit are dropped.
    this.limit = 256 - (256 % this.n);
    this.values = new Uint8Array(format.codeLength);
  }

  /** `count` fresh codes from the CSPRNG (bulk randomBytes, rejection-sampled). */
  generate(count: number): string[] {
    const len = this.format.codeLength - 1;
    const width = this.format.codeLength;
    const symbols = Buffer.from(this.format.alphabet, 'latin1');
    // All codes are written into one buffer and read out as flat strings (no per-character concatenation).
    const text = Buffer.allocUnsafe(count * width);
    const out = new Array<string>(count);
    let pool = randomBytes(Math.ceil(count * len * 1.1) + 64);
    let p = 0;
    for (let c = 0; c < count; c += 1) {
      const at = c * width;
      for (let i = 0; i < len; i += 1) {
        let b: number;
        do {
          if (p >= pool.length) {
            pool.fill(0);
            pool = randomBytes(4096);
            p = 0;
          }
          b = pool[p++]!;
        } while (b >= this.limit);
        const v = b % this.n;
        this.values[i] = v;
        text[at + i] = symbols[v]!;
      }
      text[at + len] = symbols[checkValue(this.values, len, this.n, this.scheme)]!;
      out[c] = text.toString('latin1', at, at + width);
    }
    pool.fill(0);
    text.fill(0);
    return out;
  }

  /** The normalised code: spaces and dashes stripped, upper case. */
  normalise(input: string): string {
    return input.replace(/[\s\-‐-―]/g, '').toUpperCase();
  }

  /** True when the normalised code has the right length, alphabet and check character. */
  isWellFormed(code: string): boolean {
    if (code.length !== this.format.codeLength) return false;
    const len = code.length - 1;
    for (let i = 0; i < code.length; i += 1) {
      const ch = code.charCodeAt(i);
      const v = ch < 128 ? this.index[ch]! : -1;
      if (v < 0) return false;
      this.values[i] = v;
    }
    return checkValue(this.values, len, this.n, this.scheme) === this.values[len];
  }

  /** The code as printed on the card: groups joined by dashes. */
  printable(code: string): string {
    const g = this.format.groupSize;
    if (!g) return code;
    const parts: string[] = [];
    for (let i = 0; i < code.length; i += g) parts.push(code.slice(i, i + g));
    return parts.join('-');
  }
}

/** Luhn mod 10 check digit over a string of digits. */
export function luhnDigit(digits: string): number {
  let sum = 0;
  let double = true;
  for (let i = digits.length - 1; i >= 0; i -= 1) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return (10 - (sum % 10)) % 10;
}

/**
 * Serial numbers: PREFIX-BBBBBB-NNNNNNNC — the merchant's prefix, the system-wide batch number,
 * the running number in the batch and a Luhn check digit over both numbers. Unique across the
 * system by construction (batch numbers are a sequence); the database enforces it too.
 */
export function serialNumber(
  prefix: string,
  batchNumber: number,
  running: number,
  runningWidth: number,
): string {
  const batchPart = String(batchNumber).padStart(BATCH_PART_WIDTH, '0');
  const runningPart = String(running).padStart(runningWidth, '0');
  return `${prefix}-${batchPart}-${runningPart}${luhnDigit(batchPart + runningPart)}`;
}

const SERIAL = /^([A-Z]{1,8})-(\d{6,})-(\d{4,13})$/;

/** Normalises a typed serial number; null when it is not one (bad shape or check digit). */
export function parseSerialNumber(input: string): string | null {
  const s = input.trim().toUpperCase();
  const m = SERIAL.exec(s);
  if (!m) return null;
  const digits = m[2]! + m[3]!.slice(0, -1);
  return luhnDigit(digits) === Number(m[3]!.slice(-1)) ? s : null;
}
