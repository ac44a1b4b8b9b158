/**
 * ISO 4217 minor-unit exponents (the standard's table, not Intl: ICU disagrees on some codes).
 * Codes not listed here have exponent 2.
 */
const NON_TWO_EXPONENT: Record<string, number> = {
  BIF: 0,
  CLP: 0,
  DJF: 0,
  GNF: 0,
  ISK: 0,
  JPY: 0,
  KMF: 0,
  KRW: 0,
  PYG: 0,
  RWF: 0,
  UGX: 0,
  UYI: 0,
  VND: 0,
  VUV: 0,
  XAF: 0,
  XOF: 0,
  XPF: 0,
  BHD: 3,
  IQD: 3,
  JOD: 3,
  KWD: 3,
  LYD: 3,
  OMR: 3,
  TND: 3,
  CLF: 4,
  UYW: 4,
};

/** Active ISO 4217 codes. */
const ISO_CODES = (
  'AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP ' +
  'BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR ' +
  'FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES ' +
  'KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR ' +
  'MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF ' +
  'SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS ' +
  'UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG'
).split(' ');
const ISO = new Set(ISO_CODES);

/**
 * Virtual currencies (a merchant's coins) have 4–12 upper-case characters, so they can never
 * collide with a 3-letter ISO code, and exponent 0.
 */
const VIRTUAL = /^[A-Z][A-Z0-9]{3,11}$/;

export interface Currency {
  code: string;
  exponent: number;
  virtual: boolean;
}

export function isIsoCurrency(code: string): boolean {
  return ISO.has(code);
}

export function isVirtualCurrency(code: string): boolean {
  return VIRTUAL.test(code);
}

export function currency(code: string): Currency | undefined {
  if (ISO.has(code)) return { code, exponent: NON_TWO_EXPONENT[code] ?? 2, virtual: false };
  if (VIRTUAL.test(code)) return { code, exponent: 0, virtual: true };
  return undefined;
}

export function listIsoCurrencies(): readonly string[] {
  return ISO_CODES;
}
