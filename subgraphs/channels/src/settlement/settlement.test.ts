import { generateKeyPairSync } from 'node:crypto';
import { utils } from 'ssh2';
import SftpClient from 'ssh2-sftp-client';
import {
  SettlementFileError,
  SettlementTrailerMismatch,
  parseSettlementFile,
  parseSettlementFileName,
  renderSettlementFile,
  settlementFileName,
  type SettlementRow,
} from './format';
import { SettlementFetchError, fetchSettlementFiles, sha256Hex } from './fetcher';
import { reconcile, settlementFileKey, type OurRun } from './reconcile';
import { startSettlementSimulator, type SettlementSimulator } from './simulator';

const DAY = '2025-03-14';
const USER = 'coinslot';
const PASSWORD = 's3cret-sftp';

let txn = 0;
function row(
  over: Partial<SettlementRow> & Pick<SettlementRow, 'merchantReference' | 'grossAmount'>,
): SettlementRow {
  txn++;
  return {
    operatorTxnId: `OP-${String(txn).padStart(6, '0')}`,
    msisdnOrAcr: '+33612345600',
    operator: '208-01',
    serviceId: 'COINS',
    pricePoint: 'PP199',
    eventTime: `${DAY}T10:${String(txn % 60).padStart(2, '0')}:00Z`,
    eventType: 'CHARGE',
    status: 'OK',
    taxAmount: 0n,
    netAmount: over.grossAmount,
    currency: 'EUR',
    ...over,
  };
}

function decoded(buf: Buffer): string {
  return buf.toString('latin1');
}

