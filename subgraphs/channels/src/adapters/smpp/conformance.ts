import * as smpp from 'smpp';
import type { ConformanceSpec } from '../conformance';
import type { Simulator } from '../simulator';
import { factory } from './adapter';
import { SIM_PRICE_POINTS, SIM_SHORT_CODE, startSimulator } from './simulator';
import { REFERENCE_TLV } from './transformers';

/** Benchmarks: one long-lived raw bind per simulator, no adapter logic on top. */
const rawSessions = new WeakMap<Simulator, Promise<smpp.Session>>();

function rawSession(sim: Simulator): Promise<smpp.Session> {
  let s = rawSessions.get(sim);
  if (!s) {
    s = new Promise<smpp.Session>((resolve, reject) => {
      const session = smpp.connect(sim.url, () => {
        session.socket.unref();
        session.bind_transceiver(
          {
            system_id: sim.credentials.systemId,
            password: sim.credentials.password,
            interface_version: 0x34,
          },
          (resp) =>
            resp.command_status === 0
              ? resolve(session)
              : reject(new Error(`raw bind failed: ${resp.command_status}`)),
        );
      });
      session.on('deliver_sm', (pdu: smpp.Pdu) => session.send(pdu.response()));
      session.on('error', (e: Error) => {
        rawSessions.delete(sim);
        reject(e);
      });
      session.on('close', () => rawSessions.delete(sim));
    });
    rawSessions.set(sim, s);
  }
  return s;
}

export const spec: ConformanceSpec = {
  code: 'smpp',
  factory,
  startSimulator,
  adapterConfig: (sim) => ({
    baseUrl: sim.url,
    credentials: { systemId: sim.credentials.systemId, password: sim.credentials.password },
    timeoutMs: 500,
    settings: {
      shortCode: SIM_SHORT_CODE,
      currency: 'GBP',
      pricePoints: SIM_PRICE_POINTS,
      windowSize: 64,
      enquireLinkMs: 5_000,
      reconnectBaseMs: 25,
      reconnectMaxMs: 500,
      throttleBaseMs: 10,
      throttleRetries: 1,
      receiptTimeoutMs: 3_000,
      demoOtp: '123456',
    },
  }),
  payer: (n) => ({ msisdn: `+4477009001${n}` }),
  currency: 'GBP',
  cases: {
    '00': { initial: 'pending', then: 'succeeded' },
    '77': { initial: 'pending', then: 'succeeded' },
    '51': { initial: 'pending', then: { declined: 'INSUFFICIENT_FUNDS' } },
    '54': { initial: 'pending', then: { declined: 'DENIED' } },
    '78': { initial: 'pending', then: { declined: 'DENIED' } },
    // VENDOR_RCONSENT (no opt-in) → OTP checked by the channel → opted-in MT → DLR DELIVRD.
    '55': { initial: 'otp' },
    '91': { initial: 'unknown', then: 'succeeded' },
    '61': { initial: 'declined', code: 'LIMIT_EXCEEDED' },
    '64': { initial: 'declined', code: 'DENIED' },
    '69': { initial: 'declined', code: 'CHANNEL_UNAVAILABLE' },
  },
  asyncTimeoutMs: 4_000,
  notApplicable: {
    forgedCallback:
      'SMPP receipts arrive as deliver_sm on our own authenticated bind, not on an HTTP sink; a receipt for an unknown message_id is tested in smpp.test.ts instead',
  },
  async rawCharge(sim, reference, payer) {
    const session = await rawSession(sim);
    await new Promise<void>((resolve, reject) => {
      session.submit_sm(
        {
          source_addr: SIM_SHORT_CODE,
          destination_addr: (payer.msisdn ?? '').replace('+', ''),
          registered_delivery: 1,
          short_message: 'bench',
          billing_identification: { format: 0x80, data: Buffer.from('PP199') },
          [REFERENCE_TLV]: reference,
        },
        (resp) =>
          resp.command_status === 0
            ? resolve()
            : reject(new Error(`submit_sm status ${resp.command_status}`)),
      );
    });
  },
};
