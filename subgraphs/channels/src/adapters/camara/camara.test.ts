import { exportJWK, generateKeyPair } from 'jose';
import { runConformance, startHarness, uniqueReference } from '../conformance';
import type { ChargeRequest, Outcome } from '../types';
import { spec } from './conformance';
import {
  classifyError,
  declineCodeOfReason,
  fromWireAmount,
  outcomeOf,
  PAYMENT_STATUSES,
  redact,
  stringifyWire,
  toWireAmount,
  type Intent,
} from './transformers';

runConformance(spec);

describe('camara transformers: amounts', () => {
  it('writes exactly the currency exponent digits as a JSON number', () => {
    expect(stringifyWire({ amount: toWireAmount(199n, 'EUR') })).toBe('{"amount":1.99}');
    expect(stringifyWire({ amount: toWireAmount(190n, 'EUR') })).toBe('{"amount":1.90}');
    expect(stringifyWire({ amount: toWireAmount(5n, 'EUR') })).toBe('{"amount":0.05}');
    expect(stringifyWire({ amount: toWireAmount(1500n, 'KWD') })).toBe('{"amount":1.500}');
    expect(stringifyWire({ amount: toWireAmount(1n, 'BHD') })).toBe('{"amount":0.001}');
    expect(stringifyWire({ amount: toWireAmount(500n, 'JPY') })).toBe('{"amount":500}');
    expect(JSON.parse(stringifyWire({ a: [toWireAmount(12345n, 'EUR')], s: 'text' }))).toEqual({
      a: [123.45],
      s: 'text',
    });
  });

  it('reads JSON numbers back to minor units, 2 and 3 decimals', () => {
    expect(fromWireAmount(1.99, 'EUR')).toBe(199n);
    expect(fromWireAmount(10, 'EUR')).toBe(1000n);
    expect(fromWireAmount(0.07, 'EUR')).toBe(7n);
    expect(fromWireAmount(1.5, 'KWD')).toBe(1500n);
    expect(fromWireAmount(0.001, 'BHD')).toBe(1n);
    expect(fromWireAmount(500, 'JPY')).toBe(500n);
    for (const minor of [1n, 99n, 100n, 101n, 1999n, 123456789n]) {
      expect(
        fromWireAmount(JSON.parse(stringifyWire(toWireAmount(minor, 'EUR'))) as number, 'EUR'),
      ).toBe(minor);
      expect(
        fromWireAmount(JSON.parse(stringifyWire(toWireAmount(minor, 'KWD'))) as number, 'KWD'),
      ).toBe(minor);
    }
  });

  it('rejects inexact or invalid amounts and non-ISO currencies', () => {
    expect(() => fromWireAmount(1.999, 'EUR')).toThrow(RangeError);
    expect(() => fromWireAmount(0.0005, 'KWD')).toThrow(RangeError);
    expect(() => fromWireAmount(1.5, 'JPY')).toThrow(RangeError);
    expect(() => fromWireAmount('1.99', 'EUR')).toThrow(RangeError);
    expect(() => fromWireAmount(Number.NaN, 'EUR')).toThrow(RangeError);
    expect(() => toWireAmount(0n, 'EUR')).toThrow(RangeError);
    expect(() => toWireAmount(100n, 'GOLDCOINS')).toThrow(RangeError);
    expect(() => toWireAmount(100n, 'XXX')).toThrow(RangeError);
  });
});

