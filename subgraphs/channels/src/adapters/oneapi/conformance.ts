/** Data for the shared conformance suite: OneAPI against its loopback simulator. */
import { request } from 'undici';
import type { ConformanceSpec } from '../conformance';
import { factory } from './adapter';
import { startSimulator } from './simulator';
import { encodeForm, endUserIdOf, paymentPaths } from './transformers';

export const spec: ConformanceSpec = {
  code: 'oneapi',
  factory,
  startSimulator: (options) => startSimulator(options),
  adapterConfig: (sim) => ({
    baseUrl: sim.url,
    // The callback credentials are the ones we configured at the operator; the token key is ours.
    credentials: { ...sim.credentials, callbackTokenKey: 'conformance-callback-token-key' },
    timeoutMs: 400,
    settings: { encoding: 'form' },
  }),
  payer: (n) => ({ msisdn: `+120255501${n}` }),
  currency: 'USD',
  cases: {
    '00': { initial: 'succeeded' },
    '51': { initial: 'declined', code: 'INSUFFICIENT_FUNDS' },
    '54': { initial: 'declined', code: 'DENIED' },
    '55': { initial: 'otp' },
    '77': { initial: 'pending', then: 'succeeded' },
    '78': { initial: 'pending', then: { declined: 'DENIED' } },
    '91': { initial: 'unknown', then: 'succeeded' },
  },
  asyncTimeoutMs: 4_000,
  async rawCharge(sim, reference, payer) {
    const endUserId = endUserIdOf(payer.msisdn ?? '+12025550100');
    const res = await request(paymentPaths(sim.url, endUserId).amount, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${sim.credentials.username}:${sim.credentials.password}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body: encodeForm({
        endUserId,
        transactionOperationStatus: 'Charged',
        referenceCode: reference,
        clientCorrelator: reference,
        description: 'bench',
        currency: 'USD',
        amount: '1.99',
      }),
    });
    await res.body.text();
    if (res.statusCode >= 300) throw new Error(`raw charge: HTTP ${res.statusCode}`);
  },
};
