/**
 * Loopback card PSP in the Stripe PaymentIntents style: a stateful node:http server on
 * 127.0.0.1 with intents, refunds, Idempotency-Key semantics (PROTOCOLS.md §8), the contract's
 * test tokens, a 3-D-Secure-like page, signed webhooks to the sink and the SimulatorControl faults.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request as undiciRequest } from 'undici';
import type { Simulator, SimulatorControl, SimulatorFaults, SimulatorOptions } from '../simulator';
import { NO_FAULTS } from '../simulator';
import type {
  DecodedForm,
  IntentStatus,
  PaymentError,
  PaymentIntent,
  Refund,
} from './transformers';
import { canonicalForm, decodeForm, fromWireAmount, signatureHeader } from './transformers';

export const TEST_TOKENS = ['tok_ok', 'tok_declined', 'tok_insufficient', 'tok_3ds'] as const;
export type TestToken = (typeof TEST_TOKENS)[number];

export interface CardSimulatorOptions extends SimulatorOptions {
  callbackUrl: string;
  /** Event types posted to the sink ('*' = all, the default). */
  enabledEvents?: readonly string[] | '*';
}

/** Card-specific helpers beyond SimulatorControl, for this adapter's own tests. */
export interface CardSimulatorExtras {
  /** Starts a secret rotation: webhooks carry a v1 for the new and the previous secret. */
  rotateWebhookSecret(): { current: string; previous: string };
  /** Posts the last genuine event of the reference, signed with `timestampSec` (e.g. a stale one). */
  resendLastEvent(
    reference: string,
    opts?: { timestampSec?: number; secrets?: string[] },
  ): Promise<number>;
  /** Event ids and types posted to the sink for a reference, in sending order. */
  sentEvents(reference: string): { id: string; type: string }[];
  /** Requests answered 409 because the same Idempotency-Key was executing. */
  conflicts(): number;
  intents(reference: string): PaymentIntent[];
}

export interface CardSimulator extends Simulator {
  card: CardSimulatorExtras;
}

const API_VERSION = '2025-01-27.acacia';
const MAX_IDEMPOTENCY_ENTRIES = 500_000;

interface IntentState extends PaymentIntent {
  amount_refunded: number;
  token?: string;
  return_url?: string | null;
}

interface StoredResult {
  fingerprint: string;
  running: boolean;
  status: number;
  body: string;
}

interface ApiResult {
  status: number;
  body: unknown;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly error: PaymentError & { payment_intent?: PaymentIntent },
  ) {
    super(error.message);
  }
}

const invalid = (message: string, param?: string, code = 'parameter_invalid') =>
  new ApiError(400, { type: 'invalid_request_error', code, message, param });

const CREATE_PARAMS = new Set([
  'amount',
  'currency',
  'capture_method',
  'confirm',
  'payment_method',
  'payment_method_data',
  'payment_method_types',
  'metadata',
  'description',
  'return_url',
  'statement_descriptor_suffix',
  'expand',
]);

