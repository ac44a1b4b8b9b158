/**
 * Card PSP adapter (Stripe PaymentIntents style) over undici with a keep-alive pool.
 *
 * charge  = POST /v1/payment_intents confirm=true (automatic capture)
 * reserve = the same with capture_method=manual; capture / release = /capture, /cancel
 * refund  = POST /v1/refunds; status = GET /v1/payment_intents/{id}, or by our reference
 * Every POST carries `Idempotency-Key: <reference>:<operation>`, so a retry never charges twice.
 */
import { Pool } from 'undici';
import type {
  AdapterConfig,
  AdapterDeps,
  AdapterFactory,
  AsyncOutcome,
  CallbackResult,
  Capabilities,
  CaptureRequest,
  ChannelAdapter,
  ChargeRequest,
  InboundRequest,
  Outcome,
  Procedure,
  ProviderRefRequest,
  RefundRequest,
} from '../types';
import { CallbackRejected } from '../types';
import type { FormObject, IntentView, PaymentIntent } from './transformers';
import {
  AmountError,
  DEFAULT_TOLERANCE_SEC,
  WireError,
  defaultView,
  encodeForm,
  errorOutcome,
  fromWireAmount,
  idempotencyKey,
  intentOutcome,
  parseEvent,
  parsePaymentIntent,
  parseRefund,
  parseSearch,
  redact,
  refundOutcome,
  toWireAmount,
  toWireCurrency,
  verifySignature,
} from './transformers';

export const capabilities: Capabilities = {
  protocol: 'CARD',
  kind: 'CARD',
  procedures: ['CHARGE', 'RESERVE', 'CAPTURE', 'RELEASE', 'REFUND', 'STATUS'],
  patterns: ['REQUEST_READ', 'REQUEST_WAIT_RECEIVE'],
  consent: ['REDIRECT'],
  currencies: '*',
  refunds: 'partial',
};

const API_VERSION = '2025-01-27.acacia';
const MAX_IN_DOUBT = 100_000;
const REFUND_REASONS = new Set(['duplicate', 'fraudulent', 'requested_by_customer']);

type Exchange =
  | { kind: 'response'; status: number; body: unknown }
  | { kind: 'malformed'; status: number; detail: string }
  /** `sent: false` only when the connection was never made (nothing reached the PSP). */
  | { kind: 'failed'; sent: boolean; reason: string };

/** A create/refund whose answer we have not seen yet: replayable with the same key. */
interface InDoubt {
  path: string;
  body: string;
  key: string;
  record: unknown;
  check: (json: unknown) => Outcome;
}

const NOT_SENT = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function conflict(reason: string, providerRef?: string): Outcome {
  return {
    kind: 'unknown',
    reason: `conflict: ${reason}`,
    ...(providerRef ? { providerRef } : {}),
  };
}

function viewFor(procedure: Procedure | undefined, pi: PaymentIntent): IntentView {
  switch (procedure) {
    case 'CHARGE':
    case 'RESERVE':
    case 'CAPTURE':
    case 'RELEASE':
      return procedure;
    default:
      return defaultView(pi);
  }
}

function errorCode(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  const cause = (e as { cause?: unknown }).cause;
  return cause ? errorCode(cause) : undefined;
}

class CardAdapter implements ChannelAdapter {
  readonly capabilities = capabilities;
  private readonly pool: Pool;
  private readonly basePath: string;
  private readonly authorization: string;
  private readonly webhookSecrets: string[];
  private readonly toleranceSec: number;
  private readonly timeoutMs: number;
  private readonly returnUrl?: string;
  /** `intent:<reference>` / `refund:<reference>` → the create or refund sent but not yet answered. */
  private readonly inDoubt = new Map<string, InDoubt>();

