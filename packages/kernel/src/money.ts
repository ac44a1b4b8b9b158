import { Directive, Field, InputType, ObjectType } from 'type-graphql';
import { currency } from './currencies';
import { badInput } from './errors';

const INTEGER = /^-?\d+$/;

/** Parses an integer minor-unit amount from the wire; never a float. */
export function parseMinorUnits(value: unknown): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
  if (typeof value === 'string' && INTEGER.test(value) && value.length <= 20) return BigInt(value);
  throw badInput(
    'amountMinor must be an integer number of minor units, as a decimal string (e.g. "199").',
  );
}

/** An amount with its currency. Immutable; arithmetic only between equal currencies. */
export class Money {
  private constructor(
    readonly amountMinor: bigint,
    readonly currency: string,
  ) {}

  static of(amountMinor: bigint, code: string): Money {
    if (typeof amountMinor !== 'bigint')
      throw new TypeError('Money amounts are bigint minor units');
    if (!currency(code)) throw badInput(`Unknown currency "${code}".`, 'currency');
    return new Money(amountMinor, code);
  }

  static zero(code: string): Money {
    return Money.of(0n, code);
  }

  /** From client input: validates both the integer string and the currency code. */
  static fromInput(input: { amountMinor: string; currency: string }): Money {
    return Money.of(parseMinorUnits(input.amountMinor), input.currency);
  }

  get exponent(): number {
    return currency(this.currency)!.exponent;
  }

  add(other: Money): Money {
    this.sameCurrency(other);
    return new Money(this.amountMinor + other.amountMinor, this.currency);
  }

  subtract(other: Money): Money {
    this.sameCurrency(other);
    return new Money(this.amountMinor - other.amountMinor, this.currency);
  }

  isNegative(): boolean {
    return this.amountMinor < 0n;
  }

  equals(other: Money): boolean {
    return this.currency === other.currency && this.amountMinor === other.amountMinor;
  }

  compare(other: Money): -1 | 0 | 1 {
    this.sameCurrency(other);
    return this.amountMinor < other.amountMinor ? -1 : this.amountMinor > other.amountMinor ? 1 : 0;
  }

  /**
   * Splits the amount into parts proportional to `ratios`, distributing the remainder one
   * minor unit at a time so the parts always sum to the whole.
   */
  allocate(ratios: readonly bigint[]): Money[] {
    if (ratios.length === 0 || ratios.some((r) => r < 0n))
      throw new RangeError('ratios must be non-negative');
    const total = ratios.reduce((a, b) => a + b, 0n);
    if (total === 0n) throw new RangeError('ratios must not all be zero');
    const parts = ratios.map((r) => (this.amountMinor * r) / total);
    let remainder = this.amountMinor - parts.reduce((a, b) => a + b, 0n);
    const step = remainder < 0n ? -1n : 1n;
    for (let i = 0; remainder !== 0n; i = (i + 1) % parts.length) {
      if (ratios[i] === 0n) continue;
      parts[i] += step;
      remainder -= step;
    }
    return parts.map((p) => new Money(p, this.currency));
  }

  /** Major-unit decimal string for protocols that want it ("1.99"); string arithmetic only. */
  toDecimalString(): string {
    return formatMinorAsDecimal(this.amountMinor, this.exponent);
  }

  toJSON(): { amountMinor: string; currency: string } {
    return { amountMinor: this.amountMinor.toString(), currency: this.currency };
  }

  private sameCurrency(other: Money): void {
    if (other.currency !== this.currency) {
      throw new RangeError(`currency mismatch: ${this.currency} vs ${other.currency}`);
    }
  }
}

export function formatMinorAsDecimal(amount: bigint, exponent: number, separator = '.'): string {
  const negative = amount < 0n;
  const digits = (negative ? -amount : amount).toString().padStart(exponent + 1, '0');
  const whole = exponent === 0 ? digits : digits.slice(0, -exponent);
  const fraction = exponent === 0 ? '' : separator + digits.slice(-exponent);
  return (negative ? '-' : '') + whole + fraction;
}

/**
 * Parses a major-unit decimal string into minor units. More fraction digits than the
 * currency allows is an error (an amount conflict), never a rounding.
 */
export function parseDecimalToMinor(text: string, exponent: number, separator = '.'): bigint {
  const re = new RegExp(`^(-)?(\\d+)(?:\\${separator}(\\d+))?$`);
  const m = re.exec(text.trim());
  if (!m) throw new RangeError(`not a decimal amount: "${text}"`);
  const fraction = m[3] ?? '';
  if (fraction.replace(/0+$/, '').length > exponent) {
    throw new RangeError(`"${text}" has more than ${exponent} fraction digits`);
  }
  const value = BigInt(m[2] + fraction.padEnd(exponent, '0').slice(0, exponent));
  return m[1] ? -value : value;
}

/** Converts a JSON number / SOAP float to minor units only when it is exact. */
export function parseFloatToMinor(n: number, exponent: number): bigint {
  const s = n.toFixed(exponent);
  if (Number(s) !== n) throw new RangeError(`${n} is not exact at ${exponent} fraction digits`);
  return parseDecimalToMinor(s, exponent);
}

@Directive('@shareable')
@ObjectType('Money', { description: 'An amount in integer minor units with its currency.' })
export class MoneyType {
  @Field(() => String, { description: 'Integer minor units as a decimal string, e.g. "199".' })
  amountMinor!: string;

  @Field(() => String, {
    description: 'ISO 4217 code, or a virtual currency code (4–12 characters, exponent 0).',
  })
  currency!: string;

  static from(amountMinor: bigint, code: string): MoneyType {
    const m = new MoneyType();
    m.amountMinor = amountMinor.toString();
    m.currency = code;
    return m;
  }
}

@InputType('MoneyInput')
export class MoneyInput {
  @Field(() => String)
  amountMinor!: string;

  @Field(() => String)
  currency!: string;
}
