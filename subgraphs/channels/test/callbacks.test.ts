/**
 * Asynchronous outcomes through the real callback endpoint (and SMPP receipts through the
 * adapter's push path): applied once, forward only, one hand-off to billing per change.
 */
import { spec as smppSpec } from '../src/adapters/smpp/conformance';
import { startSimulator as startCard } from '../src/adapters/card/simulator';
import { startSimulator as startOneApi } from '../src/adapters/oneapi/simulator';
import { startSimulator as startSmpp } from '../src/adapters/smpp/simulator';
import type { Simulator } from '../src/adapters/simulator';
import {
  MERCHANT,
  RUN,
  RUN_BY_REFERENCE,
  addChannel,
  createDb,
  provision,
  serial,
  sleep,
  startOutcomeSink,
  startService,
  testConfig,
  waitFor,
  type Harness,
} from './fixture';

describe('channels: callbacks and hand-offs', () => {
  let db: Awaited<ReturnType<typeof createDb>>;
  let sink: Awaited<ReturnType<typeof startOutcomeSink>>;
  let h: Harness;
  let oneapi: Simulator;
  let card: Simulator;
  let smpp: Simulator;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    db = await createDb();
    sink = await startOutcomeSink();
    h = await startService(testConfig(db.url, { OUTCOME_WEBHOOK_URL: sink.url }));
    const cb = (code: string) => `${h.baseUrl}/callbacks/${code}`;
    [oneapi, card, smpp] = await Promise.all([
      startOneApi({ host: '127.0.0.1', port: 0, callbackUrl: cb('oneapi-us') }),
      startCard({ host: '127.0.0.1', port: 0, callbackUrl: cb('card') }),
      startSmpp({ host: '127.0.0.1', port: 0, callbackUrl: cb('smpp-gb') }),
    ]);
    ids.oneapi = await addChannel(h, {
      code: 'oneapi-us',
      kind: 'CARRIER_BILLING',
      protocol: 'ONEAPI',
      adapter: 'oneapi',
      countries: ['US'],
      currencies: ['USD'],
      settings: { baseUrl: oneapi.url, timeoutMs: 400 },
    });
    ids.card = await addChannel(h, {
      code: 'card',
      kind: 'CARD',
      protocol: 'CARD',
      adapter: 'card',
      countries: ['FR', 'GB'],
      settings: { baseUrl: card.url, timeoutMs: 400 },
    });
    ids.smpp = await addChannel(h, {
      code: 'smpp-gb',
      kind: 'PREMIUM_SMS',
      protocol: 'SMPP',
      adapter: 'smpp',
      countries: ['GB'],
      currencies: ['GBP'],
      settings: { ...smppSpec.adapterConfig(smpp).settings, baseUrl: smpp.url, timeoutMs: 500 },
    });
    ids.accOneapi = await provision(h, ids.oneapi, {
      ...oneapi.credentials,
      callbackTokenKey: 'callbacks-token-key',
    });
    ids.accCard = await provision(h, ids.card, card.credentials);
    ids.accSmpp = await provision(h, ids.smpp, smpp.credentials);
    await h.service.startJobs();
  });

  afterAll(async () => {
    await h?.service.close();
    await Promise.all([oneapi, card, smpp].map((s) => s?.stop()));
    await sink?.close();
    await db?.drop();
  });

  const us = (n: string, reference: string) => ({
    reference,
    procedure: 'CHARGE',
    merchantId: MERCHANT,
    channelKind: 'CARRIER_BILLING',
    country: 'US',
    currency: 'USD',
    msisdn: `+120255501${n}`,
    amountMinor: '199',
    description: 'Coin pack',
  });
  const handOffs = (reference: string) =>
    sink.received.filter((x) => x.input.reference === reference);
  const run = async (reference: string) =>
    (await h.billing(RUN_BY_REFERENCE, { reference })).data!._procedureRun;
  const finalRun = (reference: string) =>
    waitFor(`final ${reference}`, async () =>
      (await run(reference)).outcome.final ? run(reference) : null,
    );

  it('async success (77): the carrier callback settles the run, billing gets exactly one hand-off', async () => {
    const reference = serial();
    const r = await h.billing(RUN, { input: us('77', reference) });
    expect(r.data!._runProcedure.outcome).toMatchObject({
      kind: 'PENDING',
      completion: 'CALLBACK',
      final: false,
    });
    const done = await finalRun(reference);
    expect(done.outcome.kind).toBe('SUCCEEDED');
    await waitFor('the hand-off', async () => handOffs(reference).length > 0);
    await sleep(400);
    expect(handOffs(reference)).toHaveLength(1);
    expect(handOffs(reference)[0]!.input).toMatchObject({
      reference,
      kind: 'SUCCEEDED',
      final: true,
      procedure: 'CHARGE',
      amountMinor: '199',
      currency: 'USD',
      version: done.version,
    });
    const events = await h.sql<{ source: string; applied: boolean }>(
      `select e.source, e.applied from channels.callback_event e join channels.procedure_run r on r.id = e.run_id where r.reference = ?`,
      [reference],
    );
    expect(events).toContainEqual({ source: 'callback', applied: true });
    expect(oneapi.control.chargeCount(reference)).toBe(1);
  });

  it('a forged callback is rejected with the adapter status, logged, and changes nothing', async () => {
    oneapi.control.setFaults({ callbackDelayMs: 1_500 });
    const reference = serial();
    await h.billing(RUN, { input: us('77', reference) });
    await sleep(300); // the charge is committed at the carrier; its genuine callback is held back
    const before = await run(reference);
    expect(before.outcome.kind).toBe('PENDING');
    const status = await oneapi.control.sendForgedCallback!(reference);
    expect(status).toBe(401);
    const after = await run(reference);
    expect(after).toEqual(before);
    expect(handOffs(reference)).toHaveLength(0);
    const [rejected] = await h.sql<{ n: string }>(
      `select count(*)::int as n from channels.callback_event where channel_id = ? and source = 'rejected' and not verified`,
      [ids.oneapi],
    );
    expect(Number(rejected!.n)).toBeGreaterThanOrEqual(1);
    await h.service.runtime.recorder.flush();
    const logged = await h.sql(
      `select 1 from channels.interaction where channel_id = ? and direction = 'INBOUND' and status = '401'`,
      [ids.oneapi],
    );
    expect(logged.length).toBeGreaterThanOrEqual(1);
    // The genuine callback still settles it, once.
    expect((await finalRun(reference)).outcome.kind).toBe('SUCCEEDED');
    await waitFor('the hand-off', async () => handOffs(reference).length === 1);
    oneapi.control.setFaults({});
  });

  it('duplicated, reordered, replayed and late callbacks never move a final run back nor hand off twice', async () => {
    oneapi.control.setFaults({ duplicateCallbacks: true, reorderCallbacks: true });
    const reference = serial();
    await h.billing(RUN, { input: us('77', reference) });
    const done = await finalRun(reference);
    expect(done.outcome.kind).toBe('SUCCEEDED');
    await sleep(600);
    expect(await oneapi.control.replayCallback!(reference)).toBeLessThan(300);
    await sleep(200);
    // Late, synthetic ones on the same path: a stale "pending" and a contradicting "declined".
    const rt = h.service.runtime;
    const late = await rt.callbacks.applyEvent(
      ids.oneapi,
      ids.accOneapi,
      {
        eventId: `late-${reference}-1`,
        procedure: 'CHARGE',
        reference,
        outcome: { kind: 'pending', completion: 'callback' },
      },
      'callback',
    );
    expect(late).toMatchObject({ applied: false, note: 'backward' });
    const contra = await rt.callbacks.applyEvent(
      ids.oneapi,
      ids.accOneapi,
      {
        eventId: `late-${reference}-2`,
        procedure: 'CHARGE',
        reference,
        outcome: { kind: 'declined', code: 'DENIED' },
      },
      'callback',
    );
    expect(contra).toMatchObject({ applied: false, note: 'conflict' });
    const again = await rt.callbacks.applyEvent(
      ids.oneapi,
      ids.accOneapi,
      {
        eventId: `late-${reference}-2`,
        procedure: 'CHARGE',
        reference,
        outcome: { kind: 'declined', code: 'DENIED' },
      },
      'callback',
    );
    expect(again.duplicate).toBe(true);

    const after = await run(reference);
    expect(after).toEqual(done);
    await sleep(300);
    expect(handOffs(reference)).toHaveLength(1);
    const conflicts = await h.sql(
      `select 1 from channels.settlement_mismatch where reference = ? and kind = 'outcome_conflict'`,
      [reference],
    );
    expect(conflicts).toHaveLength(1);
    oneapi.control.setFaults({});
  });

  it('3-D Secure: reordered card webhooks end succeeded, with one hand-off', async () => {
    card.control.setFaults({ reorderCallbacks: true });
    const reference = serial();
    const r = await h.billing(RUN, {
      input: {
        reference,
        procedure: 'CHARGE',
        merchantId: MERCHANT,
        channelKind: 'CARD',
        country: 'FR',
        currency: 'EUR',
        cardToken: 'tok_3ds',
        amountMinor: '499',
        description: 'Item',
        returnUrl: 'https://game.example/back',
      },
    });
    expect(r.data!._runProcedure.outcome).toMatchObject({
      kind: 'PENDING',
      actionKind: 'REDIRECT',
    });
    expect(r.data!._runProcedure.outcome.actionUrl).toMatch(/^http/);
    await card.control.completeRedirect!(reference);
    expect((await finalRun(reference)).outcome.kind).toBe('SUCCEEDED');
    await sleep(500);
    expect((await run(reference)).outcome.kind).toBe('SUCCEEDED');
    expect(handOffs(reference)).toHaveLength(1);
    expect(card.control.chargeCount(reference)).toBe(1);
    card.control.setFaults({});
  });

  it('SMPP delivery receipts go through the same path (pushed by the adapter)', async () => {
    const reference = serial();
    const r = await h.billing(RUN, {
      input: {
        reference,
        procedure: 'CHARGE',
        merchantId: MERCHANT,
        channelKind: 'PREMIUM_SMS',
        country: 'GB',
        currency: 'GBP',
        msisdn: '+447700900100',
        amountMinor: '199',
        description: 'Coins',
      },
    });
    expect(r.data!._runProcedure.outcome.kind).toBe('PENDING');
    expect((await finalRun(reference)).outcome.kind).toBe('SUCCEEDED');
    await waitFor('the hand-off', async () => handOffs(reference).length === 1);
    const [event] = await h.sql<{ source: string }>(
      `select e.source from channels.callback_event e join channels.procedure_run r on r.id = e.run_id where r.reference = ? and e.applied`,
      [reference],
    );
    expect(event!.source).toBe('push');
  });

  it('SMPP opt-in (55) through CONSENT: OTP action, 123456 sends the opted-in MT, the receipt settles it; three wrong OTPs ⇒ INVALID_OTP', async () => {
    const gb = (reference: string) => ({
      reference,
      procedure: 'CHARGE',
      merchantId: MERCHANT,
      channelKind: 'PREMIUM_SMS',
      country: 'GB',
      currency: 'GBP',
      msisdn: '+447700900155',
      amountMinor: '150',
      description: 'Coins',
    });
    const consent = (reference: string, n: number, otp: string) =>
      h.billing(RUN, {
        input: {
          reference: `${reference}:C${n}`,
          procedure: 'CONSENT',
          merchantId: MERCHANT,
          amountMinor: '0',
          currency: 'GBP',
          chargeReference: reference,
          otp,
        },
      });

    const reference = serial();
    const started = await h.billing(RUN, { input: gb(reference) });
    expect(started.errors).toBeUndefined();
    expect(started.data!._runProcedure.outcome).toMatchObject({
      kind: 'PENDING',
      actionKind: 'OTP',
      attemptsLeft: 3,
      final: false,
    });
    expect(smpp.control.chargeCount(reference)).toBe(0);
    const ok = await consent(reference, 1, '123456');
    expect(ok.errors).toBeUndefined();
    expect(['PENDING', 'SUCCEEDED']).toContain(ok.data!._runProcedure.outcome.kind);
    expect(ok.data!._runProcedure.outcome.actionKind).toBeNull();
    expect((await finalRun(reference)).outcome.kind).toBe('SUCCEEDED');
    await waitFor('the hand-off', async () =>
      handOffs(reference).some((x) => x.input.kind === 'SUCCEEDED'),
    );
    expect(smpp.control.chargeCount(reference)).toBe(1);
    expect(smpp.control.netCharged(reference)).toBe(150n);

    const other = serial();
    await h.billing(RUN, { input: gb(other) });
    const answers = [];
    for (let i = 1; i <= 3; i += 1) {
      const r = await consent(other, i, '00000' + i);
      expect(r.errors).toBeUndefined();
      answers.push(r.data!._runProcedure.outcome);
    }
    expect(answers.map((o) => [o.kind, o.attemptsLeft, o.declineCode])).toEqual([
      ['PENDING', 2, null],
      ['PENDING', 1, null],
      ['DECLINED', null, 'INVALID_OTP'],
    ]);
    expect((await run(other)).outcome).toMatchObject({
      kind: 'DECLINED',
      declineCode: 'INVALID_OTP',
    });
    expect(smpp.control.chargeCount(other)).toBe(0);
  });
});
