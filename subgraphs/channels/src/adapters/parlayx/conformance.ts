import { Agent } from 'undici';
import type { ConformanceSpec } from '../conformance';
import type { Simulator } from '../simulator';
import { factory } from './adapter';
import { startSimulator } from './simulator';
import {
  NS,
  PATHS,
  chargeAmountBody,
  envelope,
  huaweiHeader,
  huaweiTimestamp,
  telUri,
} from './transformers';

const rawAgents = new WeakMap<Simulator, Agent>();

export const spec: ConformanceSpec = {
  code: 'parlayx',
  factory,
  startSimulator,
  adapterConfig: (sim) => ({
    baseUrl: sim.url,
    credentials: { ...sim.credentials, authScheme: 'wsse' },
    timeoutMs: 400,
    // Loopback: fewer, hotter connections (a burst of 64 cold ones costs more than it brings).
    settings: { demoOtp: '123456', maxConnections: 32 },
  }),
  payer: (n) => ({ msisdn: `+4477009000${n}` }),
  currency: 'GBP',
  cases: {
    '00': { initial: 'succeeded' },
    '51': { initial: 'declined', code: 'INSUFFICIENT_FUNDS' },
    '54': { initial: 'declined', code: 'DENIED' },
    // POL0002 on chargeAmount → reserveAmount, OTP checked by the channel, chargeReservation.
    '55': { initial: 'otp' },
    // Processed for ~1 s, past the 400 ms client timeout: unknown, status says PROCESSING, then CHARGED.
    '77': { initial: 'unknown', then: 'succeeded' },
    // Parlay X denials are synchronous faults: 78 is declined at once, nothing charged.
    '78': { initial: 'declined', code: 'DENIED' },
    '91': { initial: 'unknown', then: 'succeeded' },
    '61': { initial: 'declined', code: 'LIMIT_EXCEEDED' },
    '64': { initial: 'declined', code: 'DENIED' },
    '69': { initial: 'declined', code: 'CHANNEL_UNAVAILABLE' },
  },
  notApplicable: {
    forgedCallback:
      'Parlay X Payment has no callbacks: answers are synchronous, lost ones are resolved by status',
    duplicateCallbacks: 'Parlay X Payment has no callbacks',
  },
  /** One prebuilt chargeAmount with the cheapest header (Huawei MD5), straight to the simulator. */
  async rawCharge(sim, reference, payer) {
    let agent = rawAgents.get(sim);
    if (!agent) {
      agent = new Agent({ connections: 128, keepAliveTimeout: 30_000 });
      rawAgents.set(sim, agent);
    }
    const endUser = telUri(payer.msisdn ?? '+447700900000');
    const header = huaweiHeader({
      spId: sim.credentials.spId!,
      password: sim.credentials.password!,
      timeStamp: huaweiTimestamp(new Date()),
    });
    const xml = envelope(
      header,
      chargeAmountBody(
        NS.amountCharging,
        endUser,
        { description: 'Benchmark', currency: 'GBP', amount: '1.99' },
        reference,
      ),
    );
    const url = new URL(sim.url);
    const res = await agent.request({
      origin: url.origin,
      path: PATHS.amountCharging,
      method: 'POST',
      headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: '""' },
      body: xml,
    });
    const text = await res.body.text();
    if (res.statusCode !== 200 || !text.includes('chargeAmountResponse'))
      throw new Error(`raw chargeAmount: HTTP ${res.statusCode}`);
  },
};
