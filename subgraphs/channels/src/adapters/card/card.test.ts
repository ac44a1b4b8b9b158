import fc from 'fast-check';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import { request } from 'undici';
import { runConformance, startHarness, uniqueReference } from '../conformance';
import type { AdapterConfig, AsyncOutcome, ChannelAdapter, Interaction } from '../types';
import { CallbackRejected } from '../types';
import { factory } from './adapter';
import { spec } from './conformance';
import type { CardSimulator } from './simulator';
import type { PaymentIntent } from './transformers';
import {
  INTENT_STATUSES,
  computeSignature,
  declineCode,
  decodeForm,
  encodeForm,
  errorOutcome,
  fromWireAmount,
  idempotencyKey,
  intentOutcome,
  parseSignatureHeader,
  signatureHeader,
  toWireAmount,
  verifySignature,
} from './transformers';

runConformance(spec);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nowSec = () => Math.floor(Date.now() / 1000);

function intent(partial: Partial<PaymentIntent>): PaymentIntent {
  return {
    id: 'pi_1',
    object: 'payment_intent',
    amount: 199,
    amount_capturable: 0,
    amount_received: 0,
    currency: 'eur',
    status: 'requires_payment_method',
    capture_method: 'automatic',
    metadata: { reference: 'R1' },
    created: 1,
    ...partial,
  };
}

