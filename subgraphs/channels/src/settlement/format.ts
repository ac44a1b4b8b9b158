/**
 * The settlement file convention of PROTOCOLS.md §6 (request-download pattern): one CSV per
 * channel and period, fetched over SFTP from `outbox/`.
 *
 * - Name `ER_V1_{D|W|M}_YYYYMMDD.csv`; a `<name>.done` marker is written after the file, and a
 *   file without its marker is never acted on.
 * - Windows-1252, CRLF, RFC 4180 quoting, one header row, then detail rows, then one trailer.
 * - Delimiter `,` or `;` and decimal separator `.` or `,`, per channel.
 * - Amounts are decimal strings in major units; in memory they are `bigint` minor units with the
 *   ISO 4217 exponent of `currency()` (string arithmetic only, never a float).
 *
 * Layout decisions of this project (real operator layouts vary; map columns per channel):
 * - `record_type` is `DETAIL` for data rows and `TRAILER` for the last row. The trailer has the
 *   same columns as every other row (RFC 4180: same field count on every line): its
 *   `operator_txn_id` holds the detail row count, `gross_amount` / `tax_amount` / `net_amount`
 *   hold the column totals and `currency` the file's currency. All other trailer fields are empty.
 * - One currency per file (a channel settles in one currency); totals are in that currency.
 *   Amounts are written as the operator reports them (refunds positive); totals are plain sums.
 * - Columns after the standard ones are allowed (`extraColumns`, e.g. a merchant text); parsing
 *   keeps them in `extra`, and the standard columns may appear in any order.
 * - `msisdn_or_acr` is masked: a raw number is masked with `maskMsisdn` when written, and masked
 *   again defensively when read, so a clear MSISDN never leaves this module.
 *
 * Wrong encoding (UTF-8 bytes in a file declared Windows-1252): Windows-1252 is a superset of
 * ASCII, so ASCII content (references, amounts, codes) decodes correctly either way. Non-ASCII
 * text decodes as mojibake ("CafÃ©"). `parseSettlementFile` detects it: when every byte ≥ 0x80
 * is part of a well-formed UTF-8 multi-byte sequence (or there is a UTF-8 BOM), genuine
 * Windows-1252 text is practically impossible, so the file is flagged
 * (`encoding.suspectUtf8 = true`, default) or refused (`onSuspectEncoding: 'reject'`). The text
 * is still decoded as the declared Windows-1252: we never guess silently.
 */
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import iconv from 'iconv-lite';
import { currency, formatMinorAsDecimal, maskMsisdn, parseDecimalToMinor } from '@coinslot/kernel';

export const SETTLEMENT_DIR = 'outbox';
export const DONE_SUFFIX = '.done';
export const SETTLEMENT_ENCODING = 'win1252';

export const SETTLEMENT_COLUMNS = [
  'record_type',
  'operator_txn_id',
  'merchant_reference',
  'original_operator_txn_id',
  'msisdn_or_acr',
  'operator',
  'service_id',
  'price_point',
  'event_time',
  'event_type',
  'status',
  'gross_amount',
  'tax_amount',
  'net_amount',
  'currency',
  'error_code',
] as const;
export type SettlementColumn = (typeof SETTLEMENT_COLUMNS)[number];

export const DETAIL_RECORD = 'DETAIL';
export const TRAILER_RECORD = 'TRAILER';

export const SETTLEMENT_EVENT_TYPES = ['CHARGE', 'REFUND', 'REVERSAL'] as const;
export type SettlementEventType = (typeof SETTLEMENT_EVENT_TYPES)[number];

export const SETTLEMENT_STATUSES = [
  'OK',
  'REJECTED',
  'ERROR',
  'FUNDS_RESERVED',
  'CANCELLED',
] as const;
export type SettlementStatus = (typeof SETTLEMENT_STATUSES)[number];

export type SettlementPeriod = 'D' | 'W' | 'M';

