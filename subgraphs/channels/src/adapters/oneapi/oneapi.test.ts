import { runConformance, startHarness, uniqueReference, resolveByStatus } from '../conformance';
import { CallbackRejected } from '../types';
import type { Outcome } from '../types';
import { factory } from './adapter';
import { spec } from './conformance';
import {
  AmountConflict,
  TRANSACTION_STATUSES,
  classifyError,
  decodeForm,
  decodePaymentBody,
  encodeForm,
  encodePaymentBody,
  fromWireAmount,
  outcomeForStatus,
  parseTransactionStatus,
  redact,
  reportedAmount,
  toWireAmount,
} from './transformers';
import type { PaymentFields, PaymentOperation } from './transformers';

runConformance(spec);

describe('oneapi transformers', () => {
  describe('amounts', () => {
    it('formats minor units as a major-unit decimal string', () => {
      expect(toWireAmount(199n, 'USD')).toBe('1.99');
      expect(toWireAmount(5n, 'USD')).toBe('0.05');
      expect(toWireAmount(0n, 'EUR')).toBe('0.00');
      expect(toWireAmount(500n, 'JPY')).toBe('500');
      expect(toWireAmount(1234n, 'KWD')).toBe('1.234');
      expect(toWireAmount(123456789012345678901n, 'USD')).toBe('1234567890123456789.01');
      expect(() => toWireAmount(-1n, 'USD')).toThrow(RangeError);
      expect(() => toWireAmount(100n, 'GOLDCOIN')).toThrow(RangeError);
    });

    it('reads exact JSON numbers and decimal strings back', () => {
      expect(fromWireAmount(1.99, 'USD')).toBe(199n);
      expect(fromWireAmount(0.07, 'USD')).toBe(7n);
      expect(fromWireAmount(10, 'USD')).toBe(1000n);
      expect(fromWireAmount(500, 'JPY')).toBe(500n);
      expect(fromWireAmount(1.234, 'KWD')).toBe(1234n);
      expect(fromWireAmount('1.99', 'USD')).toBe(199n);
      expect(fromWireAmount('1.9', 'USD')).toBe(190n);
    });

    it('rejects inexact or impossible amounts as conflicts', () => {
      expect(() => fromWireAmount(0.1 + 0.2, 'USD')).toThrow(AmountConflict);
      expect(() => fromWireAmount(1.999, 'USD')).toThrow(AmountConflict);
      expect(() => fromWireAmount(500.5, 'JPY')).toThrow(AmountConflict);
      expect(() => fromWireAmount('1.999', 'USD')).toThrow(AmountConflict);
      expect(() => fromWireAmount(-1, 'USD')).toThrow(AmountConflict);
      expect(() => fromWireAmount(Number.NaN, 'USD')).toThrow(AmountConflict);
      expect(() => fromWireAmount('1,99', 'USD')).toThrow(AmountConflict);
    });

    it('round-trips request → JSON number → minor units', () => {
      const wrong: string[] = [];
      for (const currency of ['USD', 'JPY', 'KWD']) {
        const samples = [
          ...Array.from({ length: 3_000 }, (_, i) => BigInt(i)),
          99_999n,
          123_456_789n,
          9_007_199_254n,
        ];
        for (const minor of samples) {
          if (fromWireAmount(Number(toWireAmount(minor, currency)), currency) !== minor)
            wrong.push(`${minor} ${currency}`);
        }
      }
      expect(wrong).toEqual([]);
    });

    it('takes the amount field that fits the operation', () => {
      const txn = {
        transactionOperationStatus: 'Charged',
        paymentAmount: {
          chargingInformation: { amount: 5, currency: 'USD' },
          amountReserved: 0,
          totalAmountCharged: 3.5,
        },
      };
      expect(reportedAmount(txn, 'charge')).toEqual({ amount: 350n, currency: 'USD' });
      expect(reportedAmount(txn, 'reserve')).toEqual({ amount: 500n, currency: 'USD' });
      expect(reportedAmount(txn, 'refund')).toEqual({ amount: 500n, currency: 'USD' });
      expect(reportedAmount(txn, 'release')).toBeUndefined();
      expect(() =>
        reportedAmount(
          {
            ...txn,
            paymentAmount: { totalAmountCharged: 1.001, chargingInformation: { currency: 'USD' } },
          },
          'charge',
        ),
      ).toThrow(AmountConflict);
    });
  });

  describe('status map', () => {
    const ops: PaymentOperation[] = ['charge', 'refund', 'reserve', 'capture', 'release'];

    it('parses statuses case-insensitively (the reference server calls back with "charged")', () => {
      expect(parseTransactionStatus('charged')).toBe('Charged');
      expect(parseTransactionStatus('CHARGED')).toBe('Charged');
      expect(parseTransactionStatus(' Processing ')).toBe('Processing');
      expect(parseTransactionStatus('refused')).toBe('Refused');
      expect(parseTransactionStatus('Settled')).toBeUndefined();
    });

    it('maps every status for every operation', () => {
      for (const status of TRANSACTION_STATUSES) {
        for (const op of ops)
          expect(['succeeded', 'pending', 'declined', 'unknown']).toContain(
            outcomeForStatus(status, op).kind,
          );
      }
    });

    it.each<[string, PaymentOperation, Outcome['kind'], string]>([
      ['Charged', 'charge', 'succeeded', ''],
      ['Processing', 'charge', 'pending', ''],
      ['Denied', 'charge', 'declined', 'DENIED'],
      ['Refused', 'charge', 'declined', 'DENIED'],
      ['Refunded', 'refund', 'succeeded', ''],
      ['Reserved', 'reserve', 'succeeded', ''],
      ['Charged', 'capture', 'succeeded', ''],
      ['Released', 'capture', 'declined', 'DENIED'],
      ['Reserved', 'capture', 'unknown', ''],
      ['Released', 'release', 'succeeded', ''],
      ['Charged', 'release', 'declined', 'DENIED'],
      ['Reserved', 'charge', 'unknown', ''],
    ])('%s for %s ⇒ %s', (status, op, kind, code) => {
      const o = outcomeForStatus(parseTransactionStatus(status)!, op, {
        providerRef: 'P1',
        completion: 'callback',
      });
      expect(o.kind).toBe(kind);
      if (code) expect(o).toMatchObject({ code });
      if (o.kind === 'pending') expect(o.completion).toBe('callback');
      expect(o.providerRef).toBe('P1');
    });

    it('classifies error answers', () => {
      const pol = (messageId: string) => ({ type: 'policy' as const, messageId });
      const svc = (messageId: string) => ({ type: 'service' as const, messageId });
      expect(classifyError(403, pol('POL1000'))).toMatchObject({
        type: 'declined',
        code: 'INSUFFICIENT_FUNDS',
      });
      expect(classifyError(403, pol('POL0001'))).toMatchObject({
        type: 'declined',
        code: 'DENIED',
      });
      expect(classifyError(403, pol('POL1001'))).toMatchObject({
        type: 'declined',
        code: 'LIMIT_EXCEEDED',
      });
      expect(classifyError(400, svc('SVC0004'))).toMatchObject({
        type: 'declined',
        code: 'DENIED',
        providerCode: 'SVC0004',
      });
      expect(classifyError(503, undefined)).toMatchObject({
        type: 'declined',
        code: 'CHANNEL_UNAVAILABLE',
      });
      expect(classifyError(429, undefined)).toMatchObject({
        type: 'declined',
        code: 'CHANNEL_UNAVAILABLE',
      });
      expect(classifyError(500, svc('SVC0001'))).toMatchObject({ type: 'unknown' });
      expect(classifyError(502, undefined)).toMatchObject({ type: 'unknown' });
      expect(classifyError(400, svc('SVC0005'))).toMatchObject({ type: 'unknown' });
      expect(classifyError(403, pol('POL3000'))).toMatchObject({ type: 'consentRequired' });
      expect(classifyError(403, pol('POL3001'))).toMatchObject({
        type: 'declined',
        code: 'INVALID_OTP',
      });
    });
  });

  describe('form encoding', () => {
    const fields: PaymentFields = {
      endUserId: 'tel:+12025550100',
      transactionOperationStatus: 'Charged',
      referenceCode: 'REF-1',
      description: 'Gold pack & more',
      currency: 'USD',
      amount: '1.99',
      clientCorrelator: 'REF-1',
      callbackURL: 'http://127.0.0.1:9/cb/x?y=1',
      onBehalfOf: undefined,
    };

    it('encodes v1 fields as application/x-www-form-urlencoded', () => {
      const { contentType, body } = encodePaymentBody('amountTransaction', fields, 'form');
      expect(contentType).toBe('application/x-www-form-urlencoded');
      expect(body).toBe(
        'endUserId=tel%3A%2B12025550100&transactionOperationStatus=Charged&referenceCode=REF-1&description=Gold+pack+%26+more' +
          '&currency=USD&amount=1.99&clientCorrelator=REF-1&callbackURL=http%3A%2F%2F127.0.0.1%3A9%2Fcb%2Fx%3Fy%3D1',
      );
      expect(body).not.toContain('onBehalfOf');
      expect(decodeForm(body)).toMatchObject({
        endUserId: 'tel:+12025550100',
        description: 'Gold pack & more',
        amount: '1.99',
      });
      expect(encodeForm({ referenceSequence: 2, otp: '123456' })).toBe(
        'referenceSequence=2&otp=123456',
      );
    });

    it('encodes the JSON profile with the same data, and both decode alike', () => {
      const form = encodePaymentBody('amountTransaction', fields, 'form');
      const json = encodePaymentBody('amountTransaction', fields, 'json');
      expect(json.contentType).toBe('application/json');
      expect(JSON.parse(json.body)).toMatchObject({
        amountTransaction: {
          endUserId: 'tel:+12025550100',
          transactionOperationStatus: 'Charged',
          paymentAmount: {
            chargingInformation: {
              amount: '1.99',
              currency: 'USD',
              description: 'Gold pack & more',
            },
          },
        },
      });
      expect(decodePaymentBody(json.contentType, json.body)).toEqual(
        decodePaymentBody(`${form.contentType}; charset=utf-8`, form.body),
      );
      expect(decodePaymentBody('text/plain', 'x')).toBeUndefined();
    });

    it('redacts secrets and masks MSISDNs for the interaction log', () => {
      const out = redact(
        {
          url: 'http://op/1/payment/tel%3A%2B12025550100/transactions/amount',
          body: {
            endUserId: 'tel:+12025550100',
            otp: '123456',
            Authorization: 'Basic abc',
            note: 'for +12025550100',
          },
          callbackURL: 'http://sink/callbacks/oneapi/SECRETTOKEN',
          at: new Date(0),
        },
        ['+12025550100'],
        'http://sink/callbacks/oneapi',
      );
      const text = JSON.stringify(out);
      expect(text).not.toContain('12025550100');
      expect(text).not.toContain('123456');
      expect(text).not.toContain('SECRETTOKEN');
      expect(text).not.toContain('Basic abc');
      expect(out.at).toBeInstanceOf(Date);
      expect(out.body.endUserId).toBe('tel:+12*****0100');
    });
  });
});