describe('card transformers', () => {
  it('encodes forms with bracket notation, indexed arrays, and leaves out undefined', () => {
    const body = encodeForm({
      amount: 199,
      currency: 'eur',
      confirm: true,
      payment_method_types: ['card'],
      payment_method_data: { type: 'card', card: { token: 'tok_ok' } },
      metadata: { reference: 'A&B =ü' },
      description: undefined,
      return_url: null,
    });
    expect(body).toBe(
      'amount=199&currency=eur&confirm=true&payment_method_types[0]=card&payment_method_data[type]=card' +
        '&payment_method_data[card][token]=tok_ok&metadata[reference]=A%26B%20%3D%C3%BC',
    );
    expect(decodeForm(body)).toEqual({
      amount: '199',
      currency: 'eur',
      confirm: 'true',
      payment_method_types: ['card'],
      payment_method_data: { type: 'card', card: { token: 'tok_ok' } },
      metadata: { reference: 'A&B =ü' },
    });
  });

  it('decodes what it encodes (property)', () => {
    const key = fc
      .oneof(
        fc.constantFrom('__proto__', 'toString', 'constructor'),
        fc.string({ minLength: 1, maxLength: 8 }),
      )
      .filter((k) => !/[[\]]/.test(k) && !/^\d+$/.test(k));
    const leaf = fc.string({ maxLength: 12 });
    const tree = fc.dictionary(
      key,
      fc.oneof(leaf, fc.dictionary(key, leaf, { minKeys: 1, maxKeys: 3 })),
      { maxKeys: 5 },
    );
    fc.assert(fc.property(tree, (obj) => expect(decodeForm(encodeForm(obj))).toEqual(obj)));
  });

  it('rejects conflicting form shapes and keeps prototype keys as data', () => {
    expect(() => decodeForm('a=1&a[b]=2')).toThrow();
    expect(() => decodeForm('a=1&a=2')).toThrow();
    const polluted = decodeForm('__proto__[admin]=1&metadata[__proto__][x]=2&toString=3');
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
    expect(Object.keys(polluted)).toEqual(['__proto__', 'metadata', 'toString']);
  });

  it('maps every PaymentIntent status, for every view', () => {
    for (const status of INTENT_STATUSES) {
      for (const view of ['CHARGE', 'RESERVE', 'CAPTURE', 'RELEASE'] as const) {
        expect(['succeeded', 'pending', 'declined']).toContain(
          intentOutcome(intent({ status }), view).kind,
        );
      }
    }
    const url = 'http://127.0.0.1/3ds/pi_1';
    expect(
      intentOutcome(
        intent({
          status: 'requires_action',
          next_action: { type: 'redirect_to_url', redirect_to_url: { url } },
        }),
        'CHARGE',
      ),
    ).toEqual({
      kind: 'pending',
      completion: 'callback',
      providerRef: 'pi_1',
      action: { kind: 'REDIRECT', url },
    });
    expect(intentOutcome(intent({ status: 'succeeded', amount_received: 199 }), 'CHARGE')).toEqual({
      kind: 'succeeded',
      providerRef: 'pi_1',
      amount: 199n,
      currency: 'EUR',
    });
    expect(
      intentOutcome(intent({ status: 'requires_capture', amount_capturable: 199 }), 'RESERVE'),
    ).toMatchObject({ kind: 'succeeded', amount: 199n });
    expect(intentOutcome(intent({ status: 'requires_capture' }), 'CAPTURE')).toMatchObject({
      kind: 'pending',
    });
    expect(intentOutcome(intent({ status: 'canceled' }), 'RELEASE')).toMatchObject({
      kind: 'succeeded',
    });
    expect(
      intentOutcome(intent({ status: 'canceled', cancellation_reason: 'abandoned' }), 'CHARGE'),
    ).toMatchObject({ kind: 'declined', code: 'CANCELED_BY_USER' });
    expect(intentOutcome(intent({ status: 'processing' }), 'CHARGE')).toMatchObject({
      kind: 'pending',
      completion: 'callback',
    });
    expect(
      intentOutcome(
        intent({
          status: 'requires_payment_method',
          last_payment_error: {
            type: 'card_error',
            code: 'card_declined',
            decline_code: 'insufficient_funds',
          },
        }),
        'CHARGE',
      ),
    ).toMatchObject({
      kind: 'declined',
      code: 'INSUFFICIENT_FUNDS',
      providerCode: 'insufficient_funds',
    });
    expect(() => intentOutcome(intent({ status: 'bogus' as never }), 'CHARGE')).toThrow(
      'unexpected value',
    );
  });

  it('maps declines and HTTP errors', () => {
    expect(declineCode({ code: 'card_declined', decline_code: 'generic_decline' })).toBe('DENIED');
    expect(declineCode({ code: 'card_declined' })).toBe('DENIED');
    expect(declineCode({ code: 'card_declined', decline_code: 'insufficient_funds' })).toBe(
      'INSUFFICIENT_FUNDS',
    );
    const card = (decline_code: string) => ({
      error: { type: 'card_error', code: 'card_declined', decline_code },
    });
    expect(errorOutcome(402, card('insufficient_funds'), true)).toMatchObject({
      kind: 'declined',
      code: 'INSUFFICIENT_FUNDS',
    });
    expect(errorOutcome(402, card('generic_decline'), true)).toMatchObject({
      kind: 'declined',
      code: 'DENIED',
    });
    expect(errorOutcome(429, { error: { type: 'rate_limit_error' } }, true)).toMatchObject({
      kind: 'declined',
      code: 'CHANNEL_UNAVAILABLE',
    });
    expect(errorOutcome(503, 'x', true)).toMatchObject({
      kind: 'declined',
      code: 'CHANNEL_UNAVAILABLE',
    });
    expect(errorOutcome(409, { error: { type: 'idempotency_error' } }, true)).toBe('in-progress');
    expect(errorOutcome(400, { error: { type: 'idempotency_error' } }, true)).toMatchObject({
      kind: 'unknown',
    });
    expect(errorOutcome(500, { error: { type: 'api_error' } }, true)).toMatchObject({
      kind: 'unknown',
    });
    expect(errorOutcome(502, '<html>', true)).toMatchObject({ kind: 'unknown' });
    expect(
      errorOutcome(
        400,
        { error: { type: 'invalid_request_error', code: 'amount_too_large' } },
        true,
      ),
    ).toMatchObject({ kind: 'declined', code: 'DENIED', providerCode: 'amount_too_large' });
  });

  it('builds idempotency keys within the 255-character limit', () => {
    expect(idempotencyKey('CS123', 'charge')).toBe('CS123:charge');
    const long = idempotencyKey('R'.repeat(300), 'charge');
    expect(long).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(long).toBe(idempotencyKey('R'.repeat(300), 'charge'));
    expect(long).not.toBe(idempotencyKey('R'.repeat(300), 'refund'));
  });

  it('validates amounts both ways', () => {
    expect(toWireAmount(199n, 'EUR')).toBe(199);
    expect(toWireAmount(5n, 'ISK')).toBe(500);
    expect(fromWireAmount(500, 'ISK')).toBe(5n);
    expect(() => toWireAmount(0n, 'EUR')).toThrow();
    expect(() => toWireAmount(-1n, 'EUR')).toThrow();
    expect(() => toWireAmount(100_000_000n, 'EUR')).toThrow();
    expect(() => toWireAmount(1005n, 'KWD')).toThrow();
    expect(() => fromWireAmount(1.5, 'EUR')).toThrow();
    expect(() => fromWireAmount('199', 'EUR')).toThrow();
    expect(() => fromWireAmount(-1, 'EUR')).toThrow();
    expect(() => fromWireAmount(150, 'ISK')).toThrow();
  });

  describe('webhook signatures', () => {
    const secret = 'whsec_test_secret_0123456789';
    const body = Buffer.from('{"id":"evt_1","object":"event"}');

    it('agrees with the PSP SDK both ways', () => {
      const stripe = new Stripe('sk_test_x');
      const t = nowSec();
      const sdkHeader = stripe.webhooks.generateTestHeaderString({
        payload: body.toString(),
        secret,
        timestamp: t,
      });
      expect(sdkHeader).toBe(`t=${t},v1=${computeSignature(secret, t, body)}`);
      expect(verifySignature(sdkHeader, body, [secret], 300, nowSec())).toEqual({
        ok: true,
        timestamp: t,
      });
      expect(() =>
        stripe.webhooks.constructEvent(body, signatureHeader([secret], t, body), secret),
      ).not.toThrow();
    });

    it('rejects tampering, wrong secrets, stale and future timestamps; accepts any matching v1', () => {
      const t = nowSec();
      const header = signatureHeader([secret], t, body);
      expect(
        verifySignature(header, Buffer.from(body.toString().replace('1', '2')), [secret], 300, t)
          .ok,
      ).toBe(false);
      expect(verifySignature(header, body, ['whsec_other'], 300, t).ok).toBe(false);
      expect(
        verifySignature(signatureHeader([secret], t - 301, body), body, [secret], 300, t),
      ).toEqual({ ok: false, reason: 'timestamp outside tolerance' });
      expect(
        verifySignature(signatureHeader([secret], t + 301, body), body, [secret], 300, t).ok,
      ).toBe(false);
      expect(
        verifySignature(signatureHeader([secret], t - 301, body), body, [secret], 600, t).ok,
      ).toBe(true);
      expect(
        verifySignature(signatureHeader(['whsec_new', secret], t, body), body, [secret], 300, t).ok,
      ).toBe(true);
      expect(
        verifySignature(signatureHeader([secret], t, body), body, ['whsec_new', secret], 300, t).ok,
      ).toBe(true);
      expect(verifySignature(undefined, body, [secret], 300, t).ok).toBe(false);
      expect(
        verifySignature(`t=${t},v0=${computeSignature(secret, t, body)}`, body, [secret], 300, t)
          .ok,
      ).toBe(false);
      expect(parseSignatureHeader(`t=${t},v1=zz`)).toBeUndefined();
      expect(parseSignatureHeader(`t=x,v1=${'a'.repeat(64)}`)).toBeUndefined();
    });
  });
});

