/**
 * The one conformance suite every adapter runs against its own simulator. Per-adapter test
 * files hold only data (a ConformanceSpec) and call runConformance(spec).
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import selfsigned from 'selfsigned';
import type {
  AdapterConfig,
  AdapterFactory,
  AsyncOutcome,
  ChannelAdapter,
  ChargeRequest,
  DeclineCode,
  Interaction,
  Outcome,
} from './types';
import { CallbackRejected, PROCEDURES, INTERACTION_PATTERNS } from './types';
import type { Simulator, SimulatorOptions, TestNumber } from './simulator';

export type Expected =
  | { initial: 'succeeded' }
  | { initial: 'declined'; code: DeclineCode }
  /** Consent: pending with an OTP action; OTP 123456 confirms; three wrong ones → INVALID_OTP. */
  | { initial: 'otp' }
  /** Pending, then an async outcome (callback or receipt). */
  | { initial: 'pending'; then: 'succeeded' | { declined: DeclineCode } }
  /** The first answer is lost: unknown, then status() says succeeded, charged once. */
  | { initial: 'unknown'; then: 'succeeded' }
  /** Redirect consent (3-D Secure): pending with a REDIRECT; succeeds after the page. */
  | { initial: 'redirect' };

export interface ConformanceSpec {
  code: string;
  factory: AdapterFactory;
  startSimulator(options: SimulatorOptions & { callbackUrl: string }): Promise<Simulator>;
  /** Client timeout in tests: short, the simulator hangs past it for the 91 case. */
  adapterConfig(sim: Simulator): AdapterConfig;
  /** What identifies the payer for a test number: an MSISDN or a card token. */
  payer(testNumber: TestNumber): Pick<ChargeRequest, 'msisdn' | 'cardToken'>;
  currency: string;
  /** Expected outcome per test number; absent numbers do not apply to this protocol. */
  cases: Partial<Record<TestNumber, Expected>>;
  /** Serve the callback sink over HTTPS (CAMARA requires an https sink). */
  sinkTls?: boolean;
  /** Seconds to wait for async outcomes. */
  asyncTimeoutMs?: number;
  /** Fault cases that do not apply, with the reason. */
  /**
   * For benchmarks: one minimal charge sent straight to the simulator without the adapter
   * (same protocol, no adapter logic), to measure what the channels layer adds.
   */
  rawCharge?(
    sim: Simulator,
    reference: string,
    payer: Pick<ChargeRequest, 'msisdn' | 'cardToken'>,
  ): Promise<void>;
  notApplicable?: Partial<
    Record<
      'hang' | 'unavailable' | 'malformed' | 'drop' | 'forgedCallback' | 'duplicateCallbacks',
      string
    >
  >;
}

interface Harness {
  sim: Simulator;
  adapter: ChannelAdapter;
  events: AsyncOutcome[];
  interactions: Interaction[];
  rejectedCallbacks: number;
  waitFor(
    reference: string,
    predicate?: (e: AsyncOutcome) => boolean,
    timeoutMs?: number,
  ): Promise<AsyncOutcome>;
  stop(): Promise<void>;
}

let seq = 0;
export function uniqueReference(prefix = 'CS'): string {
  seq += 1;
  return `${prefix}${Date.now().toString(36).toUpperCase()}${process.pid.toString(36).toUpperCase()}${seq}`;
}