describe('oneapi adapter specifics', () => {
  let h: Awaited<ReturnType<typeof startHarness>>;
  beforeAll(async () => {
    h = await startHarness(spec);
  });
  afterAll(async () => {
    await h?.stop();
  });
  beforeEach(() => h.sim.control.setFaults({}));

  const charge = (n: string, amount = 199n) => ({
    reference: uniqueReference('OA'),
    amount,
    currency: 'USD',
    description: 'specifics',
    msisdn: `+120255501${n}`,
  });

  it.each([
    ['61', 'LIMIT_EXCEEDED'],
    ['64', 'DENIED'],
    ['69', 'CHANNEL_UNAVAILABLE'],
  ])('test number %s declines with %s', async (n, code) => {
    const req = charge(n);
    expect(await h.adapter.charge(req)).toMatchObject({ kind: 'declined', code });
    expect(h.sim.control.chargeCount(req.reference)).toBe(0);
  });

  it('rejects a callback whose path token does not match, even with the right credentials', async () => {
    const req = charge('77');
    await h.adapter.charge(req);
    await h.waitFor(req.reference, (e) => e.outcome.kind === 'succeeded');
    const { callbackUsername, callbackPassword } = h.sim.credentials;
    const body = Buffer.from(
      JSON.stringify({
        amountTransaction: {
          clientCorrelator: req.reference,
          referenceCode: req.reference,
          transactionOperationStatus: 'charged',
        },
      }),
    );
    await expect(
      h.adapter.handleCallback!({
        method: 'POST',
        path: '/callbacks/oneapi/not-the-token',
        headers: {
          authorization: `Basic ${Buffer.from(`${callbackUsername}:${callbackPassword}`).toString('base64')}`,
        },
        rawBody: body,
        query: {},
      }),
    ).rejects.toBeInstanceOf(CallbackRejected);
  });

  it('a replayed callback gives the same event id; reordered callbacks settle on the final state', async () => {
    h.sim.control.setFaults({ reorderCallbacks: true });
    const req = charge('77');
    expect(await h.adapter.charge(req)).toMatchObject({ kind: 'pending', completion: 'callback' });
    const first = await h.waitFor(req.reference, (e) => e.outcome.kind === 'succeeded');
    await new Promise((r) => setTimeout(r, 300));
    expect(await h.sim.control.replayCallback!(req.reference)).toBe(200);
    const mine = h.events.filter((e) => e.reference === req.reference);
    expect(mine.length).toBeGreaterThanOrEqual(3);
    for (const e of mine) {
      expect(e.outcome.kind).toBe('succeeded');
      expect(e.eventId).toBe(first.eventId);
    }
    expect(first).toMatchObject({ amount: 199n, currency: 'USD', procedure: 'CHARGE' });
    expect(h.sim.control.chargeCount(req.reference)).toBe(1);
  });

  it('resolves status and OTP consent from a fresh process (nothing in memory)', async () => {
    const fresh = await factory.create(spec.adapterConfig(h.sim), {
      record: () => undefined,
      emit: () => undefined,
    });
    try {
      const paid = charge('00');
      const c = await h.adapter.charge(paid);
      const providerRef = c.kind === 'succeeded' ? c.providerRef : undefined;
      expect(await fresh.status({ reference: paid.reference, msisdn: paid.msisdn })).toMatchObject({
        kind: 'succeeded',
        amount: 199n,
      });
      expect(
        await fresh.status({ reference: paid.reference, providerRef, msisdn: paid.msisdn }),
      ).toMatchObject({ kind: 'succeeded', providerRef });
      expect(
        await fresh.status({ reference: uniqueReference('NONE'), msisdn: paid.msisdn }),
      ).toMatchObject({ kind: 'unknown' });

      const otp = charge('55', 250n);
      const started = await h.adapter.charge(otp);
      expect(started).toMatchObject({ kind: 'pending', action: { kind: 'OTP', attemptsLeft: 3 } });
      const consentRef = started.kind === 'pending' ? started.providerRef : undefined;
      expect(
        await fresh.confirmConsent!({
          reference: otp.reference,
          providerRef: consentRef,
          otp: '111111',
          msisdn: otp.msisdn,
        }),
      ).toMatchObject({
        kind: 'pending',
        action: { kind: 'OTP', attemptsLeft: 2 },
      });
      const done = await fresh.confirmConsent!({
        reference: otp.reference,
        providerRef: consentRef,
        otp: '123456',
        msisdn: otp.msisdn,
      });
      expect(done).toMatchObject({ kind: 'succeeded', amount: 250n });
      expect(h.sim.control.chargeCount(otp.reference)).toBe(1);
      // Confirming again is harmless: same clientCorrelator, still one charge.
      expect(
        await h.adapter.confirmConsent!({
          reference: otp.reference,
          providerRef: consentRef,
          otp: '123456',
          msisdn: otp.msisdn,
        }),
      ).toMatchObject({
        kind: 'succeeded',
      });
      expect(h.sim.control.chargeCount(otp.reference)).toBe(1);
    } finally {
      await fresh.close();
    }
  });

  it('91: pending without callback, resolved by status; a retry replays, never charges twice', async () => {
    const req = charge('91');
    const first = await h.adapter.charge(req);
    expect(first).toMatchObject({ kind: 'pending' });
    expect(await resolveByStatus(h.adapter, req.reference)).toMatchObject({ kind: 'succeeded' });
    // A second charge() with the same reference is a replay, not a second charge.
    expect(await h.adapter.charge(req)).toMatchObject({ kind: 'succeeded' });
    expect(h.sim.control.chargeCount(req.reference)).toBe(1);
  });

  it('never logs credentials, OTPs or callback tokens', async () => {
    const text = JSON.stringify(h.interactions, (_k, v: unknown) =>
      typeof v === 'bigint' ? v.toString() : v,
    );
    for (const secret of Object.values(h.sim.credentials)) expect(text).not.toContain(secret);
    expect(text).not.toContain('123456');
    expect(text).not.toContain('conformance-callback-token-key');
    expect(text).toContain('[token]');
    for (const n of ['00', '55', '61', '77', '91']) expect(text).not.toContain(`120255501${n}`);
    expect(text).toContain('tel:+12*****0177');
    expect(h.interactions.some((i) => i.direction === 'INBOUND')).toBe(true);
  });
});