describe('camara transformers: status map and errors', () => {
  const ctx = (intent: Intent) => ({
    intent,
    completion: 'callback' as const,
    providerRef: 'p1',
    amount: 199n,
    currency: 'EUR',
  });

  it('maps every payment status for a charge', () => {
    const kinds = Object.fromEntries(
      PAYMENT_STATUSES.map((s) => [s, outcomeOf(s, ctx('CHARGE')).kind]),
    );
    expect(kinds).toEqual({
      processing: 'pending',
      pending_validation: 'pending',
      reserved: 'pending',
      succeeded: 'succeeded',
      denied: 'declined',
      cancelled: 'declined',
    });
    expect(outcomeOf('succeeded', ctx('CHARGE'))).toEqual({
      kind: 'succeeded',
      providerRef: 'p1',
      amount: 199n,
      currency: 'EUR',
    });
    expect(outcomeOf('processing', ctx('CHARGE'))).toEqual({
      kind: 'pending',
      completion: 'callback',
      providerRef: 'p1',
    });
    expect(outcomeOf('cancelled', ctx('CHARGE'))).toMatchObject({
      kind: 'declined',
      code: 'CONSENT_EXPIRED',
    });
    expect(
      outcomeOf('denied', { ...ctx('CHARGE'), denialReason: 'insufficient balance' }),
    ).toMatchObject({ kind: 'declined', code: 'INSUFFICIENT_FUNDS' });
  });

  it('asks for the OTP or the validation page while pending validation', () => {
    expect(
      outcomeOf('pending_validation', {
        ...ctx('CHARGE'),
        validationInfo: { action: 'validate', authorizationId: 'a' },
        attemptsLeft: 2,
      }),
    ).toEqual({
      kind: 'pending',
      completion: 'poll',
      providerRef: 'p1',
      action: { kind: 'OTP', attemptsLeft: 2 },
    });
    expect(
      outcomeOf('pending_validation', {
        ...ctx('RESERVE'),
        validationInfo: { action: 'open', validationURL: 'https://op.example/v' },
      }),
    ).toMatchObject({
      kind: 'pending',
      action: { kind: 'REDIRECT', url: 'https://op.example/v' },
    });
  });

  it('reads statuses by intent: reserve, release, refund', () => {
    expect(outcomeOf('reserved', ctx('RESERVE')).kind).toBe('succeeded');
    expect(outcomeOf('cancelled', ctx('RELEASE')).kind).toBe('succeeded');
    expect(outcomeOf('denied', ctx('RELEASE')).kind).toBe('succeeded');
    expect(outcomeOf('succeeded', ctx('RELEASE'))).toMatchObject({
      kind: 'declined',
      code: 'DENIED',
    });
    expect(outcomeOf('succeeded', ctx('REFUND')).kind).toBe('succeeded');
    expect(outcomeOf('denied', ctx('REFUND'))).toMatchObject({ kind: 'declined', code: 'DENIED' });
    expect(outcomeOf('reserved', ctx('REFUND')).kind).toBe('unknown');
  });

  it('classifies CAMARA errors', () => {
    const e = (status: number, code: string, message = '') =>
      classifyError(status, { status, code, message });
    expect(
      e(
        403,
        'CARRIER_BILLING.PAYMENT_DENIED',
        'Payment denied: insufficient credit on the prepaid balance',
      ),
    ).toEqual({ kind: 'declined', code: 'INSUFFICIENT_FUNDS' });
    expect(
      e(
        403,
        'CARRIER_BILLING.PAYMENT_DENIED',
        'Payment denied: carrier billing is barred for this subscriber',
      ),
    ).toEqual({ kind: 'declined', code: 'DENIED' });
    expect(e(422, 'CARRIER_BILLING.USER_AMOUNT_THRESHOLD_OVERPASSED')).toEqual({
      kind: 'declined',
      code: 'LIMIT_EXCEEDED',
    });
    expect(e(404, 'IDENTIFIER_NOT_FOUND')).toEqual({ kind: 'declined', code: 'DENIED' });
    expect(e(429, 'TOO_MANY_REQUESTS')).toEqual({ kind: 'declined', code: 'CHANNEL_UNAVAILABLE' });
    expect(e(503, 'UNAVAILABLE')).toEqual({ kind: 'declined', code: 'CHANNEL_UNAVAILABLE' });
    expect(e(500, 'INTERNAL')).toEqual({ kind: 'unknown' });
    expect(classifyError(502, undefined)).toEqual({ kind: 'unknown' });
    expect(e(400, 'INVALID_ARGUMENT', 'clientCorrelator already exist on server')).toEqual({
      kind: 'duplicate',
    });
    expect(e(400, 'CARRIER_BILLING.INVALID_CODE')).toEqual({ kind: 'invalid-code' });
    expect(e(400, 'CARRIER_BILLING.VALIDATION_FAILED')).toEqual({ kind: 'validation-failed' });
    expect(e(401, 'UNAUTHENTICATED')).toEqual({ kind: 'reauth' });
    expect(e(422, 'CARRIER_BILLING_REFUND.UNAUTHORIZED_AMOUNT')).toEqual({
      kind: 'declined',
      code: 'DENIED',
    });
    expect(declineCodeOfReason(undefined)).toBe('DENIED');
  });

  it('redacts credentials and masks MSISDNs for the interaction log', () => {
    const out = JSON.stringify(
      redact({
        amountTransaction: { phoneNumber: '+33612345600' },
        sinkCredential: { accessToken: 'secret-token' },
        message: 'denied for +33612345600',
        n: 5n,
      }),
    );
    expect(out).not.toContain('33612345600');
    expect(out).not.toContain('secret-token');
    expect(out).toContain('5600');
  });
});