export async function startHarness(spec: ConformanceSpec): Promise<Harness> {
  const events: AsyncOutcome[] = [];
  const interactions: Interaction[] = [];
  const waiters: (() => void)[] = [];
  // Assigned once the simulator is up; the sink handler above reads it.
  // eslint-disable-next-line prefer-const
  let adapter: ChannelAdapter | undefined;
  let rejectedCallbacks = 0;
  const notify = () => waiters.splice(0).forEach((w) => w());

  const handler: http.RequestListener = (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://sink');
      const inbound = {
        method: req.method ?? 'POST',
        path: url.pathname,
        headers: req.headers,
        rawBody: Buffer.concat(chunks),
        query: Object.fromEntries(url.searchParams),
        remoteAddress: req.socket.remoteAddress,
      };
      if (!adapter?.handleCallback) {
        res.writeHead(404).end();
        return;
      }
      adapter
        .handleCallback(inbound)
        .then((result) => {
          events.push(...result.events);
          notify();
          res
            .writeHead(result.status, { 'content-type': result.contentType ?? 'text/plain' })
            .end(result.body ?? '');
        })
        .catch((err: unknown) => {
          rejectedCallbacks += 1;
          res.writeHead(err instanceof CallbackRejected ? err.status : 500).end();
        });
    });
  };

  let server: http.Server | https.Server;
  if (spec.sinkTls) {
    const pems = await selfsigned.generate([{ name: 'commonName', value: '127.0.0.1' }], {
      keySize: 2048,
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
    } as never);
    server = https.createServer({ key: pems.private, cert: pems.cert }, handler);
  } else {
    server = http.createServer(handler);
  }
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  const callbackUrl = `${spec.sinkTls ? 'https' : 'http'}://127.0.0.1:${port}/callbacks/${spec.code}`;

  const sim = await spec.startSimulator({
    host: '127.0.0.1',
    port: 0,
    callbackUrl,
    insecureSinkTls: true,
  });
  adapter = await spec.factory.create(spec.adapterConfig(sim), {
    record: (i) => interactions.push(i),
    emit: (e) => {
      events.push(e);
      notify();
    },
    callbackUrl,
  });

  const h: Harness = {
    sim,
    adapter,
    events,
    interactions,
    get rejectedCallbacks() {
      return rejectedCallbacks;
    },
    async waitFor(reference, predicate = () => true, timeoutMs = spec.asyncTimeoutMs ?? 5_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = events.find((e) => e.reference === reference && predicate(e));
        if (found) return found;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no async outcome for ${reference} within ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.min(left, 200));
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
    },
    async stop() {
      await adapter?.close();
      await sim.stop();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  return h;
}

