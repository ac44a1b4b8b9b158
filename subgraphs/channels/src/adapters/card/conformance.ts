import { Pool } from 'undici';
import type { ConformanceSpec } from '../conformance';
import type { Simulator, TestNumber } from '../simulator';
import { factory } from './adapter';
import { startSimulator } from './simulator';

/** The contract's card tokens stand in for the carrier test numbers. */
const TOKENS: Partial<Record<TestNumber, string>> = {
  '00': 'tok_ok',
  '51': 'tok_insufficient',
  '54': 'tok_declined',
  '55': 'tok_3ds',
};

const rawPools = new WeakMap<Simulator, Pool>();

export const spec: ConformanceSpec = {
  code: 'card',
  factory,
  startSimulator,
  adapterConfig: (sim) => ({
    baseUrl: sim.url,
    credentials: { ...sim.credentials },
    timeoutMs: 400,
  }),
  payer: (n) => ({ cardToken: TOKENS[n] ?? 'tok_ok' }),
  currency: 'EUR',
  cases: {
    '00': { initial: 'succeeded' },
    '51': { initial: 'declined', code: 'INSUFFICIENT_FUNDS' },
    '54': { initial: 'declined', code: 'DENIED' },
    '55': { initial: 'redirect' },
  },
  asyncTimeoutMs: 3_000,
  async rawCharge(sim, reference, payer) {
    let pool = rawPools.get(sim);
    if (!pool) {
      pool = new Pool(sim.url, { connections: 128, keepAliveTimeout: 30_000 });
      rawPools.set(sim, pool);
    }
    const body =
      `amount=199&currency=eur&confirm=true&payment_method_data[type]=card` +
      `&payment_method_data[card][token]=${encodeURIComponent(payer.cardToken ?? 'tok_ok')}` +
      `&metadata[reference]=${encodeURIComponent(reference)}`;
    const res = await pool.request({
      method: 'POST',
      path: '/v1/payment_intents',
      headers: {
        authorization: `Bearer ${sim.credentials.secretKey}`,
        'content-type': 'application/x-www-form-urlencoded',
        'idempotency-key': `${reference}:charge`,
      },
      body,
    });
    await res.body.dump();
    if (res.statusCode !== 200 && res.statusCode !== 402)
      throw new Error(`raw charge answered HTTP ${res.statusCode}`);
  },
};
