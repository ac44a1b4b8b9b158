/**
 * SMPP 3.4 premium SMS (MT-billed). One long-lived bind_transceiver per adapter, a window of
 * outstanding PDUs, enquire_link keep-alive, reconnect with exponential backoff, throttling
 * backoff on ESME_RTHROTTLED.
 *
 * charge(): one premium submit_sm. submit_sm_resp only means "accepted" ⇒ pending(callback);
 * the deliver_sm receipt (esm_class 0x04) carries the billing outcome and is emitted. SMPP has
 * no idempotency key, so reference → message_id is kept here and a reference is never
 * submitted twice. A lost submit_sm_resp is `unknown`; status() resolves it with query_sm (by
 * message_id, or by our reference TLV when the id never arrived).
 *
 * Consent (double opt-in, test number 55): an SMSC that answers VENDOR_RCONSENT did not take
 * the MT (nothing charged). With `settings.demoOtp` configured, charge() answers pending with
 * an OTP action; confirmConsent() checks the OTP here (OTP generation and delivery are not part
 * of this adapter, like Parlay X's) and, when it matches, submits the billed MT once, with the
 * opt-in TLV ⇒ pending until the receipt. `otpAttempts` (3) wrong OTPs ⇒ INVALID_OTP; past
 * `consentTtlMs` ⇒ CONSENT_EXPIRED. Without demoOtp a consent refusal is DENIED.
 */
import { timingSafeEqual } from 'node:crypto';
import * as smpp from 'smpp';
import type {
  AdapterConfig,
  AdapterDeps,
  AdapterFactory,
  AsyncOutcome,
  Capabilities,
  ChannelAdapter,
  ChargeRequest,
  ConsentRequest,
  Outcome,
  Procedure,
  ProviderRefRequest,
} from '../types';
import { ProcedureNotSupported } from '../types';
import {
  BIND_REFUSALS,
  OPT_IN_OTP,
  STATUS,
  buildQuerySm,
  buildSubmitSm,
  classifySubmitStatus,
  destinationAddr,
  idKeys,
  isFinalState,
  messageStateFromNumber,
  parsePricePoints,
  parseReceipt,
  redactDeliverSm,
  redactSubmit,
  stateOutcome,
  statOf,
  statusName,
  submitRejection,
  type MessageState,
} from './transformers';

const CAPABILITIES: Capabilities = {
  protocol: 'SMPP',
  kind: 'PREMIUM_SMS',
  procedures: ['CHARGE', 'STATUS', 'CONSENT'],
  patterns: ['REQUEST_WAIT_RECEIVE', 'REQUEST_DOWNLOAD'],
  consent: ['NONE', 'OTP'],
  currencies: '*',
  refunds: 'none',
};

// ---------------------------------------------------------------------------------------------
// The link: bind, window, keep-alive, reconnect, throttling.

export type LinkResult =
  | { kind: 'response'; pdu: smpp.Pdu }
  /** Sent, no response within the timeout. */
  | { kind: 'timeout' }
  /** Sent, the connection dropped (or the stream became unreadable) before the response. */
  | { kind: 'lost'; reason: string }
  /** Never written to the wire. */
  | { kind: 'not_sent'; reason: string };

interface LinkOptions {
  host: string;
  port: number;
  systemId: string;
  password: string;
  systemType: string;
  timeoutMs: number;
  windowSize: number;
  enquireLinkMs: number;
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  throttleBaseMs: number;
  throttleMaxMs: number;
}

interface LinkHooks {
  record(
    operation: string,
    fields: {
      request?: unknown;
      response?: unknown;
      status?: string;
      durationMs: number;
      direction?: 'OUTBOUND' | 'INBOUND';
    },
  ): void;
  onDeliverSm(pdu: smpp.Pdu): void;
}

interface Pending {
  command: string;
  options: smpp.PduOptions;
  timeoutMs: number;
  resolve(r: LinkResult): void;
  onLate?(pdu: smpp.Pdu): void;
  settled: boolean;
  inWindow: boolean;
  timer?: NodeJS.Timeout;
}

