/**
 * Loopback CAMARA operator: Carrier Billing v0.5 + Refund v0.3 endpoints, an OAuth2 token
 * endpoint verifying private_key_jwt client assertions, state per paymentId, the contract's
 * test numbers (last two MSISDN digits), CloudEvents to the sink, and SimulatorControl faults.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import {
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  importJWK,
  jwtVerify,
  type JWK,
} from 'jose';
import {
  currency as currencyInfo,
  formatMinorAsDecimal,
  isIsoCurrency,
  parseFloatToMinor,
} from '@coinslot/kernel';
import {
  NO_FAULTS,
  testNumberOf,
  type Simulator,
  type SimulatorFaults,
  type SimulatorOptions,
} from '../simulator';
import {
  CLIENT_ASSERTION_TYPE,
  CreatePaymentInSchema,
  CreateRefundInSchema,
  DUPLICATE_CORRELATOR_MESSAGE,
  PAYMENTS_BASE,
  PhoneInSchema,
  REFUNDS_BASE,
  SCOPES,
  TOKEN_PATH,
  ValidateInSchema,
  WireDecimal,
  X_CORRELATOR,
  eventTypeOf,
  stringifyWire,
  type EventName,
  type PaymentStatus,
  type RefundStatus,
} from './transformers';

export interface CamaraSimulatorOptions extends SimulatorOptions {
  callbackUrl: string;
  /** Registered API clients and their public keys. Absent: one client with a fresh key pair. */
  clients?: { clientId: string; publicJwk: JWK }[];
  /** Time before an async (77/78) payment or refund settles. */
  asyncDelayMs?: number;
  otp?: string;
  otpAttempts?: number;
  tokenTtlSec?: number;
}

interface SimRefund {
  refundId: string;
  status: RefundStatus;
  type: 'total' | 'partial';
  amount: bigint;
  clientCorrelator?: string;
  referenceCode: string;
  reason?: string;
  createdAt: Date;
  refundDate?: Date;
  sink?: string;
  sinkToken?: string;
}

interface SimPayment {
  paymentId: string;
  clientId: string;
  seq: number;
  status: PaymentStatus;
  scenario: string;
  phoneNumber: string;
  clientCorrelator?: string;
  referenceCode: string;
  amount: bigint;
  currency: string;
  description: string;
  chargingMetaData?: Record<string, unknown>;
  createdAt: Date;
  paymentDate?: Date;
  sink?: string;
  sinkToken?: string;
  validation?: { authorizationId: string; attemptsLeft: number };
  charged: boolean;
  refunds: SimRefund[];
  refundsClosed: boolean;
}

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** 91: the charge is committed, the answer comes after hangMs. */
  delayed?: boolean;
}

interface Delivery {
  sink: string;
  token?: string;
  body: string;
}

const SCOPE_SET = new Set<string>(SCOPES);
const err = (status: number, code: string, message: string): Reply => ({
  status,
  body: { status, code, message },
});

