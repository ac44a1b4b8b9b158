/**
 * CAMARA Carrier Billing v0.5.0 + Refund v0.3.0 adapter (GSMA Open Gateway), 2-legged:
 * OAuth2 client_credentials with a private_key_jwt assertion, phoneNumber in the body.
 *
 * charge   → POST /payments (one step). When the operator answers 403 PERMISSION_DENIED (the
 *            user must validate first), the same attempt goes two-step: POST /payments/prepare,
 *            the OTP action, then validate + confirm in confirmConsent.
 * reserve  → POST /payments/prepare (+ validate in confirmConsent when validationInfo asks)
 * capture  → POST /payments/{id}/confirm, then GET (202 has no body)
 * release  → POST /payments/{id}/cancel, then GET
 * refund   → POST /payments/{id}/refunds (total after a remaining-amount check, or partial)
 * status   → GET /payments/{id}, or GET /payments filtered by date and matched on our
 *            clientCorrelator when the first answer was lost and we have no paymentId.
 * async    → CloudEvents to our https sink, authenticated by the sinkCredential bearer token we
 *            issue per attempt (HMAC, verified with timingSafeEqual), then re-read with GET;
 *            without an https sink, the adapter polls and emits.
 */
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { Agent, request } from 'undici';
import { SignJWT, importJWK, type JWK } from 'jose';
import type {
  AdapterConfig,
  AdapterDeps,
  AdapterFactory,
  AsyncOutcome,
  CallbackResult,
  CaptureRequest,
  Capabilities,
  ChannelAdapter,
  ChargeRequest,
  Completion,
  ConsentRequest,
  InboundRequest,
  Interaction,
  Outcome,
  Procedure,
  ProviderRefRequest,
  RefundRequest,
} from '../types';
import { CallbackRejected, ProcedureNotSupported } from '../types';
import {
  CLIENT_ASSERTION_TYPE,
  CloudEventSchema,
  E164,
  ErrorInfoSchema,
  PAYMENTS_BASE,
  PURPOSE,
  PaymentListSchema,
  PaymentSchema,
  REFUNDS_BASE,
  RefundListSchema,
  RefundSchema,
  RemainingAmountSchema,
  SCOPES,
  TOKEN_PATH,
  TokenResponseSchema,
  classifyError,
  eventNameOf,
  exponentOf,
  fromWireAmount,
  outcomeOf,
  redact,
  statusOfEvent,
  stringifyWire,
  toWireAmount,
  type CreatePaymentBody,
  type CreateRefundBody,
  type EventName,
  type ErrorInfo,
  type ErrorVerdict,
  type Intent,
  type Payment,
  type PaymentStatus,
  type Refund,
  type SinkCredential,
  type ValidationInfo,
} from './transformers';

export const capabilities: Capabilities = {
  protocol: 'CAMARA',
  kind: 'CARRIER_BILLING',
  procedures: ['CHARGE', 'RESERVE', 'CAPTURE', 'RELEASE', 'REFUND', 'STATUS', 'CONSENT'],
  patterns: ['REQUEST_READ', 'REQUEST_DOWNLOAD', 'REQUEST_WAIT_RECEIVE'],
  consent: ['NONE', 'OTP'],
  currencies: '*',
  refunds: 'partial',
};

// ---------------------------------------------------------------------------------------------
// HTTP exchange
// ---------------------------------------------------------------------------------------------

type Answer =
  | {
      kind: 'answer';
      status: number;
      json: unknown;
      unreadable: boolean;
      headers: Record<string, string | string[] | undefined>;
      interaction: Interaction;
    }
  /** Never reached the provider (no token, connection refused): nothing happened. */
  | { kind: 'not-sent'; reason: string; interaction?: Interaction }
  /** Sent, answer lost (timeout, reset): the provider may have acted. */
  | { kind: 'lost'; reason: string; interaction: Interaction };

interface Exchange {
  operation: string;
  reference?: string;
  method: 'GET' | 'POST';
  path: string;
  body?: unknown;
  /** What to log instead of the body (e.g. with the OTP removed). */
  logBody?: unknown;
}

const PRE_SEND_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

function errorCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | undefined;
  const code = e?.code ?? e?.cause?.code;
  return typeof code === 'string' ? code : undefined;
}
function errorMessage(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

class TokenUnavailable extends Error {}

// ---------------------------------------------------------------------------------------------
// Per-attempt memory (best effort; the provider is the truth, lookups work without it)
// ---------------------------------------------------------------------------------------------

interface PaymentEntry {
  intent: Intent;
  amount: bigint;
  currency: string;
  msisdn?: string;
  sentAt: number;
  sink: boolean;
  paymentId?: string;
  authorizationId?: string;
  validated?: boolean;
  attemptsLeft?: number;
}

interface RefundEntry {
  chargeReference: string;
  paymentId: string;
  refundId?: string;
  amount: bigint;
  currency: string;
  full: boolean;
  sentAt: number;
  sink: boolean;
}

const MEMORY_LIMIT = 50_000;
function remember<K, V>(map: Map<K, V>, key: K, value: V): V {
  if (!map.has(key) && map.size >= MEMORY_LIMIT) map.delete(map.keys().next().value as K);
  map.set(key, value);
  return value;
}

type SinkIntent = 'C' | 'R' | 'F';

// ---------------------------------------------------------------------------------------------
// The adapter
// ---------------------------------------------------------------------------------------------

class CamaraAdapter implements ChannelAdapter {
  readonly capabilities = capabilities;
  private readonly agent: Agent;
  private readonly base: string;
  private readonly tokenUrl: string;
  private readonly timeoutMs: number;
  private readonly clientId: string;
  private readonly jwk: JWK;
  private readonly kid: string | undefined;
  private readonly alg: string;
  private readonly sinkSecret: Buffer;
  private readonly merchantIdentifier: string | undefined;
  private readonly merchantName: string | undefined;
  private readonly pollIntervalMs: number;
  private readonly pollMaxMs: number;
  private readonly lookbackMs: number;
  private readonly sinkTtlMs: number;
  private signingKey: Promise<Awaited<ReturnType<typeof importJWK>>> | undefined;
  private token: { value: string; expiresAt: number } | undefined;
  private tokenFlight: Promise<string> | undefined;
  private readonly payments = new Map<string, PaymentEntry>();
  private readonly refunds = new Map<string, RefundEntry>();
  private readonly inflight = new Map<string, Promise<Outcome>>();
  private readonly polls = new Map<string, NodeJS.Timeout>();
  private closed = false;

  constructor(
    config: AdapterConfig,
    private readonly deps: AdapterDeps,
  ) {
    const s = config.settings ?? {};
    const c = config.credentials;
    if (!c.clientId || !c.privateKeyJwk)
      throw new Error('camara: credentials.clientId and credentials.privateKeyJwk are required');
    this.base = config.baseUrl.replace(/\/+$/, '');
    this.tokenUrl = typeof s.tokenUrl === 'string' ? s.tokenUrl : this.base + TOKEN_PATH;
    this.timeoutMs = config.timeoutMs;
    this.clientId = c.clientId;
    this.jwk = JSON.parse(c.privateKeyJwk) as JWK;
    this.kid = c.keyId ?? this.jwk.kid;
    this.alg =
      c.alg ??
      this.jwk.alg ??
      (this.jwk.kty === 'EC' ? 'ES256' : this.jwk.kty === 'OKP' ? 'EdDSA' : 'RS256');
    this.sinkSecret = c.sinkSecret ? Buffer.from(c.sinkSecret, 'utf8') : randomBytes(32);
    this.merchantIdentifier =
      typeof s.merchantIdentifier === 'string' ? s.merchantIdentifier : undefined;
    this.merchantName = typeof s.merchantName === 'string' ? s.merchantName : undefined;
    this.pollIntervalMs = Number(s.pollIntervalMs ?? 2_000);
    this.pollMaxMs = Number(s.pollMaxMs ?? 10 * 60_000);
    this.lookbackMs = Number(s.lookbackHours ?? 72) * 3_600_000;
    this.sinkTtlMs = Number(s.sinkTokenTtlHours ?? 24 * 7) * 3_600_000;
    this.agent = new Agent({ keepAliveTimeout: 4_000, connections: Number(s.connections ?? 32) });
  }

  // ----- procedures ---------------------------------------------------------------------------

  charge(req: ChargeRequest): Promise<Outcome> {
    return this.once(`C:${req.reference}`, () => this.doCharge(req));
  }

  reserve(req: ChargeRequest): Promise<Outcome> {
    return this.once(`R:${req.reference}`, async () => {
      const invalid = this.checkRequest(req);
      if (invalid) return invalid;
      return this.prepare(req, 'RESERVE');
    });
  }

  async capture(req: CaptureRequest): Promise<Outcome> {
    const located = await this.locatePayment(req.reference, req.providerRef, 'RESERVE');
    if ('outcome' in located) return located.outcome;
    const entry = this.payments.get(req.reference);
    let reserved = entry && entry.currency === req.currency ? entry.amount : undefined;
    if (reserved === undefined) {
      const read = await this.readPayment(located.paymentId, req.reference, 'readPayment');
      if ('outcome' in read) return this.notSentToDecline(read.outcome);
      reserved = this.amountOf(read.payment).amount;
    }
    if (reserved !== req.amount) {
      return {
        kind: 'declined',
        code: 'DENIED',
        providerRef: located.paymentId,
        providerCode: 'AMOUNT_MISMATCH',
        message: 'CAMARA confirms the prepared amount only',
      };
    }
    if (entry) entry.intent = 'CHARGE';
    return this.confirm(req.reference, located.paymentId, req.msisdn ?? entry?.msisdn);
  }

  async release(req: ProviderRefRequest): Promise<Outcome> {
    const located = await this.locatePayment(req.reference, req.providerRef, 'RESERVE');
    if ('outcome' in located) return located.outcome;
    const paymentId = located.paymentId;
    const msisdn = req.msisdn ?? this.payments.get(req.reference)?.msisdn;
    const entry = this.payments.get(req.reference);
    if (entry) entry.intent = 'RELEASE';
    const res = await this.call({
      operation: 'cancelPayment',
      reference: req.reference,
      method: 'POST',
      path: `${PAYMENTS_BASE}/payments/${encodeURIComponent(paymentId)}/cancel`,
      body: msisdn ? { phoneNumber: msisdn } : {},
    });
    if (res.kind === 'not-sent')
      return this.mark(res, {
        kind: 'declined',
        code: 'CHANNEL_UNAVAILABLE',
        providerRef: paymentId,
        message: res.reason,
      });
    if (res.kind === 'lost')
      return this.mark(res, { kind: 'unknown', reason: res.reason, providerRef: paymentId });
    if (res.status === 202 || res.status === 200 || res.status === 204)
      return this.mark(res, await this.readOutcome(req.reference, paymentId, 'RELEASE'));
    const verdict = this.verdict(res);
    if (verdict.kind === 'already-cancelled')
      return this.mark(res, { kind: 'succeeded', providerRef: paymentId });
    if (verdict.kind === 'already-confirmed')
      return this.mark(res, {
        kind: 'declined',
        code: 'DENIED',
        providerRef: paymentId,
        providerCode: 'PAYMENT_CONFIRMED',
      });
    return this.mark(res, this.errorOutcome(res, verdict, paymentId));
  }

  async confirmConsent(req: ConsentRequest): Promise<Outcome> {
    const entry = this.payments.get(req.reference);
    const located = await this.locatePayment(
      req.reference,
      req.providerRef,
      entry?.intent ?? 'CHARGE',
    );
    if ('outcome' in located) return located.outcome;
    const paymentId = located.paymentId;
    const intent: Intent = entry?.intent === 'RESERVE' ? 'RESERVE' : 'CHARGE';
    let authorizationId = entry?.authorizationId;
    if (!authorizationId && !entry?.validated) {
      const read = await this.readPayment(paymentId, req.reference, 'readPayment');
      if ('outcome' in read) return this.notSentToDecline(read.outcome);
      if (read.payment.paymentStatus !== 'pending_validation')
        return this.afterValidation(req.reference, read.payment, intent, req.msisdn);
      if (read.payment.validationInfo?.action !== 'validate') {
        return {
          kind: 'declined',
          code: 'DENIED',
          providerRef: paymentId,
          message: 'the operator does not validate by code for this payment',
        };
      }
      authorizationId = read.payment.validationInfo.authorizationId;
      if (entry) entry.authorizationId = authorizationId;
    }
    if (!entry?.validated && authorizationId) {
      const res = await this.call({
        operation: 'validatePayment',
        reference: req.reference,
        method: 'POST',
        path: `${PAYMENTS_BASE}/payments/${encodeURIComponent(paymentId)}/validate`,
        body: { authorizationId, code: req.otp },
        logBody: { authorizationId, code: '[REDACTED]' },
      });
      if (res.kind === 'not-sent')
        return this.mark(res, {
          kind: 'declined',
          code: 'CHANNEL_UNAVAILABLE',
          providerRef: paymentId,
          message: res.reason,
        });
      if (res.kind === 'lost')
        return this.mark(res, { kind: 'unknown', reason: res.reason, providerRef: paymentId });
      if (res.status === 409) {
        const read = await this.readPayment(paymentId, req.reference, 'readPayment');
        if ('outcome' in read) return this.mark(res, read.outcome);
        return this.mark(
          res,
          await this.afterValidation(req.reference, read.payment, intent, req.msisdn),
        );
      }
      if (res.status < 200 || res.status > 299) {
        const verdict = this.verdict(res);
        const error = this.errorInfo(res);
        if (verdict.kind === 'invalid-code') {
          const left = /(\d+)\s+attempts?\s+left/i.exec(error?.message ?? '');
          const attemptsLeft = left ? Number(left[1]) : undefined;
          if (entry) entry.attemptsLeft = attemptsLeft;
          if (attemptsLeft === 0)
            return this.mark(res, {
              kind: 'declined',
              code: 'INVALID_OTP',
              providerRef: paymentId,
              providerCode: error?.code,
            });
          return this.mark(res, {
            kind: 'pending',
            completion: 'poll',
            providerRef: paymentId,
            action: { kind: 'OTP', attemptsLeft },
          });
        }
        if (verdict.kind === 'validation-failed') {
          return this.mark(res, {
            kind: 'declined',
            code: 'INVALID_OTP',
            providerRef: paymentId,
            providerCode: error?.code,
            message: error?.message,
          });
        }
        return this.mark(res, this.errorOutcome(res, verdict, paymentId));
      }
      if (entry) entry.validated = true;
      this.mark(res, { kind: 'pending', completion: 'poll', providerRef: paymentId });
    }
    if (intent === 'RESERVE') return this.readOutcome(req.reference, paymentId, 'RESERVE');
    return this.confirm(req.reference, paymentId, req.msisdn ?? entry?.msisdn);
  }

  async refund(req: RefundRequest): Promise<Outcome> {
    return this.once(`F:${req.reference}`, () => this.doRefund(req));
  }

  async balance(): Promise<never> {
    throw new ProcedureNotSupported('CAMARA', 'BALANCE');
  }

  async status(req: ProviderRefRequest & { procedure?: Procedure }): Promise<Outcome> {
    if (req.procedure === 'REFUND') return this.refundStatus(req);
    const entry = this.payments.get(req.reference);
    const intent: Intent =
      req.procedure === 'RESERVE'
        ? 'RESERVE'
        : req.procedure === 'RELEASE'
          ? 'RELEASE'
          : req.procedure === undefined || req.procedure === 'CONSENT'
            ? (entry?.intent ?? 'CHARGE')
            : 'CHARGE';
    const paymentId = req.providerRef ?? entry?.paymentId;
    if (paymentId) return this.readOutcome(req.reference, paymentId, intent);
    const found = await this.lookupPayment(req.reference);
    if (found.kind === 'failed') return { kind: 'unknown', reason: found.reason };
    if (found.kind === 'absent')
      return {
        kind: 'unknown',
        reason: 'no payment with this clientCorrelator at the provider (yet)',
      };
    return this.paymentOutcome(req.reference, found.payment, intent);
  }

  async handleCallback(req: InboundRequest): Promise<CallbackResult> {
    const started = Date.now();
    const interaction: Interaction = {
      direction: 'INBOUND',
      operation: 'callback',
      request: { method: req.method, path: req.path, contentType: req.headers['content-type'] },
      durationMs: 0,
      at: new Date(),
    };
    try {
      if (req.method !== 'POST') throw new CallbackRejected('method not allowed', 405);
      const auth = req.headers.authorization;
      const bearer = typeof auth === 'string' ? /^Bearer\s+(\S+)$/i.exec(auth)?.[1] : undefined;
      if (!bearer) throw new CallbackRejected('missing bearer token', 401);
      const claim = this.verifySinkToken(bearer);
      interaction.reference = claim.reference;
      let json: unknown;
      try {
        json = JSON.parse(req.rawBody.toString('utf8'));
      } catch {
        throw new CallbackRejected('body is not JSON', 400);
      }
      const parsed = CloudEventSchema.safeParse(json);
      if (!parsed.success) throw new CallbackRejected('not a CloudEvent', 400);
      const event = parsed.data;
      interaction.operation = `callback:${event.type}`;
      interaction.request = { ...(interaction.request as object), body: redact(event) };
      const name = eventNameOf(event.type);
      if (!name) throw new CallbackRejected(`unknown event type ${event.type}`, 400);
      if ((claim.intent === 'F') !== name.startsWith('refund-'))
        throw new CallbackRejected('event does not match the credential', 403);

      const occurredAt =
        event.time && !Number.isNaN(Date.parse(event.time)) ? new Date(event.time) : undefined;
      let result: {
        procedure: Procedure;
        providerRef: string;
        outcome: Outcome;
        amount?: bigint;
        currency?: string;
      };
      if (claim.intent === 'F') {
        if (!event.data.refundId) throw new CallbackRejected('refund event without refundId', 400);
        result = await this.refundEventOutcome(
          claim.reference,
          event.data.paymentId,
          event.data.refundId,
          name,
        );
      } else {
        result = await this.paymentEventOutcome(
          claim.reference,
          claim.intent,
          event.data.paymentId,
          name,
          event.data.denialReason,
        );
      }
      const out: AsyncOutcome = {
        eventId: event.id,
        procedure: result.procedure,
        reference: claim.reference,
        providerRef: result.providerRef,
        outcome: result.outcome,
        amount: result.amount,
        currency: result.currency,
        occurredAt,
      };
      interaction.status = 204;
      interaction.outcome = result.outcome.kind;
      return { status: 204, events: [out] };
    } catch (err) {
      interaction.status = err instanceof CallbackRejected ? err.status : 500;
      interaction.response = { rejected: errorMessage(err) };
      throw err;
    } finally {
      interaction.durationMs = Date.now() - started;
      this.deps.record(interaction);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.polls.values()) clearTimeout(t);
    this.polls.clear();
    await this.agent.close().catch(() => undefined);
  }

  // ----- charge / prepare / confirm -----------------------------------------------------------

  private async doCharge(req: ChargeRequest): Promise<Outcome> {
    const invalid = this.checkRequest(req);
    if (invalid) return invalid;
    const { body, sink } = this.paymentBody(req, 'C');
    this.rememberPayment(req, 'CHARGE', sink);
    const res = await this.call({
      operation: 'createPayment',
      reference: req.reference,
      method: 'POST',
      path: `${PAYMENTS_BASE}/payments`,
      body,
    });
    if (res.kind === 'answer' && res.status === 403) {
      const verdict = this.verdict(res);
      // The operator wants the user to validate (2-legged): nothing was created, go two-step
      // with the same clientCorrelator.
      if (verdict.kind === 'permission') {
        this.mark(res, { kind: 'pending', completion: 'poll' });
        return this.prepare(req, 'CHARGE');
      }
    }
    return this.createdAnswer(res, req, 'CHARGE', sink);
  }

  private async prepare(req: ChargeRequest, intent: 'CHARGE' | 'RESERVE'): Promise<Outcome> {
    const { body, sink } = this.paymentBody(req, intent === 'CHARGE' ? 'C' : 'R');
    this.rememberPayment(req, intent, sink);
    const res = await this.call({
      operation: 'preparePayment',
      reference: req.reference,
      method: 'POST',
      path: `${PAYMENTS_BASE}/payments/prepare`,
      body,
    });
    const outcome = await this.createdAnswer(res, req, intent, sink);
    // A charge that needed no validation after all: confirm it now.
    if (
      intent === 'CHARGE' &&
      outcome.kind === 'pending' &&
      !outcome.action &&
      outcome.providerRef &&
      this.payments.get(req.reference)?.validated
    ) {
      return this.confirm(req.reference, outcome.providerRef, req.msisdn);
    }
    return outcome;
  }

  /** The answer to createPayment / preparePayment. */
  private async createdAnswer(
    res: Answer,
    req: ChargeRequest,
    intent: Intent,
    sink: boolean,
  ): Promise<Outcome> {
    if (res.kind === 'not-sent')
      return this.mark(res, { kind: 'declined', code: 'CHANNEL_UNAVAILABLE', message: res.reason });
    if (res.kind === 'lost') return this.mark(res, { kind: 'unknown', reason: res.reason });
    if (res.status === 201 || res.status === 200) {
      if (res.unreadable)
        return this.mark(res, { kind: 'unknown', reason: 'unreadable answer after sending' });
      const parsed = PaymentSchema.safeParse(res.json);
      if (!parsed.success)
        return this.mark(res, {
          kind: 'unknown',
          reason: 'answer does not match the Payment schema',
        });
      const payment = parsed.data;
      const entry = this.payments.get(req.reference);
      if (entry) {
        entry.paymentId = payment.paymentId;
        if (payment.validationInfo?.action === 'validate')
          entry.authorizationId = payment.validationInfo.authorizationId;
        if (payment.paymentStatus === 'reserved') entry.validated = true;
      }
      const outcome = this.paymentOutcome(req.reference, payment, intent, sink);
      if (
        outcome.kind === 'pending' &&
        !outcome.action &&
        payment.paymentStatus === 'processing' &&
        !sink
      ) {
        this.startPoll(req.reference, payment.paymentId, intent);
      }
      return this.mark(res, outcome);
    }
    const verdict = this.verdict(res);
    if (verdict.kind === 'duplicate') {
      // The first call with this clientCorrelator was registered: read what it became.
      const found = await this.lookupPayment(req.reference);
      if (found.kind === 'found')
        return this.mark(res, this.paymentOutcome(req.reference, found.payment, intent, sink));
      return this.mark(res, {
        kind: 'unknown',
        reason: `already registered; lookup: ${found.kind === 'failed' ? found.reason : 'not listed yet'}`,
      });
    }
    return this.mark(res, this.errorOutcome(res, verdict));
  }

  /** confirmPayment (202, no body), then read the payment. One at a time per payment. */
  private confirm(
    reference: string,
    paymentId: string,
    msisdn: string | undefined,
  ): Promise<Outcome> {
    return this.once(`K:${paymentId}`, () => this.doConfirm(reference, paymentId, msisdn));
  }

  private async doConfirm(
    reference: string,
    paymentId: string,
    msisdn: string | undefined,
  ): Promise<Outcome> {
    const res = await this.call({
      operation: 'confirmPayment',
      reference,
      method: 'POST',
      path: `${PAYMENTS_BASE}/payments/${encodeURIComponent(paymentId)}/confirm`,
      body: msisdn ? { phoneNumber: msisdn } : {},
    });
    if (res.kind === 'not-sent')
      return this.mark(res, {
        kind: 'declined',
        code: 'CHANNEL_UNAVAILABLE',
        providerRef: paymentId,
        message: res.reason,
      });
    if (res.kind === 'lost')
      return this.mark(res, { kind: 'unknown', reason: res.reason, providerRef: paymentId });
    if (res.status >= 200 && res.status <= 299)
      return this.mark(res, await this.readOutcome(reference, paymentId, 'CHARGE'));
    const verdict = this.verdict(res);
    if (verdict.kind === 'already-confirmed')
      return this.mark(res, await this.readOutcome(reference, paymentId, 'CHARGE'));
    if (verdict.kind === 'already-cancelled') {
      return this.mark(res, {
        kind: 'declined',
        code: 'CONSENT_EXPIRED',
        providerRef: paymentId,
        providerCode: 'CARRIER_BILLING.PAYMENT_CANCELLED',
      });
    }
    return this.mark(res, this.errorOutcome(res, verdict, paymentId));
  }

  /** After a validate that was already done (409) or found done: go on from the payment's state. */
  private async afterValidation(
    reference: string,
    payment: Payment,
    intent: 'CHARGE' | 'RESERVE',
    msisdn: string | undefined,
  ): Promise<Outcome> {
    const entry = this.payments.get(reference);
    if (payment.paymentStatus === 'reserved') {
      if (entry) entry.validated = true;
      if (intent === 'CHARGE')
        return this.confirm(reference, payment.paymentId, msisdn ?? entry?.msisdn);
    }
    if (payment.paymentStatus === 'denied')
      return {
        kind: 'declined',
        code: 'INVALID_OTP',
        providerRef: payment.paymentId,
        providerCode: 'denied',
      };
    return this.paymentOutcome(reference, payment, intent);
  }

  // ----- refunds ------------------------------------------------------------------------------

  private async doRefund(req: RefundRequest): Promise<Outcome> {
    if (req.amount <= 0n)
      return { kind: 'declined', code: 'DENIED', message: 'refund amount must be positive' };
    try {
      exponentOf(req.currency);
    } catch (err) {
      return { kind: 'declined', code: 'DENIED', message: errorMessage(err) };
    }
    const chargeEntry = this.payments.get(req.chargeReference);
    let paymentId = req.chargeProviderRef ?? chargeEntry?.paymentId;
    if (!paymentId) {
      const found = await this.lookupPayment(req.chargeReference);
      if (found.kind === 'failed')
        return { kind: 'declined', code: 'CHANNEL_UNAVAILABLE', message: found.reason };
      if (found.kind === 'absent')
        return {
          kind: 'declined',
          code: 'DENIED',
          message: 'the charge is not known to the provider',
        };
      paymentId = found.payment.paymentId;
    }
    const pid = paymentId;

    if (req.full) {
      // A total refund takes whatever remains: make sure that is what billing expects.
      const rem = await this.call({
        operation: 'retrievePaymentRemainingAmount',
        reference: req.reference,
        method: 'GET',
        path: `${REFUNDS_BASE}/payments/${encodeURIComponent(pid)}/refunds/remaining-amount`,
      });
      if (rem.kind !== 'answer')
        return {
          kind: 'declined',
          code: 'CHANNEL_UNAVAILABLE',
          message: `remaining amount: ${rem.reason}`,
        };
      if (rem.status !== 200)
        return this.mark(rem, this.errorOutcome(rem, this.verdict(rem), pid, true));
      const parsed = RemainingAmountSchema.safeParse(rem.json);
      let remaining: bigint | undefined;
      try {
        remaining =
          parsed.success && parsed.data.currency === req.currency
            ? fromWireAmount(parsed.data.amount, req.currency)
            : undefined;
      } catch {
        remaining = undefined;
      }
      if (remaining === undefined)
        return this.mark(rem, {
          kind: 'declined',
          code: 'CHANNEL_UNAVAILABLE',
          message: 'unreadable remaining amount',
        });
      if (remaining !== req.amount) {
        return this.mark(rem, {
          kind: 'declined',
          code: 'DENIED',
          providerCode: 'AMOUNT_CONFLICT',
          message: `remaining at the provider ${remaining} minor units, refund asked ${req.amount}`,
        });
      }
    }

    const sinkUrl = this.sinkUrl();
    const body: CreateRefundBody = {
      type: req.full ? 'total' : 'partial',
      reason: req.reason,
      amountTransaction: {
        clientCorrelator: req.reference,
        referenceCode: req.reference,
        refundAmount: req.full
          ? this.merchantIdentifier
            ? { chargingMetaData: { merchantIdentifier: this.merchantIdentifier } }
            : {}
          : {
              chargingInformation: {
                amount: toWireAmount(req.amount, req.currency),
                currency: req.currency,
                description: req.reason ?? 'Refund',
              },
              ...(this.merchantIdentifier
                ? { chargingMetaData: { merchantIdentifier: this.merchantIdentifier } }
                : {}),
            },
      },
    };
    if (sinkUrl) {
      body.sink = sinkUrl;
      body.sinkCredential = this.sinkCredential('F', req.reference);
    }
    const entry = remember(this.refunds, req.reference, {
      chargeReference: req.chargeReference,
      paymentId: pid,
      amount: req.amount,
      currency: req.currency,
      full: req.full,
      sentAt: Date.now(),
      sink: !!sinkUrl,
    });
    const res = await this.call({
      operation: 'createRefund',
      reference: req.reference,
      method: 'POST',
      path: `${REFUNDS_BASE}/payments/${encodeURIComponent(pid)}/refunds`,
      body,
    });
    if (res.kind === 'not-sent')
      return this.mark(res, { kind: 'declined', code: 'CHANNEL_UNAVAILABLE', message: res.reason });
    if (res.kind === 'lost') return this.mark(res, { kind: 'unknown', reason: res.reason });
    if (res.status === 201 || res.status === 200) {
      if (res.unreadable)
        return this.mark(res, { kind: 'unknown', reason: 'unreadable answer after sending' });
      const parsed = RefundSchema.safeParse(res.json);
      if (!parsed.success)
        return this.mark(res, {
          kind: 'unknown',
          reason: 'answer does not match the Refund schema',
        });
      entry.refundId = parsed.data.refundId;
      const outcome = this.refundOutcome(req.reference, pid, parsed.data, !!sinkUrl);
      if (outcome.kind === 'pending' && !sinkUrl)
        this.startRefundPoll(req.reference, pid, parsed.data.refundId);
      return this.mark(res, outcome);
    }
    const verdict = this.verdict(res);
    if (verdict.kind === 'duplicate') {
      const found = await this.lookupRefund(req.reference, pid);
      if (found.kind === 'found')
        return this.mark(res, this.refundOutcome(req.reference, pid, found.refund, !!sinkUrl));
      return this.mark(res, {
        kind: 'unknown',
        reason: 'refund already registered; not found by lookup',
      });
    }
    return this.mark(res, this.errorOutcome(res, verdict, undefined, true));
  }

  private async refundStatus(req: ProviderRefRequest): Promise<Outcome> {
    const entry = this.refunds.get(req.reference);
    const [pidFromRef, ridFromRef] = req.providerRef?.includes('/')
      ? splitRefundRef(req.providerRef)
      : [undefined, undefined];
    const paymentId = pidFromRef ?? entry?.paymentId;
    if (!paymentId)
      return {
        kind: 'unknown',
        reason: 'refund status needs the charge (providerRef "paymentId/refundId")',
      };
    const refundId = ridFromRef ?? entry?.refundId;
    if (!refundId) {
      const found = await this.lookupRefund(req.reference, paymentId);
      if (found.kind === 'failed') return { kind: 'unknown', reason: found.reason };
      if (found.kind === 'absent')
        return {
          kind: 'unknown',
          reason: 'no refund with this clientCorrelator at the provider (yet)',
        };
      return this.refundOutcome(req.reference, paymentId, found.refund, entry?.sink ?? false);
    }
    const read = await this.readRefund(paymentId, refundId, req.reference);
    if ('outcome' in read) return read.outcome;
    return this.refundOutcome(req.reference, paymentId, read.refund, entry?.sink ?? false);
  }

  private refundOutcome(
    reference: string,
    paymentId: string,
    refund: Refund,
    sink: boolean,
  ): Outcome {
    const providerRef = `${paymentId}/${refund.refundId}`;
    const entry = this.refunds.get(reference);
    if (refund.amountTransaction.referenceCode !== reference) {
      return {
        kind: 'unknown',
        reason: `refund ${refund.refundId} belongs to another reference`,
        providerRef,
      };
    }
    let amount: bigint | undefined;
    let currency: string | undefined;
    const info = refund.amountTransaction.refundAmount.chargingInformation;
    if (info) {
      try {
        amount = fromWireAmount(info.amount, info.currency);
        currency = info.currency;
      } catch (err) {
        return { kind: 'unknown', reason: `amount conflict: ${errorMessage(err)}`, providerRef };
      }
      if (entry && (entry.amount !== amount || entry.currency !== currency)) {
        return {
          kind: 'unknown',
          reason: `amount conflict: asked ${entry.amount} ${entry.currency}, provider reports ${amount} ${currency}`,
          providerRef,
        };
      }
    } else if (entry) {
      amount = entry.amount;
      currency = entry.currency;
    }
    return outcomeOf(refund.refundStatus, {
      intent: 'REFUND',
      completion: sink ? 'callback' : 'poll',
      providerRef,
      amount,
      currency,
    });
  }

  // ----- reading and matching -----------------------------------------------------------------

  /** Payment → outcome, with our reference and amount checked. */
  private paymentOutcome(
    reference: string,
    payment: Payment,
    intent: Intent,
    sink?: boolean,
  ): Outcome {
    const providerRef = payment.paymentId;
    const at = payment.amountTransaction;
    const entry = this.payments.get(reference);
    if ((at.clientCorrelator ?? at.referenceCode) !== reference && at.referenceCode !== reference) {
      return {
        kind: 'unknown',
        reason: `payment ${providerRef} belongs to another reference`,
        providerRef,
      };
    }
    if (entry && !entry.paymentId) entry.paymentId = providerRef;
    const { amount, currency, conflict } = this.amountOf(payment);
    if (conflict) return { kind: 'unknown', reason: conflict, providerRef };
    if (entry && (entry.amount !== amount || entry.currency !== currency)) {
      return {
        kind: 'unknown',
        reason: `amount conflict: asked ${entry.amount} ${entry.currency}, provider reports ${amount} ${currency}`,
        providerRef,
      };
    }
    const completion: Completion = (sink ?? entry?.sink) ? 'callback' : 'poll';
    return outcomeOf(payment.paymentStatus, {
      intent,
      completion,
      providerRef,
      validationInfo: payment.validationInfo as ValidationInfo | undefined,
      amount,
      currency,
      attemptsLeft: entry?.attemptsLeft,
    });
  }

  private amountOf(payment: Payment): { amount: bigint; currency: string; conflict?: string } {
    const info = payment.amountTransaction.paymentAmount.chargingInformation;
    try {
      return { amount: fromWireAmount(info.amount, info.currency), currency: info.currency };
    } catch (err) {
      return {
        amount: -1n,
        currency: info.currency,
        conflict: `amount conflict: ${errorMessage(err)}`,
      };
    }
  }

  private async readPayment(
    paymentId: string,
    reference: string,
    operation: string,
  ): Promise<{ payment: Payment } | { outcome: Outcome; notFound?: boolean }> {
    const res = await this.call({
      operation,
      reference,
      method: 'GET',
      path: `${PAYMENTS_BASE}/payments/${encodeURIComponent(paymentId)}`,
    });
    if (res.kind === 'not-sent')
      return { outcome: { kind: 'unknown', reason: res.reason, providerRef: paymentId } };
    if (res.kind === 'lost')
      return { outcome: { kind: 'unknown', reason: res.reason, providerRef: paymentId } };
    if (res.status !== 200) {
      return {
        outcome: {
          kind: 'unknown',
          reason: `GET payment answered ${res.status} ${this.errorInfo(res)?.code ?? ''}`.trim(),
          providerRef: paymentId,
        },
        notFound: res.status === 404,
      };
    }
    const parsed = PaymentSchema.safeParse(res.json);
    if (!parsed.success)
      return { outcome: { kind: 'unknown', reason: 'unreadable payment', providerRef: paymentId } };
    return { payment: parsed.data };
  }

  private async readOutcome(
    reference: string,
    paymentId: string,
    intent: Intent,
  ): Promise<Outcome> {
    const read = await this.readPayment(paymentId, reference, 'retrievePayment');
    if ('outcome' in read) return read.outcome;
    return this.paymentOutcome(reference, read.payment, intent);
  }

  private async readRefund(
    paymentId: string,
    refundId: string,
    reference: string,
  ): Promise<{ refund: Refund } | { outcome: Outcome }> {
    const providerRef = `${paymentId}/${refundId}`;
    const res = await this.call({
      operation: 'retrieveRefund',
      reference,
      method: 'GET',
      path: `${REFUNDS_BASE}/payments/${encodeURIComponent(paymentId)}/refunds/${encodeURIComponent(refundId)}`,
    });
    if (res.kind !== 'answer')
      return { outcome: { kind: 'unknown', reason: res.reason, providerRef } };
    if (res.status !== 200)
      return {
        outcome: { kind: 'unknown', reason: `GET refund answered ${res.status}`, providerRef },
      };
    const parsed = RefundSchema.safeParse(res.json);
    if (!parsed.success)
      return { outcome: { kind: 'unknown', reason: 'unreadable refund', providerRef } };
    return { refund: parsed.data };
  }

  /** paymentId from the caller, our memory, or the provider's list. */
  private async locatePayment(
    reference: string,
    providerRef: string | undefined,
    intent: Intent,
  ): Promise<{ paymentId: string } | { outcome: Outcome }> {
    const paymentId = providerRef ?? this.payments.get(reference)?.paymentId;
    if (paymentId) return { paymentId };
    const found = await this.lookupPayment(reference);
    if (found.kind === 'found') {
      const entry = this.payments.get(reference);
      if (entry) entry.paymentId = found.payment.paymentId;
      return { paymentId: found.payment.paymentId };
    }
    if (found.kind === 'failed')
      return { outcome: { kind: 'declined', code: 'CHANNEL_UNAVAILABLE', message: found.reason } };
    return {
      outcome: {
        kind: 'declined',
        code: 'DENIED',
        message: `no ${intent.toLowerCase()} with this reference at the provider`,
      },
    };
  }

  /**
   * There is no GET by clientCorrelator: list our payments created since the attempt (ascending,
   * so new payments do not shift pages) and match the clientCorrelator.
   */
  private async lookupPayment(
    reference: string,
  ): Promise<
    { kind: 'found'; payment: Payment } | { kind: 'absent' } | { kind: 'failed'; reason: string }
  > {
    const sentAt = this.payments.get(reference)?.sentAt;
    const since = new Date((sentAt ?? Date.now() - this.lookbackMs) - 5 * 60_000).toISOString();
    const perPage = 100;
    for (let page = 1; page <= 20; page += 1) {
      const q = new URLSearchParams({
        'paymentCreationDate.gte': since,
        order: 'asc',
        page: String(page),
        perPage: String(perPage),
      });
      if (this.merchantIdentifier) q.set('merchantIdentifier', this.merchantIdentifier);
      const res = await this.call({
        operation: 'retrievePayments',
        reference,
        method: 'GET',
        path: `${PAYMENTS_BASE}/payments?${q.toString()}`,
      });
      if (res.kind !== 'answer') return { kind: 'failed', reason: res.reason };
      if (res.status !== 200) return { kind: 'failed', reason: `list answered ${res.status}` };
      const parsed = PaymentListSchema.safeParse(res.json);
      if (!parsed.success) return { kind: 'failed', reason: 'unreadable payment list' };
      const match =
        parsed.data.find((p) => p.amountTransaction.clientCorrelator === reference) ??
        parsed.data.find(
          (p) =>
            p.amountTransaction.clientCorrelator === undefined &&
            p.amountTransaction.referenceCode === reference,
        );
      if (match) return { kind: 'found', payment: match };
      const total = Number(headerValue(res.headers['x-total-count']));
      if (parsed.data.length < perPage || (Number.isFinite(total) && page * perPage >= total))
        return { kind: 'absent' };
    }
    return { kind: 'absent' };
  }

  private async lookupRefund(
    reference: string,
    paymentId: string,
  ): Promise<
    { kind: 'found'; refund: Refund } | { kind: 'absent' } | { kind: 'failed'; reason: string }
  > {
    const res = await this.call({
      operation: 'retrieveRefunds',
      reference,
      method: 'GET',
      path: `${REFUNDS_BASE}/payments/${encodeURIComponent(paymentId)}/refunds?perPage=100&order=asc`,
    });
    if (res.kind !== 'answer') return { kind: 'failed', reason: res.reason };
    if (res.status !== 200) return { kind: 'failed', reason: `refund list answered ${res.status}` };
    const parsed = RefundListSchema.safeParse(res.json);
    if (!parsed.success) return { kind: 'failed', reason: 'unreadable refund list' };
    const match = parsed.data.find(
      (r) =>
        (r.amountTransaction.clientCorrelator ?? r.amountTransaction.referenceCode) === reference,
    );
    if (!match) return { kind: 'absent' };
    const entry = this.refunds.get(reference);
    if (entry) entry.refundId = match.refundId;
    return { kind: 'found', refund: match };
  }

  // ----- callbacks and polling ----------------------------------------------------------------

  private async paymentEventOutcome(
    reference: string,
    intent: 'C' | 'R',
    paymentId: string,
    name: EventName,
    denialReason: string | undefined,
  ): Promise<{
    procedure: Procedure;
    providerRef: string;
    outcome: Outcome;
    amount?: bigint;
    currency?: string;
  }> {
    // Re-read before acting: the event only tells us to look.
    const read = await this.readPayment(paymentId, reference, 'retrievePayment');
    let status: PaymentStatus;
    let payment: Payment | undefined;
    if ('payment' in read) {
      payment = read.payment;
      const at = payment.amountTransaction;
      if ((at.clientCorrelator ?? at.referenceCode) !== reference)
        throw new CallbackRejected('event payment does not match the credential', 403);
      status = payment.paymentStatus;
    } else if (read.notFound) {
      throw new CallbackRejected('the operator does not know this payment', 403);
    } else {
      status = statusOfEvent(name);
    }
    const procedure: Procedure =
      intent === 'C'
        ? 'CHARGE'
        : status === 'succeeded'
          ? 'CAPTURE'
          : status === 'cancelled'
            ? 'RELEASE'
            : 'RESERVE';
    const outcomeIntent: Intent =
      procedure === 'CAPTURE'
        ? 'CHARGE'
        : procedure === 'RELEASE'
          ? 'RELEASE'
          : procedure === 'RESERVE'
            ? 'RESERVE'
            : 'CHARGE';
    const entry = this.payments.get(reference);
    if (entry && !entry.paymentId) entry.paymentId = paymentId;
    let outcome: Outcome;
    if (payment && intent === 'C' && status === 'reserved') {
      // A charge that went two-step and is now reserved: confirm it (idempotent at CAMARA).
      outcome = await this.confirm(reference, paymentId, entry?.msisdn);
    } else if (payment) {
      outcome = this.paymentOutcome(reference, payment, outcomeIntent, true);
      if (outcome.kind === 'declined' && status === 'denied' && denialReason) {
        outcome = outcomeOf('denied', {
          intent: outcomeIntent,
          completion: 'callback',
          providerRef: paymentId,
          denialReason,
        });
      }
    } else {
      outcome = outcomeOf(status, {
        intent: outcomeIntent,
        completion: 'callback',
        providerRef: paymentId,
        denialReason,
        amount: entry?.amount,
        currency: entry?.currency,
      });
    }
    const amount = outcome.kind === 'succeeded' ? outcome.amount : undefined;
    const currency = outcome.kind === 'succeeded' ? outcome.currency : undefined;
    return { procedure, providerRef: paymentId, outcome, amount, currency };
  }

  private async refundEventOutcome(
    reference: string,
    paymentId: string,
    refundId: string,
    name: EventName,
  ): Promise<{
    procedure: Procedure;
    providerRef: string;
    outcome: Outcome;
    amount?: bigint;
    currency?: string;
  }> {
    const providerRef = `${paymentId}/${refundId}`;
    const read = await this.readRefund(paymentId, refundId, reference);
    let outcome: Outcome;
    if ('refund' in read) {
      if (
        (read.refund.amountTransaction.clientCorrelator ??
          read.refund.amountTransaction.referenceCode) !== reference
      ) {
        throw new CallbackRejected('event refund does not match the credential', 403);
      }
      outcome = this.refundOutcome(reference, paymentId, read.refund, true);
    } else {
      const entry = this.refunds.get(reference);
      outcome = outcomeOf(statusOfEvent(name), {
        intent: 'REFUND',
        completion: 'callback',
        providerRef,
        amount: entry?.amount,
        currency: entry?.currency,
      });
    }
    return {
      procedure: 'REFUND',
      providerRef,
      outcome,
      amount: outcome.kind === 'succeeded' ? outcome.amount : undefined,
      currency: outcome.kind === 'succeeded' ? outcome.currency : undefined,
    };
  }

  /**
   * Runs `step` every poll interval until it reports done, the deadline passes or the adapter
   * closes; one poll per key at a time.
   */
  private poll(key: string, step: () => Promise<'done' | 'again' | 'stop'>): void {
    if (this.polls.has(key) || this.closed) return;
    const deadline = Date.now() + this.pollMaxMs;
    const schedule = () =>
      this.polls.set(
        key,
        setTimeout(
          () => void tick().catch(() => this.polls.delete(key)),
          this.pollIntervalMs,
        ).unref(),
      );
    const tick = async () => {
      if (this.closed) return;
      const result = await step();
      if (result === 'stop' || this.closed) return;
      if (result === 'done' || Date.now() > deadline) {
        this.polls.delete(key);
        return;
      }
      schedule();
    };
    schedule();
  }

  /** No sink: read until the payment leaves `processing`, then emit once. */
  private startPoll(reference: string, paymentId: string, intent: Intent): void {
    this.poll(`P:${paymentId}`, async () => {
      const read = await this.readPayment(paymentId, reference, 'retrievePayment');
      if (this.closed) return 'stop';
      let outcome: Outcome | undefined;
      if ('payment' in read && read.payment.paymentStatus !== 'processing') {
        outcome =
          intent === 'CHARGE' && read.payment.paymentStatus === 'reserved'
            ? await this.confirm(reference, paymentId, this.payments.get(reference)?.msisdn)
            : this.paymentOutcome(reference, read.payment, intent, false);
        if (this.closed) return 'stop';
      }
      if ('payment' in read && outcome && !(outcome.kind === 'pending' && !outcome.action)) {
        this.deps.emit({
          eventId: `camara:poll:${paymentId}:${outcome.kind}`,
          procedure: intent === 'RESERVE' ? 'RESERVE' : intent === 'RELEASE' ? 'RELEASE' : 'CHARGE',
          reference,
          providerRef: paymentId,
          outcome,
          amount: outcome.kind === 'succeeded' ? outcome.amount : undefined,
          currency: outcome.kind === 'succeeded' ? outcome.currency : undefined,
          occurredAt: read.payment.paymentDate ? new Date(read.payment.paymentDate) : new Date(),
        });
        return 'done';
      }
      return 'again';
    });
  }

  private startRefundPoll(reference: string, paymentId: string, refundId: string): void {
    this.poll(`F:${paymentId}/${refundId}`, async () => {
      const read = await this.readRefund(paymentId, refundId, reference);
      if (this.closed) return 'stop';
      if (!('refund' in read) || read.refund.refundStatus === 'processing') return 'again';
      const outcome = this.refundOutcome(reference, paymentId, read.refund, false);
      this.deps.emit({
        eventId: `camara:poll:${paymentId}/${refundId}:${read.refund.refundStatus}`,
        procedure: 'REFUND',
        reference,
        providerRef: `${paymentId}/${refundId}`,
        outcome,
        amount: outcome.kind === 'succeeded' ? outcome.amount : undefined,
        currency: outcome.kind === 'succeeded' ? outcome.currency : undefined,
        occurredAt: new Date(),
      });
      return 'done';
    });
  }

  // ----- sink credential ------------------------------------------------------------------------

  /** CAMARA requires an https sink; without one we poll. */
  private sinkUrl(): string | undefined {
    const url = this.deps.callbackUrl;
    return url && url.startsWith('https://') ? url : undefined;
  }

  /** `<intent>.<reference b64url>.<exp s>.<HMAC-SHA256 b64url>`: verifiable without state. */
  private sinkCredential(intent: SinkIntent, reference: string): SinkCredential {
    const exp = Math.floor((Date.now() + this.sinkTtlMs) / 1000);
    const ref = Buffer.from(reference, 'utf8').toString('base64url');
    const mac = this.sinkMac(intent, ref, exp);
    return {
      credentialType: 'ACCESSTOKEN',
      accessToken: `${intent}.${ref}.${exp}.${mac}`,
      accessTokenExpiresUtc: new Date(exp * 1000).toISOString(),
      accessTokenType: 'bearer',
    };
  }

  private sinkMac(intent: string, ref: string, exp: number): string {
    return createHmac('sha256', this.sinkSecret)
      .update(`camara-sink|${intent}|${ref}|${exp}`)
      .digest('base64url');
  }

  private verifySinkToken(token: string): { intent: SinkIntent; reference: string } {
    const parts = token.split('.');
    if (parts.length !== 4) throw new CallbackRejected('bad bearer token', 401);
    const [intent, ref, expText, mac] = parts as [string, string, string, string];
    if (intent !== 'C' && intent !== 'R' && intent !== 'F')
      throw new CallbackRejected('bad bearer token', 401);
    if (!/^\d{1,12}$/.test(expText)) throw new CallbackRejected('bad bearer token', 401);
    const expected = Buffer.from(this.sinkMac(intent, ref, Number(expText)));
    const given = Buffer.from(mac);
    if (expected.length !== given.length || !timingSafeEqual(expected, given))
      throw new CallbackRejected('bearer token does not verify', 401);
    if (Number(expText) * 1000 < Date.now()) throw new CallbackRejected('stale bearer token', 401);
    return { intent, reference: Buffer.from(ref, 'base64url').toString('utf8') };
  }

  // ----- building requests ----------------------------------------------------------------------

  private checkRequest(req: ChargeRequest): Outcome | undefined {
    if (!req.msisdn || !E164.test(req.msisdn))
      return {
        kind: 'declined',
        code: 'DENIED',
        providerCode: 'MISSING_IDENTIFIER',
        message: 'an E.164 msisdn is required',
      };
    if (req.amount <= 0n)
      return { kind: 'declined', code: 'DENIED', message: 'amount must be positive' };
    try {
      exponentOf(req.currency);
    } catch (err) {
      return { kind: 'declined', code: 'DENIED', message: errorMessage(err) };
    }
    return undefined;
  }

  private paymentBody(
    req: ChargeRequest,
    intent: 'C' | 'R',
  ): { body: CreatePaymentBody; sink: boolean } {
    const metaName = req.merchantName ?? this.merchantName;
    const meta = {
      ...(metaName ? { merchantName: metaName } : {}),
      ...(this.merchantIdentifier ? { merchantIdentifier: this.merchantIdentifier } : {}),
    };
    const body: CreatePaymentBody = {
      amountTransaction: {
        phoneNumber: req.msisdn,
        clientCorrelator: req.reference,
        referenceCode: req.reference,
        paymentAmount: {
          chargingInformation: {
            amount: toWireAmount(req.amount, req.currency),
            currency: req.currency,
            description: req.description || req.reference,
          },
          ...(Object.keys(meta).length ? { chargingMetaData: meta } : {}),
        },
      },
    };
    const sinkUrl = this.sinkUrl();
    if (sinkUrl) {
      body.sink = sinkUrl;
      body.sinkCredential = this.sinkCredential(intent, req.reference);
    }
    return { body, sink: !!sinkUrl };
  }

  private rememberPayment(req: ChargeRequest, intent: Intent, sink: boolean): void {
    const previous = this.payments.get(req.reference);
    remember(this.payments, req.reference, {
      ...previous,
      intent,
      amount: req.amount,
      currency: req.currency,
      msisdn: req.msisdn,
      sentAt: previous?.sentAt ?? Date.now(),
      sink,
    });
  }

  // ----- error answers --------------------------------------------------------------------------

  private errorInfo(res: Extract<Answer, { kind: 'answer' }>): ErrorInfo | undefined {
    const parsed = ErrorInfoSchema.safeParse(res.json);
    return parsed.success ? parsed.data : undefined;
  }

  private verdict(res: Extract<Answer, { kind: 'answer' }>): ErrorVerdict {
    return classifyError(res.status, this.errorInfo(res));
  }

  private errorOutcome(
    res: Extract<Answer, { kind: 'answer' }>,
    verdict: ErrorVerdict,
    providerRef?: string,
    refund = false,
  ): Outcome {
    const info = this.errorInfo(res);
    const providerCode = info?.code ?? String(res.status);
    const message = info?.message;
    switch (verdict.kind) {
      case 'declined':
        return { kind: 'declined', code: verdict.code, providerRef, providerCode, message };
      case 'unknown':
        return { kind: 'unknown', reason: `${res.status} ${providerCode}`, providerRef };
      case 'reauth':
      case 'permission':
        // Our credentials or scopes do not allow it: nothing happened, another channel may.
        return {
          kind: 'declined',
          code: 'CHANNEL_UNAVAILABLE',
          providerRef,
          providerCode,
          message,
        };
      case 'already-cancelled':
        return { kind: 'declined', code: 'CONSENT_EXPIRED', providerRef, providerCode, message };
      case 'invalid-code':
      case 'validation-failed':
        return { kind: 'declined', code: 'INVALID_OTP', providerRef, providerCode, message };
      case 'duplicate':
      case 'already-confirmed':
        return refund
          ? { kind: 'unknown', reason: `${res.status} ${providerCode}`, providerRef }
          : { kind: 'declined', code: 'DENIED', providerRef, providerCode, message };
    }
  }

  /** A failed read before a money-moving step means the step was not sent. */
  private notSentToDecline(outcome: Outcome): Outcome {
    return outcome.kind === 'unknown'
      ? {
          kind: 'declined',
          code: 'CHANNEL_UNAVAILABLE',
          providerRef: outcome.providerRef,
          message: outcome.reason,
        }
      : outcome;
  }

  /** Notes the outcome on the recorded exchange. */
  private mark(res: Answer, outcome: Outcome): Outcome {
    if (res.interaction) res.interaction.outcome = outcome.kind;
    return outcome;
  }

  private once(key: string, run: () => Promise<Outcome>): Promise<Outcome> {
    const running = this.inflight.get(key);
    if (running) return running;
    const p = run().finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  // ----- transport --------------------------------------------------------------------------------

  private async call(ex: Exchange): Promise<Answer> {
    let token: string;
    try {
      token = await this.accessToken();
    } catch (err) {
      return { kind: 'not-sent', reason: `no access token: ${errorMessage(err)}` };
    }
    const first = await this.send(ex, token);
    if (first.kind !== 'answer' || first.status !== 401) return first;
    // The token was refused before anything was processed: one retry with a fresh token.
    this.token = undefined;
    try {
      token = await this.accessToken();
    } catch (err) {
      return { kind: 'not-sent', reason: `no access token: ${errorMessage(err)}` };
    }
    return this.send(ex, token);
  }

  private async send(ex: Exchange, token: string): Promise<Answer> {
    const started = Date.now();
    const xCorrelator = randomUUID();
    const text = ex.body === undefined ? undefined : stringifyWire(ex.body);
    const interaction: Interaction = {
      direction: 'OUTBOUND',
      operation: ex.operation,
      reference: ex.reference,
      request: {
        method: ex.method,
        path: ex.path,
        xCorrelator,
        body: redact(ex.logBody ?? (text === undefined ? undefined : JSON.parse(text))),
      },
      durationMs: 0,
      at: new Date(),
    };
    try {
      const res = await request(this.base + ex.path, {
        method: ex.method,
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/json',
          'x-correlator': xCorrelator,
          ...(text === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: text,
        dispatcher: this.agent,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      const raw = await res.body.text();
      let json: unknown;
      let unreadable = false;
      if (raw.length > 0) {
        try {
          json = JSON.parse(raw);
        } catch {
          unreadable = true;
        }
      }
      interaction.status = res.statusCode;
      interaction.response = unreadable ? { unreadable: redact(raw.slice(0, 200)) } : redact(json);
      return {
        kind: 'answer',
        status: res.statusCode,
        json,
        unreadable,
        headers: res.headers,
        interaction,
      };
    } catch (err) {
      const code = errorCode(err);
      interaction.status = code ?? 'ERROR';
      interaction.response = { error: errorMessage(err) };
      if (code && PRE_SEND_CODES.has(code))
        return { kind: 'not-sent', reason: errorMessage(err), interaction };
      return { kind: 'lost', reason: errorMessage(err), interaction };
    } finally {
      interaction.durationMs = Date.now() - started;
      this.deps.record(interaction);
    }
  }

  private async accessToken(): Promise<string> {
    if (this.token && this.token.expiresAt > Date.now()) return this.token.value;
    this.tokenFlight ??= this.fetchToken().finally(() => {
      this.tokenFlight = undefined;
    });
    return this.tokenFlight;
  }

  private async fetchToken(): Promise<string> {
    this.signingKey ??= importJWK(this.jwk, this.alg);
    const key = await this.signingKey;
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: this.alg, typ: 'JWT', ...(this.kid ? { kid: this.kid } : {}) })
      .setIssuer(this.clientId)
      .setSubject(this.clientId)
      .setAudience(this.tokenUrl)
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime('90s')
      .sign(key);
    const scope = [...SCOPES, PURPOSE].join(' ');
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      scope,
      client_assertion_type: CLIENT_ASSERTION_TYPE,
      client_assertion: assertion,
    });
    const started = Date.now();
    const interaction: Interaction = {
      direction: 'OUTBOUND',
      operation: 'token',
      request: {
        method: 'POST',
        grant_type: 'client_credentials',
        scope,
        client_assertion_type: CLIENT_ASSERTION_TYPE,
      },
      durationMs: 0,
      at: new Date(),
    };
    try {
      const res = await request(this.tokenUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: form.toString(),
        dispatcher: this.agent,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      const raw = await res.body.text();
      interaction.status = res.statusCode;
      let json: unknown;
      try {
        json = JSON.parse(raw);
      } catch {
        json = undefined;
      }
      const parsed = TokenResponseSchema.safeParse(json);
      if (res.statusCode !== 200 || !parsed.success) {
        const err =
          json && typeof json === 'object' ? (json as { error?: unknown }).error : undefined;
        interaction.response = { error: typeof err === 'string' ? err : 'unreadable token answer' };
        throw new TokenUnavailable(
          `token endpoint answered ${res.statusCode}${typeof err === 'string' ? ` ${err}` : ''}`,
        );
      }
      const { access_token, expires_in, token_type } = parsed.data;
      interaction.response = { token_type, expires_in, scope: parsed.data.scope };
      const margin = Math.min(60, Math.floor(expires_in / 10));
      this.token = { value: access_token, expiresAt: Date.now() + (expires_in - margin) * 1000 };
      return access_token;
    } catch (err) {
      if (!interaction.status) {
        interaction.status = errorCode(err) ?? 'ERROR';
        interaction.response = { error: errorMessage(err) };
      }
      throw err;
    } finally {
      interaction.durationMs = Date.now() - started;
      this.deps.record(interaction);
    }
  }
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function splitRefundRef(providerRef: string): [string, string] {
  const i = providerRef.lastIndexOf('/');
  return [providerRef.slice(0, i), providerRef.slice(i + 1)];
}

export const factory: AdapterFactory = {
  code: 'camara',
  capabilities,
  create(config: AdapterConfig, deps: AdapterDeps): ChannelAdapter {
    return new CamaraAdapter(config, deps);
  },
};