describe('oneapi adapter, JSON profile', () => {
  let h: Awaited<ReturnType<typeof startHarness>>;
  beforeAll(async () => {
    h = await startHarness({
      ...spec,
      adapterConfig: (sim) => ({ ...spec.adapterConfig(sim), settings: { encoding: 'json' } }),
    });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('charges, refunds in part and reserves/captures with JSON bodies', async () => {
    const reference = uniqueReference('JS');
    const msisdn = '+12025550100';
    const c = await h.adapter.charge({
      reference,
      amount: 1000n,
      currency: 'USD',
      description: 'json',
      msisdn,
    });
    expect(c).toMatchObject({ kind: 'succeeded', amount: 1000n, currency: 'USD' });
    const r = await h.adapter.refund!({
      reference: uniqueReference('RF'),
      chargeReference: reference,
      msisdn,
      amount: 400n,
      currency: 'USD',
      full: false,
    });
    expect(r).toMatchObject({ kind: 'succeeded', amount: 400n });
    expect(h.sim.control.netCharged(reference)).toBe(600n);

    const rsv = uniqueReference('RS');
    const reserved = await h.adapter.reserve!({
      reference: rsv,
      amount: 700n,
      currency: 'USD',
      description: 'json',
      msisdn,
    });
    expect(reserved).toMatchObject({ kind: 'succeeded', amount: 700n });
    const captured = await h.adapter.capture!({
      reference: rsv,
      msisdn,
      amount: 650n,
      currency: 'USD',
    });
    expect(captured).toMatchObject({ kind: 'succeeded', amount: 650n });
    expect(await h.adapter.release!({ reference: rsv, msisdn })).toMatchObject({
      kind: 'declined',
    });
    expect(h.sim.control.netCharged(rsv)).toBe(650n);
  });
});