export class SmppBindRefused extends Error {
  constructor(readonly status: string) {
    super(`SMPP bind refused: ${status}`);
    this.name = 'SmppBindRefused';
  }
}

export class SmppLink {
  private session?: smpp.Session;
  private bound = false;
  private closing = false;
  private queue: Pending[] = [];
  private readonly outstanding = new Set<Pending>();
  private reconnectMs: number;
  private reconnectTimer?: NodeJS.Timeout;
  private enquireTimer?: NodeJS.Timeout;
  private throttleMs = 0;
  private throttledUntil = 0;
  private throttleTimer?: NodeJS.Timeout;
  private firstBind?: { resolve(): void; reject(e: Error): void };
  /** Highest number of PDUs outstanding at once (observability, tests). */
  maxOutstanding = 0;
  binds = 0;

  constructor(
    private readonly opts: LinkOptions,
    private readonly hooks: LinkHooks,
  ) {
    this.reconnectMs = opts.reconnectBaseMs;
  }

  /** Resolves once bound, or after a first network failure (reconnecting in the background); rejects when the SMSC refuses the credentials. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.firstBind = { resolve, reject };
      this.connect();
    });
  }

  get isBound(): boolean {
    return this.bound;
  }

  /** Queues a request; it is written when bound, inside the window and not throttled. */
  request(
    command: string,
    options: smpp.PduOptions,
    timeoutMs = this.opts.timeoutMs,
    onLate?: (pdu: smpp.Pdu) => void,
  ): Promise<LinkResult> {
    return new Promise((resolve) => {
      if (this.closing) {
        resolve({ kind: 'not_sent', reason: 'adapter closed' });
        return;
      }
      const p: Pending = {
        command,
        options,
        timeoutMs,
        resolve,
        onLate,
        settled: false,
        inWindow: false,
      };
      // Waiting for the link or the window is bounded too: nothing sent ⇒ safe to decline.
      p.timer = setTimeout(() => {
        this.queue = this.queue.filter((q) => q !== p);
        this.settle(p, { kind: 'not_sent', reason: this.bound ? 'window full' : 'not bound' });
      }, timeoutMs);
      this.queue.push(p);
      this.pump();
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.throttleTimer);
    clearInterval(this.enquireTimer);
    for (const p of this.queue.splice(0))
      this.settle(p, { kind: 'not_sent', reason: 'adapter closed' });
    const session = this.session;
    if (!session) return;
    const closed = new Promise<void>((resolve) => {
      if (session.socket.destroyed) resolve();
      else session.socket.once('close', () => resolve());
    });
    if (this.bound) {
      const started = Date.now();
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(this.opts.timeoutMs, 1_000));
        const sent = session.unbind({}, (resp) => {
          clearTimeout(t);
          this.hooks.record('unbind', {
            status: statusName(resp.command_status),
            durationMs: Date.now() - started,
          });
          resolve();
        });
        if (!sent) {
          clearTimeout(t);
          resolve();
        }
      });
    }
    this.bound = false;
    session.destroy();
    await closed;
  }

  // -- connection -------------------------------------------------------------------------------

  private connect(): void {
    if (this.closing) return;
    const session = smpp.connect({ host: this.opts.host, port: this.opts.port });
    this.session = session;
    const bindTimer = setTimeout(() => session.destroy(), this.opts.timeoutMs);
    session.on('connect', () => this.bind(session, bindTimer));
    session.on('error', () => {
      // ECONNREFUSED, ECONNRESET, or an unreadable PDU stream: the link is unusable either way.
      session.destroy();
    });
    session.on('close', () => {
      clearTimeout(bindTimer);
      this.onClose(session);
    });
    session.on('deliver_sm', (pdu: smpp.Pdu) => {
      // Always acknowledge, duplicates and unknown ids included.
      session.send(pdu.response({ command_status: STATUS.ESME_ROK }));
      this.hooks.onDeliverSm(pdu);
    });
    session.on('enquire_link', (pdu: smpp.Pdu) => {
      session.send(pdu.response());
      this.hooks.record('enquire_link', {
        direction: 'INBOUND',
        status: 'ESME_ROK',
        durationMs: 0,
      });
    });
    session.on('unbind', (pdu: smpp.Pdu) => {
      this.bound = false;
      session.send(pdu.response());
      this.hooks.record('unbind', { direction: 'INBOUND', status: 'ESME_ROK', durationMs: 0 });
      session.close();
    });
  }

  private bind(session: smpp.Session, bindTimer: NodeJS.Timeout): void {
    const started = Date.now();
    const request = {
      system_id: this.opts.systemId,
      system_type: this.opts.systemType,
      interface_version: 0x34,
    };
    session.bind_transceiver({ ...request, password: this.opts.password }, (resp) => {
      clearTimeout(bindTimer);
      const status = statusName(resp.command_status);
      this.hooks.record('bind_transceiver', {
        request,
        response: { system_id: resp.system_id },
        status,
        durationMs: Date.now() - started,
      });
      if (resp.command_status !== STATUS.ESME_ROK) {
        if (this.firstBind && BIND_REFUSALS.includes(resp.command_status)) {
          const first = this.firstBind;
          this.firstBind = undefined;
          this.closing = true;
          first.reject(new SmppBindRefused(status));
        }
        session.destroy();
        return;
      }
      if (session !== this.session || this.closing) return;
      this.bound = true;
      this.binds += 1;
      this.reconnectMs = this.opts.reconnectBaseMs;
      this.firstBind?.resolve();
      this.firstBind = undefined;
      this.startEnquireLink(session);
      this.pump();
    });
  }

  private onClose(session: smpp.Session): void {
    if (session !== this.session) return;
    this.bound = false;
    this.session = undefined;
    clearInterval(this.enquireTimer);
    for (const p of [...this.outstanding])
      this.settle(p, { kind: 'lost', reason: 'SMPP link dropped before the response' });
    if (this.firstBind) {
      // First attempt failed on the network: create() goes on, we keep reconnecting.
      this.firstBind.resolve();
      this.firstBind = undefined;
    }
    if (this.closing) return;
    const delay = this.reconnectMs;
    this.reconnectMs = Math.min(this.reconnectMs * 2, this.opts.reconnectMaxMs);
    this.reconnectTimer = setTimeout(
      () => this.connect(),
      delay + Math.floor(Math.random() * (delay / 4)),
    );
  }

  private startEnquireLink(session: smpp.Session): void {
    clearInterval(this.enquireTimer);
    this.enquireTimer = setInterval(() => {
      if (session !== this.session || !this.bound) return;
      const started = Date.now();
      const t = setTimeout(() => {
        this.hooks.record('enquire_link', { status: 'TIMEOUT', durationMs: Date.now() - started });
        session.destroy(); // dead link: reconnect
      }, this.opts.timeoutMs);
      session.enquire_link({}, (resp) => {
        clearTimeout(t);
        this.hooks.record('enquire_link', {
          status: statusName(resp.command_status),
          durationMs: Date.now() - started,
        });
      });
    }, this.opts.enquireLinkMs);
  }

  // -- window -----------------------------------------------------------------------------------

  private pump(): void {
    const session = this.session;
    if (!this.bound || !session || this.closing) return;
    const wait = this.throttledUntil - Date.now();
    if (wait > 0) {
      if (!this.throttleTimer) {
        this.throttleTimer = setTimeout(() => {
          this.throttleTimer = undefined;
          this.pump();
        }, wait);
      }
      return;
    }
    while (this.outstanding.size < this.opts.windowSize && this.queue.length > 0) {
      const p = this.queue.shift()!;
      if (p.settled) continue;
      const pdu = new smpp.PDU(p.command, p.options);
      const written = session.send(pdu, (resp) => this.onResponse(p, resp));
      if (!written) {
        // Socket no longer writable: the close handler follows; keep the request queued.
        this.queue.unshift(p);
        return;
      }
      clearTimeout(p.timer);
      p.inWindow = true;
      this.outstanding.add(p);
      this.maxOutstanding = Math.max(this.maxOutstanding, this.outstanding.size);
      p.timer = setTimeout(() => this.settle(p, { kind: 'timeout' }), p.timeoutMs);
    }
  }

  private onResponse(p: Pending, resp: smpp.Pdu): void {
    if (resp.command_status === STATUS.ESME_RTHROTTLED) {
      this.throttleMs = this.throttleMs
        ? Math.min(this.throttleMs * 2, this.opts.throttleMaxMs)
        : this.opts.throttleBaseMs;
      this.throttledUntil = Date.now() + this.throttleMs;
    } else {
      this.throttleMs = 0;
    }
    if (p.settled) {
      p.onLate?.(resp);
      return;
    }
    this.settle(p, { kind: 'response', pdu: resp });
  }

  private settle(p: Pending, result: LinkResult): void {
    if (p.settled) return;
    p.settled = true;
    clearTimeout(p.timer);
    // A timed-out PDU frees its slot: the SMSC is not answering it any more.
    if (this.outstanding.delete(p)) queueMicrotask(() => this.pump());
    p.resolve(result);
  }
}