/** One detail row, in memory: amounts in bigint minor units of `currency`. */
export interface SettlementRow {
  operatorTxnId: string;
  /** Our serial / referenceCode. */
  merchantReference: string;
  /** For refunds and reversals: the charge's operator transaction id. */
  originalOperatorTxnId?: string;
  /** Masked MSISDN or an ACR/token; a clear MSISDN is masked when written. */
  msisdnOrAcr: string;
  /** MCC-MNC. */
  operator: string;
  serviceId: string;
  pricePoint: string;
  /** UTC, ISO 8601 (a Date is written with toISOString()). */
  eventTime: Date | string;
  eventType: SettlementEventType;
  status: SettlementStatus;
  grossAmount: bigint;
  taxAmount: bigint;
  netAmount: bigint;
  currency: string;
  errorCode?: string;
  /** Values of extra columns (after the standard ones), e.g. `{ merchant_name: 'Café' }`. */
  extra?: Record<string, string>;
}

/** A detail row as read from a file. */
export interface ParsedSettlementRow extends SettlementRow {
  /** 1-based position among the detail rows of the file. */
  index: number;
  eventTime: string;
  occurredAt: Date;
  originalOperatorTxnId?: string;
  errorCode?: string;
  extra: Record<string, string>;
}

export interface SettlementTrailer {
  rowCount: number;
  grossTotal: bigint;
  taxTotal: bigint;
  netTotal: bigint;
  /** Empty only for a file without detail rows. */
  currency: string;
}

export interface SettlementFormatOptions {
  delimiter?: ',' | ';';
  decimalSeparator?: '.' | ',';
}

export interface RenderSettlementOptions extends SettlementFormatOptions {
  /** The file's currency; required to write totals of an empty file, checked otherwise. */
  currency?: string;
  /** Extra columns after the standard ones; default: the keys of the rows' `extra`. */
  extraColumns?: readonly string[];
  /** Simulators and tests only: write a trailer that disagrees with the rows. */
  trailerOverride?: { rowCount?: number; grossTotal?: bigint };
}

export interface ParseSettlementOptions extends SettlementFormatOptions {
  /** What to do with UTF-8 bytes in a file declared Windows-1252 (see the header). Default 'flag'. */
  onSuspectEncoding?: 'flag' | 'reject';
}

export interface ParsedSettlementFile {
  rows: ParsedSettlementRow[];
  trailer: SettlementTrailer;
  extraColumns: string[];
  encoding: { declared: 'windows-1252'; suspectUtf8: boolean };
}

export type SettlementFileErrorCode =
  | 'BAD_NAME'
  | 'BAD_OPTIONS'
  | 'BAD_CSV'
  | 'BAD_HEADER'
  | 'BAD_ROW'
  | 'BAD_AMOUNT'
  | 'MIXED_CURRENCY'
  | 'UNREPRESENTABLE'
  | 'SUSPECT_ENCODING'
  | 'TRAILER_MISSING'
  | 'TRAILER_COUNT_MISMATCH'
  | 'TRAILER_TOTAL_MISMATCH';

/** A settlement file that does not follow the convention: nothing in it may be acted on. */
export class SettlementFileError extends Error {
  constructor(
    readonly code: SettlementFileErrorCode,
    message: string,
    readonly row?: number,
  ) {
    super(message);
    this.name = 'SettlementFileError';
  }
}

/** The trailer disagrees with the rows (count or a total): the file is refused as a whole. */
export class SettlementTrailerMismatch extends SettlementFileError {
  constructor(
    code: 'TRAILER_COUNT_MISMATCH' | 'TRAILER_TOTAL_MISMATCH',
    readonly field: 'rowCount' | 'grossTotal' | 'taxTotal' | 'netTotal',
    readonly declared: string,
    readonly computed: string,
  ) {
    super(code, `settlement trailer ${field} is ${declared} but the rows give ${computed}`);
    this.name = 'SettlementTrailerMismatch';
  }
}

// ---------------------------------------------------------------------------------------------
// File names

const NAME = /^ER_V1_([DWM])_(\d{4})(\d{2})(\d{2})\.csv$/;