  constructor(
    config: AdapterConfig,
    private readonly deps: AdapterDeps,
  ) {
    const secretKey = config.credentials.secretKey;
    if (!secretKey) throw new Error('card adapter: credentials.secretKey is required');
    this.authorization = `Bearer ${secretKey}`;
    // Every credential named webhookSecret* is accepted: two while a secret is being rotated.
    this.webhookSecrets = Object.entries(config.credentials)
      .filter(([k, v]) => /^webhookSecret/i.test(k) && v)
      .map(([, v]) => v);
    const s = config.settings ?? {};
    this.toleranceSec =
      typeof s.webhookToleranceSec === 'number' ? s.webhookToleranceSec : DEFAULT_TOLERANCE_SEC;
    this.timeoutMs = config.timeoutMs;
    this.returnUrl = typeof s.returnUrl === 'string' ? s.returnUrl : undefined;
    const url = new URL(config.baseUrl);
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.pool = new Pool(url.origin, {
      connections: typeof s.connections === 'number' ? s.connections : 128,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 60_000,
      // Shorter than the request timeout, so a connection never made is told apart (not sent).
      connect: { timeout: Math.max(100, Math.floor(config.timeoutMs * 0.8)) },
    });
  }

  // ------------------------------------------------------------------------------ transport

  /** One request with the total per-request timeout; past it, or after a lost connection, the answer is lost. */
  private async send(
    method: 'GET' | 'POST',
    path: string,
    body?: string,
    key?: string,
  ): Promise<Exchange> {
    const headers: Record<string, string> = {
      authorization: this.authorization,
      accept: 'application/json',
      'stripe-version': API_VERSION,
    };
    if (body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
    if (key !== undefined) headers['idempotency-key'] = key;
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), this.timeoutMs);
    try {
      const res = await this.pool.request({
        method,
        path: this.basePath + path,
        headers,
        body,
        signal: ac.signal,
      });
      const text = await res.body.text();
      try {
        return { kind: 'response', status: res.statusCode, body: JSON.parse(text) as unknown };
      } catch {
        // An error page without JSON (a proxy's 502/503) is still an HTTP error, mapped by status.
        if (res.statusCode >= 300)
          return { kind: 'response', status: res.statusCode, body: undefined };
        return {
          kind: 'malformed',
          status: res.statusCode,
          detail: `unreadable body (${text.length} bytes)`,
        };
      }
    } catch (e) {
      if (ac.signal.aborted)
        return { kind: 'failed', sent: true, reason: `no answer within ${this.timeoutMs} ms` };
      const code = errorCode(e);
      return {
        kind: 'failed',
        sent: !(code && NOT_SENT.has(code)),
        reason: code ?? (e as Error).message,
      };
    } finally {
      clearTimeout(timer);
    }
  }

  private record(
    operation: string,
    reference: string | undefined,
    request: unknown,
    ex: Exchange,
    outcome: Outcome,
    started: number,
  ): void {
    this.deps.record({
      direction: 'OUTBOUND',
      operation,
      reference,
      request,
      response:
        ex.kind === 'response'
          ? redact(ex.body)
          : ex.kind === 'malformed'
            ? { error: ex.detail }
            : { error: ex.reason },
      status: ex.kind === 'failed' ? (ex.sent ? 'LOST' : 'NOT_SENT') : ex.status,
      durationMs: Date.now() - started,
      outcome: outcome.kind,
      at: new Date(started),
    });
  }

  /**
   * A money-moving POST. A 409 (the same key is still executing) is asked again with the same
   * key within the timeout budget; everything else is mapped once.
   */
  private async post(
    operation: string,
    reference: string,
    path: string,
    form: FormObject,
    key: string,
    check: (json: unknown) => Outcome,
  ): Promise<Outcome> {
    const body = encodeForm(form);
    const request = { method: 'POST', path, idempotencyKey: key, body: redact(form) };
    return this.postEncoded(operation, reference, path, body, key, request, check);
  }

  private async postEncoded(
    operation: string,
    reference: string,
    path: string,
    body: string,
    key: string,
    request: unknown,
    check: (json: unknown) => Outcome,
  ): Promise<Outcome> {
    const deadline = Date.now() + this.timeoutMs;
    for (let attempt = 0; ; attempt += 1) {
      const started = Date.now();
      const ex = await this.send('POST', path, body, key);
      let outcome: Outcome | 'in-progress';
      if (ex.kind === 'response') {
        outcome = ex.status === 200 ? check(ex.body) : errorOutcome(ex.status, ex.body, true);
      } else if (ex.kind === 'malformed') {
        outcome = { kind: 'unknown', reason: `HTTP ${ex.status}: ${ex.detail}` };
      } else {
        outcome = ex.sent
          ? { kind: 'unknown', reason: ex.reason }
          : { kind: 'declined', code: 'CHANNEL_UNAVAILABLE', providerCode: ex.reason };
      }
      const backoff = Math.min(10 * 2 ** attempt, 200);
      const final: Outcome =
        outcome === 'in-progress'
          ? { kind: 'unknown', reason: 'the same idempotency key is still executing' }
          : outcome;
      this.record(operation, reference, request, ex, final, started);
      if (outcome === 'in-progress' && Date.now() + backoff < deadline) {
        await sleep(backoff);
        continue;
      }
      return final;
    }
  }

  private async get(
    operation: string,
    reference: string | undefined,
    path: string,
    check: (json: unknown) => Outcome,
  ): Promise<Outcome> {
    const started = Date.now();
    const ex = await this.send('GET', path);
    let outcome: Outcome;
    if (ex.kind === 'response') {
      if (ex.status === 200) outcome = check(ex.body);
      else {
        const mapped = errorOutcome(ex.status, ex.body, false);
        // A read never declines a payment: only the transport or the request can fail.
        outcome =
          mapped === 'in-progress' || mapped.kind !== 'unknown'
            ? { kind: 'unknown', reason: `status query answered HTTP ${ex.status}` }
            : mapped;
      }
    } else {
      outcome = { kind: 'unknown', reason: ex.kind === 'malformed' ? ex.detail : ex.reason };
    }
    this.record(operation, reference, { method: 'GET', path }, ex, outcome, started);
    return outcome;
  }

  // ------------------------------------------------------------------------------- mapping

  /** Parses an intent and checks it is ours (reference, amount, currency) before mapping it. */
  private intentChecker(
    reference: string,
    view: IntentView | ((pi: PaymentIntent) => IntentView),
    expect?: { amount: number; currency: string },
  ) {
    return (json: unknown): Outcome => {
      let pi: PaymentIntent;
      try {
        pi = parsePaymentIntent(json);
      } catch (e) {
        return { kind: 'unknown', reason: `unreadable payment_intent: ${(e as Error).message}` };
      }
      if (pi.metadata.reference !== reference)
        return conflict(
          `payment_intent ${pi.id} belongs to reference ${String(pi.metadata.reference)}`,
          pi.id,
        );
      if (expect && (pi.amount !== expect.amount || pi.currency !== expect.currency)) {
        return conflict(
          `asked ${expect.amount} ${expect.currency}, PSP has ${pi.amount} ${pi.currency}`,
          pi.id,
        );
      }
      try {
        return intentOutcome(pi, typeof view === 'function' ? view(pi) : view);
      } catch (e) {
        if (e instanceof AmountError) return conflict(e.message, pi.id);
        throw e;
      }
    };
  }

  private wire(amount: bigint, currency: string): { amount: number; currency: string } | Outcome {
    try {
      return { amount: toWireAmount(amount, currency), currency: toWireCurrency(currency) };
    } catch (e) {
      return {
        kind: 'declined',
        code: 'DENIED',
        providerCode: 'amount_invalid',
        message: (e as Error).message,
      };
    }
  }

  private rememberInDoubt(slot: string, entry: InDoubt): void {
    this.inDoubt.delete(slot);
    this.inDoubt.set(slot, entry);
    if (this.inDoubt.size > MAX_IN_DOUBT) this.inDoubt.delete(this.inDoubt.keys().next().value!);
  }

  private settle(slot: string, outcome: Outcome): Outcome {
    if (outcome.kind !== 'unknown') this.inDoubt.delete(slot);
    return outcome;
  }

  // ---------------------------------------------------------------------------- procedures

  charge(req: ChargeRequest): Promise<Outcome> {
    return this.createIntent(req, 'CHARGE');
  }

  reserve(req: ChargeRequest): Promise<Outcome> {
    return this.createIntent(req, 'RESERVE');
  }

  private async createIntent(req: ChargeRequest, view: 'CHARGE' | 'RESERVE'): Promise<Outcome> {
    const wire = this.wire(req.amount, req.currency);
    if ('kind' in wire) return wire;
    if (!req.cardToken)
      return {
        kind: 'declined',
        code: 'DENIED',
        providerCode: 'payment_method_missing',
        message: 'a card token is required',
      };
    const returnUrl = req.returnUrl ?? this.returnUrl;
    const form: FormObject = {
      amount: wire.amount,
      currency: wire.currency,
      confirm: true,
      capture_method: view === 'RESERVE' ? 'manual' : 'automatic',
      payment_method_types: ['card'],
      payment_method_data: { type: 'card', card: { token: req.cardToken } },
      metadata: { reference: req.reference },
      description: req.description,
      return_url: returnUrl,
    };
    const key = idempotencyKey(req.reference, view.toLowerCase());
    const path = '/v1/payment_intents';
    const body = encodeForm(form);
    const request = { method: 'POST', path, idempotencyKey: key, body: redact(form) };
    const check = this.intentChecker(req.reference, view, wire);
    // Kept before sending: when the answer is lost, status() can replay it under the same key.
    this.rememberInDoubt(`intent:${req.reference}`, { path, body, key, record: request, check });
    const outcome = await this.postEncoded(
      `payment_intents.create.${view.toLowerCase()}`,
      req.reference,
      path,
      body,
      key,
      request,
      check,
    );
    if (
      outcome.kind === 'succeeded' &&
      outcome.amount !== undefined &&
      outcome.amount !== req.amount
    ) {
      return conflict(`asked ${req.amount}, PSP reports ${outcome.amount}`, outcome.providerRef);
    }
    return this.settle(`intent:${req.reference}`, outcome);
  }

  async capture(req: CaptureRequest): Promise<Outcome> {
    const wire = this.wire(req.amount, req.currency);
    if ('kind' in wire) return wire;
    const found = await this.findIntentId(req.reference, req.providerRef);
    if (typeof found !== 'string') return found;
    const check = this.intentChecker(req.reference, 'CAPTURE');
    const path = `/v1/payment_intents/${encodeURIComponent(found)}/capture`;
    let outcome = await this.post(
      'payment_intents.capture',
      req.reference,
      path,
      { amount_to_capture: wire.amount },
      idempotencyKey(req.reference, 'capture'),
      check,
    );
    if (outcome.kind === 'declined' && outcome.providerCode === 'payment_intent_unexpected_state') {
      // Captured already (by an earlier attempt with another key) or no longer capturable: ask.
      outcome = await this.get(
        'payment_intents.retrieve',
        req.reference,
        `/v1/payment_intents/${encodeURIComponent(found)}`,
        check,
      );
      if (outcome.kind === 'pending')
        outcome = {
          kind: 'declined',
          code: 'DENIED',
          providerRef: found,
          providerCode: 'payment_intent_unexpected_state',
        };
    }
    if (
      outcome.kind === 'succeeded' &&
      (outcome.amount !== req.amount || outcome.currency !== req.currency)
    ) {
      return conflict(
        `captured ${String(outcome.amount)} ${String(outcome.currency)}, asked ${req.amount} ${req.currency}`,
        found,
      );
    }
    return outcome;
  }

  async release(req: ProviderRefRequest): Promise<Outcome> {
    const found = await this.findIntentId(req.reference, req.providerRef);
    if (typeof found !== 'string') return found;
    const check = this.intentChecker(req.reference, 'RELEASE');
    const path = `/v1/payment_intents/${encodeURIComponent(found)}/cancel`;
    const outcome = await this.post(
      'payment_intents.cancel',
      req.reference,
      path,
      { cancellation_reason: 'abandoned' },
      idempotencyKey(req.reference, 'release'),
      check,
    );
    if (outcome.kind === 'declined' && outcome.providerCode === 'payment_intent_unexpected_state') {
      return this.get(
        'payment_intents.retrieve',
        req.reference,
        `/v1/payment_intents/${encodeURIComponent(found)}`,
        check,
      );
    }
    return outcome;
  }

  async refund(req: RefundRequest): Promise<Outcome> {
    const wire = this.wire(req.amount, req.currency);
    if ('kind' in wire) return wire;
    const found = await this.findIntentId(req.chargeReference, req.chargeProviderRef);
    if (typeof found !== 'string') return found;
    const reason = req.reason && REFUND_REASONS.has(req.reason) ? req.reason : undefined;
    // The amount is always explicit, also for a full refund: never move more than asked.
    const form: FormObject = {
      payment_intent: found,
      amount: wire.amount,
      reason,
      metadata: {
        reference: req.reference,
        charge_reference: req.chargeReference,
        ...(req.reason && !reason ? { reason: req.reason.slice(0, 500) } : {}),
      },
    };
    const check = (json: unknown): Outcome => {
      try {
        const r = parseRefund(json);
        if (r.metadata.reference !== req.reference || r.payment_intent !== found)
          return conflict(`refund ${r.id} is not ${req.reference}`, r.id);
        if (r.amount !== wire.amount || r.currency !== wire.currency)
          return conflict(
            `refund ${r.id} is ${r.amount} ${r.currency}, asked ${wire.amount} ${wire.currency}`,
            r.id,
          );
        return refundOutcome(r);
      } catch (e) {
        if (e instanceof WireError || e instanceof AmountError)
          return { kind: 'unknown', reason: `unreadable refund: ${e.message}` };
        throw e;
      }
    };
    const key = idempotencyKey(req.reference, 'refund');
    const path = '/v1/refunds';
    const body = encodeForm(form);
    const request = { method: 'POST', path, idempotencyKey: key, body: redact(form) };
    this.rememberInDoubt(`refund:${req.reference}`, { path, body, key, record: request, check });
    return this.settle(
      `refund:${req.reference}`,
      await this.postEncoded('refunds.create', req.reference, path, body, key, request, check),
    );
  }

  async status(req: ProviderRefRequest & { procedure?: Procedure }): Promise<Outcome> {
    if (req.procedure === 'REFUND') {
      if (req.providerRef?.startsWith('re_')) {
        const outcome = await this.get(
          'refunds.retrieve',
          req.reference,
          `/v1/refunds/${encodeURIComponent(req.providerRef)}`,
          (json) => {
            try {
              const r = parseRefund(json);
              if (r.metadata.reference !== req.reference)
                return conflict(`refund ${r.id} is not ${req.reference}`, r.id);
              return refundOutcome(r);
            } catch (e) {
              return { kind: 'unknown', reason: (e as Error).message };
            }
          },
        );
        return this.settle(`refund:${req.reference}`, outcome);
      }
      return this.replayInDoubt(`refund:${req.reference}`, req.reference);
    }
    const view = (pi: PaymentIntent) => viewFor(req.procedure, pi);
    if (req.providerRef?.startsWith('pi_')) {
      const outcome = await this.get(
        'payment_intents.retrieve',
        req.reference,
        `/v1/payment_intents/${encodeURIComponent(req.providerRef)}`,
        this.intentChecker(req.reference, view),
      );
      return this.settle(`intent:${req.reference}`, outcome);
    }
    // No id: the first answer was lost. Search by our reference (read-only) ...
    const found = await this.searchByReference(req.reference);
    if (found.kind === 'one')
      return this.settle(
        `intent:${req.reference}`,
        this.intentChecker(req.reference, view)(found.intent),
      );
    if (found.kind === 'many')
      return conflict(`${found.count} payment intents carry reference ${req.reference}`);
    if (found.kind === 'error') return found.outcome;
    // ... and when the PSP has none, replay the create under its key: the stored first result,
    // or, if it never arrived, the one and only execution.
    return this.replayInDoubt(`intent:${req.reference}`, req.reference);
  }

  private async replayInDoubt(slot: string, reference: string): Promise<Outcome> {
    const entry = this.inDoubt.get(slot);
    if (!entry) return { kind: 'unknown', reason: `nothing found at the PSP for ${reference}` };
    const outcome = await this.postEncoded(
      'replay',
      reference,
      entry.path,
      entry.body,
      entry.key,
      entry.record,
      entry.check,
    );
    return this.settle(slot, outcome);
  }

  private async searchByReference(
    reference: string,
  ): Promise<
    | { kind: 'one'; intent: PaymentIntent }
    | { kind: 'none' }
    | { kind: 'many'; count: number }
    | { kind: 'error'; outcome: Outcome }
  > {
    let result: PaymentIntent[] | undefined;
    const query = `metadata['reference']:'${reference.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
    const outcome = await this.get(
      'payment_intents.search',
      reference,
      `/v1/payment_intents/search?query=${encodeURIComponent(query)}`,
      (json) => {
        try {
          result = parseSearch(json).data.filter((pi) => pi.metadata.reference === reference);
          return { kind: 'pending', completion: 'poll' };
        } catch (e) {
          return { kind: 'unknown', reason: `unreadable search result: ${(e as Error).message}` };
        }
      },
    );
    if (!result) return { kind: 'error', outcome };
    if (result.length === 0) return { kind: 'none' };
    if (result.length > 1) return { kind: 'many', count: result.length };
    return { kind: 'one', intent: result[0]! };
  }

  /** The intent id for capture/release/refund: the one we were given, or the one our reference found. */
  private async findIntentId(
    reference: string,
    providerRef: string | undefined,
  ): Promise<string | Outcome> {
    if (providerRef?.startsWith('pi_')) return providerRef;
    const found = await this.searchByReference(reference);
    switch (found.kind) {
      case 'one':
        return found.intent.id;
      case 'many':
        return conflict(`${found.count} payment intents carry reference ${reference}`);
      case 'none':
        return {
          kind: 'declined',
          code: 'DENIED',
          providerCode: 'resource_missing',
          message: `no payment intent for ${reference}`,
        };
      case 'error':
        return found.outcome;
    }
  }

  // ------------------------------------------------------------------------------ webhooks

  async handleCallback(req: InboundRequest): Promise<CallbackResult> {
    const started = Date.now();
    const reject = (reason: string, status: number): never => {
      this.deps.record({
        direction: 'INBOUND',
        operation: 'webhook',
        request: { path: req.path },
        status,
        response: { rejected: reason },
        durationMs: Date.now() - started,
        at: new Date(started),
      });
      throw new CallbackRejected(reason, status);
    };
    if (req.method !== 'POST') reject(`method ${req.method} not allowed`, 405);
    const check = verifySignature(
      req.headers['stripe-signature'],
      req.rawBody,
      this.webhookSecrets,
      this.toleranceSec,
      Math.floor(Date.now() / 1000),
    );
    if (!check.ok) reject(check.reason, 401);

    let events: AsyncOutcome[] = [];
    let type: string;
    let reference: string | undefined;
    try {
      const event = parseEvent(JSON.parse(req.rawBody.toString('utf8')));
      type = event.type;
      const occurredAt = new Date(event.created * 1000);
      if (type.startsWith('payment_intent.') && type !== 'payment_intent.created') {
        // `created` is a snapshot from before confirmation: the later events say what happened.
        const pi = parsePaymentIntent(event.data.object);
        reference = pi.metadata.reference;
        if (reference) {
          const view = defaultView(pi);
          const outcome = intentOutcome(pi, view);
          const currency = pi.currency.toUpperCase();
          const amount =
            outcome.kind === 'succeeded' && outcome.amount !== undefined
              ? outcome.amount
              : fromWireAmount(pi.amount, currency);
          events = [
            {
              eventId: event.id,
              procedure: view,
              reference,
              providerRef: pi.id,
              outcome,
              amount,
              currency,
              occurredAt,
            },
          ];
        }
      } else if (type.startsWith('refund.')) {
        const r = parseRefund(event.data.object);
        reference = r.metadata.reference;
        if (reference) {
          const currency = r.currency.toUpperCase();
          events = [
            {
              eventId: event.id,
              procedure: 'REFUND',
              reference,
              providerRef: r.id,
              outcome: refundOutcome(r),
              amount: fromWireAmount(r.amount, currency),
              currency,
              occurredAt,
            },
          ];
        }
      }
      // Other event types are acknowledged and ignored.
      this.deps.record({
        direction: 'INBOUND',
        operation: `webhook.${type}`,
        reference,
        request: { eventId: event.id, type, created: event.created },
        status: 200,
        outcome: events[0]?.outcome.kind,
        durationMs: Date.now() - started,
        at: new Date(started),
      });
    } catch (e) {
      // Genuine (signed) but unreadable: refuse so the PSP retries, and keep nothing.
      if (e instanceof SyntaxError || e instanceof WireError || e instanceof AmountError)
        reject(`unreadable event: ${e.message}`, 400);
      throw e;
    }
    return { status: 200, contentType: 'application/json', body: '{"received":true}', events };
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

export const factory: AdapterFactory = {
  code: 'card',
  capabilities,
  create: (config, deps) => new CardAdapter(config, deps),
};
