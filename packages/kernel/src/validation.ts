import { isSupportedCountry, parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { badInput } from './errors';
import { currency } from './currencies';

const ALPHA2 = /^[A-Z]{2}$/;
const E164 = /^\+[1-9]\d{6,14}$/;

/** ISO 3166-1 alpha-2, upper case. */
export function assertCountry(code: string, field = 'country'): string {
  if (!ALPHA2.test(code) || !isSupportedCountry(code)) {
    throw badInput(`"${code}" is not an ISO 3166-1 alpha-2 country code (e.g. "FR").`, field);
  }
  return code;
}

export function assertCurrency(code: string, field = 'currency'): string {
  if (!currency(code)) {
    throw badInput(`"${code}" is not an ISO 4217 currency code or a virtual currency code.`, field);
  }
  return code;
}

/** BCP 47; returns the canonical form ("en-gb" → "en-GB"). */
export function assertLocale(tag: string, field = 'locale'): string {
  try {
    const [canonical] = Intl.getCanonicalLocales(tag);
    if (!canonical) throw new Error('empty');
    return canonical;
  } catch {
    throw badInput(`"${tag}" is not a BCP 47 language tag (e.g. "fr-FR").`, field);
  }
}

const ZONES = new Set(Intl.supportedValuesOf('timeZone'));
/** IANA time zone name (also accepts links such as "UTC"). */
export function assertTimezone(zone: string, field = 'timezone'): string {
  if (ZONES.has(zone)) return zone;
  try {
    const resolved = new Intl.DateTimeFormat('en', { timeZone: zone }).resolvedOptions().timeZone;
    if (zone.includes('/') || zone === 'UTC') return resolved === zone ? zone : zone;
  } catch {
    // fall through
  }
  throw badInput(`"${zone}" is not an IANA time zone (e.g. "Europe/Paris").`, field);
}

export interface MsisdnInfo {
  e164: string;
  country: string | undefined;
}

/** E.164 with a leading "+"; returns the number's country when it can be told. */
export function assertMsisdn(msisdn: string, field = 'msisdn'): MsisdnInfo {
  const phone = E164.test(msisdn) ? parsePhoneNumberFromString(msisdn) : undefined;
  if (!phone || !phone.isPossible()) {
    throw badInput(`"${msisdn}" is not an E.164 phone number (e.g. "+33612345600").`, field);
  }
  return { e164: phone.number, country: phone.country };
}

/** Masks all but the last four digits, for logs and interaction records. */
export function maskMsisdn(msisdn: string): string {
  return msisdn.length <= 4
    ? '****'
    : msisdn.slice(0, 3) + '*'.repeat(msisdn.length - 7) + msisdn.slice(-4);
}