function str(v: DecodedForm[string] | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function checkMetadata(v: DecodedForm[string] | undefined): Record<string, string> {
  if (v === undefined) return {};
  if (typeof v === 'string' || Array.isArray(v))
    throw invalid('metadata must be a hash', 'metadata');
  const out = Object.create(null) as Record<string, string>;
  const entries = Object.entries(v);
  if (entries.length > 50) throw invalid('metadata: at most 50 keys', 'metadata');
  for (const [k, val] of entries) {
    if (typeof val !== 'string') throw invalid(`metadata[${k}] must be a string`, `metadata[${k}]`);
    if (k.length > 40 || val.length > 500)
      throw invalid(`metadata[${k}] too long`, `metadata[${k}]`);
    out[k] = val;
  }
  return out;
}

/** The card token of a create/confirm request, or undefined when none was given. */
function tokenOf(form: DecodedForm): string | undefined {
  const pmd = form.payment_method_data;
  if (pmd !== undefined) {
    if (typeof pmd === 'string' || Array.isArray(pmd))
      throw invalid('payment_method_data must be a hash', 'payment_method_data');
    if (pmd.type !== 'card')
      throw invalid('payment_method_data[type] must be card', 'payment_method_data[type]');
    const card = pmd.card;
    const token =
      card && typeof card === 'object' && !Array.isArray(card) ? str(card.token) : undefined;
    if (!token)
      throw invalid(
        'payment_method_data[card][token] is required',
        'payment_method_data[card][token]',
      );
    return token;
  }
  return str(form.payment_method);
}

function checkToken(token: string): TestToken {
  if (!(TEST_TOKENS as readonly string[]).includes(token)) {
    throw new ApiError(400, {
      type: 'invalid_request_error',
      code: 'resource_missing',
      message: `No such token: '${token.slice(0, 4)}…'`,
      param: 'payment_method_data[card][token]',
    });
  }
  return token as TestToken;
}

function parseAmount(
  v: DecodedForm[string] | undefined,
  param: string,
  required: boolean,
): number | undefined {
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string' || !/^\d{1,8}$/.test(v) || Number(v) < 1)
    throw invalid(
      `${param} must be an integer between 1 and 99999999`,
      param,
      'parameter_invalid_integer',
    );
  return Number(v);
}

/** `metadata['key']:'value'` (the one search clause we need). */
function parseSearchQuery(q: string): { key: string; value: string } | undefined {
  const m = /^\s*metadata\[(['"])([^'"]+)\1\]\s*:\s*(['"])((?:[^'"\\]|\\.)*)\3\s*$/.exec(q);
  return m ? { key: m[2]!, value: m[4]!.replace(/\\(.)/g, '$1') } : undefined;
}

export async function startSimulator(options: CardSimulatorOptions): Promise<CardSimulator> {
  const host = options.host ?? '127.0.0.1';
  const instance = randomBytes(5).toString('hex');
  const secretSalt = randomBytes(8).toString('hex');
  let seq = 0;
  const newId = (prefix: string) =>
    `${prefix}_${instance}${(seq += 1).toString(36).padStart(6, '0')}`;

  const credentials: Record<string, string> = {
    secretKey: `sk_test_${randomBytes(18).toString('hex')}`,
    webhookSecret: `whsec_${randomBytes(18).toString('hex')}`,
  };
  let signingSecrets: string[] = [credentials.webhookSecret!];
  const enabled = options.enabledEvents ?? '*';
  const isEnabled = (type: string) => enabled === '*' || enabled.includes(type);

  let faults: SimulatorFaults = { ...NO_FAULTS };
  const intents = new Map<string, IntentState>();
  const byReference = new Map<string, string[]>();
  const refunds = new Map<string, Refund>();
  const idempotency = new Map<string, StoredResult>();
  const lastEvent = new Map<string, string>();
  const sent = new Map<string, { id: string; type: string }[]>();
  const heldEvents = new Map<string, string[]>();
  const chains = new Map<string, Promise<void>>();
  /** Pending timers and what they do; stop() runs them at once (answers go nowhere, waits end). */
  const timers = new Map<NodeJS.Timeout, () => void>();
  let conflicts = 0;
  let stopped = false;
  let baseUrl = '';

  /** Posts webhooks to the sink, and plays the player's browser on the 3-D Secure page. */
  const agent = new Agent({
    keepAliveTimeout: 10_000,
    connections: 32,
    connect: { rejectUnauthorized: !options.insecureSinkTls },
  });

  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.set(t, fn);
    return t;
  };
  const wait = (ms: number) =>
    ms > 0 ? new Promise<void>((r) => later(ms, r)) : Promise.resolve();

  // ---------------------------------------------------------------------------------- webhooks

  async function post(
    body: string,
    secrets: readonly string[],
    timestampSec?: number,
  ): Promise<number> {
    const t = timestampSec ?? Math.floor(Date.now() / 1000);
    const res = await undiciRequest(options.callbackUrl, {
      method: 'POST',
      dispatcher: agent,
      headers: {
        'content-type': 'application/json; charset=utf-8',
        'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
        'stripe-signature': signatureHeader(secrets, t, body),
      },
      body,
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
    await res.body.dump();
    return res.statusCode;
  }

  /** One delivery with the PSP's retry on network errors and 5xx (a 4xx is final). */
  async function deliver(body: string): Promise<void> {
    for (let attempt = 0; attempt < 3 && !stopped; attempt += 1) {
      try {
        const status = await post(body, signingSecrets);
        if (status < 500) return;
      } catch {
        // retried below
      }
      await wait(100 * 4 ** attempt);
    }
  }

  function enqueue(reference: string, bodies: string[]): void {
    const prev = chains.get(reference) ?? Promise.resolve();
    const next = prev.then(async () => {
      for (const body of bodies) {
        const copies = faults.duplicateCallbacks ? 2 : 1;
        for (let i = 0; i < copies; i += 1) {
          if (stopped) return;
          await wait(faults.callbackDelayMs);
          await deliver(body);
        }
      }
    });
    chains.set(reference, next);
    void next.finally(() => {
      if (chains.get(reference) === next) chains.delete(reference);
    });
  }

  const TERMINAL = new Set([
    'payment_intent.succeeded',
    'payment_intent.payment_failed',
    'payment_intent.canceled',
    'payment_intent.amount_capturable_updated',
  ]);

  function emitEvent(
    type: string,
    object: PaymentIntent | Refund,
    reference: string | undefined,
    idempotencyKey: string | undefined,
  ): void {
    if (!isEnabled(type) || !reference) return;
    const id = newId('evt');
    const body = JSON.stringify({
      id,
      object: 'event',
      api_version: API_VERSION,
      created: Math.floor(Date.now() / 1000),
      type,
      data: { object },
      livemode: false,
      pending_webhooks: 1,
      request: { id: newId('req'), idempotency_key: idempotencyKey ?? null },
    });
    lastEvent.set(reference, body);
    const list = sent.get(reference) ?? [];
    list.push({ id, type });
    sent.set(reference, list);
    // Reordering: hold the events of a reference until its terminal one, then send them reversed.
    const held = heldEvents.get(reference);
    if (faults.reorderCallbacks && !TERMINAL.has(type) && !type.startsWith('refund.')) {
      heldEvents.set(reference, [...(held ?? []), body]);
      return;
    }
    heldEvents.delete(reference);
    const batch = [...(held ?? []), body];
    enqueue(reference, faults.reorderCallbacks ? batch.reverse() : batch);
  }

  // ------------------------------------------------------------------------------------ state

  function view(pi: IntentState): PaymentIntent {
    const { amount_refunded: _r, token: _t, return_url: _u, ...wire } = pi;
    return wire;
  }

  function referenceOf(pi: { metadata: Record<string, string> }): string | undefined {
    return pi.metadata.reference;
  }

  function getIntent(id: string): IntentState {
    const pi = intents.get(id);
    if (!pi)
      throw new ApiError(404, {
        type: 'invalid_request_error',
        code: 'resource_missing',
        message: `No such payment_intent: '${id}'`,
        param: 'intent',
      });
    return pi;
  }

  function unexpectedState(pi: IntentState, action: string): ApiError {
    return new ApiError(400, {
      type: 'invalid_request_error',
      code: 'payment_intent_unexpected_state',
      message: `You cannot ${action} this PaymentIntent because it has a status of ${pi.status}.`,
      payment_intent: view(pi),
    });
  }

  function take(pi: IntentState, amount: number, key: string | undefined): void {
    pi.status = 'succeeded';
    pi.amount_received = amount;
    pi.amount_capturable = 0;
    pi.latest_charge = newId('ch');
    pi.next_action = null;
    emitEvent('payment_intent.succeeded', view(pi), referenceOf(pi), key);
  }

  function authorised(pi: IntentState, key: string | undefined): void {
    if (pi.capture_method === 'manual') {
      pi.status = 'requires_capture';
      pi.amount_capturable = pi.amount;
      pi.latest_charge = newId('ch');
      pi.next_action = null;
      emitEvent('payment_intent.amount_capturable_updated', view(pi), referenceOf(pi), key);
    } else {
      take(pi, pi.amount, key);
    }
  }

  function fail(pi: IntentState, error: PaymentError, key: string | undefined): never {
    pi.status = 'requires_payment_method';
    pi.last_payment_error = error;
    pi.next_action = null;
    emitEvent('payment_intent.payment_failed', view(pi), referenceOf(pi), key);
    throw new ApiError(402, { ...error, payment_intent: view(pi) });
  }

  function confirm(
    pi: IntentState,
    token: TestToken,
    returnUrl: string | undefined,
    key: string | undefined,
  ): void {
    pi.token = token;
    pi.payment_method = newId('pm');
    pi.last_payment_error = null;
    if (returnUrl !== undefined) pi.return_url = returnUrl;
    switch (token) {
      case 'tok_ok':
        authorised(pi, key);
        return;
      case 'tok_declined':
        fail(
          pi,
          {
            type: 'card_error',
            code: 'card_declined',
            decline_code: 'generic_decline',
            message: 'Your card was declined.',
          },
          key,
        );
        return;
      case 'tok_insufficient':
        fail(
          pi,
          {
            type: 'card_error',
            code: 'card_declined',
            decline_code: 'insufficient_funds',
            message: 'Your card has insufficient funds.',
          },
          key,
        );
        return;
      case 'tok_3ds':
        pi.status = 'requires_action';
        pi.next_action = {
          type: 'redirect_to_url',
          redirect_to_url: { url: `${baseUrl}/3ds/${pi.id}`, return_url: pi.return_url ?? null },
        };
        emitEvent('payment_intent.requires_action', view(pi), referenceOf(pi), key);
        return;
    }
  }

  // -------------------------------------------------------------------------------- endpoints

  /** Validates a create request; throws (not stored) on bad parameters. */
  function validateCreate(form: DecodedForm) {
    for (const k of Object.keys(form))
      if (!CREATE_PARAMS.has(k))
        throw invalid(`Received unknown parameter: ${k}`, k, 'parameter_unknown');
    const amount = parseAmount(form.amount, 'amount', true)!;
    const currency = str(form.currency);
    if (!currency || !/^[a-z]{3}$/.test(currency))
      throw invalid('currency must be a lower-case ISO 4217 code', 'currency');
    const captureMethod = str(form.capture_method) ?? 'automatic';
    if (captureMethod !== 'automatic' && captureMethod !== 'manual')
      throw invalid('capture_method must be automatic or manual', 'capture_method');
    const captureMethodChecked: 'automatic' | 'manual' = captureMethod;
    const confirmFlag = str(form.confirm) ?? 'false';
    if (confirmFlag !== 'true' && confirmFlag !== 'false')
      throw invalid('confirm must be a boolean', 'confirm');
    const token = tokenOf(form);
    if (token !== undefined) checkToken(token);
    if (confirmFlag === 'true' && token === undefined)
      throw invalid('a payment method is required to confirm', 'payment_method');
    const metadata = checkMetadata(form.metadata);
    const returnUrl = str(form.return_url);
    if (returnUrl !== undefined && !/^https?:\/\//.test(returnUrl))
      throw invalid('return_url must be a URL', 'return_url', 'url_invalid');
    return {
      amount,
      currency,
      captureMethod: captureMethodChecked,
      confirm: confirmFlag === 'true',
      token: token as TestToken | undefined,
      metadata,
      returnUrl,
      description: str(form.description),
    };
  }

  function executeCreate(
    p: ReturnType<typeof validateCreate>,
    key: string | undefined,
  ): PaymentIntent {
    const id = newId('pi');
    const pi: IntentState = {
      id,
      object: 'payment_intent',
      amount: p.amount,
      amount_capturable: 0,
      amount_received: 0,
      amount_refunded: 0,
      currency: p.currency,
      status: p.token ? 'requires_confirmation' : 'requires_payment_method',
      capture_method: p.captureMethod,
      metadata: p.metadata,
      description: p.description ?? null,
      // Not a real secret here: unique is enough, and crypto-random per intent costs throughput.
      client_secret: `${id}_secret_${secretSalt}${seq.toString(36)}`,
      created: Math.floor(Date.now() / 1000),
      latest_charge: null,
      payment_method: null,
      last_payment_error: null,
      next_action: null,
      cancellation_reason: null,
      livemode: false,
      token: p.token,
      return_url: p.returnUrl ?? null,
    };
    intents.set(id, pi);
    const ref = referenceOf(pi);
    if (ref) {
      const ids = byReference.get(ref);
      if (ids) ids.push(id);
      else byReference.set(ref, [id]);
    }
    if (p.confirm && p.token) confirm(pi, p.token, p.returnUrl, key);
    return view(pi);
  }

  type Executable = { validate: () => () => unknown };

  /** Routes a POST to a pair (validation, execution): validation errors are never stored. */
  function routePost(path: string, form: DecodedForm, key: string | undefined): Executable {
    if (path === '/v1/payment_intents') {
      return {
        validate: () => {
          const p = validateCreate(form);
          return () => executeCreate(p, key);
        },
      };
    }
    if (path === '/v1/refunds') {
      return {
        validate: () => {
          for (const k of Object.keys(form))
            if (!['payment_intent', 'amount', 'reason', 'metadata', 'expand'].includes(k))
              throw invalid(`Received unknown parameter: ${k}`, k, 'parameter_unknown');
          const piId = str(form.payment_intent);
          if (!piId)
            throw invalid('payment_intent is required', 'payment_intent', 'parameter_missing');
          const amount = parseAmount(form.amount, 'amount', false);
          const reason = str(form.reason);
          if (
            reason !== undefined &&
            !['duplicate', 'fraudulent', 'requested_by_customer'].includes(reason)
          )
            throw invalid('invalid reason', 'reason');
          const metadata = checkMetadata(form.metadata);
          return () => {
            const pi = getIntent(piId);
            if (pi.status !== 'succeeded')
              throw new ApiError(400, {
                type: 'invalid_request_error',
                code: 'charge_not_captured',
                message: `This PaymentIntent has not been captured (status ${pi.status}).`,
              });
            const remaining = pi.amount_received - pi.amount_refunded;
            if (remaining <= 0)
              throw new ApiError(400, {
                type: 'invalid_request_error',
                code: 'charge_already_refunded',
                message: 'Charge has already been refunded.',
              });
            const value = amount ?? remaining;
            if (value > remaining) {
              throw new ApiError(400, {
                type: 'invalid_request_error',
                code: 'amount_too_large',
                param: 'amount',
                message: `Refund amount (${value}) is greater than unrefunded amount on charge (${remaining})`,
              });
            }
            pi.amount_refunded += value;
            const refund: Refund = {
              id: newId('re'),
              object: 'refund',
              amount: value,
              currency: pi.currency,
              status: 'succeeded',
              payment_intent: pi.id,
              charge: pi.latest_charge ?? null,
              metadata,
              reason: reason ?? null,
              failure_reason: null,
              created: Math.floor(Date.now() / 1000),
            };
            refunds.set(refund.id, refund);
            emitEvent('refund.created', refund, metadata.reference ?? referenceOf(pi), key);
            return refund;
          };
        },
      };
    }
    const m = /^\/v1\/payment_intents\/([A-Za-z0-9_]+)\/(confirm|capture|cancel)$/.exec(path);
    if (m) {
      const [, id, action] = m as unknown as [string, string, 'confirm' | 'capture' | 'cancel'];
      return {
        validate: () => {
          switch (action) {
            case 'confirm': {
              for (const k of Object.keys(form))
                if (!['payment_method', 'payment_method_data', 'return_url', 'expand'].includes(k))
                  throw invalid(`Received unknown parameter: ${k}`, k, 'parameter_unknown');
              const token = tokenOf(form);
              if (token !== undefined) checkToken(token);
              const returnUrl = str(form.return_url);
              return () => {
                const pi = getIntent(id);
                if (
                  pi.status !== 'requires_payment_method' &&
                  pi.status !== 'requires_confirmation'
                )
                  throw unexpectedState(pi, 'confirm');
                const tok = (token ?? pi.token) as TestToken | undefined;
                if (!tok)
                  throw invalid('a payment method is required to confirm', 'payment_method');
                confirm(pi, tok, returnUrl, key);
                return view(pi);
              };
            }
            case 'capture': {
              for (const k of Object.keys(form))
                if (!['amount_to_capture', 'expand', 'metadata'].includes(k))
                  throw invalid(`Received unknown parameter: ${k}`, k, 'parameter_unknown');
              const amount = parseAmount(form.amount_to_capture, 'amount_to_capture', false);
              return () => {
                const pi = getIntent(id);
                if (pi.status !== 'requires_capture') throw unexpectedState(pi, 'capture');
                const value = amount ?? pi.amount_capturable;
                if (value > pi.amount_capturable) {
                  throw new ApiError(400, {
                    type: 'invalid_request_error',
                    code: 'amount_too_large',
                    param: 'amount_to_capture',
                    message: `amount_to_capture (${value}) exceeds amount_capturable (${pi.amount_capturable})`,
                  });
                }
                take(pi, value, key);
                return view(pi);
              };
            }
            case 'cancel': {
              for (const k of Object.keys(form))
                if (!['cancellation_reason', 'expand'].includes(k))
                  throw invalid(`Received unknown parameter: ${k}`, k, 'parameter_unknown');
              const reason = str(form.cancellation_reason);
              if (
                reason !== undefined &&
                !['duplicate', 'fraudulent', 'requested_by_customer', 'abandoned'].includes(reason)
              )
                throw invalid('invalid cancellation_reason', 'cancellation_reason');
              return () => {
                const pi = getIntent(id);
                const cancelable: IntentStatus[] = [
                  'requires_payment_method',
                  'requires_capture',
                  'requires_confirmation',
                  'requires_action',
                  'processing',
                ];
                if (!cancelable.includes(pi.status)) throw unexpectedState(pi, 'cancel');
                pi.status = 'canceled';
                pi.cancellation_reason = reason ?? null;
                pi.amount_capturable = 0;
                pi.next_action = null;
                emitEvent('payment_intent.canceled', view(pi), referenceOf(pi), key);
                return view(pi);
              };
            }
          }
        },
      };
    }
    throw new ApiError(404, {
      type: 'invalid_request_error',
      code: 'resource_missing',
      message: `Unrecognized request URL (POST: ${path})`,
    });
  }

  function handleGet(url: URL): ApiResult {
    const path = url.pathname;
    if (path === '/v1/payment_intents/search') {
      const q = parseSearchQuery(url.searchParams.get('query') ?? '');
      if (!q) throw invalid("query: only metadata['key']:'value' is supported", 'query');
      const data: PaymentIntent[] = [];
      const ids = q.key === 'reference' ? (byReference.get(q.value) ?? []) : [...intents.keys()];
      for (const id of ids) {
        const pi = intents.get(id)!;
        if (pi.metadata[q.key] === q.value) data.push(view(pi));
      }
      data.sort((a, b) => b.created - a.created);
      return {
        status: 200,
        body: {
          object: 'search_result',
          data,
          has_more: false,
          next_page: null,
          url: '/v1/payment_intents/search',
        },
      };
    }
    let m = /^\/v1\/payment_intents\/([A-Za-z0-9_]+)$/.exec(path);
    if (m) return { status: 200, body: view(getIntent(m[1]!)) };
    m = /^\/v1\/refunds\/([A-Za-z0-9_]+)$/.exec(path);
    if (m) {
      const r = refunds.get(m[1]!);
      if (!r)
        throw new ApiError(404, {
          type: 'invalid_request_error',
          code: 'resource_missing',
          message: `No such refund: '${m[1]}'`,
        });
      return { status: 200, body: r };
    }
    throw new ApiError(404, {
      type: 'invalid_request_error',
      code: 'resource_missing',
      message: `Unrecognized request URL (GET: ${path})`,
    });
  }

  // ------------------------------------------------------------------------------ 3-D Secure

  function threeDsPage(res: http.ServerResponse, method: string, id: string, raw: Buffer): void {
    const pi = intents.get(id);
    const html = (status: number, text: string) => {
      res
        .writeHead(status, { 'content-type': 'text/html; charset=utf-8' })
        .end(`<!doctype html><html><body>${text}</body></html>`);
    };
    if (!pi || pi.status !== 'requires_action') {
      html(pi ? 409 : 404, '<p>This authentication is no longer pending.</p>');
      return;
    }
    if (method === 'GET') {
      html(
        200,
        `<h1>Card authentication</h1><p>Amount ${pi.amount} ${pi.currency.toUpperCase()}</p>` +
          `<form method="post" action="/3ds/${pi.id}">` +
          `<button name="result" value="authenticate">Authenticate</button>` +
          `<button name="result" value="fail">Fail</button></form>`,
      );
      return;
    }
    if (method !== 'POST') {
      html(405, 'method not allowed');
      return;
    }
    const result = new URLSearchParams(raw.toString('utf8')).get('result');
    if (result !== 'authenticate' && result !== 'fail') {
      html(400, 'missing result');
      return;
    }
    let outcome = 'succeeded';
    if (result === 'authenticate') {
      authorised(pi, undefined);
    } else {
      outcome = 'failed';
      try {
        fail(
          pi,
          {
            type: 'invalid_request_error',
            code: 'payment_intent_authentication_failure',
            message: 'The provided payment method has failed authentication.',
          },
          undefined,
        );
      } catch {
        // fail() throws the API error; the page only redirects
      }
    }
    if (pi.return_url) {
      const back = new URL(pi.return_url);
      back.searchParams.set('payment_intent', pi.id);
      back.searchParams.set('redirect_status', outcome);
      res.writeHead(303, { location: back.toString() }).end();
    } else {
      html(200, `<p>Authentication ${outcome}. You can close this page.</p>`);
    }
  }

  // --------------------------------------------------------------------------------- serving

  function json(
    res: http.ServerResponse,
    status: number,
    body: string,
    extra?: Record<string, string>,
  ): void {
    if (res.destroyed) return;
    res.writeHead(status, {
      'content-type': 'application/json',
      'request-id': `req_${instance}${seq}`,
      ...extra,
    });
    res.end(body);
  }

  const errorBody = (e: ApiError) => JSON.stringify({ error: e.error });

  async function handle(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    raw: Buffer,
  ): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sim');
    const method = req.method ?? 'GET';
    const threeDs = /^\/3ds\/([A-Za-z0-9_]+)$/.exec(url.pathname);
    if (threeDs) {
      threeDsPage(res, method, threeDs[1]!, raw);
      return;
    }
    if (req.headers.authorization !== `Bearer ${credentials.secretKey}`) {
      json(
        res,
        401,
        JSON.stringify({
          error: { type: 'invalid_request_error', message: 'Invalid API Key provided.' },
        }),
      );
      return;
    }
    if (faults.unavailable > 0) {
      faults.unavailable -= 1;
      await wait(faults.latencyMs);
      json(
        res,
        503,
        JSON.stringify({
          error: {
            type: 'api_error',
            code: 'service_unavailable',
            message: 'The service is temporarily unavailable.',
          },
        }),
      );
      return;
    }
    if (method === 'GET') {
      await wait(faults.latencyMs);
      try {
        const r = handleGet(url);
        json(res, r.status, JSON.stringify(r.body));
      } catch (e) {
        if (e instanceof ApiError) json(res, e.status, errorBody(e));
        else
          json(
            res,
            500,
            JSON.stringify({ error: { type: 'api_error', message: 'internal error' } }),
          );
      }
      return;
    }
    if (method !== 'POST') {
      json(
        res,
        405,
        JSON.stringify({
          error: { type: 'invalid_request_error', message: `method ${method} not allowed` },
        }),
      );
      return;
    }

    const key =
      typeof req.headers['idempotency-key'] === 'string'
        ? req.headers['idempotency-key']
        : undefined;
    const body = raw.toString('utf8');
    let execute: () => unknown;
    let fingerprint = '';
    try {
      if (key !== undefined && (key.length === 0 || key.length > 255))
        throw invalid(
          'Idempotency-Key must be 1 to 255 characters',
          undefined,
          'idempotency_key_invalid',
        );
      let form: DecodedForm;
      try {
        form = decodeForm(body);
      } catch (e) {
        throw invalid(`unreadable form body: ${(e as Error).message}`);
      }
      if (key !== undefined) {
        fingerprint = `POST ${url.pathname}?${canonicalForm(body)}`;
        const stored = idempotency.get(key);
        if (stored) {
          // Decided on arrival (a concurrent request gets 409 even if the first ends meanwhile).
          const running = stored.running;
          await wait(faults.latencyMs);
          if (running) {
            conflicts += 1;
            throw new ApiError(409, {
              type: 'idempotency_error',
              code: 'idempotency_key_in_use',
              message:
                'There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through): please try again later.',
            });
          }
          if (stored.fingerprint !== fingerprint) {
            throw new ApiError(400, {
              type: 'idempotency_error',
              message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
            });
          }
          json(res, stored.status, stored.body, {
            'idempotent-replayed': 'true',
            'original-request': 'stored',
          });
          return;
        }
      }
      execute = routePost(url.pathname, form, key).validate();
    } catch (e) {
      await wait(faults.latencyMs);
      const err = e instanceof ApiError ? e : invalid((e as Error).message);
      json(res, err.status, errorBody(err));
      return;
    }

    // Execution begins: the result is stored under the key, whatever it is.
    const entry: StoredResult = { fingerprint, running: true, status: 0, body: '' };
    if (key !== undefined) {
      idempotency.set(key, entry);
      if (idempotency.size > MAX_IDEMPOTENCY_ENTRIES)
        idempotency.delete(idempotency.keys().next().value!);
    }
    if (faults.latencyMs > 0) await wait(faults.latencyMs);
    try {
      entry.body = JSON.stringify(execute());
      entry.status = 200;
    } catch (e) {
      if (e instanceof ApiError) {
        entry.status = e.status;
        entry.body = errorBody(e);
      } else {
        entry.status = 500;
        entry.body = JSON.stringify({
          error: { type: 'api_error', message: 'An unknown error occurred' },
        });
      }
    }
    entry.running = false;

    if (faults.hangAfterCommit > 0) {
      faults.hangAfterCommit -= 1;
      const t = later(faults.hangMs, () => json(res, entry.status, entry.body));
      res.on('close', () => {
        clearTimeout(t);
        timers.delete(t);
      });
      return;
    }
    if (faults.malformedAfterCommit > 0) {
      faults.malformedAfterCommit -= 1;
      json(res, 200, entry.body.slice(0, Math.max(1, Math.floor(entry.body.length / 2))));
      return;
    }
    if (faults.dropAfterCommit > 0) {
      faults.dropAfterCommit -= 1;
      req.socket.destroy();
      return;
    }
    json(res, entry.status, entry.body);
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      handle(req, res, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)).catch(() => {
        if (!res.headersSent && !res.destroyed)
          json(
            res,
            500,
            JSON.stringify({ error: { type: 'api_error', message: 'internal error' } }),
          );
      });
    });
  });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  baseUrl = `http://${host}:${port}`;

  const intentsOf = (reference: string) =>
    (byReference.get(reference) ?? []).map((id) => intents.get(id)!);

  function syntheticEvent(reference: string): string {
    const last = lastEvent.get(reference);
    if (last) return last;
    const pi = intentsOf(reference)[0];
    return JSON.stringify({
      id: newId('evt'),
      object: 'event',
      api_version: API_VERSION,
      created: Math.floor(Date.now() / 1000),
      type: 'payment_intent.succeeded',
      data: {
        object: pi
          ? { ...view(pi), status: 'succeeded', amount_received: pi.amount }
          : { id: 'pi_forged', object: 'payment_intent', metadata: { reference } },
      },
      livemode: false,
    });
  }

  const control: SimulatorControl = {
    setFaults(partial) {
      faults = { ...faults, ...partial };
    },
    reset() {
      faults = { ...NO_FAULTS };
      intents.clear();
      byReference.clear();
      refunds.clear();
      idempotency.clear();
      lastEvent.clear();
      sent.clear();
      heldEvents.clear();
      conflicts = 0;
    },
    chargeCount(reference) {
      return intentsOf(reference).filter((pi) => pi.status === 'succeeded').length;
    },
    netCharged(reference) {
      let total = 0n;
      for (const pi of intentsOf(reference)) {
        if (pi.status !== 'succeeded') continue;
        total += fromWireAmount(pi.amount_received - pi.amount_refunded, pi.currency.toUpperCase());
      }
      return total;
    },
    async sendForgedCallback(reference) {
      // Signed with a secret the adapter does not know.
      return post(syntheticEvent(reference), [`whsec_${randomBytes(18).toString('hex')}`]);
    },
    async replayCallback(reference) {
      const last = lastEvent.get(reference);
      if (!last) throw new Error(`no callback was sent for ${reference}`);
      return post(last, signingSecrets);
    },
    async completeRedirect(reference) {
      const pi = intentsOf(reference).find((p) => p.status === 'requires_action');
      const url = pi?.next_action?.redirect_to_url?.url;
      if (!pi || !url) throw new Error(`no pending authentication for ${reference}`);
      // As the player's browser would: load the page, then submit its form.
      const page = await undiciRequest(url, { method: 'GET', dispatcher: agent });
      const html = await page.body.text();
      const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
      if (page.statusCode !== 200 || !action)
        throw new Error(`authentication page not available (${page.statusCode})`);
      const done = await undiciRequest(new URL(action, url).toString(), {
        method: 'POST',
        dispatcher: agent,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'result=authenticate',
      });
      await done.body.dump();
      if (done.statusCode >= 400)
        throw new Error(`authentication page answered ${done.statusCode}`);
    },
  };

  const card: CardSimulatorExtras = {
    rotateWebhookSecret() {
      const previous = credentials.webhookSecret!;
      const current = `whsec_${randomBytes(18).toString('hex')}`;
      credentials.webhookSecret = current;
      credentials.webhookSecretPrevious = previous;
      signingSecrets = [current, previous];
      return { current, previous };
    },
    async resendLastEvent(reference, opts = {}) {
      const last = lastEvent.get(reference);
      if (!last) throw new Error(`no callback was sent for ${reference}`);
      return post(last, opts.secrets ?? signingSecrets, opts.timestampSec);
    },
    sentEvents: (reference) => [...(sent.get(reference) ?? [])],
    conflicts: () => conflicts,
    intents: (reference) => intentsOf(reference).map(view),
  };

  return {
    url: baseUrl,
    credentials,
    control,
    card,
    async stop() {
      stopped = true;
      const pending = [...timers];
      timers.clear();
      for (const [t, fn] of pending) {
        clearTimeout(t);
        fn();
      }
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await agent.destroy();
      await Promise.allSettled([...chains.values()]);
    },
  };
}
