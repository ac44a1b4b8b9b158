/**
 * Loopback GSMA OneAPI Payment v1 server (PROTOCOLS.md §4, §1.5): Basic auth, form or JSON
 * requests, JSON answers, an in-memory ledger keyed by serverReferenceCode / transactionId,
 * dedupe by clientCorrelator, refunds ≤ charged, reservations, async callbacks, the contract's
 * test numbers and the SimulatorControl faults.
 *
 * Extension (OneAPI v1 has no consent API): for numbers ending in 55 the operator demands an OTP
 * before charging. A charge without a verified consent answers 403 POL3000; the client creates
 * `POST …/{endUserId}/consents` (the OTP goes to the handset; here it is always 123456), submits
 * it with `POST …/consents/{id}/verify` (three attempts), then charges with `consentId`.
 */
import http from 'node:http';
import https from 'node:https';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Simulator, SimulatorFaults, SimulatorOptions } from '../simulator';
import { NO_FAULTS, testNumberOf } from '../simulator';
import type { ConsentStatus, TransactionStatus } from './transformers';
import {
  CONSENT_EXPIRED,
  CONSENT_NOT_VERIFIED,
  CONSENT_REQUIRED,
  decodeForm,
  decodePaymentBody,
  exponentOf,
  parseTransactionStatus,
  safeEqual,
} from './transformers';
import { formatMinorAsDecimal, parseDecimalToMinor } from '@coinslot/kernel';

export interface OneApiSimulatorOptions extends SimulatorOptions {
  /** Default callback target (forged callbacks for sync charges go here). */
  callbackUrl: string;
  /** Delay before an async (77/78) charge settles. */
  asyncDelayMs?: number;
  /** The OTP the "handset" receives. */
  otp?: string;
  consentTtlMs?: number;
}

interface ChargeTxn {
  kind: 'charge';
  id: string;
  endUserId: string;
  referenceCode: string;
  clientCorrelator?: string;
  description: string;
  currency: string;
  amount: bigint;
  refunded: bigint;
  status: TransactionStatus;
  /** What the first answer said (91 answers Processing while already Charged). */
  callbackURL?: string;
}

interface RefundTxn {
  kind: 'refund';
  id: string;
  endUserId: string;
  referenceCode: string;
  clientCorrelator?: string;
  originalServerReferenceCode: string;
  description: string;
  currency: string;
  amount: bigint;
  status: TransactionStatus;
}

interface Reservation {
  kind: 'reservation';
  id: string;
  endUserId: string;
  referenceCode: string;
  clientCorrelator?: string;
  description: string;
  currency: string;
  reserved: bigint;
  charged: bigint;
  refunded: bigint;
  status: TransactionStatus;
  seq: number;
  ops: Map<number, TransactionStatus>;
}

interface ConsentRec {
  id: string;
  endUserId: string;
  referenceCode: string;
  clientCorrelator?: string;
  purpose: 'Charged' | 'Reserved';
  description: string;
  currency: string;
  amount: bigint;
  status: ConsentStatus;
  attemptsLeft: number;
  expiresAt: number;
  usedBy?: string;
}

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Money-moving request that was accepted: post-commit faults apply. */
  moneyMoving?: boolean;
  /** Runs after the answer was decided (async settlement), whatever the faults. */
  after?: () => void;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

function exception(
  status: number,
  type: 'serviceException' | 'policyException',
  messageId: string,
  text: string,
  variables: string[] = [],
): Reply {
  return { status, body: { requestError: { [type]: { messageId, text, variables } } } };
}
const svc = (status: number, id: string, text: string, vars?: string[]) =>
  exception(status, 'serviceException', id, text, vars);
const pol = (status: number, id: string, text: string, vars?: string[]) =>
  exception(status, 'policyException', id, text, vars);
const invalid = (part: string) =>
  svc(400, 'SVC0002', 'Invalid input value for message part %1', [part]);