describe('camara adapter: flows beyond the shared suite', () => {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const charge = (n: string, amount = 199n, currency = 'EUR'): ChargeRequest => ({
    reference: uniqueReference('CM'),
    amount,
    currency,
    description: 'Camara test',
    msisdn: `+336123456${n}`,
  });

  describe('with an https sink (callbacks)', () => {
    let h: Awaited<ReturnType<typeof startHarness>>;
    beforeAll(async () => {
      h = await startHarness(spec);
    });
    afterAll(async () => {
      await h?.stop();
    });
    beforeEach(() => h.sim.control.reset());

    it('a sequential retry of the same reference is answered from the provider, not charged again', async () => {
      const req = charge('00');
      const first = await h.adapter.charge(req);
      expect(first.kind).toBe('succeeded');
      const again = await h.adapter.charge(req);
      expect(again).toMatchObject({
        kind: 'succeeded',
        providerRef: (first as { providerRef: string }).providerRef,
        amount: 199n,
      });
      expect(h.sim.control.chargeCount(req.reference)).toBe(1);
    });

    it('caches the access token and renews it when the operator forgets it', async () => {
      const before = h.interactions.filter((i) => i.operation === 'token').length;
      for (let i = 0; i < 3; i += 1)
        expect((await h.adapter.charge(charge('00'))).kind).toBe('succeeded');
      const after = h.interactions.filter((i) => i.operation === 'token').length;
      // reset() in beforeEach dropped the simulator's tokens: exactly one renewal (after a 401).
      expect(after - before).toBe(1);
      expect(h.interactions.some((i) => i.status === 401)).toBe(true);
    });

    it('a replayed callback is accepted with the same event id', async () => {
      const req = charge('77');
      await h.adapter.charge(req);
      const first = await h.waitFor(req.reference, (e) => e.outcome.kind === 'succeeded');
      expect(first.amount).toBe(199n);
      const status = await h.sim.control.replayCallback!(req.reference);
      expect(status).toBe(204);
      await sleep(100);
      const finals = h.events.filter((e) => e.reference === req.reference);
      expect(finals.length).toBe(2);
      expect(new Set(finals.map((e) => e.eventId)).size).toBe(1);
    });

    it('reserves with OTP consent, then captures', async () => {
      const req = charge('55', 500n);
      const r = await h.adapter.reserve!(req);
      expect(r).toMatchObject({ kind: 'pending', action: { kind: 'OTP' } });
      const providerRef = (r as { providerRef: string }).providerRef;
      const wrong = await h.adapter.confirmConsent!({
        reference: req.reference,
        providerRef,
        otp: '999999',
      });
      expect(wrong).toMatchObject({ kind: 'pending', action: { kind: 'OTP', attemptsLeft: 2 } });
      const ok = await h.adapter.confirmConsent!({
        reference: req.reference,
        providerRef,
        otp: '123456',
      });
      expect(ok).toMatchObject({ kind: 'succeeded', providerRef });
      expect(h.sim.control.chargeCount(req.reference)).toBe(0);
      const partial = await h.adapter.capture!({
        reference: req.reference,
        providerRef,
        amount: 400n,
        currency: 'EUR',
      });
      expect(partial.kind).toBe('declined');
      const cap = await h.adapter.capture!({
        reference: req.reference,
        providerRef,
        amount: 500n,
        currency: 'EUR',
      });
      expect(cap).toMatchObject({ kind: 'succeeded', amount: 500n });
      expect(h.sim.control.chargeCount(req.reference)).toBe(1);
      const rel = await h.adapter.release!({ reference: req.reference, providerRef });
      expect(rel).toMatchObject({ kind: 'declined', code: 'DENIED' });
    });

    it('an async refund completes by callback; refund status reads it', async () => {
      const req = charge('77', 1000n);
      await h.adapter.charge(req);
      const paid = await h.waitFor(req.reference, (e) => e.outcome.kind === 'succeeded');
      const ref = uniqueReference('RF');
      const rf = await h.adapter.refund!({
        reference: ref,
        chargeReference: req.reference,
        chargeProviderRef: paid.providerRef,
        amount: 250n,
        currency: 'EUR',
        full: false,
      });
      expect(rf).toMatchObject({ kind: 'pending', completion: 'callback' });
      const done = await h.waitFor(ref, (e) => e.outcome.kind === 'succeeded');
      expect(done).toMatchObject({ procedure: 'REFUND', amount: 250n });
      expect(await h.adapter.status({ reference: ref, procedure: 'REFUND' })).toMatchObject({
        kind: 'succeeded',
        amount: 250n,
      });
      expect(h.sim.control.netCharged(req.reference)).toBe(750n);
    });

    it('a total refund that disagrees with the remaining amount is refused before sending', async () => {
      const req = charge('00', 1000n);
      const c = await h.adapter.charge(req);
      const out = await h.adapter.refund!({
        reference: uniqueReference('RF'),
        chargeReference: req.reference,
        amount: 900n,
        currency: 'EUR',
        full: true,
      });
      expect(out).toMatchObject({ kind: 'declined', providerCode: 'AMOUNT_CONFLICT' });
      expect(c.kind).toBe('succeeded');
      expect(h.sim.control.netCharged(req.reference)).toBe(1000n);
    });

    it('charges a 3-decimal currency exactly', async () => {
      const req = charge('00', 1250n, 'KWD');
      const out = await h.adapter.charge(req);
      expect(out).toMatchObject({ kind: 'succeeded', amount: 1250n, currency: 'KWD' });
      const sent = h.interactions.find(
        (i) => i.reference === req.reference && i.operation === 'createPayment',
      );
      expect(JSON.stringify(sent?.request)).toContain('"amount":1.25');
    });

    it('status of a lost charge works without memory of it (list by clientCorrelator)', async () => {
      h.sim.control.setFaults({ dropAfterCommit: 1 });
      const req = charge('00');
      expect((await h.adapter.charge(req)).kind).toBe('unknown');
      const fresh = await spec.factory.create(spec.adapterConfig(h.sim), {
        record: () => undefined,
        emit: () => undefined,
      });
      try {
        expect(await fresh.status({ reference: req.reference, procedure: 'CHARGE' })).toMatchObject(
          { kind: 'succeeded', amount: 199n },
        );
        expect(
          await fresh.status({ reference: uniqueReference('NONE'), procedure: 'CHARGE' }),
        ).toMatchObject({ kind: 'unknown' });
      } finally {
        await fresh.close();
      }
    });

    it('refuses a client whose key the operator does not know', async () => {
      const { privateKey } = await generateKeyPair('ES256', { extractable: true });
      const config = spec.adapterConfig(h.sim);
      const stranger = await spec.factory.create(
        {
          ...config,
          credentials: {
            ...config.credentials,
            privateKeyJwk: JSON.stringify({ ...(await exportJWK(privateKey)), alg: 'ES256' }),
          },
        },
        { record: () => undefined, emit: () => undefined },
      );
      try {
        const out: Outcome = await stranger.charge(charge('00'));
        expect(out).toMatchObject({ kind: 'declined', code: 'CHANNEL_UNAVAILABLE' });
      } finally {
        await stranger.close();
      }
    });
  });

  describe('without an https sink (polling)', () => {
    let h: Awaited<ReturnType<typeof startHarness>>;
    beforeAll(async () => {
      h = await startHarness({ ...spec, sinkTls: false });
    });
    afterAll(async () => {
      await h?.stop();
    });

    it('polls an async success and emits it once', async () => {
      const req = charge('77');
      expect(await h.adapter.charge(req)).toMatchObject({ kind: 'pending', completion: 'poll' });
      const e = await h.waitFor(req.reference, (ev) => ev.outcome.kind === 'succeeded');
      expect(e.eventId).toContain(':succeeded');
      expect(h.sim.control.chargeCount(req.reference)).toBe(1);
    });

    it('polls an async denial', async () => {
      const req = charge('78');
      await h.adapter.charge(req);
      const e = await h.waitFor(req.reference, (ev) => ev.outcome.kind !== 'pending');
      expect(e.outcome).toMatchObject({ kind: 'declined', code: 'DENIED' });
    });
  });
});