function charge(
  spec: ConformanceSpec,
  n: TestNumber,
  reference = uniqueReference(),
  amount = 199n,
): ChargeRequest {
  return {
    reference,
    amount,
    currency: spec.currency,
    description: 'Conformance test',
    ...spec.payer(n),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Settles an unknown outcome the way the resolver job will: status queries until known. */
export async function resolveByStatus(
  adapter: ChannelAdapter,
  reference: string,
  providerRef?: string,
  tries = 20,
): Promise<Outcome> {
  let last: Outcome = { kind: 'unknown', reason: 'not queried' };
  for (let i = 0; i < tries; i += 1) {
    last = await adapter.status({ reference, providerRef, procedure: 'CHARGE' });
    if (last.kind !== 'unknown' && !(last.kind === 'pending' && !last.action)) return last;
    await sleep(150);
  }
  return last;
}

export function runConformance(spec: ConformanceSpec): void {
  describe(`${spec.code} adapter conformance`, () => {
    let h: Harness;
    beforeAll(async () => {
      h = await startHarness(spec);
    });
    afterAll(async () => {
      await h?.stop();
    });
    beforeEach(() => {
      h.sim.control.setFaults({});
    });

    it('declares capabilities from the contract enums', () => {
      const caps = spec.factory.capabilities;
      expect(caps.procedures.length).toBeGreaterThan(0);
      for (const p of caps.procedures) expect(PROCEDURES).toContain(p);
      for (const p of caps.patterns) expect(INTERACTION_PATTERNS).toContain(p);
      expect(caps.procedures).toContain('CHARGE');
      expect(caps.procedures).toContain('STATUS');
    });

    for (const [n, expected] of Object.entries(spec.cases) as [TestNumber, Expected][]) {
      it(`test number ${n}: ${JSON.stringify(expected)}`, async () => {
        const req = charge(spec, n);
        const first = await h.adapter.charge(req);
        switch (expected.initial) {
          case 'succeeded':
            expect(first).toMatchObject({ kind: 'succeeded' });
            expect(h.sim.control.chargeCount(req.reference)).toBe(1);
            break;
          case 'declined':
            expect(first).toMatchObject({ kind: 'declined', code: expected.code });
            expect(h.sim.control.chargeCount(req.reference)).toBe(0);
            break;
          case 'otp': {
            expect(first).toMatchObject({ kind: 'pending', action: { kind: 'OTP' } });
            expect(h.sim.control.chargeCount(req.reference)).toBe(0);
            const providerRef = first.kind === 'pending' ? first.providerRef : undefined;
            const ok = await h.adapter.confirmConsent!({
              reference: req.reference,
              providerRef,
              otp: '123456',
              msisdn: req.msisdn,
            });
            expect(ok.kind === 'succeeded' || (ok.kind === 'pending' && !ok.action)).toBe(true);
            if (ok.kind === 'pending') {
              const e = await h.waitFor(req.reference, (ev) => ev.outcome.kind !== 'pending');
              expect(e.outcome.kind).toBe('succeeded');
            }
            expect(h.sim.control.chargeCount(req.reference)).toBe(1);
            // Three wrong OTPs on a fresh consent end in INVALID_OTP and no charge.
            const other = charge(spec, n);
            const started = await h.adapter.charge(other);
            const ref2 = started.kind === 'pending' ? started.providerRef : undefined;
            let last: Outcome = started;
            for (let i = 0; i < 3; i += 1) {
              last = await h.adapter.confirmConsent!({
                reference: other.reference,
                providerRef: ref2,
                otp: '000000',
                msisdn: other.msisdn,
              });
            }
            expect(last).toMatchObject({ kind: 'declined', code: 'INVALID_OTP' });
            expect(h.sim.control.chargeCount(other.reference)).toBe(0);
            break;
          }
          case 'pending': {
            expect(first.kind).toBe('pending');
            const e = await h.waitFor(req.reference, (ev) => ev.outcome.kind !== 'pending');
            if (expected.then === 'succeeded') {
              expect(e.outcome.kind).toBe('succeeded');
              expect(h.sim.control.chargeCount(req.reference)).toBe(1);
            } else {
              expect(e.outcome).toMatchObject({ kind: 'declined', code: expected.then.declined });
              expect(h.sim.control.chargeCount(req.reference)).toBe(0);
            }
            break;
          }
          case 'unknown': {
            expect(['unknown', 'pending']).toContain(first.kind);
            const providerRef = 'providerRef' in first ? first.providerRef : undefined;
            const resolved = await resolveByStatus(h.adapter, req.reference, providerRef);
            expect(resolved.kind).toBe('succeeded');
            expect(h.sim.control.chargeCount(req.reference)).toBe(1);
            break;
          }
          case 'redirect': {
            expect(first).toMatchObject({ kind: 'pending', action: { kind: 'REDIRECT' } });
            await h.sim.control.completeRedirect!(req.reference);
            const e = await h.waitFor(req.reference, (ev) => ev.outcome.kind === 'succeeded');
            expect(e.outcome.kind).toBe('succeeded');
            expect(h.sim.control.chargeCount(req.reference)).toBe(1);
            break;
          }
        }
      });
    }

    it('a repeated reference never charges twice', async () => {
      const req = charge(spec, '00');
      const outcomes = await Promise.all([
        h.adapter.charge(req),
        h.adapter.charge(req),
        h.adapter.charge(req),
      ]);
      expect(outcomes.some((o) => o.kind === 'succeeded' || o.kind === 'pending')).toBe(true);
      await sleep(50);
      expect(h.sim.control.chargeCount(req.reference)).toBe(1);
    });

    it('records every exchange, without secrets', async () => {
      const req = charge(spec, '00');
      await h.adapter.charge(req);
      const mine = h.interactions.filter((i) => i.reference === req.reference);
      expect(mine.length).toBeGreaterThan(0);
      const text = JSON.stringify(h.interactions);
      for (const secret of Object.values(h.sim.credentials)) {
        if (secret.length >= 6) expect(text).not.toContain(secret);
      }
      if (req.msisdn) expect(text).not.toContain(req.msisdn.replace('+', ''));
    });

    if (spec.factory.capabilities.procedures.includes('REFUND')) {
      it('refunds in full and in part, never more than charged', async () => {
        const req = charge(spec, '00', uniqueReference(), 1000n);
        const c = await h.adapter.charge(req);
        expect(c.kind).toBe('succeeded');
        const providerRef = c.kind === 'succeeded' ? c.providerRef : undefined;
        const base = {
          chargeReference: req.reference,
          chargeProviderRef: providerRef,
          msisdn: req.msisdn,
          currency: spec.currency,
        };
        if (spec.factory.capabilities.refunds === 'partial') {
          const part = await h.adapter.refund!({
            ...base,
            reference: uniqueReference('RF'),
            amount: 300n,
            full: false,
          });
          expect(['succeeded', 'pending']).toContain(part.kind);
          const over = await h.adapter.refund!({
            ...base,
            reference: uniqueReference('RF'),
            amount: 800n,
            full: false,
          });
          expect(over.kind).toBe('declined');
          const rest = await h.adapter.refund!({
            ...base,
            reference: uniqueReference('RF'),
            amount: 700n,
            full: true,
          });
          expect(['succeeded', 'pending']).toContain(rest.kind);
        } else {
          const all = await h.adapter.refund!({
            ...base,
            reference: uniqueReference('RF'),
            amount: 1000n,
            full: true,
          });
          expect(['succeeded', 'pending']).toContain(all.kind);
        }
        await sleep(100);
        expect(h.sim.control.netCharged(req.reference)).toBe(0n);
      });
    }

    if (spec.factory.capabilities.procedures.includes('RESERVE')) {
      it('reserves, then captures or releases', async () => {
        const req = charge(spec, '00', uniqueReference(), 500n);
        const r = await h.adapter.reserve!(req);
        expect(['succeeded', 'pending']).toContain(r.kind);
        expect(h.sim.control.chargeCount(req.reference)).toBe(0);
        const providerRef = 'providerRef' in r ? r.providerRef : undefined;
        const cap = await h.adapter.capture!({
          reference: req.reference,
          providerRef,
          msisdn: req.msisdn,
          amount: 500n,
          currency: spec.currency,
        });
        expect(cap.kind).toBe('succeeded');
        expect(h.sim.control.chargeCount(req.reference)).toBe(1);

        const other = charge(spec, '00', uniqueReference(), 500n);
        const r2 = await h.adapter.reserve!(other);
        const rel = await h.adapter.release!({
          reference: other.reference,
          providerRef: 'providerRef' in r2 ? r2.providerRef : undefined,
          msisdn: other.msisdn,
        });
        expect(rel.kind).toBe('succeeded');
        expect(h.sim.control.chargeCount(other.reference)).toBe(0);
      });
    }

    const na = spec.notApplicable ?? {};
    if (!na.hang) {
      it('a timeout after the charge is unknown; a status query finds exactly one charge', async () => {
        h.sim.control.setFaults({ hangAfterCommit: 1 });
        const req = charge(spec, '00');
        const first = await h.adapter.charge(req);
        expect(first.kind).toBe('unknown');
        const resolved = await resolveByStatus(h.adapter, req.reference);
        expect(resolved.kind).toBe('succeeded');
        expect(h.sim.control.chargeCount(req.reference)).toBe(1);
      });
    }
    if (!na.unavailable) {
      it('an unavailable provider declines with CHANNEL_UNAVAILABLE and charges nothing', async () => {
        h.sim.control.setFaults({ unavailable: 1 });
        const req = charge(spec, '00');
        const first = await h.adapter.charge(req);
        expect(first).toMatchObject({ kind: 'declined', code: 'CHANNEL_UNAVAILABLE' });
        expect(h.sim.control.chargeCount(req.reference)).toBe(0);
      });
    }
    if (!na.malformed) {
      it('a malformed answer is unknown, never a failure', async () => {
        h.sim.control.setFaults({ malformedAfterCommit: 1 });
        const req = charge(spec, '00');
        const first = await h.adapter.charge(req);
        expect(first.kind).toBe('unknown');
        const resolved = await resolveByStatus(h.adapter, req.reference);
        expect(resolved.kind).toBe('succeeded');
        expect(h.sim.control.chargeCount(req.reference)).toBe(1);
      });
    }
    if (!na.drop) {
      it('a dropped connection after the charge is unknown, resolved to one charge', async () => {
        h.sim.control.setFaults({ dropAfterCommit: 1 });
        const req = charge(spec, '00');
        const first = await h.adapter.charge(req);
        expect(first.kind).toBe('unknown');
        const resolved = await resolveByStatus(h.adapter, req.reference);
        expect(resolved.kind).toBe('succeeded');
        expect(h.sim.control.chargeCount(req.reference)).toBe(1);
      });
    }
    if (!na.forgedCallback && spec.cases['77']) {
      it('a forged callback is rejected and changes nothing', async () => {
        const req = charge(spec, '77');
        await h.adapter.charge(req);
        await h.waitFor(req.reference, (e) => e.outcome.kind !== 'pending');
        const before = h.events.length;
        const rejectedBefore = h.rejectedCallbacks;
        const status = await h.sim.control.sendForgedCallback!(req.reference);
        expect(status).toBeGreaterThanOrEqual(400);
        expect(h.rejectedCallbacks).toBe(rejectedBefore + 1);
        expect(h.events.length).toBe(before);
      });
    }
    if (!na.duplicateCallbacks && spec.cases['77']) {
      it('duplicated callbacks carry the same event id (so they dedupe)', async () => {
        h.sim.control.setFaults({ duplicateCallbacks: true });
        const req = charge(spec, '77');
        await h.adapter.charge(req);
        await h.waitFor(req.reference, (e) => e.outcome.kind === 'succeeded');
        await sleep(spec.asyncTimeoutMs ? Math.min(spec.asyncTimeoutMs, 1500) : 1500);
        const finals = h.events.filter(
          (e) => e.reference === req.reference && e.outcome.kind === 'succeeded',
        );
        expect(finals.length).toBeGreaterThanOrEqual(2);
        expect(new Set(finals.map((e) => e.eventId)).size).toBe(1);
        expect(h.sim.control.chargeCount(req.reference)).toBe(1);
      });
    }
  });
}
