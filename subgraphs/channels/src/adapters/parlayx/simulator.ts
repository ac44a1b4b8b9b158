/**
 * Loopback Parlay X 2.1 SDP: AmountCharging, ReserveAmountCharging, Account Management
 * getBalance, and the vendor `getChargeStatus` lookup (see transformers NS.vendorStatus).
 * A raw node:http server (byte-exact faults), stateful, with both security headers verified.
 *
 * Test numbers (last two MSISDN digits, PROTOCOLS §1.5):
 *   00 charged at once · 51 POL1000 (balance 0) · 54 SVC0270 · 78 SVC0270 too (Parlay X denies
 *   synchronously: no asynchronous denial exists) · 55 chargeAmount answers POL0002
 *   (consent: the channel checks the OTP, then charges a reservation) · 77 processed for ~1 s,
 *   committed at the end, answered then (status shows PROCESSING meanwhile) · 91 committed at
 *   once, answer held past the client timeout (`hangMs`) · 61 POL1001 · 64 SVC0004 · 69 HTTP 503.
 * A repeated referenceCode never charges twice: SVC0270 naming the reference as a duplicate
 * (variables: referenceCode, amount, currency); one still processing is waited for first.
 * Callbacks do not exist in Parlay X Payment, so the callback faults do not apply.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { NO_FAULTS, testNumberOf } from '../simulator';
import type { Simulator, SimulatorFaults, SimulatorOptions } from '../simulator';
import {
  NS,
  PASSWORD_TEXT_TYPE,
  childOf,
  fromXsdDecimal,
  huaweiSpPassword,
  parseEnvelope,
  parseHuaweiTimestamp,
  passwordDigest,
  textOf,
  toXsdDecimal,
  xmlEscape,
} from './transformers';

export interface ParlayXSimulatorOptions extends SimulatorOptions {
  callbackUrl?: string;
  /** The account currency of every subscriber (default GBP). */
  currency?: string;
  /** Starting prepaid balance of every MSISDN but the 51 ones (default 1,000,000.00). */
  initialBalanceMinor?: bigint;
  reservationTtlMs?: number;
  /** How long a 77 charge is processed before it commits and is answered (default 1000). */
  asyncDelayMs?: number;
  /** Accepted Created / timeStamp skew (default 5 min). */
  authWindowMs?: number;
}

interface ChargeEntry {
  msisdn: string;
  amount: bigint;
  currency: string;
  state: 'processing' | 'charged';
  commits: number;
  refunded: bigint;
  settled: Promise<void>;
  settle: () => void;
}

interface RefundEntry {
  chargeReference: string;
  amount: bigint;
  currency: string;
}

interface Reservation {
  msisdn: string;
  currency: string;
  remaining: bigint;
  expiresAt: number;
  state: 'open' | 'released';
}

interface Answer {
  status: number;
  body: string;
  contentType?: string;
  /** Money moved: the post-commit faults apply. */
  committed?: boolean;
  /** Hold the answer this long (91). */
  delayMs?: number;
}

class SoapFaultAnswer {
  constructor(
    readonly code: string,
    readonly text: string,
    readonly variables: string[] = [],
  ) {}
}

const ENV_OPEN = `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="${NS.soapenv}"><soapenv:Body>`;
const ENV_CLOSE = `</soapenv:Body></soapenv:Envelope>`;
const XML = 'text/xml; charset=utf-8';

function okXml(element: string, ns: string, inner = ''): string {
  return `${ENV_OPEN}<ns1:${element} xmlns:ns1="${ns}">${inner}</ns1:${element}>${ENV_CLOSE}`;
}
const EMPTY = {
  chargeAmount: okXml('chargeAmountResponse', NS.amountCharging),
  refundAmount: okXml('refundAmountResponse', NS.amountCharging),
  chargeReservation: okXml('chargeReservationResponse', NS.reserveAmountCharging),
  releaseReservation: okXml('releaseReservationResponse', NS.reserveAmountCharging),
  reserveAdditionalAmount: okXml('reserveAdditionalAmountResponse', NS.reserveAmountCharging),
};