export async function startSimulator(options: CamaraSimulatorOptions): Promise<Simulator> {
  const asyncDelayMs = options.asyncDelayMs ?? 200;
  const otp = options.otp ?? '123456';
  const otpAttempts = options.otpAttempts ?? 3;
  const tokenTtlSec = options.tokenTtlSec ?? 3600;

  // ----- registered clients ----------------------------------------------------------------
  const clients = new Map<string, JWK>();
  const credentials: Record<string, string> = {};
  if (options.clients?.length) {
    for (const c of options.clients) clients.set(c.clientId, c.publicJwk);
  } else {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const keyId = `sim-${randomBytes(4).toString('hex')}`;
    const clientId = `coinslot-${randomBytes(6).toString('hex')}`;
    clients.set(clientId, { ...(await exportJWK(publicKey)), kid: keyId, alg: 'ES256' });
    credentials.clientId = clientId;
    credentials.keyId = keyId;
    credentials.privateKeyJwk = JSON.stringify({
      ...(await exportJWK(privateKey)),
      kid: keyId,
      alg: 'ES256',
    });
  }

  // ----- state -----------------------------------------------------------------------------
  let faults: SimulatorFaults = { ...NO_FAULTS };
  const tokens = new Map<string, { clientId: string; scopes: Set<string>; exp: number }>();
  const jtis = new Map<string, number>();
  const payments = new Map<string, SimPayment>();
  const correlators = new Map<string, string>();
  const refundCorrelators = new Set<string>();
  const lastGenuine = new Map<string, Delivery>();
  const reorderQueues = new Map<string, { items: Delivery[]; timer?: NodeJS.Timeout }>();
  const goneSinks = new Set<string>();
  const timers = new Set<NodeJS.Timeout>();
  let seq = 0;
  let url = '';
  let stopped = false;

  const later = (ms: number, fn: () => void): void => {
    if (stopped) return;
    const t = setTimeout(() => {
      timers.delete(t);
      if (!stopped) fn();
    }, ms);
    timers.add(t);
  };
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => (ms > 0 ? later(ms, resolve) : resolve()));

  const sinkAgent = new https.Agent({
    keepAlive: true,
    rejectUnauthorized: !options.insecureSinkTls,
  });

  // ----- callbacks -------------------------------------------------------------------------
  function post(d: Delivery): Promise<number> {
    return new Promise((resolve) => {
      if (stopped || goneSinks.has(d.sink)) return resolve(0);
      const target = new URL(d.sink);
      const lib = target.protocol === 'https:' ? https : http;
      const req = lib.request(
        target,
        {
          method: 'POST',
          agent: target.protocol === 'https:' ? sinkAgent : undefined,
          headers: {
            'content-type': 'application/cloudevents+json',
            'content-length': Buffer.byteLength(d.body),
            ...(d.token ? { authorization: `Bearer ${d.token}` } : {}),
          },
        },
        (res) => {
          res.resume();
          if (res.statusCode === 410) goneSinks.add(d.sink);
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', () => resolve(0));
      req.end(d.body);
    });
  }

  function dispatch(d: Delivery): void {
    const send = () => {
      void post(d);
      if (faults.duplicateCallbacks) void post(d);
    };
    if (faults.callbackDelayMs > 0) later(faults.callbackDelayMs, send);
    else send();
  }

  function emit(
    target: { sink?: string; sinkToken?: string; referenceCode: string },
    name: EventName,
    data: Record<string, unknown>,
    source: string,
  ): void {
    if (!target.sink) return;
    const body = stringifyWire({
      id: randomUUID(),
      source,
      type: eventTypeOf(name),
      specversion: '1.0',
      time: new Date().toISOString(),
      datacontenttype: 'application/json',
      data,
    });
    const d: Delivery = { sink: target.sink, token: target.sinkToken, body };
    lastGenuine.set(target.referenceCode, d);
    if (!faults.reorderCallbacks) return dispatch(d);
    // Hold the reference's events briefly, then send them newest first.
    const q = reorderQueues.get(target.referenceCode) ?? { items: [] };
    reorderQueues.set(target.referenceCode, q);
    q.items.push(d);
    if (q.timer) {
      clearTimeout(q.timer);
      timers.delete(q.timer);
    }
    const t = setTimeout(() => {
      timers.delete(t);
      reorderQueues.delete(target.referenceCode);
      for (const item of q.items.reverse()) dispatch(item);
    }, 300);
    q.timer = t;
    timers.add(t);
  }

  const paymentSource = (p: SimPayment) => `${url}${PAYMENTS_BASE}/payments/${p.paymentId}`;

  function settlePayment(p: SimPayment, status: PaymentStatus, denialReason?: string): void {
    p.status = status;
    if (status === 'succeeded') {
      p.charged = true;
      p.paymentDate = new Date();
      emit(
        p,
        'payment-completed',
        {
          paymentId: p.paymentId,
          status: 'succeeded',
          description: 'Payment completed',
          paymentDate: p.paymentDate.toISOString(),
        },
        paymentSource(p),
      );
    } else if (status === 'denied') {
      emit(
        p,
        'payment-denied',
        { paymentId: p.paymentId, status: 'failed', description: 'Payment denied', denialReason },
        paymentSource(p),
      );
    } else if (status === 'reserved') {
      emit(
        p,
        'payment-reserved',
        { paymentId: p.paymentId, status: 'succeeded', description: 'Payment reserved' },
        paymentSource(p),
      );
    } else if (status === 'cancelled') {
      emit(
        p,
        'payment-cancelled',
        { paymentId: p.paymentId, status: 'succeeded', description: 'Payment cancelled' },
        paymentSource(p),
      );
    }
  }

  // ----- JSON views --------------------------------------------------------------------------
  const money = (amount: bigint, code: string) =>
    new WireDecimal(formatMinorAsDecimal(amount, currencyInfo(code)!.exponent));

  function paymentView(p: SimPayment): Record<string, unknown> {
    return {
      paymentId: p.paymentId,
      paymentStatus: p.status,
      paymentCreationDate: p.createdAt.toISOString(),
      ...(p.paymentDate ? { paymentDate: p.paymentDate.toISOString() } : {}),
      ...(p.sink ? { sink: p.sink } : {}),
      ...(p.status === 'pending_validation' && p.validation
        ? { validationInfo: { action: 'validate', authorizationId: p.validation.authorizationId } }
        : {}),
      amountTransaction: {
        phoneNumber: p.phoneNumber,
        ...(p.clientCorrelator ? { clientCorrelator: p.clientCorrelator } : {}),
        referenceCode: p.referenceCode,
        paymentAmount: {
          chargingInformation: {
            amount: money(p.amount, p.currency),
            currency: p.currency,
            description: p.description,
          },
          ...(p.chargingMetaData ? { chargingMetaData: p.chargingMetaData } : {}),
        },
        resourceURL: paymentSource(p),
        serverReferenceCode: `SRV-${p.seq}`,
      },
    };
  }

  function refundView(p: SimPayment, r: SimRefund): Record<string, unknown> {
    return {
      refundId: r.refundId,
      refundStatus: r.status,
      type: r.type,
      refundCreationDate: r.createdAt.toISOString(),
      ...(r.refundDate ? { refundDate: r.refundDate.toISOString() } : {}),
      ...(r.reason ? { reason: r.reason } : {}),
      ...(r.sink ? { sink: r.sink } : {}),
      amountTransaction: {
        ...(r.clientCorrelator ? { clientCorrelator: r.clientCorrelator } : {}),
        referenceCode: r.referenceCode,
        refundAmount: {
          chargingInformation: {
            amount: money(r.amount, p.currency),
            currency: p.currency,
            description: r.reason ?? 'Refund',
          },
        },
        resourceURL: `${url}${REFUNDS_BASE}/payments/${p.paymentId}/refunds/${r.refundId}`,
        serverReferenceCode: `SRV-R-${r.refundId.slice(0, 8)}`,
      },
    };
  }

  const remaining = (p: SimPayment) =>
    p.amount -
    p.refunds
      .filter((r) => r.status === 'succeeded' || r.status === 'processing')
      .reduce((a, r) => a + r.amount, 0n);

  // ----- token endpoint --------------------------------------------------------------------
  async function token(form: URLSearchParams): Promise<Reply> {
    const oauthErr = (status: number, error: string, description: string): Reply => ({
      status,
      body: { error, error_description: description },
    });
    if (form.get('grant_type') !== 'client_credentials')
      return oauthErr(400, 'unsupported_grant_type', 'only client_credentials');
    if (form.get('client_assertion_type') !== CLIENT_ASSERTION_TYPE)
      return oauthErr(401, 'invalid_client', 'private_key_jwt required');
    const assertion = form.get('client_assertion') ?? '';
    let clientId: string | undefined;
    try {
      clientId = decodeJwt(assertion).iss;
    } catch {
      return oauthErr(401, 'invalid_client', 'unreadable client_assertion');
    }
    const jwk = clientId ? clients.get(clientId) : undefined;
    if (!clientId || !jwk) return oauthErr(401, 'invalid_client', 'unknown client');
    if (form.get('client_id') && form.get('client_id') !== clientId)
      return oauthErr(401, 'invalid_client', 'client_id mismatch');
    let claims;
    try {
      const alg = decodeProtectedHeader(assertion).alg ?? jwk.alg ?? 'ES256';
      if (jwk.alg && alg !== jwk.alg) return oauthErr(401, 'invalid_client', 'unexpected alg');
      const key = await importJWK(jwk, alg);
      ({ payload: claims } = await jwtVerify(assertion, key, {
        issuer: clientId,
        subject: clientId,
        audience: url + TOKEN_PATH,
        requiredClaims: ['jti', 'exp'],
      }));
    } catch (e) {
      return oauthErr(401, 'invalid_client', `client_assertion rejected: ${(e as Error).message}`);
    }
    const now = Math.floor(Date.now() / 1000);
    const exp = claims.exp!;
    if (exp - now > 300 || (claims.iat !== undefined && exp - claims.iat > 300))
      return oauthErr(401, 'invalid_client', 'assertion lifetime over 300 s');
    for (const [j, e] of jtis) if (e < now) jtis.delete(j);
    if (jtis.has(claims.jti!)) return oauthErr(401, 'invalid_client', 'assertion replayed (jti)');
    jtis.set(claims.jti!, exp);
    const scopes = (form.get('scope') ?? '').split(/\s+/).filter(Boolean);
    const purposes = scopes.filter((s) => s.startsWith('dpv:'));
    if (
      scopes.length === 0 ||
      purposes.length !== 1 ||
      scopes.some((s) => !s.startsWith('dpv:') && !SCOPE_SET.has(s))
    ) {
      return oauthErr(400, 'invalid_scope', 'API scopes plus exactly one dpv: purpose');
    }
    const accessToken = randomBytes(24).toString('base64url');
    tokens.set(accessToken, {
      clientId,
      scopes: new Set(scopes),
      exp: Date.now() + tokenTtlSec * 1000,
    });
    return {
      status: 200,
      body: {
        access_token: accessToken,
        token_type: 'Bearer',
        expires_in: tokenTtlSec,
        scope: scopes.join(' '),
      },
      headers: { 'cache-control': 'no-store' },
    };
  }

  // ----- API --------------------------------------------------------------------------------
  type Ctx = { clientId: string; scopes: Set<string>; body: unknown };

  function checkCharge(
    body: unknown,
    ctx: Ctx,
  ): Reply | { ok: ReturnType<typeof CreatePaymentInSchema.parse>; amount: bigint } {
    const parsed = CreatePaymentInSchema.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return err(
        400,
        'INVALID_ARGUMENT',
        `Client specified an invalid argument: ${issue?.path.join('.')} ${issue?.message}`,
      );
    }
    const at = parsed.data.amountTransaction;
    if (!at.phoneNumber)
      return err(
        422,
        'MISSING_IDENTIFIER',
        'The device cannot be identified: phoneNumber is required with a 2-legged token',
      );
    if (parsed.data.sink !== undefined && !/^https:\/\//.test(parsed.data.sink))
      return err(400, 'INVALID_SINK', 'sink not valid for the specified protocol');
    const info = at.paymentAmount.chargingInformation;
    if (!isIsoCurrency(info.currency))
      return err(400, 'INVALID_ARGUMENT', `Unknown currency ${info.currency}`);
    let amount: bigint;
    try {
      amount = parseFloatToMinor(info.amount, currencyInfo(info.currency)!.exponent);
    } catch {
      return err(
        400,
        'OUT_OF_RANGE',
        `amount ${info.amount} has more fraction digits than ${info.currency} allows`,
      );
    }
    if (at.clientCorrelator && correlators.has(`${ctx.clientId}|${at.clientCorrelator}`))
      return err(400, 'INVALID_ARGUMENT', DUPLICATE_CORRELATOR_MESSAGE);
    return { ok: parsed.data, amount };
  }

  function scenarioError(scenario: string, prepare: boolean): Reply | undefined {
    switch (scenario) {
      case '51':
        return err(
          403,
          'CARRIER_BILLING.PAYMENT_DENIED',
          'Payment denied: insufficient credit on the prepaid balance',
        );
      case '54':
        return err(
          403,
          'CARRIER_BILLING.PAYMENT_DENIED',
          'Payment denied: carrier billing is barred for this subscriber',
        );
      case '55':
        return prepare
          ? undefined
          : err(
              403,
              'PERMISSION_DENIED',
              'User validation is required for this phoneNumber: use /payments/prepare and /validate',
            );
      case '61':
        return err(
          422,
          'CARRIER_BILLING.USER_AMOUNT_THRESHOLD_OVERPASSED',
          'The user has reached the spending threshold',
        );
      case '64':
        return err(404, 'IDENTIFIER_NOT_FOUND', 'Device identifier not found');
      case '69':
        return err(429, 'TOO_MANY_REQUESTS', 'Rate limit reached');
      default:
        return undefined;
    }
  }

  function newPayment(
    ok: ReturnType<typeof CreatePaymentInSchema.parse>,
    amount: bigint,
    ctx: Ctx,
    status: PaymentStatus,
  ): SimPayment {
    const at = ok.amountTransaction;
    seq += 1;
    const p: SimPayment = {
      paymentId: randomUUID(),
      clientId: ctx.clientId,
      seq,
      status,
      scenario: testNumberOf(at.phoneNumber),
      phoneNumber: at.phoneNumber!,
      clientCorrelator: at.clientCorrelator,
      referenceCode: at.referenceCode,
      amount,
      currency: at.paymentAmount.chargingInformation.currency,
      description: at.paymentAmount.chargingInformation.description,
      chargingMetaData: at.paymentAmount.chargingMetaData,
      createdAt: new Date(),
      sink: ok.sink,
      sinkToken: ok.sinkCredential?.accessToken,
      charged: false,
      refunds: [],
      refundsClosed: false,
    };
    payments.set(p.paymentId, p);
    if (p.clientCorrelator) correlators.set(`${ctx.clientId}|${p.clientCorrelator}`, p.paymentId);
    return p;
  }

  function createPayment(ctx: Ctx): Reply {
    const checked = checkCharge(ctx.body, ctx);
    if ('status' in checked) return checked;
    const scenario = testNumberOf(checked.ok.amountTransaction.phoneNumber);
    const denied = scenarioError(scenario, false);
    if (denied) return denied;
    const p = newPayment(checked.ok, checked.amount, ctx, 'processing');
    if (scenario === '77' || scenario === '78') {
      later(asyncDelayMs, () =>
        settlePayment(
          p,
          scenario === '77' ? 'succeeded' : 'denied',
          'Payment denied by the operator risk policy',
        ),
      );
      return { status: 201, body: paymentView(p) };
    }
    p.status = 'succeeded';
    p.charged = true;
    p.paymentDate = new Date();
    return { status: 201, body: paymentView(p), delayed: scenario === '91' };
  }

  function preparePayment(ctx: Ctx): Reply {
    const checked = checkCharge(ctx.body, ctx);
    if ('status' in checked) return checked;
    const scenario = testNumberOf(checked.ok.amountTransaction.phoneNumber);
    const denied = scenarioError(scenario, true);
    if (denied) return denied;
    const p = newPayment(checked.ok, checked.amount, ctx, 'processing');
    if (scenario === '77' || scenario === '78') {
      later(asyncDelayMs, () =>
        settlePayment(
          p,
          scenario === '77' ? 'reserved' : 'denied',
          'Reservation denied by the operator risk policy',
        ),
      );
    } else if (scenario === '55') {
      p.status = 'pending_validation';
      p.validation = { authorizationId: randomUUID(), attemptsLeft: otpAttempts };
    } else {
      p.status = 'reserved';
    }
    return { status: 201, body: paymentView(p), delayed: scenario === '91' };
  }

  function validatePayment(p: SimPayment, ctx: Ctx): Reply {
    const parsed = ValidateInSchema.safeParse(ctx.body);
    if (!parsed.success)
      return err(400, 'INVALID_ARGUMENT', 'authorizationId and code are required');
    if (p.status === 'denied')
      return err(400, 'CARRIER_BILLING.VALIDATION_FAILED', 'Validation failed: no attempts left');
    if (p.status === 'succeeded')
      return err(409, 'CARRIER_BILLING.PAYMENT_CONFIRMED', 'Payment already confirmed');
    if (p.status === 'cancelled')
      return err(409, 'CARRIER_BILLING.PAYMENT_CANCELLED', 'Payment cancelled');
    if (p.status !== 'pending_validation' || !p.validation)
      return err(409, 'CONFLICT', `Payment is ${p.status}, not pending validation`);
    if (parsed.data.authorizationId !== p.validation.authorizationId)
      return err(400, 'CARRIER_BILLING.INVALID_AUTHORIZATION_ID', 'Unknown authorizationId');
    if (parsed.data.code !== otp) {
      p.validation.attemptsLeft -= 1;
      if (p.validation.attemptsLeft <= 0) {
        p.status = 'denied';
        return err(400, 'CARRIER_BILLING.VALIDATION_FAILED', 'Validation failed: no attempts left');
      }
      return err(
        400,
        'CARRIER_BILLING.INVALID_CODE',
        `Invalid code: ${p.validation.attemptsLeft} attempts left`,
      );
    }
    p.status = 'reserved';
    return { status: 204 };
  }

  function confirmPayment(p: SimPayment, ctx: Ctx): Reply {
    const parsed = PhoneInSchema.safeParse(ctx.body ?? undefined);
    if (!parsed.success) return err(400, 'INVALID_ARGUMENT', 'phoneNumber is not E.164');
    if (parsed.data?.phoneNumber && parsed.data.phoneNumber !== p.phoneNumber)
      return err(403, 'PERMISSION_DENIED', 'phoneNumber does not match the payment');
    if (p.status === 'succeeded')
      return err(409, 'CARRIER_BILLING.PAYMENT_CONFIRMED', 'Payment already confirmed');
    if (p.status === 'cancelled')
      return err(409, 'CARRIER_BILLING.PAYMENT_CANCELLED', 'Payment cancelled');
    if (p.status !== 'reserved')
      return err(409, 'CONFLICT', `Payment is ${p.status}, not reserved`);
    if (p.scenario === '77') {
      p.status = 'processing';
      later(asyncDelayMs, () => settlePayment(p, 'succeeded'));
    } else {
      settlePayment(p, 'succeeded');
    }
    return { status: 202 };
  }

  function cancelPayment(p: SimPayment, ctx: Ctx): Reply {
    const parsed = PhoneInSchema.safeParse(ctx.body ?? undefined);
    if (!parsed.success) return err(400, 'INVALID_ARGUMENT', 'phoneNumber is not E.164');
    if (p.status === 'succeeded')
      return err(409, 'CARRIER_BILLING.PAYMENT_CONFIRMED', 'Payment already confirmed');
    if (p.status === 'cancelled')
      return err(409, 'CARRIER_BILLING.PAYMENT_CANCELLED', 'Payment already cancelled');
    if (p.status !== 'reserved' && p.status !== 'pending_validation')
      return err(409, 'CONFLICT', `Payment is ${p.status}`);
    p.status = 'cancelled';
    return { status: 202 };
  }

  function listPayments(ctx: Ctx, q: URLSearchParams): Reply {
    const gte = q.get('paymentCreationDate.gte');
    const lte = q.get('paymentCreationDate.lte');
    const from = gte ? Date.parse(gte) : -Infinity;
    const to = lte ? Date.parse(lte) : Infinity;
    if (Number.isNaN(from) || Number.isNaN(to))
      return err(400, 'INVALID_ARGUMENT', 'invalid paymentCreationDate');
    if (from > to) return err(400, 'CARRIER_BILLING.INVALID_DATE_RANGE', 'gte is after lte');
    const page = Number(q.get('page') ?? '1');
    const perPage = Number(q.get('perPage') ?? '10');
    if (
      !Number.isInteger(page) ||
      page < 1 ||
      !Number.isInteger(perPage) ||
      perPage < 1 ||
      perPage > 100
    )
      return err(400, 'OUT_OF_RANGE', 'page/perPage out of range');
    const status = q.get('paymentStatus');
    const merchant = q.get('merchantIdentifier');
    const order = q.get('order') === 'asc' ? 1 : -1;
    const all = [...payments.values()]
      .filter(
        (p) =>
          p.clientId === ctx.clientId &&
          p.createdAt.getTime() >= from &&
          p.createdAt.getTime() <= to &&
          (!status || p.status === status) &&
          (!merchant || p.chargingMetaData?.merchantIdentifier === merchant),
      )
      .sort((a, b) => (a.seq - b.seq) * order);
    const slice = all.slice((page - 1) * perPage, page * perPage);
    return {
      status: 200,
      body: slice.map(paymentView),
      headers: {
        'x-total-count': String(all.length),
        ...(slice.length ? { 'content-last-key': slice[slice.length - 1]!.paymentId } : {}),
      },
    };
  }

  function createRefund(p: SimPayment, ctx: Ctx): Reply {
    const parsed = CreateRefundInSchema.safeParse(ctx.body);
    if (!parsed.success)
      return err(
        400,
        'INVALID_ARGUMENT',
        `Client specified an invalid argument: ${parsed.error.issues[0]?.path.join('.')}`,
      );
    const b = parsed.data;
    if (b.sink !== undefined && !/^https:\/\//.test(b.sink))
      return err(400, 'INVALID_SINK', 'sink not valid for the specified protocol');
    const corrKey = b.amountTransaction.clientCorrelator
      ? `${ctx.clientId}|${b.amountTransaction.clientCorrelator}`
      : undefined;
    if (corrKey && refundCorrelators.has(corrKey))
      return err(400, 'INVALID_ARGUMENT', DUPLICATE_CORRELATOR_MESSAGE);
    if (p.status !== 'succeeded')
      return err(422, 'CARRIER_BILLING_REFUND.INVALID_PAYMENT_STATUS', `Payment is ${p.status}`);
    if (p.refundsClosed)
      return err(
        403,
        'CARRIER_BILLING_REFUND.PAYMENT_NOT_ELIGIBLE_FOR_REFUND',
        'A total refund was already made',
      );
    const left = remaining(p);
    let amount: bigint;
    if (b.type === 'total') {
      amount = left;
    } else {
      const info = b.amountTransaction.refundAmount.chargingInformation;
      if (!info) return err(400, 'INVALID_ARGUMENT', 'a partial refund needs chargingInformation');
      if (info.currency !== p.currency)
        return err(
          422,
          'CARRIER_BILLING_REFUND.REFUND_DETAILS_MISMATCH',
          'currency differs from the payment',
        );
      try {
        amount = parseFloatToMinor(info.amount, currencyInfo(p.currency)!.exponent);
      } catch {
        return err(400, 'OUT_OF_RANGE', 'amount has too many fraction digits');
      }
    }
    if (amount <= 0n || amount > left)
      return err(
        422,
        'CARRIER_BILLING_REFUND.UNAUTHORIZED_AMOUNT',
        `Refund amount exceeds the remaining amount`,
      );
    const r: SimRefund = {
      refundId: randomUUID(),
      status: p.scenario === '77' ? 'processing' : 'succeeded',
      type: b.type,
      amount,
      clientCorrelator: b.amountTransaction.clientCorrelator,
      referenceCode: b.amountTransaction.referenceCode,
      reason: b.reason,
      createdAt: new Date(),
      sink: b.sink,
      sinkToken: b.sinkCredential?.accessToken,
    };
    if (r.status === 'succeeded') r.refundDate = new Date();
    p.refunds.push(r);
    if (corrKey) refundCorrelators.add(corrKey);
    if (b.type === 'total') p.refundsClosed = true;
    if (r.status === 'processing') {
      later(asyncDelayMs, () => {
        r.status = 'succeeded';
        r.refundDate = new Date();
        emit(
          r,
          'refund-completed',
          {
            paymentId: p.paymentId,
            refundId: r.refundId,
            status: 'succeeded',
            description: 'Refund completed',
            refundDate: r.refundDate.toISOString(),
          },
          `${url}${REFUNDS_BASE}/payments/${p.paymentId}/refunds/${r.refundId}`,
        );
      });
    }
    return { status: 201, body: refundView(p, r) };
  }

  // ----- routing -----------------------------------------------------------------------------
  type Route = {
    method: string;
    re: RegExp;
    scope: string;
    money: boolean;
    run: (ctx: Ctx, m: RegExpExecArray, q: URLSearchParams) => Reply;
  };
  const withPayment =
    (fn: (p: SimPayment, ctx: Ctx) => Reply) => (ctx: Ctx, m: RegExpExecArray) => {
      const p = payments.get(decodeURIComponent(m[1]!));
      if (!p || p.clientId !== ctx.clientId)
        return err(404, 'NOT_FOUND', 'The specified resource is not found');
      return fn(p, ctx);
    };
  const P = PAYMENTS_BASE.replace(/[/.]/g, '\\$&');
  const R = REFUNDS_BASE.replace(/[/.]/g, '\\$&');
  const routes: Route[] = [
    {
      method: 'POST',
      re: new RegExp(`^${P}/payments$`),
      scope: 'carrier-billing:payments:create',
      money: true,
      run: (ctx) => createPayment(ctx),
    },
    {
      method: 'POST',
      re: new RegExp(`^${P}/payments/prepare$`),
      scope: 'carrier-billing:payments:create',
      money: true,
      run: (ctx) => preparePayment(ctx),
    },
    {
      method: 'GET',
      re: new RegExp(`^${P}/payments$`),
      scope: 'carrier-billing:payments:read',
      money: false,
      run: (ctx, _m, q) => listPayments(ctx, q),
    },
    {
      method: 'GET',
      re: new RegExp(`^${P}/payments/([^/]+)$`),
      scope: 'carrier-billing:payments:read',
      money: false,
      run: withPayment((p) => ({ status: 200, body: paymentView(p) })),
    },
    {
      method: 'POST',
      re: new RegExp(`^${P}/payments/([^/]+)/validate$`),
      scope: 'carrier-billing:payments:write',
      money: false,
      run: withPayment(validatePayment),
    },
    {
      method: 'POST',
      re: new RegExp(`^${P}/payments/([^/]+)/confirm$`),
      scope: 'carrier-billing:payments:write',
      money: true,
      run: withPayment(confirmPayment),
    },
    {
      method: 'POST',
      re: new RegExp(`^${P}/payments/([^/]+)/cancel$`),
      scope: 'carrier-billing:payments:write',
      money: true,
      run: withPayment(cancelPayment),
    },
    {
      method: 'GET',
      re: new RegExp(`^${R}/payments/([^/]+)/refunds/remaining-amount$`),
      scope: 'carrier-billing-refund:refunds:read',
      money: false,
      run: withPayment((p) => ({
        status: 200,
        body: { amount: money(remaining(p), p.currency), currency: p.currency },
      })),
    },
    {
      method: 'POST',
      re: new RegExp(`^${R}/payments/([^/]+)/refunds$`),
      scope: 'carrier-billing-refund:refunds:create',
      money: true,
      run: withPayment(createRefund),
    },
    {
      method: 'GET',
      re: new RegExp(`^${R}/payments/([^/]+)/refunds$`),
      scope: 'carrier-billing-refund:refunds:read',
      money: false,
      run: withPayment((p) => ({
        status: 200,
        body: p.refunds.map((r) => refundView(p, r)),
        headers: { 'x-total-count': String(p.refunds.length) },
      })),
    },
    {
      method: 'GET',
      re: new RegExp(`^${R}/payments/([^/]+)/refunds/([^/]+)$`),
      scope: 'carrier-billing-refund:refunds:read',
      money: false,
      run: (ctx, m) => {
        const p = payments.get(decodeURIComponent(m[1]!));
        const r =
          p?.clientId === ctx.clientId
            ? p.refunds.find((x) => x.refundId === decodeURIComponent(m[2]!))
            : undefined;
        return p && r
          ? { status: 200, body: refundView(p, r) }
          : err(404, 'NOT_FOUND', 'The specified resource is not found');
      },
    },
  ];

  type After = 'hang' | 'malformed' | 'drop' | undefined;

  async function finish(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    reply: Reply,
    after: After,
  ): Promise<void> {
    if (faults.latencyMs > 0) await sleep(faults.latencyMs);
    if (after === 'drop') {
      req.socket.destroy();
      return;
    }
    const headers: Record<string, string> = { ...(reply.headers ?? {}) };
    const xc = req.headers['x-correlator'];
    if (typeof xc === 'string') headers['x-correlator'] = xc;
    let text = reply.body === undefined ? '' : stringifyWire(reply.body);
    if (after === 'malformed')
      text = text.slice(0, Math.max(1, Math.floor(text.length / 2))) || '{"payment';
    if (text) headers['content-type'] = 'application/json';
    const write = () => {
      if (res.destroyed || res.writableEnded) return;
      res.writeHead(reply.status, headers).end(text);
    };
    if (after === 'hang' || reply.delayed) later(faults.hangMs, write);
    else write();
  }

  async function handle(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    raw: Buffer,
  ): Promise<void> {
    const u = new URL(req.url ?? '/', 'http://sim');
    const method = req.method ?? 'GET';
    const contentType = String(req.headers['content-type'] ?? '');

    if (u.pathname === TOKEN_PATH && method === 'POST') {
      const form = new URLSearchParams(
        contentType.includes('application/x-www-form-urlencoded') ? raw.toString('utf8') : '',
      );
      return finish(req, res, await token(form), undefined);
    }

    if (faults.unavailable > 0) {
      faults.unavailable -= 1;
      return finish(req, res, err(503, 'UNAVAILABLE', 'Service unavailable'), undefined);
    }
    const xc = req.headers['x-correlator'];
    if (typeof xc === 'string' && !X_CORRELATOR.test(xc))
      return finish(req, res, err(400, 'INVALID_ARGUMENT', 'invalid x-correlator'), undefined);

    const auth = /^Bearer\s+(\S+)$/i.exec(String(req.headers.authorization ?? ''))?.[1];
    const grant = auth ? tokens.get(auth) : undefined;
    if (!grant || grant.exp < Date.now()) {
      return finish(
        req,
        res,
        err(
          401,
          'UNAUTHENTICATED',
          'Request not authenticated due to missing, invalid, or expired credentials.',
        ),
        undefined,
      );
    }

    for (const route of routes) {
      if (route.method !== method) continue;
      const m = route.re.exec(u.pathname);
      if (!m) continue;
      if (!grant.scopes.has(route.scope))
        return finish(
          req,
          res,
          err(
            403,
            'PERMISSION_DENIED',
            'Client does not have sufficient permissions to perform this action.',
          ),
          undefined,
        );
      let body: unknown;
      if (method === 'POST' && raw.length > 0) {
        if (!contentType.includes('application/json'))
          return finish(
            req,
            res,
            err(400, 'INVALID_ARGUMENT', 'content-type must be application/json'),
            undefined,
          );
        try {
          body = JSON.parse(raw.toString('utf8'));
        } catch {
          return finish(req, res, err(400, 'INVALID_ARGUMENT', 'body is not JSON'), undefined);
        }
      }
      let after: After;
      if (route.money) {
        if (faults.hangAfterCommit > 0) {
          faults.hangAfterCommit -= 1;
          after = 'hang';
        } else if (faults.malformedAfterCommit > 0) {
          faults.malformedAfterCommit -= 1;
          after = 'malformed';
        } else if (faults.dropAfterCommit > 0) {
          faults.dropAfterCommit -= 1;
          after = 'drop';
        }
      }
      const reply = route.run(
        { clientId: grant.clientId, scopes: grant.scopes, body },
        m,
        u.searchParams,
      );
      return finish(req, res, reply, after);
    }
    return finish(
      req,
      res,
      err(404, 'NOT_FOUND', 'The specified resource is not found'),
      undefined,
    );
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      handle(req, res, Buffer.concat(chunks)).catch((e: unknown) => {
        if (!res.headersSent && !res.destroyed)
          res
            .writeHead(500, { 'content-type': 'application/json' })
            .end(JSON.stringify({ status: 500, code: 'INTERNAL', message: String(e) }));
      });
    });
  });
  server.keepAliveTimeout = 10_000;
  await new Promise<void>((resolve) =>
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve()),
  );
  url = `http://${options.host ?? '127.0.0.1'}:${(server.address() as AddressInfo).port}`;

  const latestByReference = (reference: string) =>
    [...payments.values()]
      .filter((p) => p.referenceCode === reference)
      .sort((a, b) => b.seq - a.seq)[0];

  return {
    url,
    credentials,
    control: {
      setFaults(partial) {
        faults = { ...faults, ...partial };
      },
      reset() {
        faults = { ...NO_FAULTS };
        for (const t of timers) clearTimeout(t);
        timers.clear();
        payments.clear();
        correlators.clear();
        refundCorrelators.clear();
        lastGenuine.clear();
        reorderQueues.clear();
        goneSinks.clear();
        tokens.clear();
        jtis.clear();
      },
      chargeCount(reference) {
        return [...payments.values()].filter((p) => p.referenceCode === reference && p.charged)
          .length;
      },
      netCharged(reference) {
        let net = 0n;
        for (const p of payments.values()) {
          if (p.referenceCode !== reference || !p.charged) continue;
          net += p.amount;
          for (const r of p.refunds) if (r.status === 'succeeded') net -= r.amount;
        }
        return net;
      },
      async sendForgedCallback(reference) {
        const p = latestByReference(reference);
        const body = stringifyWire({
          id: randomUUID(),
          source: p ? paymentSource(p) : url,
          type: eventTypeOf('payment-completed'),
          specversion: '1.0',
          time: new Date().toISOString(),
          datacontenttype: 'application/json',
          data: {
            paymentId: p?.paymentId ?? randomUUID(),
            status: 'succeeded',
            description: 'Payment completed',
          },
        });
        return post({
          sink: p?.sink ?? options.callbackUrl,
          token: `forged-${randomBytes(16).toString('base64url')}`,
          body,
        });
      },
      async replayCallback(reference) {
        const d = lastGenuine.get(reference);
        if (!d) throw new Error(`no callback was sent for ${reference}`);
        return post(d);
      },
    },
    async stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      sinkAgent.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
