import fc from 'fast-check';
import {
  Money,
  currency,
  formatMinorAsDecimal,
  parseDecimalToMinor,
  parseFloatToMinor,
  parseMinorUnits,
} from '../src';

describe('money', () => {
  it('knows ISO 4217 exponents as data, and virtual currencies have exponent 0', () => {
    expect(currency('EUR')?.exponent).toBe(2);
    expect(currency('JPY')?.exponent).toBe(0);
    expect(currency('KWD')?.exponent).toBe(3);
    expect(currency('GEMS')).toEqual({ code: 'GEMS', exponent: 0, virtual: true });
    expect(currency('XYZ')).toBeUndefined();
    expect(currency('eur')).toBeUndefined();
  });

  it('parses only integer minor units from the wire', () => {
    expect(parseMinorUnits('199')).toBe(199n);
    expect(parseMinorUnits('9007199254740993')).toBe(9007199254740993n);
    for (const bad of ['1.99', '1e3', '', ' 1', 'abc', 1.5, null])
      expect(() => parseMinorUnits(bad)).toThrow(/minor units/);
  });

  it('formats and parses decimals with string arithmetic, round-tripping every amount', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(10n ** 18n), max: 10n ** 18n }),
        fc.constantFrom(0, 2, 3),
        (amount, exp) => {
          expect(parseDecimalToMinor(formatMinorAsDecimal(amount, exp), exp)).toBe(amount);
        },
      ),
    );
    expect(formatMinorAsDecimal(199n, 2)).toBe('1.99');
    expect(formatMinorAsDecimal(5n, 3)).toBe('0.005');
    expect(formatMinorAsDecimal(-5n, 2)).toBe('-0.05');
    expect(parseDecimalToMinor('1,5', 2, ',')).toBe(150n);
    expect(() => parseDecimalToMinor('1.999', 2)).toThrow(/fraction digits/);
  });

  it('accepts a JSON number only when it is exact at the exponent', () => {
    expect(parseFloatToMinor(1.99, 2)).toBe(199n);
    expect(parseFloatToMinor(0.1 + 0.2 - 0.3 + 1.99, 2)).toBe(199n);
    expect(() => parseFloatToMinor(1.999, 2)).toThrow();
  });

  it('allocates without losing or creating a minor unit', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(10n ** 12n), max: 10n ** 12n }),
        fc
          .array(fc.bigInt({ min: 0n, max: 1000n }), { minLength: 1, maxLength: 8 })
          .filter((r) => r.some((x) => x > 0n)),
        (amount, ratios) => {
          const parts = Money.of(amount, 'EUR').allocate(ratios);
          expect(parts.reduce((s, p) => s + p.amountMinor, 0n)).toBe(amount);
          parts.forEach((p, i) => ratios[i] === 0n && expect(p.amountMinor).toBe(0n));
        },
      ),
    );
  });

  it('refuses arithmetic across currencies and non-bigint amounts', () => {
    expect(() => Money.of(1n, 'EUR').add(Money.of(1n, 'USD'))).toThrow(/currency mismatch/);
    expect(() => Money.of(1.5 as unknown as bigint, 'EUR')).toThrow(/bigint/);
  });
});