function toYmd(date: Date | string): string {
  if (date instanceof Date) {
    if (Number.isNaN(date.getTime())) throw new SettlementFileError('BAD_NAME', 'invalid date');
    return date.toISOString().slice(0, 10);
  }
  const m = /^(\d{4})-?(\d{2})-?(\d{2})$/.exec(date);
  if (!m) throw new SettlementFileError('BAD_NAME', `not a date: "${date}"`);
  const ymd = `${m[1]}-${m[2]}-${m[3]}`;
  const check = new Date(`${ymd}T00:00:00Z`);
  if (Number.isNaN(check.getTime()) || check.toISOString().slice(0, 10) !== ymd) {
    throw new SettlementFileError('BAD_NAME', `not a date: "${date}"`);
  }
  return ymd;
}

/** `ER_V1_D_20250131.csv` for a daily file of 2025-01-31 (a Date is taken in UTC). */
export function settlementFileName(date: Date | string, period: SettlementPeriod = 'D'): string {
  if (period !== 'D' && period !== 'W' && period !== 'M') {
    throw new SettlementFileError('BAD_NAME', `unknown period "${String(period)}"`);
  }
  return `ER_V1_${period}_${toYmd(date).replace(/-/g, '')}.csv`;
}

/** The period and date (YYYY-MM-DD) of a settlement file name, or undefined for other names. */
export function parseSettlementFileName(
  name: string,
): { period: SettlementPeriod; date: string } | undefined {
  const m = NAME.exec(name);
  if (!m) return undefined;
  const date = `${m[2]}-${m[3]}-${m[4]}`;
  try {
    toYmd(date);
  } catch {
    return undefined;
  }
  return { period: m[1] as SettlementPeriod, date };
}

export function doneMarkerName(name: string): string {
  return name + DONE_SUFFIX;
}

/** Normalises a `since`/date bound to YYYY-MM-DD (UTC for a Date). */
export function settlementDate(date: Date | string): string {
  return toYmd(date);
}

// ---------------------------------------------------------------------------------------------
// Helpers

const UNMASKED_MSISDN = /^\+?\d{5,}$/;

/** Masks a clear MSISDN; masked numbers and ACRs/tokens are kept as they are. */
export function maskSettlementMsisdn(value: string): string {
  const v = value.trim();
  return UNMASKED_MSISDN.test(v) ? maskMsisdn(v) : v;
}

function exponentOf(code: string, row?: number): number {
  const c = currency(code);
  if (!c) throw new SettlementFileError('BAD_ROW', `unknown currency "${code}"`, row);
  return c.exponent;
}

function formatOptions(options: SettlementFormatOptions): {
  delimiter: ',' | ';';
  separator: '.' | ',';
} {
  const delimiter = options.delimiter ?? ',';
  const separator = options.decimalSeparator ?? '.';
  if (delimiter !== ',' && delimiter !== ';') {
    throw new SettlementFileError('BAD_OPTIONS', `delimiter must be "," or ";"`);
  }
  if (separator !== '.' && separator !== ',') {
    throw new SettlementFileError('BAD_OPTIONS', `decimal separator must be "." or ","`);
  }
  return { delimiter, separator };
}

function isOneOf<T extends string>(values: readonly T[], v: string): v is T {
  return (values as readonly string[]).includes(v);
}

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/;

