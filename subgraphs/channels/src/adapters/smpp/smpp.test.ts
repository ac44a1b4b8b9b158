import * as smpp from 'smpp';
import { runConformance, startHarness, uniqueReference } from '../conformance';
import type { ConformanceSpec } from '../conformance';
import type { ChargeRequest } from '../types';
import { factory, type SmppAdapter } from './adapter';
import { spec } from './conformance';
import { startSimulator, type SmppSimulator } from './simulator';
import {
  classifySubmitStatus,
  formatReceiptText,
  idKeys,
  parseReceipt,
  parseReceiptText,
  stateOutcome,
  submitRejection,
  STATUS,
} from './transformers';

runConformance(spec);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(predicate: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}

function chargeOf(n: string, reference = uniqueReference('SM')): ChargeRequest {
  return {
    reference,
    amount: 199n,
    currency: 'GBP',
    description: 'Premium test',
    msisdn: `+4477009001${n}`,
  };
}

function withSettings(settings: Record<string, number>, timeoutMs?: number): ConformanceSpec {
  return {
    ...spec,
    adapterConfig: (sim) => {
      const base = spec.adapterConfig(sim);
      return {
        ...base,
        timeoutMs: timeoutMs ?? base.timeoutMs,
        settings: { ...base.settings, ...settings },
      };
    },
  };
}

describe('smpp transformers', () => {
  const submitted = new Date(Date.UTC(2025, 0, 2, 3, 4));
  const done = new Date(Date.UTC(2025, 0, 2, 3, 5));

  it('reads a receipt from TLVs first, through a real PDU round trip', () => {
    const out = new smpp.PDU('deliver_sm', {
      source_addr: '447700900100',
      esm_class: 0x04,
      // The text disagrees on purpose: TLVs win.
      short_message:
        'id:1 sub:001 dlvrd:000 submit date:2501020304 done date:2501020305 stat:UNDELIV err:101 text:x',
      receipted_message_id: '3a00f1c2',
      message_state: 2,
      network_error_code: Buffer.from([3, 0, 0]),
    });
    const back = smpp.PDU.fromBuffer(out.toBuffer());
    expect(back).toBeTruthy();
    const r = parseReceipt(back as unknown as Record<string, unknown>);
    expect(r).toMatchObject({
      messageId: '3a00f1c2',
      state: 'DELIVERED',
      source: 'tlv',
      err: '000',
      altMessageId: '1',
    });
  });

  it('falls back to the Appendix B text (10 and 12 digit dates, any key case)', () => {
    const text = formatReceiptText({
      id: '973140418',
      stat: 'UNDELIV',
      err: '101',
      submitted,
      done,
      text: 'hello',
      delivered: false,
    });
    const r = parseReceipt({ esm_class: 0x04, short_message: { message: text } });
    expect(r).toMatchObject({
      messageId: '973140418',
      state: 'UNDELIVERABLE',
      err: '101',
      source: 'text',
      doneDate: done,
    });
    const t = parseReceiptText(
      'ID:abc SUB:001 DLVRD:001 SUBMIT DATE:250102030405 DONE DATE:250102030506 STAT:DELIVRD ERR:000 TEXT:stat:UNDELIV',
    );
    expect(t).toMatchObject({ id: 'abc', stat: 'DELIVRD', err: '000', text: 'stat:UNDELIV' });
    expect(t.doneDate?.toISOString()).toBe('2025-01-02T03:05:06.000Z');
  });

  it('is not fooled by MO messages or receipts without id/state', () => {
    expect(
      parseReceipt({ esm_class: 0x00, short_message: { message: 'id:1 stat:DELIVRD' } }),
    ).toBeUndefined();
    expect(parseReceipt({ esm_class: 0x04, short_message: { message: 'hello' } })).toBeUndefined();
  });

  it('matches ids in hex and in decimal', () => {
    const hex = '3a00f1c2';
    const dec = String(0x3a00f1c2);
    const shared = idKeys(hex).filter((k) => idKeys(dec).includes(k));
    expect(shared).toEqual([`num:${dec}`]);
    expect(idKeys('ABC')).toEqual(idKeys('abc'));
    expect(idKeys('msg-7')).toEqual(['raw:msg-7']);
  });

  it('maps message states and billing errors to outcomes', () => {
    expect(stateOutcome('DELIVERED', '000', 'm1')).toEqual({
      kind: 'succeeded',
      providerRef: 'm1',
    });
    expect(stateOutcome('UNDELIVERABLE', '101')).toMatchObject({
      kind: 'declined',
      code: 'INSUFFICIENT_FUNDS',
      providerCode: 'UNDELIV/101',
    });
    expect(stateOutcome('UNDELIVERABLE', '102')).toMatchObject({
      kind: 'declined',
      code: 'LIMIT_EXCEEDED',
    });
    expect(stateOutcome('UNDELIVERABLE', '0')).toMatchObject({
      kind: 'declined',
      code: 'DENIED',
      providerCode: 'UNDELIV',
    });
    expect(stateOutcome('REJECTED', '103')).toMatchObject({ kind: 'declined', code: 'DENIED' });
    expect(stateOutcome('EXPIRED')).toMatchObject({ kind: 'declined', code: 'DENIED' });
    expect(stateOutcome('ENROUTE')).toMatchObject({ kind: 'pending', completion: 'callback' });
    expect(stateOutcome('ACCEPTED').kind).toBe('unknown');
  });

  it('maps submit_sm_resp statuses to declines', () => {
    const decline = (s: number) => {
      const cls = classifySubmitStatus(s);
      if (cls === 'ACCEPTED') throw new Error('accepted');
      return submitRejection(s, cls).code;
    };
    expect(classifySubmitStatus(STATUS.ESME_ROK)).toBe('ACCEPTED');
    expect(decline(STATUS.ESME_RTHROTTLED)).toBe('CHANNEL_UNAVAILABLE');
    expect(decline(STATUS.ESME_RSYSERR)).toBe('CHANNEL_UNAVAILABLE');
    expect(decline(STATUS.ESME_RINVDSTADR)).toBe('DENIED');
    expect(decline(STATUS.VENDOR_RSPENDLIMIT)).toBe('LIMIT_EXCEEDED');
    expect(decline(STATUS.VENDOR_RNOCREDIT)).toBe('INSUFFICIENT_FUNDS');
    expect(classifySubmitStatus(STATUS.VENDOR_RCONSENT)).toBe('CONSENT_REQUIRED');
    expect(decline(STATUS.VENDOR_RCONSENT)).toBe('DENIED');
    expect(decline(0x45)).toBe('DENIED');
  });
});