// ---------------------------------------------------------------------------------------------
// The adapter

interface Attempt {
  reference: string;
  /** The answer to the (last) billed submit_sm: the first one, or the opted-in one after consent. */
  first: Promise<Outcome>;
  messageId?: string;
  /** Final billing outcome from a receipt, query_sm or the consent (INVALID_OTP, CONSENT_EXPIRED). */
  final?: Outcome;
  deadline?: NodeJS.Timeout;
  /** The SMSC asked for the subscriber's opt-in: waiting for the OTP. */
  consent?: Consent;
  /** Serialises confirmations of one reference. */
  otpChain: Promise<unknown>;
}

interface Consent {
  request: ChargeRequest;
  attemptsLeft: number;
  expiresAt: number;
}

function sameOtp(given: string, expected: string): boolean {
  const a = Buffer.from(given, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  return expected.length > 0 && a.length === b.length && timingSafeEqual(a, b);
}

function setting(config: AdapterConfig, key: string): string | number | boolean | undefined {
  return config.settings?.[key];
}

function num(config: AdapterConfig, key: string, fallback: number): number {
  const v = setting(config, key);
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN;
  return Number.isFinite(n) && n > 0 ? n : fallback;
}

function str(config: AdapterConfig, key: string): string | undefined {
  const v = setting(config, key);
  return v === undefined ? undefined : String(v);
}

export class SmppAdapter implements ChannelAdapter {
  readonly capabilities: Capabilities;
  readonly link: SmppLink;
  private readonly byReference = new Map<string, Attempt>();
  private readonly byMessageKey = new Map<string, Attempt>();
  private readonly shortCode: string;
  private readonly serviceType?: string;
  private readonly currency: string;
  private readonly pricePoints: Map<bigint, string>;
  private readonly throttleRetries: number;
  private readonly receiptTimeoutMs: number;
  /** The OTP the channel checks (demo/test accounts); without it consent refusals decline. */
  private readonly demoOtp?: string;
  private readonly otpAttempts: number;
  private readonly consentTtlMs: number;
  private closed = false;

  constructor(
    private readonly config: AdapterConfig,
    private readonly deps: AdapterDeps,
  ) {
    const url = new URL(config.baseUrl);
    if (url.protocol !== 'smpp:')
      throw new Error(`SMPP adapter needs an smpp:// baseUrl, got ${url.protocol}`);
    const shortCode = str(config, 'shortCode');
    const currency = str(config, 'currency');
    const pricePoints = str(config, 'pricePoints');
    if (!shortCode || !currency || !pricePoints)
      throw new Error('SMPP adapter needs settings shortCode, currency and pricePoints');
    const { systemId, password } = config.credentials;
    if (!systemId || password === undefined)
      throw new Error('SMPP adapter needs credentials systemId and password');
    this.shortCode = shortCode;
    this.serviceType = str(config, 'serviceType');
    this.currency = currency;
    this.pricePoints = parsePricePoints(pricePoints);
    this.throttleRetries = num(config, 'throttleRetries', 2);
    this.receiptTimeoutMs = num(config, 'receiptTimeoutMs', 10 * 60_000);
    this.demoOtp = str(config, 'demoOtp') || undefined;
    this.otpAttempts = num(config, 'otpAttempts', 3);
    this.consentTtlMs = num(config, 'consentTtlMs', 5 * 60_000);
    this.capabilities = { ...CAPABILITIES, currencies: [currency] };
    this.link = new SmppLink(
      {
        host: url.hostname,
        port: Number(url.port || 2775),
        systemId,
        password,
        systemType: str(config, 'systemType') ?? '',
        timeoutMs: config.timeoutMs,
        windowSize: num(config, 'windowSize', 64),
        enquireLinkMs: num(config, 'enquireLinkMs', 30_000),
        reconnectBaseMs: num(config, 'reconnectBaseMs', 500),
        reconnectMaxMs: num(config, 'reconnectMaxMs', 30_000),
        throttleBaseMs: num(config, 'throttleBaseMs', 200),
        throttleMaxMs: num(config, 'throttleMaxMs', 5_000),
      },
      {
        record: (operation, f) =>
          this.deps.record({
            direction: f.direction ?? 'OUTBOUND',
            operation,
            request: f.request,
            response: f.response,
            status: f.status,
            durationMs: f.durationMs,
            at: new Date(),
          }),
        onDeliverSm: (pdu) => this.onDeliverSm(pdu),
      },
    );
  }

  async start(): Promise<void> {
    await this.link.start();
  }

  charge(req: ChargeRequest): Promise<Outcome> {
    const existing = this.byReference.get(req.reference);
    if (existing) {
      // Same reference, one submit: answer what we know, never send again.
      return existing.first.then(
        (first) => existing.final ?? (existing.consent ? this.otpPending(existing.consent) : first),
      );
    }
    const attempt: Attempt = {
      reference: req.reference,
      first: Promise.resolve({ kind: 'unknown', reason: 'starting' }),
      otpChain: Promise.resolve(),
    };
    this.byReference.set(req.reference, attempt);
    attempt.first = this.submit(attempt, req);
    return attempt.first;
  }

  private async submit(attempt: Attempt, req: ChargeRequest, optIn?: string): Promise<Outcome> {
    const reference = req.reference;
    if (!req.msisdn) throw new Error('SMPP premium SMS needs an MSISDN');
    const dest = destinationAddr(req.msisdn);
    if (!dest)
      return {
        kind: 'declined',
        code: 'DENIED',
        providerCode: 'INVALID_MSISDN',
        message: 'not an international MSISDN',
      };
    if (req.currency !== this.currency) {
      return {
        kind: 'declined',
        code: 'DENIED',
        providerCode: 'CURRENCY',
        message: `this SMPP account bills ${this.currency} only`,
      };
    }
    const tariff = this.pricePoints.get(req.amount);
    if (!tariff)
      return {
        kind: 'declined',
        code: 'DENIED',
        providerCode: 'NO_PRICE_POINT',
        message: `no premium price point for ${req.amount} minor units`,
      };

    const options = buildSubmitSm({
      destinationAddr: dest,
      shortCode: this.shortCode,
      tariff,
      reference,
      text: req.description,
      serviceType: this.serviceType,
      optIn,
    });
    const request = redactSubmit(options);
    for (let tries = 0; ; tries += 1) {
      const started = Date.now();
      const result = await this.link.request('submit_sm', options, this.config.timeoutMs, (late) =>
        this.onLateSubmitResp(attempt, late),
      );
      const durationMs = Date.now() - started;
      const rec = (status: string, outcome: Outcome, response?: unknown) =>
        this.deps.record({
          direction: 'OUTBOUND',
          operation: 'submit_sm',
          reference,
          request,
          response,
          status,
          durationMs,
          outcome: outcome.kind,
          at: new Date(),
        });
      switch (result.kind) {
        case 'not_sent': {
          const o: Outcome = {
            kind: 'declined',
            code: 'CHANNEL_UNAVAILABLE',
            providerCode: 'NOT_SENT',
            message: result.reason,
          };
          rec('NOT_SENT', o);
          return o;
        }
        case 'timeout': {
          const o: Outcome = { kind: 'unknown', reason: 'no submit_sm_resp within the timeout' };
          rec('TIMEOUT', o);
          return o;
        }
        case 'lost': {
          const o: Outcome = { kind: 'unknown', reason: result.reason };
          rec('LINK_LOST', o);
          return o;
        }
        case 'response': {
          const status = result.pdu.command_status;
          const cls = classifySubmitStatus(status);
          const messageId =
            typeof result.pdu.message_id === 'string' ? result.pdu.message_id.trim() : '';
          if (cls === 'ACCEPTED') {
            if (!messageId) {
              const o: Outcome = { kind: 'unknown', reason: 'submit_sm_resp without message_id' };
              rec(statusName(status), o, { message_id: '' });
              return o;
            }
            this.index(attempt, messageId);
            const o: Outcome = { kind: 'pending', completion: 'callback', providerRef: messageId };
            rec(statusName(status), o, { message_id: messageId });
            this.armDeadline(attempt);
            return o;
          }
          if (cls === 'CONSENT_REQUIRED' && !optIn && this.demoOtp) {
            // Refused before delivery, nothing charged: the subscriber opts in with an OTP first.
            attempt.consent = {
              request: req,
              attemptsLeft: this.otpAttempts,
              expiresAt: Date.now() + this.consentTtlMs,
            };
            const o = this.otpPending(attempt.consent);
            rec(statusName(status), o);
            return o;
          }
          if (cls === 'THROTTLED' && tries < this.throttleRetries) {
            // Rejected, not accepted: nothing committed, so the same PDU may go again after the backoff.
            rec(statusName(status), { kind: 'unknown', reason: 'throttled, retrying' });
            continue;
          }
          const o = submitRejection(status, cls);
          rec(statusName(status), o);
          return o;
        }
      }
    }
  }

  // -- consent ----------------------------------------------------------------------------------

  private otpPending(c: Consent): Outcome {
    return {
      kind: 'pending',
      completion: 'poll',
      action: { kind: 'OTP', attemptsLeft: c.attemptsLeft },
    };
  }

  confirmConsent(req: ConsentRequest): Promise<Outcome> {
    const attempt = this.byReference.get(req.reference);
    if (!attempt) return this.consentNotFound(req);
    // One confirmation at a time per reference: attempts are counted, the MT goes at most once.
    const next = attempt.otpChain.then(() => this.checkOtp(attempt, req.otp));
    attempt.otpChain = next.catch(() => undefined);
    return next;
  }

  /**
   * The OTP check is the channel's own step, not an exchange with the SMSC: nothing is recorded
   * but the opted-in submit_sm it leads to (the OTP is never logged).
   */
  private async checkOtp(attempt: Attempt, otp: string): Promise<Outcome> {
    await attempt.first.catch(() => undefined);
    if (attempt.final) return attempt.final;
    const consent = attempt.consent;
    // Settled by an earlier confirmation (or none was asked for): what the SMSC knows, never a second MT.
    if (!consent) return this.status({ reference: attempt.reference, procedure: 'CHARGE' });
    if (consent.expiresAt <= Date.now()) {
      attempt.consent = undefined;
      attempt.final = { kind: 'declined', code: 'CONSENT_EXPIRED' };
      return attempt.final;
    }
    if (!sameOtp(otp, this.demoOtp ?? '')) {
      consent.attemptsLeft -= 1;
      if (consent.attemptsLeft > 0) return this.otpPending(consent);
      attempt.consent = undefined;
      attempt.final = { kind: 'declined', code: 'INVALID_OTP' };
      return attempt.final;
    }
    attempt.consent = undefined;
    attempt.first = this.submit(attempt, consent.request, OPT_IN_OTP);
    return attempt.first;
  }

  /** No consent remembered (e.g. after a restart): an opted-in MT the SMSC knows wins. */
  private async consentNotFound(req: ConsentRequest): Promise<Outcome> {
    const q = await this.query(req.reference, req.providerRef);
    if (q.state) return this.status({ reference: req.reference, providerRef: req.providerRef });
    if (q.failure !== statusName(STATUS.ESME_RINVMSGID))
      return { kind: 'unknown', reason: `query_sm: ${q.failure ?? 'no state'}` };
    return {
      kind: 'declined',
      code: 'CONSENT_EXPIRED',
      providerRef: req.providerRef,
      message: 'no consent in progress for this reference',
    };
  }

  private onLateSubmitResp(attempt: Attempt, pdu: smpp.Pdu): void {
    const messageId = typeof pdu.message_id === 'string' ? pdu.message_id.trim() : '';
    this.deps.record({
      direction: 'OUTBOUND',
      operation: 'submit_sm_resp (late)',
      reference: attempt.reference,
      response: { message_id: messageId },
      status: statusName(pdu.command_status),
      durationMs: 0,
      at: new Date(),
    });
    if (pdu.command_status === STATUS.ESME_ROK && messageId) {
      this.index(attempt, messageId);
      this.armDeadline(attempt);
    }
  }

  private index(attempt: Attempt, messageId: string): void {
    if (attempt.messageId && attempt.messageId !== messageId) return; // first id wins; one submit per reference
    attempt.messageId = messageId;
    for (const key of idKeys(messageId))
      if (!this.byMessageKey.has(key)) this.byMessageKey.set(key, attempt);
  }

  private lookup(messageId: string | undefined): Attempt | undefined {
    if (!messageId) return undefined;
    const keys = idKeys(messageId);
    // Raw match first, then the same number read as hex/decimal.
    for (const key of keys) {
      const hit = this.byMessageKey.get(key);
      if (hit) return hit;
    }
    return undefined;
  }

  /** No receipt by the deadline: ask the SMSC (query_sm) and emit a final state. */
  private armDeadline(attempt: Attempt): void {
    if (attempt.final || attempt.deadline || this.closed) return;
    attempt.deadline = setTimeout(() => {
      attempt.deadline = undefined;
      if (attempt.final || this.closed) return;
      void this.query(attempt.reference, attempt.messageId).then((q) => {
        if (q.state && isFinalState(q.state) && !this.closed)
          this.applyFinal(attempt, q.state, q.err, q.messageId ?? attempt.messageId, undefined);
      });
    }, this.receiptTimeoutMs);
    attempt.deadline.unref();
  }

  private applyFinal(
    attempt: Attempt,
    state: MessageState,
    err: string | undefined,
    messageId: string | undefined,
    occurredAt: Date | undefined,
  ): void {
    const providerRef = attempt.messageId ?? messageId;
    const outcome = stateOutcome(state, err, providerRef);
    attempt.final ??= outcome;
    clearTimeout(attempt.deadline);
    attempt.deadline = undefined;
    const event: AsyncOutcome = {
      // Stable per receipt: the same message in the same final state dedupes upstream.
      eventId: `smpp:${providerRef}:${statOf(state)}`,
      procedure: 'CHARGE',
      reference: attempt.reference,
      providerRef,
      outcome,
      occurredAt,
    };
    this.deps.emit(event);
  }

  private onDeliverSm(pdu: smpp.Pdu): void {
    const receipt = parseReceipt(pdu);
    const attempt = receipt
      ? (this.lookup(receipt.messageId) ?? this.lookup(receipt.altMessageId))
      : undefined;
    const final = receipt ? isFinalState(receipt.state) : false;
    this.deps.record({
      direction: 'INBOUND',
      operation: receipt ? 'deliver_sm (receipt)' : 'deliver_sm',
      reference: attempt?.reference,
      request: redactDeliverSm(pdu, receipt),
      response: { command_status: 'ESME_ROK' },
      status: 'ESME_ROK',
      durationMs: 0,
      outcome: receipt && attempt ? stateOutcome(receipt.state, receipt.err).kind : undefined,
      at: new Date(),
    });
    // MO messages (no receipt) and receipts for ids we never submitted change nothing.
    if (!receipt || !attempt || !final) return;
    this.applyFinal(attempt, receipt.state, receipt.err, receipt.messageId, receipt.doneDate);
  }

  private async query(
    reference: string,
    messageId: string | undefined,
  ): Promise<{ state?: MessageState; err?: string; messageId?: string; failure?: string }> {
    const options = buildQuerySm({ messageId, reference, shortCode: this.shortCode });
    const started = Date.now();
    const result = await this.link.request('query_sm', options);
    const durationMs = Date.now() - started;
    const request = {
      message_id: options.message_id || undefined,
      by_reference: messageId ? undefined : reference,
    };
    if (result.kind !== 'response') {
      const status =
        result.kind === 'timeout' ? 'TIMEOUT' : result.kind === 'lost' ? 'LINK_LOST' : 'NOT_SENT';
      this.deps.record({
        direction: 'OUTBOUND',
        operation: 'query_sm',
        reference,
        request,
        status,
        durationMs,
        outcome: 'unknown',
        at: new Date(),
      });
      return { failure: status };
    }
    const pdu = result.pdu;
    const status = statusName(pdu.command_status);
    const state =
      pdu.command_status === STATUS.ESME_ROK && typeof pdu.message_state === 'number'
        ? messageStateFromNumber(pdu.message_state)
        : undefined;
    const err =
      typeof pdu.error_code === 'number' && pdu.error_code !== 0
        ? String(pdu.error_code)
        : undefined;
    const foundId =
      typeof pdu.message_id === 'string' && pdu.message_id ? pdu.message_id : messageId;
    this.deps.record({
      direction: 'OUTBOUND',
      operation: 'query_sm',
      reference,
      request,
      response: {
        message_id: pdu.message_id,
        message_state: pdu.message_state,
        error_code: pdu.error_code,
      },
      status,
      durationMs,
      outcome: state ? stateOutcome(state, err).kind : 'unknown',
      at: new Date(),
    });
    return state ? { state, err, messageId: foundId } : { failure: status };
  }

  async status(req: ProviderRefRequest & { procedure?: Procedure }): Promise<Outcome> {
    if (req.procedure && req.procedure !== 'CHARGE' && req.procedure !== 'STATUS')
      throw new ProcedureNotSupported('SMPP', req.procedure);
    let attempt = this.byReference.get(req.reference);
    if (attempt) {
      const first = await attempt.first;
      if (attempt.final) return attempt.final;
      // Waiting for the subscriber's OTP: no billed MT was accepted yet.
      if (attempt.consent) return this.otpPending(attempt.consent);
      // Rejected by submit_sm_resp (or never sent): the SMSC has nothing to report.
      if (first.kind === 'declined') return first;
    }
    const q = await this.query(req.reference, attempt?.messageId ?? req.providerRef);
    if (!q.state)
      return {
        kind: 'unknown',
        reason: `query_sm: ${q.failure ?? 'no state'}`,
        providerRef: attempt?.messageId ?? req.providerRef,
      };
    if (!attempt) {
      // After a restart the map is empty: adopt what the SMSC says so later receipts match.
      attempt = {
        reference: req.reference,
        first: Promise.resolve<Outcome>({
          kind: 'pending',
          completion: 'callback',
          providerRef: q.messageId,
        }),
        otpChain: Promise.resolve(),
      };
      this.byReference.set(req.reference, attempt);
    }
    if (q.messageId) this.index(attempt, q.messageId);
    const outcome = stateOutcome(q.state, q.err, attempt.messageId ?? q.messageId);
    if (outcome.kind === 'succeeded' || outcome.kind === 'declined') {
      attempt.final ??= outcome;
      clearTimeout(attempt.deadline);
      attempt.deadline = undefined;
      return attempt.final;
    }
    return outcome;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const a of this.byReference.values()) clearTimeout(a.deadline);
    await this.link.close();
  }
}

export const factory: AdapterFactory = {
  code: 'smpp',
  capabilities: CAPABILITIES,
  async create(config, deps) {
    const adapter = new SmppAdapter(config, deps);
    try {
      await adapter.start();
    } catch (err) {
      await adapter.close();
      throw err;
    }
    return adapter;
  },
};