function eventTimeText(value: Date | string, row: number): string {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime()))
      throw new SettlementFileError('BAD_ROW', 'invalid event_time', row);
    return value.toISOString();
  }
  if (!ISO_UTC.test(value) || Number.isNaN(Date.parse(value))) {
    throw new SettlementFileError(
      'BAD_ROW',
      `event_time "${value}" is not ISO 8601 with a zone`,
      row,
    );
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// Rendering

/** The CSV text of a settlement file (before encoding); simulators use it for encoding faults. */
export function renderSettlementText(
  rows: readonly SettlementRow[],
  options: RenderSettlementOptions = {},
): string {
  const { delimiter, separator } = formatOptions(options);
  const codes = new Set(rows.map((r) => r.currency));
  if (options.currency) codes.add(options.currency);
  if (codes.size > 1) {
    throw new SettlementFileError(
      'MIXED_CURRENCY',
      `one currency per file, got ${[...codes].join(', ')}`,
    );
  }
  const code = [...codes][0] ?? '';
  const exponent = code ? exponentOf(code) : 0;
  const amount = (v: bigint, row: number): string => {
    if (typeof v !== 'bigint')
      throw new SettlementFileError('BAD_AMOUNT', 'amounts are bigint minor units', row);
    return formatMinorAsDecimal(v, exponent, separator);
  };

  const extra = [
    ...(options.extraColumns ?? [...new Set(rows.flatMap((r) => Object.keys(r.extra ?? {})))]),
  ];
  for (const c of extra) {
    if (isOneOf(SETTLEMENT_COLUMNS, c))
      throw new SettlementFileError('BAD_OPTIONS', `"${c}" is a standard column`);
  }

  const records: string[][] = [];
  let gross = 0n;
  let tax = 0n;
  let net = 0n;
  rows.forEach((r, i) => {
    const n = i + 1;
    if (!isOneOf(SETTLEMENT_EVENT_TYPES, r.eventType)) {
      throw new SettlementFileError('BAD_ROW', `unknown event_type "${r.eventType}"`, n);
    }
    if (!isOneOf(SETTLEMENT_STATUSES, r.status))
      throw new SettlementFileError('BAD_ROW', `unknown status "${r.status}"`, n);
    const values: Record<SettlementColumn, string> = {
      record_type: DETAIL_RECORD,
      operator_txn_id: r.operatorTxnId,
      merchant_reference: r.merchantReference,
      original_operator_txn_id: r.originalOperatorTxnId ?? '',
      msisdn_or_acr: maskSettlementMsisdn(r.msisdnOrAcr),
      operator: r.operator,
      service_id: r.serviceId,
      price_point: r.pricePoint,
      event_time: eventTimeText(r.eventTime, n),
      event_type: r.eventType,
      status: r.status,
      gross_amount: amount(r.grossAmount, n),
      tax_amount: amount(r.taxAmount, n),
      net_amount: amount(r.netAmount, n),
      currency: r.currency,
      error_code: r.errorCode ?? '',
    };
    gross += r.grossAmount;
    tax += r.taxAmount;
    net += r.netAmount;
    records.push([
      ...SETTLEMENT_COLUMNS.map((c) => values[c]),
      ...extra.map((c) => r.extra?.[c] ?? ''),
    ]);
  });

  const trailer: Record<SettlementColumn, string> = Object.fromEntries(
    SETTLEMENT_COLUMNS.map((c) => [c, '']),
  ) as Record<SettlementColumn, string>;
  trailer.record_type = TRAILER_RECORD;
  trailer.operator_txn_id = String(options.trailerOverride?.rowCount ?? rows.length);
  trailer.gross_amount = amount(options.trailerOverride?.grossTotal ?? gross, 0);
  trailer.tax_amount = amount(tax, 0);
  trailer.net_amount = amount(net, 0);
  trailer.currency = code;
  records.push([...SETTLEMENT_COLUMNS.map((c) => trailer[c]), ...extra.map(() => '')]);

  return stringify(records, {
    header: true,
    columns: [...SETTLEMENT_COLUMNS, ...extra],
    delimiter,
    quote: '"',
    escape: '"',
    record_delimiter: '\r\n',
    // RFC 4180: a field with a line break is quoted (csv-stringify only checks the record delimiter).
    quoted_match: /[\r\n]/,
    eof: true,
  });
}

/** Renders a settlement file: Windows-1252 bytes. Text Windows-1252 cannot represent is refused. */
export function renderSettlementFile(
  rows: readonly SettlementRow[],
  options: RenderSettlementOptions = {},
): Buffer {
  const text = renderSettlementText(rows, options);
  const bytes = iconv.encode(text, SETTLEMENT_ENCODING);
  if (iconv.decode(bytes, SETTLEMENT_ENCODING) !== text) {
    const bad = [...text].find(
      (ch) => iconv.decode(iconv.encode(ch, SETTLEMENT_ENCODING), SETTLEMENT_ENCODING) !== ch,
    );
    throw new SettlementFileError(
      'UNREPRESENTABLE',
      `"${bad ?? '?'}" cannot be written in Windows-1252`,
    );
  }
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// Parsing

const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/**
 * True when the bytes look like UTF-8 rather than Windows-1252: a UTF-8 BOM, or at least one
 * byte ≥ 0x80 with every such byte inside a well-formed UTF-8 sequence. Pure ASCII is false.
 */
export function looksLikeUtf8(buf: Buffer): boolean {
  if (buf.subarray(0, 3).equals(UTF8_BOM)) return true;
  if (!buf.some((b) => b >= 0x80)) return false;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(buf);
    return true;
  } catch {
    return false;
  }
}

function parseAmount(
  text: string | undefined,
  exponent: number,
  separator: string,
  column: string,
  row: number,
): bigint {
  if (text === undefined || text.trim() === '') {
    throw new SettlementFileError('BAD_AMOUNT', `${column} is empty`, row);
  }
  try {
    return parseDecimalToMinor(text, exponent, separator);
  } catch (e) {
    throw new SettlementFileError('BAD_AMOUNT', `${column}: ${(e as Error).message}`, row);
  }
}

/**
 * Decodes (Windows-1252), parses (csv-parse, `columns: true`, strings only), converts amounts to
 * bigint minor units and validates the trailer. Throws SettlementFileError (or its subclass
 * SettlementTrailerMismatch) for anything that does not follow the convention.
 */
export function parseSettlementFile(
  buf: Buffer,
  options: ParseSettlementOptions = {},
): ParsedSettlementFile {
  const { delimiter, separator } = formatOptions(options);
  const suspectUtf8 = looksLikeUtf8(buf);
  if (suspectUtf8 && options.onSuspectEncoding === 'reject') {
    throw new SettlementFileError(
      'SUSPECT_ENCODING',
      'file declared Windows-1252 contains UTF-8 byte sequences',
    );
  }
  const body = buf.subarray(0, 3).equals(UTF8_BOM) ? buf.subarray(3) : buf;
  const text = iconv.decode(body, SETTLEMENT_ENCODING);

  let records: Record<string, string>[];
  try {
    records = parse<Record<string, string>>(text, {
      columns: true,
      delimiter,
      quote: '"',
      escape: '"',
      cast: false,
      bom: false,
      trim: false,
      skip_empty_lines: true,
      relax_quotes: false,
      relax_column_count: false,
    });
  } catch (e) {
    throw new SettlementFileError('BAD_CSV', `not RFC 4180 CSV: ${(e as Error).message}`);
  }

  const first = records[0];
  if (!first) throw new SettlementFileError('TRAILER_MISSING', 'no rows and no trailer');
  const header = Object.keys(first);
  const missing = SETTLEMENT_COLUMNS.filter((c) => !header.includes(c));
  if (missing.length > 0) {
    throw new SettlementFileError('BAD_HEADER', `missing columns: ${missing.join(', ')}`);
  }
  const extraColumns = header.filter((c) => !isOneOf(SETTLEMENT_COLUMNS, c));

  const last = records[records.length - 1]!;
  if (last.record_type !== TRAILER_RECORD) {
    throw new SettlementFileError('TRAILER_MISSING', 'the last row is not a trailer');
  }
  const details = records.slice(0, -1);

  const trailerCode = last.currency ?? '';
  const fileExponent = trailerCode === '' ? 0 : exponentOf(trailerCode);
  if (trailerCode === '' && details.length > 0) {
    throw new SettlementFileError('BAD_ROW', 'trailer has no currency');
  }

  const rows: ParsedSettlementRow[] = details.map((rec, i) => {
    const n = i + 1;
    if (rec.record_type !== DETAIL_RECORD) {
      throw new SettlementFileError(
        'BAD_ROW',
        `record_type "${rec.record_type}" where ${DETAIL_RECORD} was expected`,
        n,
      );
    }
    const eventType = rec.event_type ?? '';
    const status = rec.status ?? '';
    if (!isOneOf(SETTLEMENT_EVENT_TYPES, eventType)) {
      throw new SettlementFileError('BAD_ROW', `unknown event_type "${eventType}"`, n);
    }
    if (!isOneOf(SETTLEMENT_STATUSES, status))
      throw new SettlementFileError('BAD_ROW', `unknown status "${status}"`, n);
    const code = rec.currency ?? '';
    if (code !== trailerCode) {
      throw new SettlementFileError(
        'MIXED_CURRENCY',
        `row currency "${code}" differs from the file's "${trailerCode}"`,
        n,
      );
    }
    const operatorTxnId = rec.operator_txn_id ?? '';
    if (operatorTxnId === '')
      throw new SettlementFileError('BAD_ROW', 'operator_txn_id is empty', n);
    const eventTime = eventTimeText(rec.event_time ?? '', n);
    const extra: Record<string, string> = {};
    for (const c of extraColumns) extra[c] = rec[c] ?? '';
    return {
      index: n,
      operatorTxnId,
      merchantReference: rec.merchant_reference ?? '',
      originalOperatorTxnId: rec.original_operator_txn_id || undefined,
      msisdnOrAcr: maskSettlementMsisdn(rec.msisdn_or_acr ?? ''),
      operator: rec.operator ?? '',
      serviceId: rec.service_id ?? '',
      pricePoint: rec.price_point ?? '',
      eventTime,
      occurredAt: new Date(eventTime),
      eventType,
      status,
      grossAmount: parseAmount(rec.gross_amount, fileExponent, separator, 'gross_amount', n),
      taxAmount: parseAmount(rec.tax_amount, fileExponent, separator, 'tax_amount', n),
      netAmount: parseAmount(rec.net_amount, fileExponent, separator, 'net_amount', n),
      currency: code,
      errorCode: rec.error_code || undefined,
      extra,
    };
  });

  const countText = last.operator_txn_id ?? '';
  if (!/^\d+$/.test(countText)) {
    throw new SettlementFileError(
      'TRAILER_MISSING',
      `trailer row count "${countText}" is not a number`,
    );
  }
  const trailer: SettlementTrailer = {
    rowCount: Number(countText),
    grossTotal: parseAmount(last.gross_amount, fileExponent, separator, 'trailer gross_amount', 0),
    taxTotal: last.tax_amount
      ? parseAmount(last.tax_amount, fileExponent, separator, 'trailer tax_amount', 0)
      : 0n,
    netTotal: last.net_amount
      ? parseAmount(last.net_amount, fileExponent, separator, 'trailer net_amount', 0)
      : 0n,
    currency: trailerCode,
  };

  if (trailer.rowCount !== rows.length) {
    throw new SettlementTrailerMismatch(
      'TRAILER_COUNT_MISMATCH',
      'rowCount',
      String(trailer.rowCount),
      String(rows.length),
    );
  }
  const sum = (pick: (r: ParsedSettlementRow) => bigint): bigint =>
    rows.reduce((a, r) => a + pick(r), 0n);
  const totals = [
    ['grossTotal', trailer.grossTotal, sum((r) => r.grossAmount), true],
    ['taxTotal', trailer.taxTotal, sum((r) => r.taxAmount), Boolean(last.tax_amount)],
    ['netTotal', trailer.netTotal, sum((r) => r.netAmount), Boolean(last.net_amount)],
  ] as const;
  for (const [field, declared, computed, present] of totals) {
    if (present && declared !== computed) {
      throw new SettlementTrailerMismatch(
        'TRAILER_TOTAL_MISMATCH',
        field,
        formatMinorAsDecimal(declared, fileExponent),
        formatMinorAsDecimal(computed, fileExponent),
      );
    }
  }

  return { rows, trailer, extraColumns, encoding: { declared: 'windows-1252', suspectUtf8 } };
}