describe('smpp link', () => {
  it('reconnects after the SMSC drops the link and keeps charging', async () => {
    const h = await startHarness(spec);
    try {
      const sim = h.sim as SmppSimulator;
      const a = chargeOf('00');
      expect((await h.adapter.charge(a)).kind).toBe('pending');
      await h.waitFor(a.reference, (e) => e.outcome.kind === 'succeeded');

      sim.smsc.dropLinks();
      const link = (h.adapter as SmppAdapter).link;
      await until(() => !link.isBound);
      // Submitted while the link is down: queued until the new bind, not lost.
      const b = chargeOf('00');
      const first = await h.adapter.charge(b);
      expect(first.kind).toBe('pending');
      await h.waitFor(b.reference, (e) => e.outcome.kind === 'succeeded');
      expect(sim.smsc.stats().binds).toBe(2);
      expect(sim.control.chargeCount(b.reference)).toBe(1);
    } finally {
      await h.stop();
    }
  });

  it('never has more than the window outstanding', async () => {
    const h = await startHarness(withSettings({ windowSize: 2 }, 2_000));
    try {
      const sim = h.sim as SmppSimulator;
      sim.control.setFaults({ latencyMs: 120 });
      const reqs = Array.from({ length: 7 }, () => chargeOf('00'));
      const outcomes = await Promise.all(reqs.map((r) => h.adapter.charge(r)));
      expect(outcomes.map((o) => o.kind)).toEqual(reqs.map(() => 'pending'));
      expect(sim.smsc.stats().maxInFlight).toBe(2);
      expect((h.adapter as SmppAdapter).link.maxOutstanding).toBe(2);
    } finally {
      await h.stop();
    }
  });

  it('a receipt for an unknown message_id is acknowledged and emits nothing', async () => {
    const h = await startHarness(spec);
    try {
      const sim = h.sim as SmppSimulator;
      const a = chargeOf('77');
      const first = await h.adapter.charge(a);
      expect(first.kind).toBe('pending');
      const before = h.events.length;
      const status = await sim.smsc.injectReceipt({ messageId: 'ffff0001', stat: 'DELIVRD' });
      expect(status).toBe(0); // deliver_sm_resp ESME_ROK, always
      await sleep(50);
      expect(h.events.length).toBe(before);
      // The genuine receipt still lands.
      await h.waitFor(a.reference, (e) => e.outcome.kind === 'succeeded');
      const inbound = h.interactions.filter(
        (i) => i.direction === 'INBOUND' && i.operation.startsWith('deliver_sm'),
      );
      expect(inbound.some((i) => i.reference === undefined)).toBe(true);
    } finally {
      await h.stop();
    }
  });

  it('refuses a bind with a bad password, without logging it', async () => {
    const sim = (await startSimulator({
      host: '127.0.0.1',
      port: 0,
      callbackUrl: 'http://127.0.0.1:9/unused',
    })) as SmppSimulator;
    const interactions: unknown[] = [];
    try {
      const config = spec.adapterConfig(sim);
      const wrong = 'bad!pw42';
      await expect(
        factory.create(
          { ...config, credentials: { ...config.credentials, password: wrong } },
          { record: (i) => interactions.push(i), emit: () => undefined },
        ),
      ).rejects.toThrow(/ESME_RINVPASWD/);
      expect(sim.smsc.stats()).toMatchObject({ refusedBinds: 1, binds: 0 });
      expect(JSON.stringify(interactions)).not.toContain(wrong);
    } finally {
      await sim.stop();
    }
  });

  it('matches text-only receipts (decimal id) to the hex message_id', async () => {
    const h = await startHarness(spec);
    try {
      const sim = h.sim as SmppSimulator;
      sim.smsc.setReceiptFormat('text');
      const a = chargeOf('51');
      const first = await h.adapter.charge(a);
      const providerRef = first.kind === 'pending' ? first.providerRef : undefined;
      expect(providerRef).toMatch(/^[0-9a-f]+$/);
      const e = await h.waitFor(a.reference, (ev) => ev.outcome.kind !== 'pending');
      expect(e).toMatchObject({
        providerRef,
        outcome: { kind: 'declined', code: 'INSUFFICIENT_FUNDS' },
      });
      expect(e.eventId).toBe(`smpp:${providerRef}:UNDELIV`);
    } finally {
      await h.stop();
    }
  });

  it('ignores an out-of-order intermediate receipt and keeps the final outcome', async () => {
    const h = await startHarness(spec);
    try {
      h.sim.control.setFaults({ reorderCallbacks: true, callbackDelayMs: 30 });
      const a = chargeOf('00');
      await h.adapter.charge(a);
      await h.waitFor(a.reference, (e) => e.outcome.kind === 'succeeded');
      await sleep(100);
      expect(
        h.events.filter((e) => e.reference === a.reference).map((e) => e.outcome.kind),
      ).toEqual(['succeeded']);
      expect(await h.adapter.status({ reference: a.reference })).toMatchObject({
        kind: 'succeeded',
      });
      // A repeated charge() for the same reference answers from memory, without a second submit_sm.
      const submits = (h.sim as SmppSimulator).smsc.stats().submits;
      expect(await h.adapter.charge(a)).toMatchObject({ kind: 'succeeded' });
      expect((h.sim as SmppSimulator).smsc.stats().submits).toBe(submits);
    } finally {
      await h.stop();
    }
  });

  it('backs off and retries on ESME_RTHROTTLED, then declines CHANNEL_UNAVAILABLE', async () => {
    const h = await startHarness(spec);
    try {
      const sim = h.sim as SmppSimulator;
      const before = sim.smsc.stats().submits;
      const started = Date.now();
      expect(await h.adapter.charge(chargeOf('69'))).toMatchObject({
        kind: 'declined',
        code: 'CHANNEL_UNAVAILABLE',
        providerCode: 'ESME_RTHROTTLED',
      });
      expect(sim.smsc.stats().submits - before).toBe(2); // one retry after the backoff (throttleRetries 1)
      expect(Date.now() - started).toBeGreaterThanOrEqual(10);
    } finally {
      await h.stop();
    }
  });

  it('opt-in (55): refused MT, OTP checked here, one opted-in MT (TLV logged, OTP never), charged once', async () => {
    const h = await startHarness(spec);
    try {
      const sim = h.sim as SmppSimulator;
      const a = { ...chargeOf('55'), amount: 150n };
      const before = sim.smsc.stats().submits;
      expect(await h.adapter.charge(a)).toMatchObject({
        kind: 'pending',
        action: { kind: 'OTP', attemptsLeft: 3 },
      });
      // A retry or a status query answers the same action, without another submit.
      expect(await h.adapter.charge(a)).toMatchObject({ action: { kind: 'OTP' } });
      expect(await h.adapter.status({ reference: a.reference })).toMatchObject({
        action: { kind: 'OTP', attemptsLeft: 3 },
      });
      expect(sim.smsc.stats().submits - before).toBe(1);
      expect(
        await h.adapter.confirmConsent!({ reference: a.reference, otp: '654321' }),
      ).toMatchObject({ kind: 'pending', action: { kind: 'OTP', attemptsLeft: 2 } });
      // Two confirmations at once: one opted-in MT.
      const [x, y] = await Promise.all([
        h.adapter.confirmConsent!({ reference: a.reference, otp: '123456' }),
        h.adapter.confirmConsent!({ reference: a.reference, otp: '123456' }),
      ]);
      expect(x).toMatchObject({ kind: 'pending', completion: 'callback' });
      expect(y.kind === 'pending' || y.kind === 'succeeded').toBe(true);
      await h.waitFor(a.reference, (e) => e.outcome.kind === 'succeeded');
      expect(sim.smsc.stats().submits - before).toBe(2);
      expect(sim.control.netCharged(a.reference)).toBe(150n);
      const submits = h.interactions.filter(
        (i) => i.reference === a.reference && i.operation === 'submit_sm',
      );
      expect(
        submits.map((i) => [i.status, (i.request as Record<string, unknown>).coinslot_opt_in]),
      ).toEqual([
        ['VENDOR_RCONSENT', undefined],
        ['ESME_ROK', 'OTP'],
      ]);
      expect(JSON.stringify(h.interactions)).not.toContain('123456');
    } finally {
      await h.stop();
    }
  });

  it('opt-in (55) without a configured OTP declines DENIED and charges nothing', async () => {
    const noOtp: ConformanceSpec = {
      ...spec,
      adapterConfig: (sim) => {
        const base = spec.adapterConfig(sim);
        const { demoOtp: _drop, ...settings } = base.settings ?? {};
        return { ...base, settings };
      },
    };
    const h = await startHarness(noOtp);
    try {
      const a = chargeOf('55');
      expect(await h.adapter.charge(a)).toMatchObject({
        kind: 'declined',
        code: 'DENIED',
        providerCode: 'VENDOR_RCONSENT',
      });
      expect(h.sim.control.chargeCount(a.reference)).toBe(0);
    } finally {
      await h.stop();
    }
  });

  it('rawCharge submits one premium MT over a raw bind (benchmarks)', async () => {
    const sim = (await startSimulator({
      host: '127.0.0.1',
      port: 0,
      callbackUrl: 'http://127.0.0.1:9/unused',
    })) as SmppSimulator;
    try {
      const reference = uniqueReference('RAW');
      await spec.rawCharge!(sim, reference, spec.payer('00'));
      await until(() => sim.control.chargeCount(reference) === 1);
      expect(sim.control.netCharged(reference)).toBe(199n);
    } finally {
      await sim.stop();
    }
  });
});