function faultXml(f: SoapFaultAnswer): string {
  const exception = f.code.startsWith('POL') ? 'PolicyException' : 'ServiceException';
  return (
    `${ENV_OPEN}<soapenv:Fault><faultcode>soapenv:Server</faultcode><faultstring>${f.code}: ${xmlEscape(f.text)}</faultstring>` +
    `<detail><ns2:${exception} xmlns:ns2="${NS.common}"><messageId>${f.code}</messageId><text>${xmlEscape(f.text)}</text>` +
    f.variables.map((v) => `<variables>${xmlEscape(v)}</variables>`).join('') +
    `</ns2:${exception}></detail></soapenv:Fault>${ENV_CLOSE}`
  );
}

function plainFault(faultcode: string, faultstring: string, extraNs = ''): string {
  return `${ENV_OPEN}<soapenv:Fault${extraNs}><faultcode>${faultcode}</faultcode><faultstring>${xmlEscape(faultstring)}</faultstring></soapenv:Fault>${ENV_CLOSE}`;
}

const AUTH_FAULT = plainFault(
  'wsse:FailedAuthentication',
  'The security token could not be authenticated or authorized',
  ` xmlns:wsse="${NS.wsse}"`,
);

const safeEqual = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

export async function startSimulator(options: ParlayXSimulatorOptions): Promise<Simulator> {
  const accountCurrency = options.currency ?? 'GBP';
  const initialBalance = options.initialBalanceMinor ?? 100_000_000n;
  const reservationTtlMs = options.reservationTtlMs ?? 15 * 60_000;
  const asyncDelayMs = options.asyncDelayMs ?? 1_000;
  const authWindowMs = options.authWindowMs ?? 5 * 60_000;
  const credentials = {
    username: 'coinslot-sim-sp',
    password: `pw-${randomBytes(12).toString('hex')}`,
    spId: 'sp-35000001',
    serviceId: 'svc-0015001',
  };

  let faults: SimulatorFaults = { ...NO_FAULTS };
  const charges = new Map<string, ChargeEntry>();
  const refunds = new Map<string, RefundEntry>();
  const reservations = new Map<string, Reservation>();
  const balances = new Map<string, bigint>();
  let reservationSeq = 0;
  // Nonce replay protection: two generations, rotated every auth window.
  let nonces = new Set<string>();
  let oldNonces = new Set<string>();
  let noncesSince = Date.now();

  const timers = new Set<NodeJS.Timeout>();
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
    });

  // ------------------------------------------------------------------------ helpers

  const balanceOf = (msisdn: string): bigint => {
    let b = balances.get(msisdn);
    if (b === undefined) {
      b = testNumberOf(msisdn) === '51' ? 0n : initialBalance;
      balances.set(msisdn, b);
    }
    return b;
  };

  const endUserOf = (content: unknown): string => {
    const uri = textOf(childOf(content, 'endUserIdentifier'))?.trim() ?? '';
    const m = /^(?:tel:)?(\+?\d{6,15})$/.exec(uri);
    if (!m)
      throw new SoapFaultAnswer('SVC0004', 'No valid addresses provided in message part %1', [
        'endUserIdentifier',
      ]);
    return m[1]!.startsWith('+') ? m[1]! : `+${m[1]}`;
  };

  const referenceOf = (content: unknown, part = 'referenceCode'): string => {
    const ref = textOf(childOf(content, part))?.trim();
    if (!ref)
      throw new SoapFaultAnswer('SVC0002', 'Invalid input value for message part %1', [part]);
    return ref;
  };

  const chargingOf = (content: unknown): { amount: bigint; currency: string } => {
    const charge = childOf(content, 'charge');
    if (charge === undefined)
      throw new SoapFaultAnswer('SVC0002', 'Invalid input value for message part %1', ['charge']);
    const description = textOf(childOf(charge, 'description'))?.trim();
    if (!description)
      throw new SoapFaultAnswer('SVC0002', 'Invalid input value for message part %1', [
        'charge.description',
      ]);
    const currency = textOf(childOf(charge, 'currency'))?.trim() || accountCurrency;
    const amountText = textOf(childOf(charge, 'amount'))?.trim();
    // No price points here: a code without an amount is invalid charging information.
    if (!amountText) throw new SoapFaultAnswer('SVC0007', 'Invalid charging information');
    if (currency !== accountCurrency)
      throw new SoapFaultAnswer('SVC0002', 'Invalid input value for message part %1', [
        'charge.currency',
      ]);
    let amount: bigint;
    try {
      amount = fromXsdDecimal(amountText, currency);
    } catch {
      throw new SoapFaultAnswer('SVC0002', 'Invalid input value for message part %1', [
        'charge.amount',
      ]);
    }
    if (amount <= 0n)
      throw new SoapFaultAnswer('SVC0002', 'Invalid input value for message part %1', [
        'charge.amount',
      ]);
    return { amount, currency };
  };

  /** Faults chosen by the test number, for money requests. 69 is answered as HTTP 503 by the caller. */
  const scenarioFault = (
    msisdn: string,
    operation: 'charge' | 'reserve',
  ): SoapFaultAnswer | undefined => {
    switch (testNumberOf(msisdn)) {
      case '51':
        return new SoapFaultAnswer('POL1000', 'Insufficient credit');
      // Parlay X has no asynchronous denial: 78 is answered at once with 54's fault (§1.5).
      case '54':
      case '78':
        return new SoapFaultAnswer(
          'SVC0270',
          'Charging operation failed, the charge was not applied',
        );
      case '55':
        return operation === 'charge'
          ? new SoapFaultAnswer(
              'POL0002',
              'Privacy verification failed for address %1: end-user consent required',
              ['endUserIdentifier'],
            )
          : undefined;
      case '61':
        return new SoapFaultAnswer('POL1001', 'Charging limit exceeded');
      case '64':
        return new SoapFaultAnswer('SVC0004', 'No valid addresses provided in message part %1', [
          'endUserIdentifier',
        ]);
      default:
        return undefined;
    }
  };

  const duplicate = (reference: string, e: { amount: bigint; currency: string }) =>
    new SoapFaultAnswer(
      'SVC0270',
      'Charging operation failed: duplicate referenceCode %1, already charged %2 %3',
      [reference, toXsdDecimal(e.amount, e.currency), e.currency],
    );

  const newEntry = (msisdn: string, amount: bigint, currency: string): ChargeEntry => {
    let settle!: () => void;
    const settled = new Promise<void>((r) => (settle = r));
    return {
      msisdn,
      amount,
      currency,
      state: 'processing',
      commits: 0,
      refunded: 0n,
      settled,
      settle,
    };
  };

  const commit = (entry: ChargeEntry, fromBalance: boolean) => {
    if (fromBalance) balances.set(entry.msisdn, balanceOf(entry.msisdn) - entry.amount);
    entry.state = 'charged';
    entry.commits += 1;
    entry.settle();
  };

  /** An existing referenceCode: wait for it if still processing, then answer the duplicate. */
  const existingCharge = async (reference: string): Promise<SoapFaultAnswer | undefined> => {
    let existing = charges.get(reference);
    while (existing && existing.state === 'processing') {
      await existing.settled;
      existing = charges.get(reference);
    }
    return existing ? duplicate(reference, existing) : undefined;
  };

  const expireIfDue = (id: string, r: Reservation): boolean => {
    if (r.state === 'open' && r.expiresAt <= Date.now()) {
      balances.set(r.msisdn, balanceOf(r.msisdn) + r.remaining);
      r.remaining = 0n;
      r.state = 'released';
      reservations.set(id, r);
      return true;
    }
    return r.state === 'released' && r.expiresAt <= Date.now();
  };

  const unavailableAnswer = (): Answer => ({
    status: 503,
    body: 'Service Unavailable',
    contentType: 'text/plain',
  });

  // ------------------------------------------------------------------------ operations

  async function chargeAmount(content: unknown): Promise<Answer> {
    const msisdn = endUserOf(content);
    const { amount, currency } = chargingOf(content);
    const reference = referenceOf(content);
    const dup = await existingCharge(reference);
    if (dup) throw dup;
    if (testNumberOf(msisdn) === '69') return unavailableAnswer();
    const fault = scenarioFault(msisdn, 'charge');
    if (fault) throw fault;
    if (balanceOf(msisdn) < amount) throw new SoapFaultAnswer('POL1000', 'Insufficient credit');
    const entry = newEntry(msisdn, amount, currency);
    charges.set(reference, entry);
    switch (testNumberOf(msisdn)) {
      case '77':
        await sleep(asyncDelayMs);
        commit(entry, true);
        return { status: 200, body: EMPTY.chargeAmount, contentType: XML, committed: true };
      case '91':
        commit(entry, true);
        return {
          status: 200,
          body: EMPTY.chargeAmount,
          contentType: XML,
          committed: true,
          delayMs: faults.hangMs,
        };
      default:
        commit(entry, true);
        return { status: 200, body: EMPTY.chargeAmount, contentType: XML, committed: true };
    }
  }

  function refundAmount(content: unknown): Answer {
    const msisdn = endUserOf(content);
    const { amount, currency } = chargingOf(content);
    const reference = referenceOf(content);
    const done = refunds.get(reference);
    if (done) throw duplicate(reference, done);
    if (testNumberOf(msisdn) === '69') return unavailableAnswer();
    if (testNumberOf(msisdn) === '64') throw scenarioFault(msisdn, 'charge')!;
    const original = textOf(childOf(content, 'originalReferenceCode'))?.trim();
    if (!original)
      throw new SoapFaultAnswer('POL1005', 'Refund requires the original reference code');
    const charge = charges.get(original);
    if (!charge || charge.state !== 'charged' || charge.msisdn !== msisdn) {
      throw new SoapFaultAnswer('POL1006', 'Invalid original reference code %1', [original]);
    }
    if (charge.currency !== currency)
      throw new SoapFaultAnswer('POL2010', 'Inconsistent transaction: currency');
    const refundable = charge.amount * BigInt(charge.commits) - charge.refunded;
    if (amount > refundable)
      throw new SoapFaultAnswer(
        'POL2010',
        'Inconsistent transaction: refund exceeds the amount charged',
      );
    charge.refunded += amount;
    balances.set(msisdn, balanceOf(msisdn) + amount);
    refunds.set(reference, { chargeReference: original, amount, currency });
    return { status: 200, body: EMPTY.refundAmount, contentType: XML, committed: true };
  }

  function reserveAmount(content: unknown): Answer {
    const msisdn = endUserOf(content);
    const { amount, currency } = chargingOf(content);
    if (testNumberOf(msisdn) === '69') return unavailableAnswer();
    const fault = scenarioFault(msisdn, 'reserve');
    if (fault) throw fault;
    if (balanceOf(msisdn) < amount) throw new SoapFaultAnswer('POL1000', 'Insufficient credit');
    reservationSeq += 1;
    const id = `RSV${Date.now().toString(36).toUpperCase()}${reservationSeq.toString(36).toUpperCase()}`;
    balances.set(msisdn, balanceOf(msisdn) - amount);
    reservations.set(id, {
      msisdn,
      currency,
      remaining: amount,
      expiresAt: Date.now() + reservationTtlMs,
      state: 'open',
    });
    return {
      status: 200,
      body: okXml(
        'reserveAmountResponse',
        NS.reserveAmountCharging,
        `<ns1:result>${id}</ns1:result>`,
      ),
      contentType: XML,
    };
  }

  function reservationOf(content: unknown): [string, Reservation] {
    const id = referenceOf(content, 'reservationIdentifier');
    const r = reservations.get(id);
    if (!r)
      throw new SoapFaultAnswer('SVC0002', 'Invalid input value for message part %1', [
        'reservationIdentifier',
      ]);
    return [id, r];
  }

  function reserveAdditionalAmount(content: unknown): Answer {
    const [id, r] = reservationOf(content);
    if (expireIfDue(id, r)) throw new SoapFaultAnswer('POL2011', 'Transaction expired');
    if (r.state !== 'open')
      throw new SoapFaultAnswer('POL2010', 'Inconsistent transaction: reservation released');
    const { amount, currency } = chargingOf(content);
    if (currency !== r.currency)
      throw new SoapFaultAnswer('POL2010', 'Inconsistent transaction: currency');
    if (balanceOf(r.msisdn) < amount) throw new SoapFaultAnswer('POL1000', 'Insufficient credit');
    balances.set(r.msisdn, balanceOf(r.msisdn) - amount);
    r.remaining += amount;
    return { status: 200, body: EMPTY.reserveAdditionalAmount, contentType: XML };
  }

  async function chargeReservation(content: unknown): Promise<Answer> {
    const [id, r] = reservationOf(content);
    const { amount, currency } = chargingOf(content);
    const reference = referenceOf(content);
    const dup = await existingCharge(reference);
    if (dup) throw dup;
    if (expireIfDue(id, r)) throw new SoapFaultAnswer('POL2011', 'Transaction expired');
    if (r.state !== 'open')
      throw new SoapFaultAnswer('POL2010', 'Inconsistent transaction: reservation released');
    if (currency !== r.currency)
      throw new SoapFaultAnswer('POL2010', 'Inconsistent transaction: currency');
    if (amount > r.remaining)
      throw new SoapFaultAnswer(
        'POL2010',
        'Inconsistent transaction: amount exceeds the reservation',
      );
    r.remaining -= amount;
    const entry = newEntry(r.msisdn, amount, currency);
    charges.set(reference, entry);
    commit(entry, false); // the hold already left the balance
    return { status: 200, body: EMPTY.chargeReservation, contentType: XML, committed: true };
  }

  function releaseReservation(content: unknown): Answer {
    const [id, r] = reservationOf(content);
    expireIfDue(id, r);
    if (r.state === 'open') {
      balances.set(r.msisdn, balanceOf(r.msisdn) + r.remaining);
      r.remaining = 0n;
      r.state = 'released';
    }
    return { status: 200, body: EMPTY.releaseReservation, contentType: XML };
  }

  function getBalance(content: unknown): Answer {
    const msisdn = endUserOf(content);
    if (testNumberOf(msisdn) === '69') return unavailableAnswer();
    if (testNumberOf(msisdn) === '64') throw scenarioFault(msisdn, 'charge')!;
    for (const [id, r] of reservations) if (r.msisdn === msisdn) expireIfDue(id, r);
    const inner = `<ns1:result><balanceType>MONETARY</balanceType><amount>${toXsdDecimal(balanceOf(msisdn), accountCurrency)}</amount></ns1:result>`;
    return {
      status: 200,
      body: okXml('getBalanceResponse', NS.accountManagement, inner),
      contentType: XML,
    };
  }

  function getChargeStatus(content: unknown): Answer {
    const reference = referenceOf(content);
    const c = charges.get(reference);
    const f = refunds.get(reference);
    let inner: string;
    if (c) {
      inner =
        `<ns1:state>${c.state === 'processing' ? 'PROCESSING' : 'CHARGED'}</ns1:state>` +
        `<ns1:amount>${toXsdDecimal(c.amount, c.currency)}</ns1:amount><ns1:currency>${c.currency}</ns1:currency>` +
        `<ns1:refundedAmount>${toXsdDecimal(c.refunded, c.currency)}</ns1:refundedAmount>`;
    } else if (f) {
      inner = `<ns1:state>REFUNDED</ns1:state><ns1:amount>${toXsdDecimal(f.amount, f.currency)}</ns1:amount><ns1:currency>${f.currency}</ns1:currency>`;
    } else {
      inner = `<ns1:state>NOT_FOUND</ns1:state>`;
    }
    const body = okXml(
      'getChargeStatusResponse',
      NS.vendorStatus,
      `<ns1:result><ns1:referenceCode>${xmlEscape(reference)}</ns1:referenceCode>${inner}</ns1:result>`,
    );
    return { status: 200, body, contentType: XML };
  }

  // ------------------------------------------------------------------------ security

  function authenticate(header: unknown): boolean {
    const now = Date.now();
    const token = childOf(childOf(header, 'Security'), 'UsernameToken');
    if (token !== undefined) {
      const username = textOf(childOf(token, 'Username'))?.trim();
      const passwordNode = childOf(token, 'Password');
      const password = textOf(passwordNode)?.trim() ?? '';
      const type = (childOf(passwordNode, '@_Type') as string | undefined) ?? '';
      if (username !== credentials.username) return false;
      if (type === PASSWORD_TEXT_TYPE) return safeEqual(password, credentials.password);
      const nonce = textOf(childOf(token, 'Nonce'))?.trim();
      const created = textOf(childOf(token, 'Created'))?.trim();
      if (!nonce || !created) return false;
      const at = Date.parse(created);
      if (!Number.isFinite(at) || Math.abs(now - at) > authWindowMs) return false;
      if (!safeEqual(password, passwordDigest(nonce, created, credentials.password))) return false;
      if (now - noncesSince > authWindowMs) {
        oldNonces = nonces;
        nonces = new Set();
        noncesSince = now;
      }
      if (nonces.has(nonce) || oldNonces.has(nonce)) return false; // replayed token
      nonces.add(nonce);
      return true;
    }
    const hw = childOf(header, 'RequestSOAPHeader');
    if (hw !== undefined) {
      const spId = textOf(childOf(hw, 'spId'))?.trim();
      const spPassword = textOf(childOf(hw, 'spPassword'))?.trim().toLowerCase() ?? '';
      const timeStamp = textOf(childOf(hw, 'timeStamp'))?.trim() ?? '';
      if (spId !== credentials.spId) return false;
      const at = parseHuaweiTimestamp(timeStamp);
      if (!at || Math.abs(now - at.getTime()) > authWindowMs) return false;
      return safeEqual(
        spPassword,
        huaweiSpPassword(spId, credentials.password, timeStamp, 'lower'),
      );
    }
    return false;
  }

  // ------------------------------------------------------------------------ HTTP

  async function answer(body: string): Promise<Answer> {
    let env: ReturnType<typeof parseEnvelope>;
    try {
      env = parseEnvelope(body);
    } catch {
      return {
        status: 500,
        body: plainFault('soapenv:Client', 'Malformed SOAP request'),
        contentType: XML,
      };
    }
    if (env.kind !== 'body')
      return {
        status: 500,
        body: plainFault('soapenv:Client', 'Unexpected Fault in request'),
        contentType: XML,
      };
    if (!authenticate(env.header)) return { status: 500, body: AUTH_FAULT, contentType: XML };
    try {
      switch (env.element) {
        case 'chargeAmount':
          return await chargeAmount(env.content);
        case 'refundAmount':
          return refundAmount(env.content);
        case 'reserveAmount':
          return reserveAmount(env.content);
        case 'reserveAdditionalAmount':
          return reserveAdditionalAmount(env.content);
        case 'chargeReservation':
          return await chargeReservation(env.content);
        case 'releaseReservation':
          return releaseReservation(env.content);
        case 'getBalance':
          return getBalance(env.content);
        case 'getChargeStatus':
          return getChargeStatus(env.content);
        default:
          return {
            status: 500,
            body: plainFault('soapenv:Client', `Unknown operation ${env.element}`),
            contentType: XML,
          };
      }
    } catch (err) {
      if (err instanceof SoapFaultAnswer)
        return { status: 500, body: faultXml(err), contentType: XML };
      throw err;
    }
  }

  async function handle(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    body: string,
  ): Promise<void> {
    if (faults.latencyMs > 0) await sleep(faults.latencyMs);
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST' }).end();
      return;
    }
    if (faults.unavailable > 0) {
      faults.unavailable -= 1;
      res.writeHead(503, { 'content-type': 'text/plain' }).end('Service Unavailable');
      return;
    }
    const a = await answer(body);
    if (a.committed) {
      if (faults.dropAfterCommit > 0) {
        faults.dropAfterCommit -= 1;
        req.socket.destroy();
        return;
      }
      if (faults.malformedAfterCommit > 0) {
        faults.malformedAfterCommit -= 1;
        res
          .writeHead(200, { 'content-type': XML })
          .end(a.body.slice(0, Math.floor(a.body.length / 2)));
        return;
      }
      if (faults.hangAfterCommit > 0) {
        faults.hangAfterCommit -= 1;
        await sleep(faults.hangMs);
      }
    }
    if (a.delayMs) await sleep(a.delayMs);
    if (res.destroyed || res.writableEnded) return;
    res.writeHead(a.status, { 'content-type': a.contentType ?? XML }).end(a.body);
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      handle(req, res, Buffer.concat(chunks).toString('utf8')).catch(() => {
        if (!res.headersSent && !res.destroyed)
          res
            .writeHead(500, { 'content-type': XML })
            .end(plainFault('soapenv:Server', 'Internal error'));
      });
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;

  return {
    url: `http://${address}:${port}`,
    credentials,
    control: {
      setFaults(partial) {
        faults = { ...NO_FAULTS, ...partial };
      },
      reset() {
        faults = { ...NO_FAULTS };
        charges.clear();
        refunds.clear();
        reservations.clear();
        balances.clear();
      },
      chargeCount(reference) {
        return charges.get(reference)?.commits ?? 0;
      },
      netCharged(reference) {
        const c = charges.get(reference);
        return c ? c.amount * BigInt(c.commits) - c.refunded : 0n;
      },
    },
    async stop() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
