/**
 * The internal procedure API against real simulators on loopback: routing by number ranges
 * and priority, explicit channels, failover, circuit breaking, idempotency (also across two
 * service instances on one database), and a lost answer settled by the resolver job.
 */
import { codes } from '@coinslot/testing';
import { spec as camaraSpec } from '../src/adapters/camara/conformance';
import { startSimulator as startCamara } from '../src/adapters/camara/simulator';
import { startSimulator as startCard } from '../src/adapters/card/simulator';
import { startSimulator as startOneApi } from '../src/adapters/oneapi/simulator';
import type { Simulator } from '../src/adapters/simulator';
import { routing } from '../src/modules/routing/routing.service';
import {
  MERCHANT,
  OTHER_MERCHANT,
  RUN,
  RUN_BY_REFERENCE,
  addChannel,
  createDb,
  provision,
  serial,
  startOutcomeSink,
  startService,
  testConfig,
  waitFor,
  type Harness,
} from './fixture';

describe('channels: procedures, routing, idempotency', () => {
  let db: Awaited<ReturnType<typeof createDb>>;
  let sink: Awaited<ReturnType<typeof startOutcomeSink>>;
  let h: Harness;
  let h2: Harness;
  let camara: Simulator;
  let oneA: Simulator;
  let oneB: Simulator;
  let card: Simulator;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    db = await createDb();
    sink = await startOutcomeSink();
    const config = testConfig(db.url, { OUTCOME_WEBHOOK_URL: sink.url });
    h = await startService(config);
    // A second instance of the service on the same database (horizontal scaling).
    h2 = await startService(config);
    const cb = (code: string) => `${h.baseUrl}/callbacks/${code}`;
    [camara, oneA, oneB, card] = await Promise.all([
      startCamara({ host: '127.0.0.1', port: 0, callbackUrl: cb('camara-fr') }),
      startOneApi({ host: '127.0.0.1', port: 0, callbackUrl: cb('oneapi-us-a') }),
      startOneApi({ host: '127.0.0.1', port: 0, callbackUrl: cb('oneapi-us-b') }),
      startCard({ host: '127.0.0.1', port: 0, callbackUrl: cb('card') }),
    ]);
    ids.camara = await addChannel(h, {
      code: 'camara-fr',
      kind: 'CARRIER_BILLING',
      protocol: 'CAMARA',
      adapter: 'camara',
      countries: ['FR'],
      currencies: ['EUR'],
      settings: {
        ...camaraSpec.adapterConfig(camara).settings,
        baseUrl: camara.url,
        timeoutMs: 400,
      },
    });
    ids.oneA = await addChannel(h, {
      code: 'oneapi-us-a',
      kind: 'CARRIER_BILLING',
      protocol: 'ONEAPI',
      adapter: 'oneapi',
      countries: ['US'],
      currencies: ['USD'],
      settings: { baseUrl: oneA.url, timeoutMs: 400, encoding: 'form' },
    });
    ids.oneB = await addChannel(h, {
      code: 'oneapi-us-b',
      kind: 'CARRIER_BILLING',
      protocol: 'ONEAPI',
      adapter: 'oneapi',
      countries: ['US'],
      currencies: ['USD'],
      settings: { baseUrl: oneB.url, timeoutMs: 400, encoding: 'form' },
    });
    ids.card = await addChannel(h, {
      code: 'card',
      kind: 'CARD',
      protocol: 'CARD',
      adapter: 'card',
      countries: ['FR', 'DE', 'GB', 'US'],
      settings: { baseUrl: card.url, timeoutMs: 400 },
    });
    ids.wallet = await addChannel(h, {
      code: 'wallet',
      kind: 'WALLET',
      protocol: 'WALLET',
      adapter: 'wallet',
      countries: ['FR', 'US'],
      settings: {},
    });
    ids.accCamara = await provision(h, ids.camara, camara.credentials);
    ids.accA = await provision(
      h,
      ids.oneA,
      { ...oneA.credentials, callbackTokenKey: 'token-key-a' },
      { priority: 10 },
    );
    ids.accB = await provision(
      h,
      ids.oneB,
      { ...oneB.credentials, callbackTokenKey: 'token-key-b' },
      { priority: 20 },
    );
    ids.accCard = await provision(h, ids.card, card.credentials);
    await provision(h, ids.wallet, {});
    await h.service.startJobs();
  });

  afterAll(async () => {
    await h2?.service.close();
    await h?.service.close();
    await Promise.all([camara, oneA, oneB, card].map((s) => s?.stop()));
    await sink?.close();
    await db?.drop();
  });

  const charge = (over: Record<string, unknown>) => ({
    procedure: 'CHARGE',
    merchantId: MERCHANT,
    channelKind: 'CARRIER_BILLING',
    amountMinor: '199',
    description: 'Coin pack',
    ...over,
  });
  const fr = (n: string, over: Record<string, unknown> = {}) =>
    charge({ country: 'FR', currency: 'EUR', msisdn: `+336123456${n}`, ...over });
  const us = (n: string, over: Record<string, unknown> = {}) =>
    charge({ country: 'US', currency: 'USD', msisdn: `+120255501${n}`, ...over });

  it('places MSISDNs by the longest matching number range', async () => {
    const em = h.service.runtime.orm.em.fork();
    expect(await routing.place(em, '+33612345600')).toEqual({
      prefix: '+33612',
      country: 'FR',
      operator: '208-01',
    });
    expect(await routing.place(em, '+33712345678')).toEqual({
      prefix: '+337',
      country: 'FR',
      operator: null,
    });
    expect(await routing.place(em, '+4915112345600')).toMatchObject({
      country: 'DE',
      operator: '262-01',
    });
    expect(await routing.place(em, '+447700900055')).toMatchObject({
      prefix: '+447700900',
      country: 'GB',
      operator: '234-30',
    });
    expect(await routing.place(em, '+12025550100')).toMatchObject({
      country: 'US',
      operator: '310-410',
    });
    expect(await routing.place(em, '+8613800000000')).toBeNull();
  });

  it('routes by the number: a GB number cannot be billed by a French carrier', async () => {
    const r = await h.billing(RUN, {
      input: fr('00', { reference: serial(), msisdn: '+447700900000' }),
    });
    expect(codes(r)).toEqual(['BAD_USER_INPUT']);
    expect(r.errors![0]!.message).toMatch(/GB number/);
  });

  it('charges on the highest-priority account and answers the documented shape', async () => {
    const reference = serial();
    const r = await h.billing(RUN, { input: us('00', { reference }) });
    expect(r.errors).toBeUndefined();
    expect(r.data!._runProcedure).toMatchObject({
      reference,
      procedure: 'CHARGE',
      channelId: ids.oneA,
      channelCode: 'oneapi-us-a',
      amount: { amountMinor: '199', currency: 'USD' },
      outcome: { kind: 'SUCCEEDED', final: true, declineCode: null },
    });
    expect(oneA.control.chargeCount(reference)).toBe(1);
    expect(oneB.control.chargeCount(reference)).toBe(0);
  });

  it('honours an explicit channel, and refuses one that cannot serve the payment', async () => {
    const reference = serial();
    const r = await h.billing(RUN, { input: us('00', { reference, channelId: ids.oneB }) });
    expect(r.data!._runProcedure).toMatchObject({
      channelCode: 'oneapi-us-b',
      outcome: { kind: 'SUCCEEDED' },
    });
    expect(oneB.control.chargeCount(reference)).toBe(1);

    const wrong = await h.billing(RUN, {
      input: us('00', { reference: serial(), channelId: ids.camara }),
    });
    expect(codes(wrong)).toEqual(['BAD_USER_INPUT']);
    expect(wrong.errors![0]!.message).toMatch(/cannot run CHARGE here/);
    const otherMerchant = await h.billing(RUN, {
      input: us('00', { reference: serial(), merchantId: OTHER_MERCHANT }),
    });
    expect(codes(otherMerchant)).toEqual(['BAD_USER_INPUT']);
    const wallet = await h.billing(RUN, {
      input: fr('00', { reference: serial(), channelKind: 'WALLET', currency: 'EUR' }),
    });
    expect(codes(wallet)).toEqual(['BAD_USER_INPUT']);
    expect(wallet.errors![0]!.message).toMatch(/executed by billing/);
  });

  it('fails over when the first channel is unavailable before anything is charged', async () => {
    oneA.control.setFaults({ unavailable: 1 });
    const reference = serial();
    const r = await h.billing(RUN, { input: us('00', { reference }) });
    expect(r.data!._runProcedure).toMatchObject({
      channelCode: 'oneapi-us-b',
      outcome: { kind: 'SUCCEEDED' },
    });
    expect(oneA.control.chargeCount(reference)).toBe(0);
    expect(oneB.control.chargeCount(reference)).toBe(1);
    const [row] = await h.sql<{ routing: { channelCode: string; result: string }[] }>(
      `select routing from channels.procedure_run where reference = ?`,
      [reference],
    );
    expect(row!.routing.map((s) => [s.channelCode, s.result])).toEqual([
      ['oneapi-us-a', 'called'],
      ['oneapi-us-b', 'called'],
    ]);
  });

  it('never fails over after an unknown outcome: money may have moved', async () => {
    oneA.control.setFaults({ hangAfterCommit: 1, hangMs: 1_000 });
    const reference = serial();
    const r = await h.billing(RUN, { input: us('00', { reference }) });
    expect(r.data!._runProcedure).toMatchObject({
      channelCode: 'oneapi-us-a',
      outcome: { kind: 'UNKNOWN', final: false },
    });
    expect(oneB.control.chargeCount(reference)).toBe(0);
    // The resolver job asks A for the status: charged once, never again.
    const settled = await waitFor('the resolver', async () => {
      const s = await h.billing(RUN_BY_REFERENCE, { reference });
      return s.data!._procedureRun.outcome.final ? s.data!._procedureRun : null;
    });
    expect(settled.outcome.kind).toBe('SUCCEEDED');
    expect(oneA.control.chargeCount(reference)).toBe(1);
    await waitFor('the hand-off', async () =>
      sink.received.find((x) => x.input.reference === reference && x.input.kind === 'SUCCEEDED'),
    );
    const handOff = sink.received.find((x) => x.input.reference === reference)!;
    expect(handOff.principal).toEqual({ kind: 'service', service: 'channels' });
    oneA.control.setFaults({});
  });

  it('opens the circuit after repeated failures and stops calling that channel', async () => {
    oneA.control.setFaults({ unavailable: 1_000 });
    const references: string[] = [];
    for (let i = 0; i < 4; i += 1) {
      const reference = serial();
      references.push(reference);
      const r = await h.billing(RUN, { input: us('00', { reference }) });
      expect(r.data!._runProcedure).toMatchObject({
        channelCode: 'oneapi-us-b',
        outcome: { kind: 'SUCCEEDED' },
      });
    }
    const rows = await h.sql<{
      reference: string;
      routing: { channelCode: string; result: string }[];
    }>(`select reference, routing from channels.procedure_run where reference = any(?::text[])`, [
      `{${references.join(',')}}`,
    ]);
    const last = rows.find((r) => r.reference === references[3])!;
    expect(last.routing[0]).toMatchObject({ channelCode: 'oneapi-us-a', result: 'circuit-open' });
    await h.service.runtime.recorder.flush();
    const calls = await h.sql(
      `select 1 from channels.interaction where reference = ? and channel_id = ?`,
      [references[3], ids.oneA],
    );
    expect(calls).toHaveLength(0);
    oneA.control.setFaults({});
  });

  it('is idempotent on the reference: one charge, the same run, other parameters refused', async () => {
    const reference = serial();
    const first = await h.billing(RUN, { input: fr('00', { reference }) });
    expect(first.data!._runProcedure.outcome.kind).toBe('SUCCEEDED');
    const again = await h.billing(RUN, { input: fr('00', { reference }) });
    expect(again.data!._runProcedure).toEqual(first.data!._runProcedure);
    expect(camara.control.chargeCount(reference)).toBe(1);
    const other = await h.billing(RUN, { input: fr('00', { reference, amountMinor: '299' }) });
    expect(codes(other)).toEqual(['IDEMPOTENCY_KEY_REUSED']);
    const otherNumber = await h.billing(RUN, { input: fr('54', { reference }) });
    expect(codes(otherNumber)).toEqual(['IDEMPOTENCY_KEY_REUSED']);
    expect(camara.control.chargeCount(reference)).toBe(1);
  });

  it('20 concurrent calls with one reference, on two service instances, charge once', async () => {
    const reference = serial();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        (i % 2 ? h2 : h).billing(RUN, { input: us('00', { reference, channelId: ids.oneB }) }),
      ),
    );
    for (const r of results) expect(r.errors).toBeUndefined();
    expect(new Set(results.map((r) => r.data!._runProcedure.id)).size).toBe(1);
    expect(results.every((r) => r.data!._runProcedure.outcome.kind === 'SUCCEEDED')).toBe(true);
    expect(oneB.control.chargeCount(reference)).toBe(1);
  });

  it('a lost answer (test number 91) is resolved by the job: succeeded, charged exactly once', async () => {
    const reference = serial();
    const r = await h.billing(RUN, { input: fr('91', { reference }) });
    expect(r.data!._runProcedure.outcome).toMatchObject({ kind: 'UNKNOWN', final: false });
    // A retry meanwhile asks for the status, never charges again.
    await h.billing(RUN, { input: fr('91', { reference }) });
    const settled = await waitFor('the resolver', async () => {
      const s = await h.billing(RUN_BY_REFERENCE, { reference });
      return s.data!._procedureRun.outcome.final ? s.data!._procedureRun : null;
    });
    expect(settled.outcome.kind).toBe('SUCCEEDED');
    expect(camara.control.chargeCount(reference)).toBe(1);
    const [row] = await h.sql<{ state: string; outcome_kind: string }>(
      `select state, outcome_kind from channels.procedure_run where reference = ?`,
      [reference],
    );
    expect(row).toEqual({ state: 'final', outcome_kind: 'succeeded' });
  });

  it('runs OTP consent, declines, card charges and refunds through the same API', async () => {
    const reference = serial();
    const started = await h.billing(RUN, { input: fr('55', { reference }) });
    expect(started.data!._runProcedure.outcome).toMatchObject({
      kind: 'PENDING',
      actionKind: 'OTP',
    });
    const consent = await h.billing(RUN, {
      input: {
        reference: `${reference}:consent:1`,
        procedure: 'CONSENT',
        merchantId: MERCHANT,
        amountMinor: '0',
        currency: 'EUR',
        chargeReference: reference,
        otp: '123456',
      },
    });
    expect(consent.data!._runProcedure.outcome).toMatchObject({ kind: 'SUCCEEDED' });
    const parent = await h.billing(RUN_BY_REFERENCE, { reference });
    expect(parent.data!._procedureRun.outcome.kind).toBe('SUCCEEDED');
    expect(camara.control.chargeCount(reference)).toBe(1);
    // A late second confirmation answers the settled outcome and asks the carrier nothing.
    const late = await h.billing(RUN, {
      input: {
        reference: `${reference}:consent:2`,
        procedure: 'CONSENT',
        merchantId: MERCHANT,
        amountMinor: '0',
        currency: 'EUR',
        chargeReference: reference,
        otp: '000000',
      },
    });
    expect(late.data!._runProcedure.outcome).toMatchObject({ kind: 'SUCCEEDED', final: true });
    expect(
      await h.sql(`select 1 from channels.settlement_mismatch where reference = ?`, [reference]),
    ).toHaveLength(0);

    const declined = await h.billing(RUN, { input: fr('51', { reference: serial() }) });
    expect(declined.data!._runProcedure.outcome).toMatchObject({
      kind: 'DECLINED',
      final: true,
      declineCode: 'INSUFFICIENT_FUNDS',
    });

    const cardRef = serial();
    const paid = await h.billing(RUN, {
      input: charge({
        reference: cardRef,
        channelKind: 'CARD',
        country: 'DE',
        currency: 'EUR',
        cardToken: 'tok_ok',
        amountMinor: '1000',
      }),
    });
    expect(paid.data!._runProcedure).toMatchObject({
      channelCode: 'card',
      outcome: { kind: 'SUCCEEDED' },
    });
    const refund = await h.billing(RUN, {
      input: {
        reference: `${cardRef}:refund:1`,
        procedure: 'REFUND',
        merchantId: MERCHANT,
        amountMinor: '400',
        currency: 'EUR',
        chargeReference: cardRef,
        description: 'requested_by_customer',
      },
    });
    expect(refund.errors).toBeUndefined();
    expect(['SUCCEEDED', 'PENDING']).toContain(refund.data!._runProcedure.outcome.kind);
    await waitFor('the refund', async () => card.control.netCharged(cardRef) === 600n);
  });
});