describe('card adapter against its simulator', () => {
  let h: Awaited<ReturnType<typeof startHarness>>;
  let sim: CardSimulator;
  let callbackUrl: string;
  const config = (): AdapterConfig => spec.adapterConfig(h.sim);
  const charge = (token: string, amount = 199n, reference = uniqueReference()) => ({
    reference,
    amount,
    currency: 'EUR',
    description: 'card test',
    cardToken: token,
  });
  const eventsOf = (reference: string): AsyncOutcome[] =>
    h.events.filter((e) => e.reference === reference);

  beforeAll(async () => {
    h = await startHarness({
      ...spec,
      // Capture the sink URL the harness hands the simulator.
      startSimulator: async (options) => {
        callbackUrl = options.callbackUrl;
        return spec.startSimulator(options);
      },
    });
    sim = h.sim as CardSimulator;
  });
  afterAll(async () => {
    await h?.stop();
  });
  afterEach(() => {
    h.sim.control.setFaults({
      latencyMs: 0,
      duplicateCallbacks: false,
      reorderCallbacks: false,
      callbackDelayMs: 0,
    });
  });

  /** A 3-D Secure charge completed by the player; resolves once the success webhook arrived. */
  async function threeDsCharge(): Promise<{ reference: string; event: AsyncOutcome }> {
    const req = charge('tok_3ds');
    const first = await h.adapter.charge(req);
    expect(first).toMatchObject({
      kind: 'pending',
      completion: 'callback',
      action: { kind: 'REDIRECT' },
    });
    await h.sim.control.completeRedirect!(req.reference);
    const event = await h.waitFor(req.reference, (e) => e.outcome.kind === 'succeeded');
    return { reference: req.reference, event };
  }

  it('3-D Secure: redirect URL is the simulator page; the webhook carries the outcome and amount', async () => {
    const req = charge('tok_3ds', 1234n);
    const first = await h.adapter.charge(req);
    if (first.kind !== 'pending' || first.action?.kind !== 'REDIRECT')
      throw new Error('expected a redirect');
    expect(first.action.url.startsWith(`${h.sim.url}/3ds/`)).toBe(true);
    const page = await request(first.action.url);
    expect(await page.body.text()).toContain('<form method="post"');
    await h.sim.control.completeRedirect!(req.reference);
    const e = await h.waitFor(req.reference, (ev) => ev.outcome.kind === 'succeeded');
    expect(e).toMatchObject({
      procedure: 'CHARGE',
      providerRef: first.providerRef,
      amount: 1234n,
      currency: 'EUR',
    });
    expect(e.eventId).toMatch(/^evt_/);
    expect(
      await h.adapter.status({ reference: req.reference, providerRef: first.providerRef }),
    ).toMatchObject({ kind: 'succeeded', amount: 1234n });
  });

  it('3-D Secure failed by the player: a payment_failed webhook declines', async () => {
    const req = charge('tok_3ds');
    const first = await h.adapter.charge(req);
    if (first.kind !== 'pending' || first.action?.kind !== 'REDIRECT')
      throw new Error('expected a redirect');
    const res = await request(first.action.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'result=fail',
    });
    await res.body.dump();
    const e = await h.waitFor(req.reference, (ev) => ev.outcome.kind === 'declined');
    expect(e.outcome).toMatchObject({
      kind: 'declined',
      code: 'DENIED',
      providerCode: 'payment_intent_authentication_failure',
    });
    expect(h.sim.control.chargeCount(req.reference)).toBe(0);
  });

  it('rejects a forged webhook and changes nothing', async () => {
    const { reference } = await threeDsCharge();
    await sleep(50);
    const before = h.events.length;
    const rejected = h.rejectedCallbacks;
    expect(await h.sim.control.sendForgedCallback!(reference)).toBe(401);
    expect(h.rejectedCallbacks).toBe(rejected + 1);
    expect(h.events.length).toBe(before);
  });

  it('rejects a genuine event with a stale (or future) timestamp', async () => {
    const { reference } = await threeDsCharge();
    await sleep(50);
    const before = h.events.length;
    const rejected = h.rejectedCallbacks;
    expect(await sim.card.resendLastEvent(reference, { timestampSec: nowSec() - 301 })).toBe(401);
    expect(await sim.card.resendLastEvent(reference, { timestampSec: nowSec() + 301 })).toBe(401);
    expect(h.rejectedCallbacks).toBe(rejected + 2);
    expect(h.events.length).toBe(before);
    // Within the tolerance it is accepted.
    expect(await sim.card.resendLastEvent(reference, { timestampSec: nowSec() - 200 })).toBe(200);
  });

  it('honours a configured tolerance', async () => {
    const { reference } = await threeDsCharge();
    const strict = await factory.create(
      { ...config(), settings: { webhookToleranceSec: 10 } },
      { record: () => {}, emit: () => {} },
    );
    const body = Buffer.from(
      JSON.stringify({
        id: 'evt_x',
        object: 'event',
        type: 'payment_intent.succeeded',
        created: nowSec(),
        data: { object: sim.card.intents(reference)[0] },
      }),
    );
    const inbound = (t: number) => ({
      method: 'POST',
      path: '/callbacks/card',
      headers: { 'stripe-signature': signatureHeader([sim.credentials.webhookSecret!], t, body) },
      rawBody: body,
      query: {},
    });
    await expect(strict.handleCallback!(inbound(nowSec() - 60))).rejects.toBeInstanceOf(
      CallbackRejected,
    );
    await expect(strict.handleCallback!(inbound(nowSec() - 5))).resolves.toMatchObject({
      status: 200,
      events: [{ eventId: 'evt_x', reference }],
    });
    await strict.close();
  });

  it('duplicated and replayed webhooks carry the same event id; the charge is taken once', async () => {
    h.sim.control.setFaults({ duplicateCallbacks: true });
    const { reference, event } = await threeDsCharge();
    for (
      let i = 0;
      i < 40 && eventsOf(reference).filter((e) => e.outcome.kind === 'succeeded').length < 2;
      i += 1
    )
      await sleep(25);
    expect(await h.sim.control.replayCallback!(reference)).toBe(200);
    const finals = eventsOf(reference).filter((e) => e.outcome.kind === 'succeeded');
    expect(finals.length).toBe(3);
    expect(new Set(finals.map((e) => e.eventId))).toEqual(new Set([event.eventId]));
    expect(h.sim.control.chargeCount(reference)).toBe(1);
  });

  it('reordered webhooks: the final event arrives first, the earlier one later with its own id', async () => {
    h.sim.control.setFaults({ reorderCallbacks: true });
    const { reference } = await threeDsCharge();
    for (let i = 0; i < 40 && eventsOf(reference).length < 2; i += 1) await sleep(25);
    const mine = eventsOf(reference);
    expect(mine.map((e) => e.outcome.kind)).toEqual(['succeeded', 'pending']);
    expect(new Set(mine.map((e) => e.eventId)).size).toBe(2);
    expect(sim.card.sentEvents(reference).map((e) => e.type)).toEqual([
      'payment_intent.requires_action',
      'payment_intent.succeeded',
    ]);
  });

  it('late webhooks (callbackDelayMs) still arrive', async () => {
    h.sim.control.setFaults({ callbackDelayMs: 300 });
    const started = Date.now();
    const { event } = await threeDsCharge();
    expect(event.outcome.kind).toBe('succeeded');
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
  });

  it('a signed but unreadable webhook is refused (400) and yields no event', async () => {
    const body = Buffer.from('{"id":"evt_bad"');
    const inbound = {
      method: 'POST',
      path: '/callbacks/card',
      headers: {
        'stripe-signature': signatureHeader([h.sim.credentials.webhookSecret!], nowSec(), body),
      },
      rawBody: body,
      query: {},
    };
    await expect(h.adapter.handleCallback!(inbound)).rejects.toMatchObject({
      name: 'CallbackRejected',
      status: 400,
    });
  });

  it('concurrent requests with one key: 409 is asked again under the same key, one charge', async () => {
    h.sim.control.setFaults({ latencyMs: 60 });
    const req = charge('tok_ok');
    const conflictsBefore = sim.card.conflicts();
    const outcomes = await Promise.all([
      h.adapter.charge(req),
      h.adapter.charge(req),
      h.adapter.charge(req),
    ]);
    expect(outcomes.map((o) => o.kind)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(
      new Set(outcomes.map((o) => ('providerRef' in o ? o.providerRef : undefined))).size,
    ).toBe(1);
    expect(sim.card.conflicts()).toBeGreaterThan(conflictsBefore);
    expect(h.sim.control.chargeCount(req.reference)).toBe(1);
  });

  it('a charge still executing when the client gave up: status waits out the 409 and finds one charge', async () => {
    h.sim.control.setFaults({ latencyMs: 550 });
    const req = charge('tok_ok');
    expect((await h.adapter.charge(req)).kind).toBe('unknown');
    h.sim.control.setFaults({ latencyMs: 0 });
    // Not executed yet: the search finds nothing, the replay under the key meets the running request.
    expect(await h.adapter.status({ reference: req.reference })).toMatchObject({
      kind: 'succeeded',
      amount: 199n,
    });
    expect(h.sim.control.chargeCount(req.reference)).toBe(1);
    expect(sim.card.intents(req.reference)).toHaveLength(1);
  });

  it('the same reference with other parameters is a conflict, never a second charge', async () => {
    const req = charge('tok_ok', 500n);
    expect(await h.adapter.charge(req)).toMatchObject({ kind: 'succeeded', amount: 500n });
    const again = await h.adapter.charge({ ...req, amount: 600n });
    expect(again).toMatchObject({ kind: 'unknown' });
    expect(again.kind === 'unknown' && again.reason).toMatch(/idempotency conflict/);
    expect(h.sim.control.chargeCount(req.reference)).toBe(1);
    expect(h.sim.control.netCharged(req.reference)).toBe(500n);
  });

  it('a 503 is not stored: the retry under the same key charges once', async () => {
    h.sim.control.setFaults({ unavailable: 1 });
    const req = charge('tok_ok');
    expect(await h.adapter.charge(req)).toMatchObject({
      kind: 'declined',
      code: 'CHANNEL_UNAVAILABLE',
    });
    expect(await h.adapter.charge(req)).toMatchObject({ kind: 'succeeded' });
    expect(h.sim.control.chargeCount(req.reference)).toBe(1);
  });

  it('a decline is stored under the key: asking again replays it', async () => {
    const req = charge('tok_insufficient');
    expect(await h.adapter.charge(req)).toMatchObject({
      kind: 'declined',
      code: 'INSUFFICIENT_FUNDS',
    });
    expect(await h.adapter.charge(req)).toMatchObject({
      kind: 'declined',
      code: 'INSUFFICIENT_FUNDS',
    });
    expect(await h.adapter.status({ reference: req.reference })).toMatchObject({
      kind: 'declined',
      code: 'INSUFFICIENT_FUNDS',
    });
    expect(sim.card.intents(req.reference)).toHaveLength(1);
  });

  it('a lost answer on a reserve resolves by status; partial capture, then refund of the captured part', async () => {
    h.sim.control.setFaults({ dropAfterCommit: 1 });
    const req = charge('tok_ok', 500n);
    expect((await h.adapter.reserve!(req)).kind).toBe('unknown');
    const held = await h.adapter.status({ reference: req.reference, procedure: 'RESERVE' });
    expect(held).toMatchObject({ kind: 'succeeded', amount: 500n });
    expect(h.sim.control.chargeCount(req.reference)).toBe(0);
    const cap = await h.adapter.capture!({
      reference: req.reference,
      amount: 300n,
      currency: 'EUR',
    });
    expect(cap).toMatchObject({ kind: 'succeeded', amount: 300n });
    // Asking again with the same key replays the stored capture.
    expect(
      await h.adapter.capture!({ reference: req.reference, amount: 300n, currency: 'EUR' }),
    ).toMatchObject({ kind: 'succeeded', amount: 300n });
    expect(h.sim.control.netCharged(req.reference)).toBe(300n);
    expect(await h.adapter.release!({ reference: req.reference })).toMatchObject({
      kind: 'declined',
    });
    const rf = await h.adapter.refund!({
      reference: uniqueReference('RF'),
      chargeReference: req.reference,
      amount: 300n,
      currency: 'EUR',
      full: true,
    });
    expect(rf).toMatchObject({ kind: 'succeeded', amount: 300n });
    expect(h.sim.control.netCharged(req.reference)).toBe(0n);
    const rfStatus = await h.adapter.status({
      reference: 'nope',
      providerRef: rf.kind === 'succeeded' ? rf.providerRef : undefined,
      procedure: 'REFUND',
    });
    expect(rfStatus.kind).toBe('unknown');
  });

  it('a lost refund answer resolves by status (replay under the same key), refunded once', async () => {
    const req = charge('tok_ok', 1000n);
    const c = await h.adapter.charge(req);
    h.sim.control.setFaults({ hangAfterCommit: 1, hangMs: 2_000 });
    const ref = uniqueReference('RF');
    const base = {
      reference: ref,
      chargeReference: req.reference,
      chargeProviderRef: c.kind === 'succeeded' ? c.providerRef : undefined,
      amount: 400n,
      currency: 'EUR',
      full: false,
    };
    expect((await h.adapter.refund!(base)).kind).toBe('unknown');
    expect(await h.adapter.status({ reference: ref, procedure: 'REFUND' })).toMatchObject({
      kind: 'succeeded',
      amount: 400n,
    });
    expect(h.sim.control.netCharged(req.reference)).toBe(600n);
  });

  it('a provider that cannot be reached declines CHANNEL_UNAVAILABLE (nothing was sent)', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const a: ChannelAdapter = await factory.create(
      { ...config(), baseUrl: `http://127.0.0.1:${port}` },
      { record: () => {}, emit: () => {} },
    );
    expect(await a.charge(charge('tok_ok'))).toMatchObject({
      kind: 'declined',
      code: 'CHANNEL_UNAVAILABLE',
    });
    await a.close();
  });

  it('a status query without any trace of the reference is unknown, never a decline', async () => {
    expect(await h.adapter.status({ reference: uniqueReference('NONE') })).toMatchObject({
      kind: 'unknown',
    });
  });

  it('the interaction log has no keys, signatures, client secrets or whole card tokens', async () => {
    await h.adapter.charge(charge('tok_insufficient'));
    await h.adapter.charge(charge('tok_declined'));
    await threeDsCharge();
    const text = JSON.stringify(h.interactions, (_k, v: unknown) =>
      typeof v === 'bigint' ? v.toString() : v,
    );
    for (const s of [
      'tok_insufficient',
      'tok_declined',
      'tok_3ds',
      'tok_ok',
      '_secret_',
      'Bearer',
      'sk_test_',
      'whsec_',
      'v1=',
    ])
      expect(text).not.toContain(s);
    const inbound = h.interactions.filter((i: Interaction) => i.direction === 'INBOUND');
    expect(inbound.length).toBeGreaterThan(0);
  });

  it('speaks the wire format the PSP SDK speaks', async () => {
    const url = new URL(h.sim.url);
    const stripe = new Stripe(h.sim.credentials.secretKey!, {
      host: url.hostname,
      port: Number(url.port),
      protocol: 'http',
      maxNetworkRetries: 0,
    });
    const reference = uniqueReference('SDK');
    const params = {
      amount: 250,
      currency: 'eur',
      confirm: true,
      payment_method_types: ['card'],
      payment_method_data: {
        type: 'card',
        card: { token: 'tok_ok' },
      } as unknown as Stripe.PaymentIntentCreateParams.PaymentMethodData,
      metadata: { reference },
    };
    const pi = await stripe.paymentIntents.create(params, {
      idempotencyKey: `${reference}:charge`,
    });
    expect(pi).toMatchObject({ status: 'succeeded', amount_received: 250 });
    // The adapter finds it by reference and agrees.
    expect(await h.adapter.status({ reference })).toMatchObject({
      kind: 'succeeded',
      providerRef: pi.id,
      amount: 250n,
    });
    // Same key, other parameters: the SDK sees the idempotency error.
    await expect(
      stripe.paymentIntents.create(
        { ...params, amount: 251 },
        { idempotencyKey: `${reference}:charge` },
      ),
    ).rejects.toMatchObject({ type: 'StripeIdempotencyError' });
    expect(callbackUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callbacks\/card$/);
  });

  it('rotation: accepts a v1 for either of two configured secrets', async () => {
    const { reference } = await threeDsCharge();
    const old = sim.credentials.webhookSecret!;
    // Left rotating: the harness adapter keeps accepting, as it knows the previous secret.
    const { current } = sim.card.rotateWebhookSecret();
    {
      // The running adapter knows only the old secret; the PSP signs with both while rotating.
      const before = eventsOf(reference).length;
      expect(await h.sim.control.replayCallback!(reference)).toBe(200);
      expect(eventsOf(reference).length).toBe(before + 1);
      const noop = { record: () => {}, emit: () => {} };
      const both = await factory.create(
        {
          ...config(),
          credentials: {
            secretKey: sim.credentials.secretKey!,
            webhookSecret: current,
            webhookSecretPrevious: old,
          },
        },
        noop,
      );
      const onlyNew = await factory.create(
        {
          ...config(),
          credentials: { secretKey: sim.credentials.secretKey!, webhookSecret: current },
        },
        noop,
      );
      const body = Buffer.from(
        JSON.stringify({
          id: 'evt_rot',
          object: 'event',
          type: 'payment_intent.succeeded',
          created: nowSec(),
          data: { object: sim.card.intents(reference)[0] },
        }),
      );
      const signed = (secrets: string[]) => ({
        method: 'POST',
        path: '/callbacks/card',
        headers: { 'stripe-signature': signatureHeader(secrets, nowSec(), body) },
        rawBody: body,
        query: {},
      });
      await expect(both.handleCallback!(signed([old]))).resolves.toMatchObject({ status: 200 });
      await expect(both.handleCallback!(signed([current]))).resolves.toMatchObject({ status: 200 });
      await expect(both.handleCallback!(signed(['whsec_unknown']))).rejects.toBeInstanceOf(
        CallbackRejected,
      );
      await expect(onlyNew.handleCallback!(signed([old]))).rejects.toBeInstanceOf(CallbackRejected);
      await both.close();
      await onlyNew.close();
    }
  });
});