export async function startSimulator(options: OneApiSimulatorOptions): Promise<Simulator> {
  const credentials = {
    username: `sp-${randomBytes(4).toString('hex')}`,
    password: randomBytes(18).toString('base64url'),
    callbackUsername: `notify-${randomBytes(4).toString('hex')}`,
    callbackPassword: randomBytes(18).toString('base64url'),
  };
  const asyncDelayMs = options.asyncDelayMs ?? 150;
  const otpCode = options.otp ?? '123456';
  const consentTtlMs = options.consentTtlMs ?? 5 * 60_000;

  let faults: SimulatorFaults = { ...NO_FAULTS };
  let stopped = false;
  let seq = 0;
  const timers = new Set<NodeJS.Timeout>();
  const txns = new Map<string, ChargeTxn | RefundTxn>();
  const reservations = new Map<string, Reservation>();
  const consents = new Map<string, ConsentRec>();
  const byCorrelator = new Map<string, string>();
  const commits = new Map<string, number>();
  const lastCallback = new Map<string, { url: string; body: string }>();
  let url = '';

  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      if (!stopped) fn();
    }, ms);
    timers.add(t);
  };
  const newId = (prefix: string) =>
    `${prefix}${Date.now().toString(36).toUpperCase()}${(seq += 1)}${randomBytes(3).toString('hex').toUpperCase()}`;
  const commit = (reference: string) => commits.set(reference, (commits.get(reference) ?? 0) + 1);
  const num = (minor: bigint, code: string) =>
    Number(formatMinorAsDecimal(minor, exponentOf(code)));
  const root = (eu: string) => `${url}/1/payment/${encodeURIComponent(eu)}`;

  // ------------------------------------------------------------------ views
  const txnView = (t: ChargeTxn | RefundTxn, status: string = t.status) => ({
    endUserId: t.endUserId,
    clientCorrelator: t.clientCorrelator,
    referenceCode: t.referenceCode,
    serverReferenceCode: t.id,
    ...(t.kind === 'refund' ? { originalServerReferenceCode: t.originalServerReferenceCode } : {}),
    resourceURL: `${root(t.endUserId)}/transactions/amount/${encodeURIComponent(t.id)}`,
    transactionOperationStatus: status,
    paymentAmount: {
      chargingInformation: {
        amount: num(t.amount, t.currency),
        currency: t.currency,
        description: t.description,
      },
      totalAmountCharged:
        t.kind === 'charge' && t.status === 'Charged' ? num(t.amount, t.currency) : 0,
    },
  });
  const reservationView = (r: Reservation) => ({
    endUserId: r.endUserId,
    clientCorrelator: r.clientCorrelator,
    referenceCode: r.referenceCode,
    serverReferenceCode: r.id,
    resourceURL: `${root(r.endUserId)}/transactions/amountReservation/${encodeURIComponent(r.id)}`,
    transactionOperationStatus: r.status,
    referenceSequence: r.seq,
    paymentAmount: {
      chargingInformation: {
        amount: num(r.reserved, r.currency),
        currency: r.currency,
        description: r.description,
      },
      amountReserved: r.status === 'Reserved' ? num(r.reserved, r.currency) : 0,
      totalAmountCharged: num(r.charged, r.currency),
    },
  });
  const consentView = (c: ConsentRec) => ({
    consent: {
      consentId: c.id,
      resourceURL: `${root(c.endUserId)}/consents/${encodeURIComponent(c.id)}`,
      status: c.status,
      attemptsLeft: c.attemptsLeft,
      endUserId: c.endUserId,
      referenceCode: c.referenceCode,
      clientCorrelator: c.clientCorrelator,
      purpose: c.purpose,
      paymentAmount: {
        chargingInformation: {
          amount: num(c.amount, c.currency),
          currency: c.currency,
          description: c.description,
        },
      },
    },
  });

  // ------------------------------------------------------------------ callbacks
  function post(target: string, body: string, user: string, pass: string): Promise<number> {
    return new Promise((resolve) => {
      let u: URL;
      try {
        u = new URL(target);
      } catch {
        resolve(0);
        return;
      }
      const lib = u.protocol === 'https:' ? https : http;
      const req = lib.request(
        u,
        {
          method: 'POST',
          agent: false,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`,
          },
          ...(u.protocol === 'https:' ? { rejectUnauthorized: !options.insecureSinkTls } : {}),
          timeout: 5_000,
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(0));
      req.end(body);
    });
  }

  /** Genuine delivery: retried on 5xx and network errors, like an operator's notifier. */
  async function deliver(target: string, body: string): Promise<number> {
    let status = 0;
    for (let attempt = 0; attempt < 3 && !stopped; attempt += 1) {
      if (attempt > 0) await sleep(100 * attempt);
      status = await post(target, body, credentials.callbackUsername, credentials.callbackPassword);
      if (status > 0 && status < 500) break;
    }
    return status;
  }

  async function notify(t: ChargeTxn): Promise<void> {
    if (!t.callbackURL) return;
    // The reference server calls back in lower case ("charged").
    const final = JSON.stringify({ amountTransaction: txnView(t, t.status.toLowerCase()) });
    const interim = JSON.stringify({ amountTransaction: txnView(t, 'processing') });
    const sequence = faults.reorderCallbacks ? [final, interim] : [final];
    const copies = faults.duplicateCallbacks ? 2 : 1;
    const delay = faults.callbackDelayMs;
    for (const body of sequence) {
      for (let i = 0; i < copies; i += 1) {
        if (delay > 0) await sleep(delay);
        if (stopped) return;
        if (body === final) lastCallback.set(t.referenceCode, { url: t.callbackURL, body });
        await deliver(t.callbackURL, body);
      }
    }
  }

  // ------------------------------------------------------------------ helpers
  type Money = { currency: string; amount: bigint };
  function money(f: Record<string, string>): Money | Reply {
    if (!f.description)
      return svc(400, 'SVC0002', 'Missing mandatory message part %1', ['description']);
    if (!f.currency || f.amount === undefined)
      return f.code ? invalid('code') : invalid(f.currency ? 'amount' : 'currency');
    let amount: bigint;
    try {
      exponentOf(f.currency);
      amount = parseDecimalToMinor(f.amount, exponentOf(f.currency));
    } catch {
      return invalid(/^[A-Z]{3}$/.test(f.currency) ? 'amount' : 'currency');
    }
    if (amount <= 0n) return invalid('amount');
    return { currency: f.currency, amount };
  }
  const isReply = (x: Money | Reply): x is Reply => 'status' in x;

  /** Test-number declines for a new charge or reservation (PROTOCOLS §1.5). */
  function scenarioDecline(eu: string): Reply | undefined {
    switch (testNumberOf(eu)) {
      case '51':
        return pol(403, 'POL1000', 'User has insufficient credit for transaction');
      case '54':
        return pol(403, 'POL0001', 'A policy error occurred: %1', ['charging denied']);
      case '61':
        return pol(403, 'POL1001', 'User has exceeded their charging limit');
      case '64':
        return svc(400, 'SVC0004', 'No valid addresses provided in message part %1', ['endUserId']);
      case '69':
        return { ...svc(503, 'SVC1000', 'Too many requests'), headers: { 'retry-after': '1' } };
      default:
        return undefined;
    }
  }

  function consentGate(
    eu: string,
    f: Record<string, string>,
    m: Money,
    purpose: 'Charged' | 'Reserved',
  ): Reply | undefined {
    if (testNumberOf(eu) !== '55') return undefined;
    if (!f.consentId) return pol(403, CONSENT_REQUIRED, 'End user consent required: %1', ['OTP']);
    const c = consents.get(f.consentId);
    if (!c || c.endUserId !== eu || c.referenceCode !== f.referenceCode || c.purpose !== purpose) {
      return pol(403, CONSENT_NOT_VERIFIED, 'Consent %1 is not valid for this transaction', [
        f.consentId,
      ]);
    }
    if (c.status === 'pending' && Date.now() > c.expiresAt) c.status = 'expired';
    if (c.status === 'expired') return pol(403, CONSENT_EXPIRED, 'Consent %1 expired', [c.id]);
    if (c.status !== 'verified')
      return pol(403, CONSENT_NOT_VERIFIED, 'Consent %1 is not verified', [c.id]);
    if (c.usedBy && c.usedBy !== (f.clientCorrelator ?? f.referenceCode))
      return pol(403, CONSENT_NOT_VERIFIED, 'Consent %1 already used', [c.id]);
    if (c.amount !== m.amount || c.currency !== m.currency) return invalid('amount');
    c.usedBy = f.clientCorrelator ?? f.referenceCode;
    return undefined;
  }

  function validCallbackUrl(value: string | undefined): boolean {
    if (value === undefined) return true;
    try {
      const u = new URL(value);
      return (u.protocol === 'http:' || u.protocol === 'https:') && LOOPBACK.has(u.hostname);
    } catch {
      return false;
    }
  }

  // ------------------------------------------------------------------ operations
  function charge(eu: string, f: Record<string, string>): Reply {
    const m = money(f);
    if (isReply(m)) return m;
    if (!f.referenceCode) return invalid('referenceCode');
    if (!validCallbackUrl(f.callbackURL)) return invalid('callbackURL');
    const key = f.clientCorrelator ? `charge|${f.clientCorrelator}` : undefined;
    const existingId = key ? byCorrelator.get(key) : undefined;
    if (existingId) {
      const ex = txns.get(existingId) as ChargeTxn;
      if (ex.endUserId !== eu || ex.amount !== m.amount || ex.currency !== m.currency) {
        return svc(400, 'SVC0005', 'Duplicate clientCorrelator %1 with different data', [
          f.clientCorrelator!,
        ]);
      }
      // A retry with the same clientCorrelator is not charged twice: the existing transaction.
      return { status: 200, body: { amountTransaction: txnView(ex) }, moneyMoving: true };
    }
    const declined = scenarioDecline(eu) ?? consentGate(eu, f, m, 'Charged');
    if (declined) return declined;

    const n = testNumberOf(eu);
    const t: ChargeTxn = {
      kind: 'charge',
      id: newId('OA'),
      endUserId: eu,
      referenceCode: f.referenceCode,
      clientCorrelator: f.clientCorrelator,
      description: f.description!,
      currency: m.currency,
      amount: m.amount,
      refunded: 0n,
      status: 'Processing',
      callbackURL: f.callbackURL,
    };
    txns.set(t.id, t);
    if (key) byCorrelator.set(key, t.id);
    const location = { location: txnView(t).resourceURL };

    if (n === '77' || n === '78') {
      return {
        status: 202,
        body: { amountTransaction: txnView(t) },
        headers: location,
        moneyMoving: true,
        after: () =>
          later(asyncDelayMs, () => {
            t.status = n === '77' ? 'Charged' : 'Denied';
            if (t.status === 'Charged') commit(t.referenceCode);
            void notify(t);
          }),
      };
    }
    t.status = 'Charged';
    commit(t.referenceCode);
    if (n === '91') {
      // Committed at once, but the answer says Processing and no callback will ever come.
      return {
        status: 202,
        body: { amountTransaction: txnView(t, 'Processing') },
        headers: location,
        moneyMoving: true,
      };
    }
    return {
      status: 201,
      body: { amountTransaction: txnView(t) },
      headers: location,
      moneyMoving: true,
    };
  }

  function refund(eu: string, f: Record<string, string>): Reply {
    const m = money(f);
    if (isReply(m)) return m;
    if (!f.referenceCode) return invalid('referenceCode');
    if (!f.originalServerReferenceCode)
      return pol(403, 'POL1005', 'Refund requires originalServerReferenceCode');
    const key = f.clientCorrelator ? `refund|${f.clientCorrelator}` : undefined;
    const existingId = key ? byCorrelator.get(key) : undefined;
    if (existingId) {
      const ex = txns.get(existingId) as RefundTxn;
      if (
        ex.amount !== m.amount ||
        ex.originalServerReferenceCode !== f.originalServerReferenceCode
      ) {
        return svc(400, 'SVC0005', 'Duplicate clientCorrelator %1 with different data', [
          f.clientCorrelator!,
        ]);
      }
      return { status: 200, body: { amountTransaction: txnView(ex) }, moneyMoving: true };
    }
    const orig =
      txns.get(f.originalServerReferenceCode) ?? reservations.get(f.originalServerReferenceCode);
    if (!orig || orig.kind === 'refund' || orig.endUserId !== eu) {
      return pol(403, 'POL1006', 'Invalid originalServerReferenceCode %1', [
        f.originalServerReferenceCode,
      ]);
    }
    const charged =
      orig.kind === 'charge' ? (orig.status === 'Charged' ? orig.amount : 0n) : orig.charged;
    if (charged === 0n)
      return pol(403, 'POL2010', 'Inconsistent transaction: %1 was not charged', [orig.id]);
    if (m.currency !== orig.currency) return invalid('currency');
    if (orig.refunded + m.amount > charged) return invalid('amount');
    orig.refunded += m.amount;
    const t: RefundTxn = {
      kind: 'refund',
      id: newId('RF'),
      endUserId: eu,
      referenceCode: f.referenceCode,
      clientCorrelator: f.clientCorrelator,
      originalServerReferenceCode: orig.id,
      description: f.description!,
      currency: m.currency,
      amount: m.amount,
      status: 'Refunded',
    };
    txns.set(t.id, t);
    if (key) byCorrelator.set(key, t.id);
    return { status: 200, body: { amountTransaction: txnView(t) }, moneyMoving: true };
  }

  function reserve(eu: string, f: Record<string, string>): Reply {
    if (parseTransactionStatus(f.transactionOperationStatus ?? '') !== 'Reserved')
      return invalid('transactionOperationStatus');
    if (f.referenceSequence !== undefined && f.referenceSequence !== '1')
      return invalid('referenceSequence');
    const m = money(f);
    if (isReply(m)) return m;
    if (!f.referenceCode) return invalid('referenceCode');
    const key = f.clientCorrelator ? `reserve|${f.clientCorrelator}` : undefined;
    const existingId = key ? byCorrelator.get(key) : undefined;
    if (existingId) {
      const ex = reservations.get(existingId)!;
      if (ex.endUserId !== eu || ex.currency !== m.currency)
        return svc(400, 'SVC0005', 'Duplicate clientCorrelator %1 with different data', [
          f.clientCorrelator!,
        ]);
      return {
        status: 200,
        body: { amountReservationTransaction: reservationView(ex) },
        moneyMoving: true,
      };
    }
    const declined = scenarioDecline(eu) ?? consentGate(eu, f, m, 'Reserved');
    if (declined) return declined;
    const r: Reservation = {
      kind: 'reservation',
      id: newId('RS'),
      endUserId: eu,
      referenceCode: f.referenceCode,
      clientCorrelator: f.clientCorrelator,
      description: f.description!,
      currency: m.currency,
      reserved: m.amount,
      charged: 0n,
      refunded: 0n,
      status: 'Reserved',
      seq: 1,
      ops: new Map([[1, 'Reserved']]),
    };
    reservations.set(r.id, r);
    if (key) byCorrelator.set(key, r.id);
    const view = reservationView(r);
    return {
      status: 201,
      body: { amountReservationTransaction: view },
      headers: { location: view.resourceURL },
      moneyMoving: true,
    };
  }

  function reservationOp(eu: string, id: string, f: Record<string, string>): Reply {
    const r = reservations.get(id);
    if (!r || r.endUserId !== eu) return { ...invalid('transactionId'), status: 404 };
    const st = parseTransactionStatus(f.transactionOperationStatus ?? '');
    if (st !== 'Reserved' && st !== 'Charged' && st !== 'Released')
      return invalid('transactionOperationStatus');
    const sequence = Number(f.referenceSequence);
    if (!Number.isInteger(sequence) || sequence < 2) return invalid('referenceSequence');
    const ok = (): Reply => ({
      status: 200,
      body: { amountReservationTransaction: reservationView(r) },
      moneyMoving: true,
    });
    const previous = r.ops.get(sequence);
    if (previous) return previous === st ? ok() : invalid('referenceSequence');
    if (sequence <= r.seq) return invalid('referenceSequence');
    if (r.status !== 'Reserved')
      return pol(403, 'POL2010', 'Inconsistent transaction: reservation is %1', [r.status]);
    if (st === 'Reserved' || st === 'Charged') {
      const m = money(f);
      if (isReply(m)) return m;
      if (m.currency !== r.currency) return invalid('currency');
      if (st === 'Reserved') {
        r.reserved += m.amount;
      } else {
        if (m.amount > r.reserved) return invalid('amount');
        r.charged = m.amount;
        r.status = 'Charged';
        commit(r.referenceCode);
      }
    } else {
      r.status = 'Released';
    }
    r.seq = sequence;
    r.ops.set(sequence, st);
    return ok();
  }

  function createConsent(eu: string, f: Record<string, string>): Reply {
    const m = money(f);
    if (isReply(m)) return m;
    if (!f.referenceCode) return invalid('referenceCode');
    const purpose = f.purpose === 'Reserved' ? 'Reserved' : 'Charged';
    const key = f.clientCorrelator ? `consent|${f.clientCorrelator}` : undefined;
    const existingId = key ? byCorrelator.get(key) : undefined;
    if (existingId) return { status: 200, body: consentView(consents.get(existingId)!) };
    const c: ConsentRec = {
      id: newId('CN'),
      endUserId: eu,
      referenceCode: f.referenceCode,
      clientCorrelator: f.clientCorrelator,
      purpose,
      description: f.description!,
      currency: m.currency,
      amount: m.amount,
      status: 'pending',
      attemptsLeft: 3,
      expiresAt: Date.now() + consentTtlMs,
    };
    consents.set(c.id, c);
    if (key) byCorrelator.set(key, c.id);
    const view = consentView(c);
    return { status: 201, body: view, headers: { location: view.consent.resourceURL } };
  }

  function verifyConsent(eu: string, id: string, f: Record<string, string>): Reply {
    const c = consents.get(id);
    if (!c || c.endUserId !== eu) return { ...invalid('consentId'), status: 404 };
    if (c.status === 'pending' && Date.now() > c.expiresAt) c.status = 'expired';
    if (c.status === 'pending') {
      if (f.otp !== undefined && safeEqual(f.otp, otpCode)) {
        c.status = 'verified';
      } else {
        c.attemptsLeft = Math.max(0, c.attemptsLeft - 1);
        if (c.attemptsLeft === 0) c.status = 'failed';
      }
    }
    return { status: 200, body: consentView(c) };
  }

  function list(eu: string): Reply {
    const amount = [...txns.values()].filter((t) => t.endUserId === eu).map((t) => txnView(t));
    const reserved = [...reservations.values()]
      .filter((r) => r.endUserId === eu)
      .map(reservationView);
    return {
      status: 200,
      body: {
        paymentTransactionList: {
          amountTransaction: amount,
          amountReservationTransaction: reserved,
          resourceURL: `${root(eu)}/transactions`,
        },
      },
    };
  }

  // ------------------------------------------------------------------ routing
  const ROUTE =
    /^\/1\/payment\/([^/]+)\/(transactions(?:\/(amount|amountReservation)(?:\/([^/]+))?)?|consents(?:\/([^/]+)(\/verify)?)?)$/;

  function route(
    method: string,
    path: string,
    contentType: string | undefined,
    raw: string,
  ): Reply {
    const m = ROUTE.exec(path);
    if (!m) return svc(404, 'SVC0002', 'Unknown resource %1', [path]);
    const eu = decodeURIComponent(m[1]!);
    if (!/^(tel:\+[1-9]\d{6,14}|acr:.+)$/.test(eu))
      return svc(400, 'SVC0004', 'No valid addresses provided in message part %1', ['endUserId']);
    const [, , head, resource, resourceId, consentId, verify] = m;
    const isConsent = head!.startsWith('consents');
    if (method === 'GET') {
      if (isConsent) {
        const c = consentId ? consents.get(consentId) : undefined;
        return c && c.endUserId === eu && !verify
          ? { status: 200, body: consentView(c) }
          : { ...invalid('consentId'), status: 404 };
      }
      if (!resource) return list(eu);
      if (!resourceId) return svc(405, 'SVC0002', 'Method not allowed');
      if (resource === 'amount') {
        const t = txns.get(resourceId);
        return t && t.endUserId === eu
          ? { status: 200, body: { amountTransaction: txnView(t) } }
          : { ...invalid('serverReferenceCode'), status: 404 };
      }
      const r = reservations.get(resourceId);
      return r && r.endUserId === eu
        ? { status: 200, body: { amountReservationTransaction: reservationView(r) } }
        : { ...invalid('transactionId'), status: 404 };
    }
    if (method !== 'POST') return svc(405, 'SVC0002', 'Method not allowed');
    if (isConsent) {
      const f = decodeForm(raw);
      if (!consentId) return createConsent(eu, f);
      if (verify) return verifyConsent(eu, consentId, f);
      return svc(405, 'SVC0002', 'Method not allowed');
    }
    const f = decodePaymentBody(contentType, raw);
    if (!f) return svc(400, 'SVC0001', 'A service error occurred: %1', ['unreadable body']);
    if (f.endUserId && f.endUserId !== eu) return invalid('endUserId');
    if (resource === 'amount' && !resourceId) {
      const st = parseTransactionStatus(f.transactionOperationStatus ?? '');
      if (st === 'Charged') return charge(eu, f);
      if (st === 'Refunded') return refund(eu, f);
      return invalid('transactionOperationStatus');
    }
    if (resource === 'amountReservation')
      return resourceId ? reservationOp(eu, resourceId, f) : reserve(eu, f);
    return svc(405, 'SVC0002', 'Method not allowed');
  }

  function authorized(header: string | undefined): boolean {
    const m = /^Basic\s+(.+)$/i.exec(header ?? '');
    if (!m) return false;
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return false;
    const userOk = safeEqual(decoded.slice(0, colon), credentials.username);
    const passOk = safeEqual(decoded.slice(colon + 1), credentials.password);
    return userOk && passOk;
  }

  function write(res: http.ServerResponse, reply: Reply): void {
    if (res.destroyed || res.writableEnded) return;
    const text = reply.body === undefined ? '' : JSON.stringify(reply.body);
    res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
    res.end(text);
  }

  async function handle(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    raw: string,
  ): Promise<void> {
    if (faults.latencyMs > 0) await sleep(faults.latencyMs);
    if (stopped) return void res.destroy();
    if (!authorized(req.headers.authorization)) {
      write(res, {
        ...pol(401, 'POL0002', 'Authentication failed'),
        headers: { 'www-authenticate': 'Basic realm="oneapi"' },
      });
      return;
    }
    if (faults.unavailable > 0) {
      faults.unavailable -= 1;
      write(res, {
        ...svc(503, 'SVC1000', 'Service temporarily unavailable'),
        headers: { 'retry-after': '1' },
      });
      return;
    }
    const path = new URL(req.url ?? '/', 'http://sim').pathname;
    const reply = route(req.method ?? 'GET', path, req.headers['content-type'], raw);
    reply.after?.();
    if (!reply.moneyMoving || reply.status >= 300) {
      write(res, reply);
      return;
    }
    if (faults.hangAfterCommit > 0) {
      faults.hangAfterCommit -= 1;
      later(faults.hangMs, () => write(res, reply));
      return;
    }
    if (faults.malformedAfterCommit > 0) {
      faults.malformedAfterCommit -= 1;
      res.writeHead(reply.status, { 'content-type': 'application/json' });
      res.end('{"amountTransaction":{"transactionOperationStatus":"Char');
      return;
    }
    if (faults.dropAfterCommit > 0) {
      faults.dropAfterCommit -= 1;
      req.socket.destroy();
      return;
    }
    write(res, reply);
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      handle(req, res, Buffer.concat(chunks).toString('utf8')).catch((err: unknown) => {
        write(res, svc(500, 'SVC0001', 'A service error occurred: %1', [String(err)]));
      });
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;

  const findCharge = (reference: string): ChargeTxn | undefined =>
    [...txns.values()]
      .reverse()
      .find((t): t is ChargeTxn => t.kind === 'charge' && t.referenceCode === reference);

  return {
    url,
    credentials,
    control: {
      setFaults(partial) {
        faults = { ...NO_FAULTS, ...partial };
      },
      reset() {
        faults = { ...NO_FAULTS };
        for (const t of timers) clearTimeout(t);
        timers.clear();
        txns.clear();
        reservations.clear();
        consents.clear();
        byCorrelator.clear();
        commits.clear();
        lastCallback.clear();
      },
      chargeCount(reference) {
        return commits.get(reference) ?? 0;
      },
      netCharged(reference) {
        let net = 0n;
        for (const t of txns.values()) {
          if (t.kind === 'charge' && t.referenceCode === reference && t.status === 'Charged')
            net += t.amount - t.refunded;
        }
        for (const r of reservations.values())
          if (r.referenceCode === reference) net += r.charged - r.refunded;
        return net;
      },
      async sendForgedCallback(reference) {
        const t = findCharge(reference);
        const target = t?.callbackURL ?? options.callbackUrl;
        const body = JSON.stringify({
          amountTransaction: t
            ? txnView(t, 'charged')
            : {
                referenceCode: reference,
                clientCorrelator: reference,
                transactionOperationStatus: 'charged',
              },
        });
        return post(
          target,
          body,
          credentials.callbackUsername,
          `forged-${randomBytes(12).toString('base64url')}`,
        );
      },
      async replayCallback(reference) {
        const last = lastCallback.get(reference);
        if (!last) throw new Error(`no callback was sent for ${reference}`);
        return post(
          last.url,
          last.body,
          credentials.callbackUsername,
          credentials.callbackPassword,
        );
      },
    },
    async stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