describe('settlement file format (PROTOCOLS §6)', () => {
  test('file names', () => {
    expect(settlementFileName(DAY)).toBe('ER_V1_D_20250314.csv');
    expect(settlementFileName(new Date('2025-01-31T23:00:00Z'), 'M')).toBe('ER_V1_M_20250131.csv');
    expect(parseSettlementFileName('ER_V1_W_20250314.csv')).toEqual({
      period: 'W',
      date: '2025-03-14',
    });
    expect(parseSettlementFileName('ER_V1_D_20250231.csv')).toBeUndefined();
    expect(parseSettlementFileName('ER_V1_D_20250314.csv.done')).toBeUndefined();
    expect(() => settlementFileName('2025-02-30')).toThrow(SettlementFileError);
  });

  test('CRLF, one header row, RFC 4180 quoting, masked MSISDNs, trailer with count and totals', () => {
    const rows = [
      row({
        merchantReference: 'PAY-1',
        grossAmount: 199n,
        taxAmount: 33n,
        netAmount: 166n,
        serviceId: 'Coins, "big" pack',
      }),
      row({
        merchantReference: 'PAY-2',
        grossAmount: 1000n,
        eventType: 'REFUND',
        status: 'REJECTED',
        errorCode: 'E42',
      }),
    ];
    const buf = renderSettlementFile(rows);
    const text = decoded(buf);
    const lines = text.split('\r\n');
    expect(lines).toHaveLength(5); // header, 2 rows, trailer, '' after the final CRLF
    expect(lines[4]).toBe('');
    expect(text.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
    expect(lines[0]).toBe(
      'record_type,operator_txn_id,merchant_reference,original_operator_txn_id,msisdn_or_acr,operator,service_id,price_point,' +
        'event_time,event_type,status,gross_amount,tax_amount,net_amount,currency,error_code',
    );
    expect(lines[1]).toContain('"Coins, ""big"" pack"');
    expect(text).not.toContain('+33612345600');
    expect(lines[1]).toContain(',+33*****5600,');
    expect(lines[3]).toBe('TRAILER,2,,,,,,,,,,11.99,0.33,11.66,EUR,');

    const parsed = parseSettlementFile(buf);
    expect(parsed.trailer).toEqual({
      rowCount: 2,
      grossTotal: 1199n,
      taxTotal: 33n,
      netTotal: 1166n,
      currency: 'EUR',
    });
    expect(parsed.encoding.suspectUtf8).toBe(false);
    expect(
      parsed.rows.map((r) => [
        r.index,
        r.merchantReference,
        r.grossAmount,
        r.serviceId,
        r.errorCode,
      ]),
    ).toEqual([
      [1, 'PAY-1', 199n, 'Coins, "big" pack', undefined],
      [2, 'PAY-2', 1000n, 'COINS', 'E42'],
    ]);
    expect(parsed.rows[0]!.msisdnOrAcr).toBe('+33*****5600');
    expect(typeof parsed.rows[0]!.pricePoint).toBe('string');
  });

  test('";" delimiter with "," decimals and non-ASCII merchant text round-trip in Windows-1252', () => {
    const rows = [
      row({
        merchantReference: 'PAY-ç1',
        grossAmount: 123456n,
        extra: { merchant_name: 'Café Crème' },
      }),
      row({ merchantReference: 'PAY-2', grossAmount: 5n, extra: { merchant_name: 'Smörgås €' } }),
    ];
    const options = { delimiter: ';', decimalSeparator: ',' } as const;
    const buf = renderSettlementFile(rows, options);
    expect(buf.includes(Buffer.from([0x43, 0x61, 0x66, 0xe9]))).toBe(true); // "Caf" + 0xE9: one byte, Windows-1252
    expect(buf.includes(Buffer.from([0x80]))).toBe(true); // € is 0x80 in Windows-1252
    expect(decoded(buf)).toContain(';1234,56;');
    expect(decoded(buf)).toContain(';0,05;');

    const parsed = parseSettlementFile(buf, options);
    expect(parsed.encoding.suspectUtf8).toBe(false);
    expect(parsed.extraColumns).toEqual(['merchant_name']);
    expect(
      parsed.rows.map((r) => [r.merchantReference, r.grossAmount, r.extra.merchant_name]),
    ).toEqual([
      ['PAY-ç1', 123456n, 'Café Crème'],
      ['PAY-2', 5n, 'Smörgås €'],
    ]);
    expect(parsed.trailer.grossTotal).toBe(123461n);
    // With the wrong options the file does not parse as a valid settlement file.
    expect(() => parseSettlementFile(buf)).toThrow(SettlementFileError);
  });

  test('currency exponents come from the ISO table; excess fraction digits are refused', () => {
    const jpy = renderSettlementFile([
      row({ merchantReference: 'J', grossAmount: 500n, currency: 'JPY' }),
    ]);
    expect(decoded(jpy)).toContain(',500,0,500,JPY,');
    expect(parseSettlementFile(jpy).rows[0]!.grossAmount).toBe(500n);
    const kwd = renderSettlementFile([
      row({ merchantReference: 'K', grossAmount: 1500n, currency: 'KWD' }),
    ]);
    expect(decoded(kwd)).toContain(',1.500,');
    expect(parseSettlementFile(kwd).rows[0]!.grossAmount).toBe(1500n);

    const tampered = Buffer.from(
      decoded(renderSettlementFile([row({ merchantReference: 'E', grossAmount: 199n })])).replace(
        /1\.99/g,
        '1.999',
      ),
      'latin1',
    );
    expect(() => parseSettlementFile(tampered)).toThrow(
      expect.objectContaining({ code: 'BAD_AMOUNT' }),
    );
    expect(() =>
      renderSettlementFile([
        row({ merchantReference: 'E', grossAmount: 1n }),
        row({ merchantReference: 'F', grossAmount: 1n, currency: 'USD' }),
      ]),
    ).toThrow(expect.objectContaining({ code: 'MIXED_CURRENCY' }));
    expect(() =>
      renderSettlementFile([row({ merchantReference: '日本', grossAmount: 1n })]),
    ).toThrow(expect.objectContaining({ code: 'UNREPRESENTABLE' }));
  });

  test('a trailer that disagrees with the rows is refused (count and gross total)', () => {
    const rows = [
      row({ merchantReference: 'PAY-1', grossAmount: 199n }),
      row({ merchantReference: 'PAY-2', grossAmount: 299n }),
    ];
    const badCount = renderSettlementFile(rows, { trailerOverride: { rowCount: 3 } });
    expect(() => parseSettlementFile(badCount)).toThrow(SettlementTrailerMismatch);
    expect(() => parseSettlementFile(badCount)).toThrow(
      expect.objectContaining({ code: 'TRAILER_COUNT_MISMATCH', declared: '3', computed: '2' }),
    );

    const badGross = renderSettlementFile(rows, { trailerOverride: { grossTotal: 500n } });
    expect(() => parseSettlementFile(badGross)).toThrow(
      expect.objectContaining({
        code: 'TRAILER_TOTAL_MISMATCH',
        field: 'grossTotal',
        declared: '5.00',
        computed: '4.98',
      }),
    );

    const text = decoded(renderSettlementFile(rows));
    const noTrailer = Buffer.from(text.split('\r\n').slice(0, 3).join('\r\n') + '\r\n', 'latin1');
    expect(() => parseSettlementFile(noTrailer)).toThrow(
      expect.objectContaining({ code: 'TRAILER_MISSING' }),
    );
  });
});

describe('reconcile (pure)', () => {
  test('file key detects the same file twice, not a re-delivery with other bytes', () => {
    const a = Buffer.from('a');
    const processed = new Set([settlementFileKey('ER_V1_D_20250314.csv', sha256Hex(a))]);
    expect(
      processed.has(settlementFileKey('ER_V1_D_20250314.csv', sha256Hex(Buffer.from('a')))),
    ).toBe(true);
    expect(
      processed.has(settlementFileKey('ER_V1_D_20250314.csv', sha256Hex(Buffer.from('b')))),
    ).toBe(false);
    expect(() => settlementFileKey('x', 'nope')).toThrow(RangeError);
  });

  test('double charge, reversal, procedure mismatch, funds reserved, unresolved', () => {
    const c1 = row({ merchantReference: 'R-1', grossAmount: 100n });
    const c1again = row({ merchantReference: 'R-1', grossAmount: 100n });
    const rev = row({
      merchantReference: 'R-1',
      grossAmount: 100n,
      eventType: 'REVERSAL',
      originalOperatorTxnId: c1.operatorTxnId,
    });
    const wrongProc = row({ merchantReference: 'R-2', grossAmount: 100n, eventType: 'REFUND' });
    const reserved = row({ merchantReference: 'R-3', grossAmount: 100n, status: 'FUNDS_RESERVED' });
    const noRef = row({ merchantReference: '', operatorTxnId: 'PROV-9', grossAmount: 100n });
    const runs: OurRun[] = [
      {
        reference: 'R-1',
        procedure: 'CHARGE',
        amount: 100n,
        currency: 'EUR',
        outcome: 'succeeded',
      },
      {
        reference: 'R-2',
        procedure: 'CHARGE',
        amount: 100n,
        currency: 'EUR',
        outcome: 'succeeded',
      },
      { reference: 'R-3', procedure: 'CHARGE', amount: 100n, currency: 'EUR', outcome: 'pending' },
      { reference: 'R-4', procedure: 'CHARGE', amount: 100n, currency: 'EUR', outcome: 'unknown' },
      {
        reference: 'R-9',
        procedure: 'CHARGE',
        amount: 100n,
        currency: 'EUR',
        outcome: 'succeeded',
        providerRef: 'PROV-9',
      },
    ];
    const r = reconcile([c1, c1again, rev, wrongProc, reserved, noRef], runs, {
      fileName: 'f.csv',
    });
    expect(r.matched.map((m) => m.reference)).toEqual(['R-1', 'R-9']);
    expect(r.missingOnOurSide.map((m) => [m.reason, m.row.operatorTxnId])).toEqual(
      expect.arrayContaining([
        ['duplicate-charge', c1again.operatorTxnId],
        ['reversal', rev.operatorTxnId],
        ['procedure-mismatch', wrongProc.operatorTxnId],
      ]),
    );
    expect(r.missingOnOurSide).toHaveLength(3);
    expect(r.missingOnTheirSide.map((m) => [m.reason, m.run.reference])).toEqual([
      ['absent', 'R-2'],
    ]);
    expect(r.unsettled.map((u) => u.run?.reference)).toEqual(['R-3']);
    expect(r.unresolved.map((u) => u.reference)).toEqual(['R-4']);
    expect(r.resolved).toEqual([]);
  });
});

describe('settlement over SFTP (loopback simulator)', () => {
  let sim: SettlementSimulator;
  const config = () => ({
    url: sim.url,
    username: USER,
    password: PASSWORD,
    hostKeySha256: sim.hostKeySha256,
  });

  beforeAll(async () => {
    sim = await startSettlementSimulator({
      host: '127.0.0.1',
      port: 0,
      username: USER,
      password: PASSWORD,
    });
  });
  afterAll(async () => {
    await sim.stop();
  });
  beforeEach(() => sim.control.reset());

  test('a day with planted mismatches: fetched, parsed, each mismatch found exactly once', async () => {
    expect(sim.url).toMatch(/^sftp:\/\/127\.0\.0\.1:\d+$/);
    const a = row({ merchantReference: 'PAY-A', grossAmount: 199n });
    const rows: SettlementRow[] = [
      a, // matched, and written twice (duplicate rows)
      row({ merchantReference: 'PAY-B', grossAmount: 299n }), // amount mismatch: we charged 1.99
      row({ merchantReference: 'PAY-E', grossAmount: 500n }), // our run unknown → resolved succeeded
      row({
        merchantReference: 'PAY-F',
        grossAmount: 700n,
        status: 'REJECTED',
        errorCode: 'INSUFFICIENT_FUNDS',
      }), // pending → resolved declined
      row({ merchantReference: 'PAY-H', grossAmount: 100n, status: 'REJECTED' }), // declined on both sides
      row({
        merchantReference: 'REF-A',
        grossAmount: 199n,
        eventType: 'REFUND',
        originalOperatorTxnId: a.operatorTxnId,
      }),
    ];
    const published = sim.control.publishDay(DAY, rows, {
      faults: { duplicateRows: [0], unknownTransaction: true },
    });
    // Noise: an older complete file, and tomorrow's file still being written (no .done).
    sim.control.publishDay('2025-03-13', [row({ merchantReference: 'OLD', grossAmount: 1n })]);
    const partial = sim.control.publishDay(
      '2025-03-15',
      [row({ merchantReference: 'NEXT', grossAmount: 1n })],
      { faults: { partial: true } },
    );

    const skipped: [string, string][] = [];
    const files = await fetchSettlementFiles(config(), {
      since: DAY,
      onSkip: (n, why) => skipped.push([n, why]),
    });
    expect(files.map((f) => f.name)).toEqual([published.name]);
    expect(skipped).toEqual(
      expect.arrayContaining([
        ['ER_V1_D_20250313.csv', 'before-since'],
        [partial.name, 'no-done-marker'],
      ]),
    );
    const [file] = files as [(typeof files)[number]];
    expect(file.buffer.equals(published.content)).toBe(true);
    expect(file.sha256).toBe(sha256Hex(published.content));
    expect(
      sim.control
        .requests()
        .filter((r) => r.op === 'OPEN')
        .map((r) => r.path),
    ).toEqual([`/outbox/${published.name}`]);

    const parsed = parseSettlementFile(file.buffer);
    expect(parsed.trailer.rowCount).toBe(8); // 6 + the duplicate + the unknown transaction

    const ourRuns: OurRun[] = [
      {
        reference: 'PAY-A',
        procedure: 'CHARGE',
        amount: 199n,
        currency: 'EUR',
        outcome: 'succeeded',
      },
      {
        reference: 'PAY-B',
        procedure: 'CHARGE',
        amount: 199n,
        currency: 'EUR',
        outcome: 'succeeded',
      },
      {
        reference: 'PAY-D',
        procedure: 'CHARGE',
        amount: 399n,
        currency: 'EUR',
        outcome: 'succeeded',
      }, // not in the file
      {
        reference: 'PAY-E',
        procedure: 'CHARGE',
        amount: 500n,
        currency: 'EUR',
        outcome: 'unknown',
      },
      {
        reference: 'PAY-F',
        procedure: 'CHARGE',
        amount: 700n,
        currency: 'EUR',
        outcome: 'pending',
      },
      {
        reference: 'PAY-H',
        procedure: 'CHARGE',
        amount: 100n,
        currency: 'EUR',
        outcome: 'declined',
      },
      {
        reference: 'REF-A',
        procedure: 'REFUND',
        amount: 199n,
        currency: 'EUR',
        outcome: 'succeeded',
      },
    ];
    const result = reconcile(parsed.rows, ourRuns, { fileName: file.name });

    expect(result.matched.map((m) => [m.reference, m.agreed])).toEqual([
      ['PAY-A', 'succeeded'],
      ['PAY-H', 'failed'],
      ['REF-A', 'succeeded'],
    ]);
    expect(result.duplicates).toHaveLength(1);
    expect(result.duplicates[0]).toMatchObject({ operatorTxnId: a.operatorTxnId, identical: true });

    expect(result.amountMismatch).toHaveLength(1);
    expect(result.amountMismatch[0]).toMatchObject({
      reference: 'PAY-B',
      ours: { amount: 199n, currency: 'EUR', outcome: 'succeeded' },
      theirs: { amount: 299n, currency: 'EUR', status: 'OK' },
    });

    expect(result.missingOnOurSide).toHaveLength(1);
    expect(result.missingOnOurSide[0]).toMatchObject({
      reason: 'unknown-reference',
      row: { status: 'OK', grossAmount: 100n },
    });
    expect(result.missingOnOurSide[0]!.row.merchantReference).toMatch(/^NOT-OURS-/);

    expect(result.missingOnTheirSide).toHaveLength(1);
    expect(result.missingOnTheirSide[0]).toMatchObject({
      reason: 'absent',
      run: { reference: 'PAY-D' },
    });

    expect(result.resolved).toHaveLength(2);
    const [e, f] = result.resolved as [
      (typeof result.resolved)[number],
      (typeof result.resolved)[number],
    ];
    expect(e).toMatchObject({
      procedure: 'CHARGE',
      reference: 'PAY-E',
      previous: 'unknown',
      outcome: { kind: 'succeeded', amount: 500n, currency: 'EUR' },
      amount: 500n,
      currency: 'EUR',
    });
    expect(e.eventId).toBe(`settlement:${rows[2]!.operatorTxnId}`);
    expect(e.occurredAt).toBeInstanceOf(Date);
    expect(f).toMatchObject({
      reference: 'PAY-F',
      previous: 'pending',
      outcome: { kind: 'declined', code: 'INSUFFICIENT_FUNDS' },
    });
    expect(result.unsettled).toEqual([]);
    expect(result.unresolved).toEqual([]);

    // Every planted reference lands in exactly one bucket.
    const refs = [
      ...result.matched.map((m) => m.reference),
      ...result.amountMismatch.map((m) => m.reference),
      ...result.missingOnOurSide.map((m) => m.row.merchantReference),
      ...result.missingOnTheirSide.map((m) => m.run.reference),
      ...result.resolved.map((m) => m.reference),
    ];
    expect(new Set(refs).size).toBe(refs.length);
    expect(refs).toHaveLength(8);

    // Processing the same file twice is detectable by its key.
    const again = await fetchSettlementFiles(config(), { since: DAY });
    expect(settlementFileKey(again[0]!.name, again[0]!.sha256)).toBe(
      settlementFileKey(file.name, file.sha256),
    );
  });

  test('a file without .done is not fetched until complete; a late file only once released', async () => {
    const partial = sim.control.publishDay(
      DAY,
      [row({ merchantReference: 'P', grossAmount: 10n })],
      { faults: { partial: true } },
    );
    const late = sim.control.publishDay(
      '2025-03-16',
      [row({ merchantReference: 'L', grossAmount: 20n })],
      { faults: { late: true } },
    );
    expect(sim.control.files()).toEqual([partial.name]);
    expect(await fetchSettlementFiles(config(), { since: DAY })).toEqual([]);
    expect(sim.control.requests().some((r) => r.op === 'OPEN')).toBe(false);

    sim.control.complete(partial.name);
    expect(sim.control.releaseLate()).toEqual([late.name]);
    const files = await fetchSettlementFiles(config(), { since: DAY });
    expect(files.map((f) => f.name)).toEqual([partial.name, late.name]);
    expect(files.map((f) => parseSettlementFile(f.buffer).rows[0]!.merchantReference)).toEqual([
      'P',
      'L',
    ]);

    // Raw publishing: a marker-less file is skipped; a timed late file shows up by itself.
    const raw = renderSettlementFile([row({ merchantReference: 'R', grossAmount: 30n })]);
    sim.control.publish('ER_V1_W_20250317.csv', raw, { withDoneMarker: false });
    // Late by more than one SFTP round trip takes under load (20 ms was not, with busy workers).
    sim.control.publish('ER_V1_M_20250318.csv', raw, { lateMs: 1_500 });
    expect(
      (await fetchSettlementFiles(config(), { since: '2025-03-17' })).map((f) => f.name),
    ).toEqual([]);
    let names: string[] = [];
    for (let i = 0; i < 40 && names.length === 0; i += 1) {
      await new Promise((r) => setTimeout(r, 100));
      if (sim.control.files().includes('ER_V1_M_20250318.csv')) {
        names = (await fetchSettlementFiles(config(), { since: '2025-03-17' })).map((f) => f.name);
      }
    }
    expect(names).toEqual(['ER_V1_M_20250318.csv']);
  });

  test('a bad trailer fetched over SFTP is refused as a whole', async () => {
    sim.control.publishDay(DAY, [row({ merchantReference: 'T1', grossAmount: 10n })], {
      faults: { badTrailer: true },
    });
    const [file] = await fetchSettlementFiles(config(), { since: DAY });
    expect(() => parseSettlementFile(file!.buffer)).toThrow(SettlementTrailerMismatch);
  });

  test('wrong encoding: ASCII decodes correctly, non-ASCII is flagged (or refused)', async () => {
    const ascii = [
      row({ merchantReference: 'PAY-ASCII', grossAmount: 250n, extra: { merchant_name: 'Cafe' } }),
    ];
    const utf8 = [
      row({ merchantReference: 'PAY-UTF8', grossAmount: 250n, extra: { merchant_name: 'Café' } }),
    ];
    const asciiUtf8 = sim.control.publishDay(DAY, ascii, { faults: { wrongEncoding: true } });
    expect(asciiUtf8.content.equals(renderSettlementFile(ascii))).toBe(true); // identical bytes for ASCII
    sim.control.publishDay('2025-03-15', utf8, { faults: { wrongEncoding: true } });

    const fetched = await fetchSettlementFiles(config(), { since: DAY });
    expect(fetched).toHaveLength(2);
    const [f1, f2] = [fetched[0]!, fetched[1]!];
    const p1 = parseSettlementFile(f1.buffer);
    expect(p1.encoding.suspectUtf8).toBe(false);
    expect(p1.rows[0]).toMatchObject({
      merchantReference: 'PAY-ASCII',
      grossAmount: 250n,
      extra: { merchant_name: 'Cafe' },
    });

    const p2 = parseSettlementFile(f2.buffer);
    expect(p2.encoding.suspectUtf8).toBe(true);
    // Money and references are ASCII and stay correct; the text is decoded as declared (mojibake).
    expect(p2.rows[0]).toMatchObject({
      merchantReference: 'PAY-UTF8',
      grossAmount: 250n,
      extra: { merchant_name: 'CafÃ©' },
    });
    expect(() => parseSettlementFile(f2.buffer, { onSuspectEncoding: 'reject' })).toThrow(
      expect.objectContaining({ code: 'SUSPECT_ENCODING' }),
    );
  });

  test('wrong password and wrong host key are refused', async () => {
    sim.control.publishDay(DAY, [row({ merchantReference: 'X', grossAmount: 1n })]);
    await expect(fetchSettlementFiles({ ...config(), password: 'wrong' })).rejects.toMatchObject({
      name: 'SettlementFetchError',
      code: 'AUTH_FAILED',
    });
    await expect(
      fetchSettlementFiles({ ...config(), username: 'someone-else' }),
    ).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    const otherKey = 'SHA256:' + Buffer.alloc(32, 7).toString('base64').replace(/=+$/, '');
    await expect(
      fetchSettlementFiles({ ...config(), hostKeySha256: otherKey }),
    ).rejects.toBeInstanceOf(SettlementFetchError);
    await expect(
      fetchSettlementFiles({ ...config(), hostKeySha256: otherKey }),
    ).rejects.toMatchObject({ code: 'HOST_KEY_MISMATCH' });
    expect(sim.control.requests()).toEqual([]); // nobody got as far as SFTP
  });

  test('writes are refused: the outbox is download-only', async () => {
    const { name, content } = sim.control.publishDay(DAY, [
      row({ merchantReference: 'W', grossAmount: 1n }),
    ]);
    const client = new SftpClient('writer');
    client.on('connect', () =>
      (client as unknown as { client: { setNoDelay(on: boolean): void } }).client.setNoDelay(true),
    );
    await client.connect({
      host: '127.0.0.1',
      port: Number(new URL(sim.url).port),
      username: USER,
      password: PASSWORD,
    });
    try {
      await expect(client.put(Buffer.from('forged'), `outbox/${name}`)).rejects.toThrow(/denied/i);
      await expect(client.put(Buffer.from('new'), 'outbox/ER_V1_D_20250101.csv')).rejects.toThrow(
        /denied/i,
      );
      await expect(client.delete(`outbox/${name}.done`)).rejects.toThrow(/denied/i);
      await expect(client.rename(`outbox/${name}`, 'outbox/moved.csv')).rejects.toThrow(/denied/i);
      await expect(client.mkdir('outbox/sub')).rejects.toThrow(/denied/i);
      // Reads still work on the same connection.
      expect(await client.realPath('.')).toBe('/');
      expect((await client.stat(`outbox/${name}`)).size).toBe(content.length);
      expect(await client.exists('outbox/missing.csv')).toBe(false);
    } finally {
      await client.end();
    }
    expect(sim.control.refusedWrites()).toBeGreaterThanOrEqual(5);
    expect(sim.control.files()).toEqual([name, `${name}.done`]);
    const [file] = await fetchSettlementFiles(config());
    expect(file!.buffer.equals(content)).toBe(true);
  });
});

describe('settlement SFTP with public-key auth', () => {
  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'pkcs1', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  const parsed = utils.parseKey(privateKey);
  if (parsed instanceof Error) throw parsed;
  const publicKey = `ssh-rsa ${parsed.getPublicSSH().toString('base64')} coinslot-test`;
  let sim: SettlementSimulator;

  beforeAll(async () => {
    sim = await startSettlementSimulator({ host: '127.0.0.1', port: 0, username: USER, publicKey });
  });
  afterAll(async () => {
    await sim.stop();
  });

  test('the right key downloads; another key and any password are refused', async () => {
    const { content } = sim.control.publishDay(DAY, [
      row({ merchantReference: 'K1', grossAmount: 42n }),
    ]);
    const files = await fetchSettlementFiles(
      { url: sim.url, username: USER, privateKey, hostKeySha256: sim.hostKeySha256 },
      { since: DAY },
    );
    expect(files).toHaveLength(1);
    expect(files[0]!.buffer.equals(content)).toBe(true);

    const other = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'pkcs1', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    }).privateKey;
    await expect(
      fetchSettlementFiles({ url: sim.url, username: USER, privateKey: other }),
    ).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    await expect(
      fetchSettlementFiles({ url: sim.url, username: USER, password: PASSWORD }),
    ).rejects.toMatchObject({ code: 'AUTH_FAILED' });
  });
});
