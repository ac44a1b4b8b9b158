import { currency, formatMinorAsDecimal } from '@coinslot/kernel';

const MINOR_UNITS = /^-?\d{1,30}$/;

/**
 * Intl.NumberFormat formats a decimal *string* exactly (ECMA-402 "NumberFormat v3", Node ≥ 20),
 * so an amount never goes through a float. Checked once: an engine that would round the string
 * through a double gets the exact, unlocalised "<decimal> <code>" instead.
 */
const EXACT_STRINGS = (() => {
  try {
    const nf = new Intl.NumberFormat('en', {
      useGrouping: false,
      minimumFractionDigits: 2,
      maximumFractionDigits: 2,
    });
    return formatDecimalString(nf, '9007199254740993.01') === '9007199254740993.01';
  } catch {
    return false;
  }
})();

function formatDecimalString(nf: Intl.NumberFormat, decimal: string): string {
  return (nf.format as unknown as (value: string) => string)(decimal);
}

/** A BCP 47 locale the runtime can format with, or `fallback`. */
export function usableLocale(locale: string | null | undefined, fallback = 'en'): string {
  if (!locale) return fallback;
  try {
    const [canonical] = Intl.getCanonicalLocales(locale);
    return (canonical && Intl.NumberFormat.supportedLocalesOf([canonical])[0]) ?? fallback;
  } catch {
    return fallback;
  }
}

/**
 * An amount of integer minor units (a decimal string, as on the wire) in a locale: the
 * currency's exponent comes from the kernel's ISO 4217 table (not ICU's, which differs for some
 * codes), the major-unit decimal is built with bigint arithmetic, and Intl only localises it.
 * Virtual currencies (a merchant's coins, exponent 0) are a localised integer and their code.
 */
export function formatAmount(amountMinor: string, currencyCode: string, locale: string): string {
  if (!MINOR_UNITS.test(amountMinor))
    throw new RangeError(`not an integer amount of minor units: "${amountMinor}"`);
  const cur = currency(currencyCode);
  if (!cur) throw new RangeError(`unknown currency "${currencyCode}"`);
  const decimal = formatMinorAsDecimal(BigInt(amountMinor), cur.exponent);
  if (!EXACT_STRINGS) return `${decimal} ${cur.code}`;
  const loc = usableLocale(locale);
  const digits = { minimumFractionDigits: cur.exponent, maximumFractionDigits: cur.exponent };
  if (cur.virtual)
    return `${formatDecimalString(new Intl.NumberFormat(loc, digits), decimal)} ${cur.code}`;
  return formatDecimalString(
    new Intl.NumberFormat(loc, { style: 'currency', currency: cur.code, ...digits }),
    decimal,
  );
}
