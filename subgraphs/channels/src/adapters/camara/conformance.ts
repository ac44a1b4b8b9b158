import { randomUUID } from 'node:crypto';
import { request } from 'undici';
import { SignJWT, importJWK, type JWK } from 'jose';
import type { ConformanceSpec } from '../conformance';
import type { Simulator } from '../simulator';
import { factory } from './adapter';
import { startSimulator } from './simulator';
import {
  CLIENT_ASSERTION_TYPE,
  PAYMENTS_BASE,
  PURPOSE,
  SCOPES,
  TOKEN_PATH,
  TokenResponseSchema,
} from './transformers';

/** One token per simulator, fetched once, for rawCharge (benchmarks). */
const rawTokens = new WeakMap<Simulator, Promise<string>>();

async function fetchRawToken(sim: Simulator): Promise<string> {
  const jwk = JSON.parse(sim.credentials.privateKeyJwk!) as JWK;
  const alg = jwk.alg ?? 'ES256';
  const assertion = await new SignJWT({})
    .setProtectedHeader({ alg, kid: sim.credentials.keyId })
    .setIssuer(sim.credentials.clientId!)
    .setSubject(sim.credentials.clientId!)
    .setAudience(sim.url + TOKEN_PATH)
    .setJti(randomUUID())
    .setIssuedAt()
    .setExpirationTime('60s')
    .sign(await importJWK(jwk, alg));
  const res = await request(sim.url + TOKEN_PATH, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      scope: [...SCOPES, PURPOSE].join(' '),
      client_assertion_type: CLIENT_ASSERTION_TYPE,
      client_assertion: assertion,
    }).toString(),
  });
  return TokenResponseSchema.parse(await res.body.json()).access_token;
}

export const spec: ConformanceSpec = {
  code: 'camara',
  factory,
  startSimulator,
  adapterConfig: (sim) => ({
    baseUrl: sim.url,
    credentials: sim.credentials,
    timeoutMs: 400,
    settings: {
      merchantIdentifier: 'coinslot-games',
      merchantName: 'Coinslot',
      pollIntervalMs: 100,
    },
  }),
  payer: (n) => ({ msisdn: `+336123456${n}` }),
  currency: 'EUR',
  sinkTls: true,
  asyncTimeoutMs: 2_000,
  cases: {
    '00': { initial: 'succeeded' },
    '51': { initial: 'declined', code: 'INSUFFICIENT_FUNDS' },
    '54': { initial: 'declined', code: 'DENIED' },
    '55': { initial: 'otp' },
    '77': { initial: 'pending', then: 'succeeded' },
    '78': { initial: 'pending', then: { declined: 'DENIED' } },
    '91': { initial: 'unknown', then: 'succeeded' },
    '61': { initial: 'declined', code: 'LIMIT_EXCEEDED' },
    '64': { initial: 'declined', code: 'DENIED' },
    '69': { initial: 'declined', code: 'CHANNEL_UNAVAILABLE' },
  },
  async rawCharge(sim, reference, payer) {
    let token = rawTokens.get(sim);
    if (!token) {
      token = fetchRawToken(sim);
      rawTokens.set(sim, token);
    }
    const body = JSON.stringify({
      amountTransaction: {
        phoneNumber: payer.msisdn,
        clientCorrelator: reference,
        referenceCode: reference,
        paymentAmount: {
          chargingInformation: { amount: 1.99, currency: 'EUR', description: 'bench' },
        },
      },
    });
    const res = await request(`${sim.url}${PAYMENTS_BASE}/payments`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await token}`,
        'content-type': 'application/json',
        'x-correlator': reference,
      },
      body,
    });
    await res.body.dump();
    if (res.statusCode !== 201) throw new Error(`rawCharge: ${res.statusCode}`);
  },
};
