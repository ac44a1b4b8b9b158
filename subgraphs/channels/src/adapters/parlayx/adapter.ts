/**
 * Parlay X 2.1 Payment (SOAP 1.1, document/literal) + Account Management getBalance.
 *
 * Flows: template envelopes over an undici keep-alive Agent, answers parsed with fast-xml-parser
 * (parseTagValue: false). No WSDL at run time.
 *
 *   charge   → chargeAmount (empty answer = succeeded). When the operator answers POL0002
 *              (consent needed), or the account is configured `consentMode: 'always'`:
 *              reserveAmount, pending(OTP); confirmConsent checks the OTP here (the channel's
 *              job in Parlay X), then chargeReservation, or releaseReservation after the last
 *              wrong OTP (INVALID_OTP).
 *   refund   → refundAmount (partial allowed; the simulator refuses more than charged)
 *   reserve / capture / release → reserveAmount / chargeReservation / releaseReservation
 *   balance  → getBalance (Account Management)
 *   status   → Parlay X Payment has no status operation. `settings.statusMode`:
 *              'query' (default): a VENDOR charge-record lookup by referenceCode
 *                (`getChargeStatus`, see NS.vendorStatus), read-only, implemented by the
 *                simulator and by SDPs that expose a CDR query;
 *              'replay': chargeAmount again with the same referenceCode (from this process's
 *                memory of requests whose answer was lost). An SVC0270 "duplicate" naming our
 *                reference means it was charged; an empty answer means it was not and now is,
 *                still once; a fault means it was not;
 *              'none': always unknown, the settlement report resolves it.
 *
 * Credentials (credentials.authScheme): 'wsse' (WS-Security UsernameToken, PasswordDigest:
 * username, password) or 'huawei' (RequestSOAPHeader, MD5 spPassword: spId, password,
 * serviceId?). Settings: see ParlayXSettings.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Agent } from 'undici';
import type {
  AdapterConfig,
  AdapterDeps,
  AdapterFactory,
  BalanceResult,
  CaptureRequest,
  Capabilities,
  ChannelAdapter,
  ChargeRequest,
  ConsentRequest,
  Outcome,
  Procedure,
  ProviderRefRequest,
  RefundRequest,
} from '../types';
import { assertNever } from '../types';
import {
  NS,
  PATHS,
  chargeAmountBody,
  chargeReservationBody,
  chargeStatusBody,
  childOf,
  conditionOfFault,
  conditionOfHttpStatus,
  dispositionOf,
  duplicateAmount,
  envelope,
  faultSummary,
  fromXsdDecimal,
  getBalanceBody,
  huaweiHeader,
  huaweiTimestamp,
  maskedEndUser,
  outcomeOfChargeRecord,
  outcomeOfCondition,
  parseBalances,
  parseChargeRecord,
  parseEnvelope,
  refundAmountBody,
  releaseReservationBody,
  reserveAmountBody,
  telUri,
  textOf,
  toXsdDecimal,
  wsseHeader,
} from './transformers';
import type { ChargingInformation, SoapFault } from './transformers';

export const capabilities: Capabilities = {
  protocol: 'PARLAYX',
  kind: 'CARRIER_BILLING',
  procedures: ['CHARGE', 'RESERVE', 'CAPTURE', 'RELEASE', 'REFUND', 'BALANCE', 'STATUS', 'CONSENT'],
  patterns: ['REQUEST_READ', 'REQUEST_DOWNLOAD'],
  consent: ['NONE', 'OTP'],
  currencies: '*',
  refunds: 'partial',
};

export type AuthScheme = 'wsse' | 'huawei';
export type StatusMode = 'query' | 'replay' | 'none';
export type ConsentMode = 'policy' | 'always' | 'never';

export interface ParlayXSettings {
  amountChargingPath: string;
  reserveAmountChargingPath: string;
  accountManagementPath: string;
  statusPath: string;
  /** Namespace version is configuration: Huawei SDPs often use …/v3_1/local. */
  amountChargingNs: string;
  reserveAmountChargingNs: string;
  accountManagementNs: string;
  statusNs: string;
  statusMode: StatusMode;
  /** 'policy': consent when the operator answers POL0002; 'always': every charge; 'never'. */
  consentMode: ConsentMode;
  /**
   * The OTP the channel checks. Fixed for demo/test accounts ("123456"); OTP generation and SMS
   * delivery are not part of this adapter, so without it consent-required charges decline.
   */
  demoOtp?: string;
  otpAttempts: number;
  consentTtlMs: number;
  /** Send `originalReferenceCode` in refundAmount (operator extension). */
  refundOriginalReference: boolean;
  spPasswordCase: 'upper' | 'lower';
  /** getBalance: which Balance[] entry to report (first when absent). */
  balanceType?: string;
  maxConnections: number;
  /** How long a request may wait for a connection before it is given up unsent. */
  queueTimeoutMs: number;
}

const DEFAULT_SETTINGS: ParlayXSettings = {
  amountChargingPath: PATHS.amountCharging,
  reserveAmountChargingPath: PATHS.reserveAmountCharging,
  accountManagementPath: PATHS.accountManagement,
  statusPath: PATHS.amountCharging,
  amountChargingNs: NS.amountCharging,
  reserveAmountChargingNs: NS.reserveAmountCharging,
  accountManagementNs: NS.accountManagement,
  statusNs: NS.vendorStatus,
  statusMode: 'query',
  consentMode: 'policy',
  otpAttempts: 3,
  consentTtlMs: 5 * 60_000,
  refundOriginalReference: true,
  spPasswordCase: 'upper',
  maxConnections: 128,
  queueTimeoutMs: 5_000,
};

function readSettings(raw: AdapterConfig['settings']): ParlayXSettings {
  const s: ParlayXSettings = { ...DEFAULT_SETTINGS };
  const target = s as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(raw ?? {})) {
    if (!(key in DEFAULT_SETTINGS) && key !== 'demoOtp' && key !== 'balanceType')
      throw new Error(`parlayx: unknown setting "${key}"`);
    const expected = typeof (DEFAULT_SETTINGS as unknown as Record<string, unknown>)[key];
    if (expected !== 'undefined' && typeof value !== expected)
      throw new Error(`parlayx: setting "${key}" must be a ${expected}`);
    target[key] = value;
  }
  if (!['query', 'replay', 'none'].includes(s.statusMode))
    throw new Error(`parlayx: statusMode "${s.statusMode}"`);
  if (!['policy', 'always', 'never'].includes(s.consentMode))
    throw new Error(`parlayx: consentMode "${s.consentMode}"`);
  if (s.spPasswordCase !== 'upper' && s.spPasswordCase !== 'lower')
    throw new Error(`parlayx: spPasswordCase "${s.spPasswordCase}"`);
  return s;
}

type SecurityHeader = (endUser: string | undefined) => string;

function securityStrategy(
  credentials: Record<string, string>,
  settings: ParlayXSettings,
): SecurityHeader {
  const scheme = (credentials.authScheme ?? 'wsse') as AuthScheme;
  const need = (key: string): string => {
    const v = credentials[key];
    if (!v) throw new Error(`parlayx: credentials.${key} is required for authScheme "${scheme}"`);
    return v;
  };
  switch (scheme) {
    case 'wsse': {
      const username = need('username');
      const password = need('password');
      return () =>
        wsseHeader(
          username,
          password,
          randomBytes(16).toString('base64'),
          new Date().toISOString(),
        );
    }
    case 'huawei': {
      const spId = need('spId');
      const password = need('password');
      const serviceId = credentials.serviceId;
      return (endUser) =>
        huaweiHeader({
          spId,
          password,
          serviceId,
          timeStamp: huaweiTimestamp(new Date()),
          endUser,
          letterCase: settings.spPasswordCase,
        });
    }
    default:
      return assertNever(scheme);
  }
}

/** What one exchange produced, before it is read as an outcome. */
type Wire =
  | { kind: 'body'; status: number; content: unknown }
  | { kind: 'fault'; status: number; fault: SoapFault }
  | { kind: 'http'; status: number }
  /** Sent, but the answer was lost or unreadable. */
  | { kind: 'lost'; reason: string; status?: number }
  /** Never left: the connection could not be made. */
  | { kind: 'notSent'; reason: string };

type Sent = Wire & { durationMs: number };

interface Call {
  operation: string;
  reference?: string;
  path: string;
  xml: string;
  /** Redacted request for the interaction log. */
  summary: Record<string, unknown>;
  /** The response element expected on success. */
  responseElement: string;
}

interface Consent {
  reference: string;
  reservationId: string;
  msisdn: string;
  amount: bigint;
  currency: string;
  description: string;
  attemptsLeft: number;
  expiresAt: number;
  /** Serialises confirmations of one consent. */
  chain: Promise<unknown>;
}

interface Replayable {
  msisdn: string;
  amount: bigint;
  currency: string;
  description: string;
}

const MAX_REMEMBERED = 10_000;

export class ParlayXAdapter implements ChannelAdapter {
  readonly capabilities = capabilities;
  private readonly agent: Agent;
  private readonly origin: string;
  private readonly basePath: string;
  private readonly settings: ParlayXSettings;
  private readonly security: SecurityHeader;
  private readonly consents = new Map<string, Consent>();
  private readonly replayable = new Map<string, Replayable>();
  private readonly reservations = new Map<string, { description: string }>();
  private readonly inflight = new Map<string, Promise<Outcome>>();

  constructor(
    private readonly config: AdapterConfig,
    private readonly deps: AdapterDeps,
  ) {
    const url = new URL(config.baseUrl);
    this.origin = url.origin;
    this.basePath = url.pathname.replace(/\/$/, '');
    this.settings = readSettings(config.settings);
    this.security = securityStrategy(config.credentials, this.settings);
    this.agent = new Agent({
      connections: this.settings.maxConnections,
      keepAliveTimeout: 30_000,
      pipelining: 1,
      connect: { timeout: this.settings.queueTimeoutMs },
    });
  }

  // ---------------------------------------------------------------------------------- charge

  charge(req: ChargeRequest): Promise<Outcome> {
    const running = this.inflight.get(req.reference);
    if (running) return running;
    const p = this.doCharge(req).finally(() => this.inflight.delete(req.reference));
    this.inflight.set(req.reference, p);
    return p;
  }

  private async doCharge(req: ChargeRequest): Promise<Outcome> {
    if (!req.msisdn)
      return { kind: 'declined', code: 'DENIED', message: 'Parlay X charges an MSISDN' };
    const pendingConsent = this.consents.get(req.reference);
    if (pendingConsent && pendingConsent.expiresAt > Date.now())
      return this.otpPending(pendingConsent);
    if (this.settings.consentMode === 'always') return this.startConsent(req);

    let charge: ChargingInformation;
    try {
      charge = this.chargingInformation(req.description, req.amount, req.currency);
    } catch (err) {
      return { kind: 'declined', code: 'DENIED', message: (err as Error).message };
    }
    const endUser = telUri(req.msisdn);
    const call: Call = {
      operation: 'chargeAmount',
      reference: req.reference,
      path: this.settings.amountChargingPath,
      xml: envelope(
        this.security(endUser),
        chargeAmountBody(this.settings.amountChargingNs, endUser, charge, req.reference),
      ),
      summary: {
        endUserIdentifier: maskedEndUser(req.msisdn),
        charge: { ...charge },
        referenceCode: req.reference,
      },
      responseElement: 'chargeAmountResponse',
    };
    const wire = await this.send(call);
    const consent =
      wire.kind === 'fault' &&
      dispositionOf(conditionOfFault(wire.fault, req.reference)).kind === 'consent';
    let outcome: Outcome;
    if (!consent)
      outcome = this.moneyOutcome(wire, req.reference, {
        amount: req.amount,
        currency: req.currency,
      });
    else if (this.settings.consentMode === 'never') {
      outcome = {
        kind: 'declined',
        code: 'DENIED',
        providerCode: 'POL0002',
        message: 'end-user consent required; consent is off for this account',
      };
    } else outcome = { kind: 'pending', completion: 'poll' };
    this.record(call, wire, outcome);
    if (outcome.kind === 'unknown') this.remember(req);
    return consent && outcome.kind === 'pending' ? this.startConsent(req) : outcome;
  }

  // ---------------------------------------------------------------------------------- consent

  private async startConsent(req: ChargeRequest): Promise<Outcome> {
    if (!this.settings.demoOtp) {
      return {
        kind: 'declined',
        code: 'DENIED',
        providerCode: 'POL0002',
        message: 'end-user consent required but no OTP is configured for this account',
      };
    }
    const reserved = await this.reserve(req);
    if (reserved.kind !== 'succeeded' || !reserved.providerRef) return reserved;
    const consent: Consent = {
      reference: req.reference,
      reservationId: reserved.providerRef,
      msisdn: req.msisdn!,
      amount: req.amount,
      currency: req.currency,
      description: req.description,
      attemptsLeft: this.settings.otpAttempts,
      expiresAt: Date.now() + this.settings.consentTtlMs,
      chain: Promise.resolve(),
    };
    this.sweepConsents();
    this.consents.set(req.reference, consent);
    return this.otpPending(consent);
  }

  private otpPending(c: Consent): Outcome {
    return {
      kind: 'pending',
      completion: 'poll',
      providerRef: c.reservationId,
      action: { kind: 'OTP', attemptsLeft: c.attemptsLeft },
    };
  }

  confirmConsent(req: ConsentRequest): Promise<Outcome> {
    const consent = this.consents.get(req.reference);
    if (!consent || (req.providerRef && req.providerRef !== consent.reservationId)) {
      return Promise.resolve({
        kind: 'declined',
        code: 'CONSENT_EXPIRED',
        providerRef: req.providerRef,
        message: 'no consent in progress for this reference',
      });
    }
    const next = consent.chain.then(() => this.checkOtp(consent, req.otp));
    consent.chain = next.catch(() => undefined);
    return next;
  }

  /**
   * The OTP check is the channel's own step, not an exchange with the operator: nothing to
   * record but the reserve / charge / release calls it leads to (the OTP is never logged).
   */
  private async checkOtp(consent: Consent, otp: string): Promise<Outcome> {
    if (this.consents.get(consent.reference) !== consent) {
      // Settled by an earlier confirmation of the same consent.
      return this.status({
        reference: consent.reference,
        providerRef: consent.reservationId,
        procedure: 'CHARGE',
      });
    }
    const ref = {
      reference: consent.reference,
      providerRef: consent.reservationId,
      msisdn: consent.msisdn,
    };
    if (consent.expiresAt <= Date.now()) {
      this.consents.delete(consent.reference);
      await this.release(ref);
      return { kind: 'declined', code: 'CONSENT_EXPIRED', providerRef: consent.reservationId };
    }
    if (!sameOtp(otp, this.settings.demoOtp ?? '')) {
      consent.attemptsLeft -= 1;
      if (consent.attemptsLeft > 0) return this.otpPending(consent);
      this.consents.delete(consent.reference);
      await this.release(ref);
      return { kind: 'declined', code: 'INVALID_OTP', providerRef: consent.reservationId };
    }
    this.consents.delete(consent.reference);
    this.reservations.set(consent.reservationId, { description: consent.description });
    const charged = await this.capture({
      ...ref,
      amount: consent.amount,
      currency: consent.currency,
    });
    // A refused chargeReservation leaves the hold: give it back (best effort, it also expires).
    if (charged.kind === 'declined') await this.release(ref);
    return charged;
  }

  private sweepConsents(): void {
    if (this.consents.size < MAX_REMEMBERED) return;
    const now = Date.now();
    for (const [k, c] of this.consents) if (c.expiresAt <= now) this.consents.delete(k);
  }

  // ---------------------------------------------------------------------------------- reserve / capture / release

  async reserve(req: ChargeRequest): Promise<Outcome> {
    if (!req.msisdn)
      return { kind: 'declined', code: 'DENIED', message: 'Parlay X reserves on an MSISDN' };
    let charge: ChargingInformation;
    try {
      charge = this.chargingInformation(req.description, req.amount, req.currency);
    } catch (err) {
      return { kind: 'declined', code: 'DENIED', message: (err as Error).message };
    }
    const endUser = telUri(req.msisdn);
    const call: Call = {
      operation: 'reserveAmount',
      reference: req.reference,
      path: this.settings.reserveAmountChargingPath,
      xml: envelope(
        this.security(endUser),
        reserveAmountBody(this.settings.reserveAmountChargingNs, endUser, charge),
      ),
      summary: { endUserIdentifier: maskedEndUser(req.msisdn), charge: { ...charge } },
      responseElement: 'reserveAmountResponse',
    };
    const wire = await this.send(call);
    let outcome: Outcome;
    if (wire.kind === 'body') {
      const result = childOf(wire.content, 'result');
      const id = textOf(Array.isArray(result) ? result[0] : result)?.trim();
      outcome = id
        ? { kind: 'succeeded', providerRef: id, amount: req.amount, currency: req.currency }
        : { kind: 'unknown', reason: 'reserveAmountResponse without a reservationIdentifier' };
      if (id) this.rememberReservation(id, req.description);
    } else {
      // reserveAmount has no correlation key: a lost answer may leave a hold that expires.
      outcome = this.moneyOutcome(wire, undefined);
    }
    this.record(call, wire, outcome);
    return outcome;
  }

  async capture(req: CaptureRequest): Promise<Outcome> {
    if (!req.providerRef)
      return {
        kind: 'declined',
        code: 'DENIED',
        message: 'capture needs the reservationIdentifier (providerRef)',
      };
    let charge: ChargingInformation;
    try {
      const description =
        this.reservations.get(req.providerRef)?.description ?? `Capture ${req.reference}`;
      charge = this.chargingInformation(description, req.amount, req.currency);
    } catch (err) {
      return { kind: 'declined', code: 'DENIED', message: (err as Error).message };
    }
    const call: Call = {
      operation: 'chargeReservation',
      reference: req.reference,
      path: this.settings.reserveAmountChargingPath,
      xml: envelope(
        this.security(req.msisdn ? telUri(req.msisdn) : undefined),
        chargeReservationBody(
          this.settings.reserveAmountChargingNs,
          req.providerRef,
          charge,
          req.reference,
        ),
      ),
      summary: {
        reservationIdentifier: req.providerRef,
        charge: { ...charge },
        referenceCode: req.reference,
      },
      responseElement: 'chargeReservationResponse',
    };
    const wire = await this.send(call);
    const outcome = this.moneyOutcome(
      wire,
      req.reference,
      { amount: req.amount, currency: req.currency },
      req.providerRef,
    );
    this.record(call, wire, outcome);
    if (outcome.kind === 'succeeded') this.reservations.delete(req.providerRef);
    return outcome;
  }

  async release(req: ProviderRefRequest): Promise<Outcome> {
    if (!req.providerRef)
      return {
        kind: 'declined',
        code: 'DENIED',
        message: 'release needs the reservationIdentifier (providerRef)',
      };
    const call: Call = {
      operation: 'releaseReservation',
      reference: req.reference,
      path: this.settings.reserveAmountChargingPath,
      xml: envelope(
        this.security(req.msisdn ? telUri(req.msisdn) : undefined),
        releaseReservationBody(this.settings.reserveAmountChargingNs, req.providerRef),
      ),
      summary: { reservationIdentifier: req.providerRef },
      responseElement: 'releaseReservationResponse',
    };
    const wire = await this.send(call);
    const outcome = this.moneyOutcome(wire, undefined, undefined, req.providerRef);
    this.record(call, wire, outcome);
    if (outcome.kind === 'succeeded') this.reservations.delete(req.providerRef);
    return outcome;
  }

  // ---------------------------------------------------------------------------------- refund

  async refund(req: RefundRequest): Promise<Outcome> {
    if (!req.msisdn)
      return {
        kind: 'declined',
        code: 'DENIED',
        message: 'Parlay X refundAmount needs the MSISDN',
      };
    let charge: ChargingInformation;
    try {
      charge = this.chargingInformation(
        req.reason ?? `Refund ${req.chargeReference}`,
        req.amount,
        req.currency,
      );
    } catch (err) {
      return { kind: 'declined', code: 'DENIED', message: (err as Error).message };
    }
    const endUser = telUri(req.msisdn);
    const original = this.settings.refundOriginalReference ? req.chargeReference : undefined;
    const call: Call = {
      operation: 'refundAmount',
      reference: req.reference,
      path: this.settings.amountChargingPath,
      xml: envelope(
        this.security(endUser),
        refundAmountBody(this.settings.amountChargingNs, endUser, charge, req.reference, original),
      ),
      summary: {
        endUserIdentifier: maskedEndUser(req.msisdn),
        charge: { ...charge },
        referenceCode: req.reference,
        originalReferenceCode: original,
      },
      responseElement: 'refundAmountResponse',
    };
    const wire = await this.send(call);
    const outcome = this.moneyOutcome(wire, req.reference, {
      amount: req.amount,
      currency: req.currency,
    });
    this.record(call, wire, outcome);
    return outcome;
  }

  // ---------------------------------------------------------------------------------- balance

  async balance(req: { msisdn: string; currency: string }): Promise<BalanceResult> {
    const endUser = telUri(req.msisdn);
    const call: Call = {
      operation: 'getBalance',
      path: this.settings.accountManagementPath,
      xml: envelope(
        this.security(endUser),
        getBalanceBody(this.settings.accountManagementNs, endUser),
      ),
      summary: { endUserIdentifier: maskedEndUser(req.msisdn) },
      responseElement: 'getBalanceResponse',
    };
    const wire = await this.send(call);
    let result: BalanceResult | undefined;
    let error: Error | undefined;
    if (wire.kind === 'body') {
      try {
        const balances = parseBalances(wire.content);
        const chosen = this.settings.balanceType
          ? balances.find((b) => b.balanceType === this.settings.balanceType)
          : balances[0];
        if (!chosen) throw new Error('no matching balance in getBalanceResponse');
        result = { amount: fromXsdDecimal(chosen.amount, req.currency), currency: req.currency };
      } catch (err) {
        error = new Error(`parlayx getBalance: unreadable answer (${(err as Error).message})`);
      }
    } else if (wire.kind === 'fault') {
      error = new Error(`parlayx getBalance: ${wire.fault.messageId ?? wire.fault.faultcode}`);
    } else {
      error = new Error(
        `parlayx getBalance: ${wire.kind === 'http' ? `HTTP ${wire.status}` : wire.reason}`,
      );
    }
    this.deps.record({
      direction: 'OUTBOUND',
      operation: call.operation,
      request: call.summary,
      response: result
        ? { amount: result.amount.toString(), currency: result.currency }
        : responseSummary(wire),
      status: statusOf(wire),
      durationMs: wire.durationMs,
      at: new Date(Date.now() - wire.durationMs),
    });
    if (error) throw error;
    return result!;
  }

  // ---------------------------------------------------------------------------------- status

  async status(req: ProviderRefRequest & { procedure?: Procedure }): Promise<Outcome> {
    const procedure = req.procedure ?? 'CHARGE';
    const consent = this.consents.get(req.reference);
    if (consent && (procedure === 'CHARGE' || procedure === 'CONSENT')) {
      if (consent.expiresAt > Date.now()) return this.otpPending(consent);
    }
    switch (procedure) {
      case 'CHARGE':
      case 'CAPTURE':
      case 'CONSENT':
      case 'REFUND':
        break;
      case 'RESERVE':
      case 'RELEASE':
      case 'BALANCE':
      case 'STATUS':
        return { kind: 'unknown', reason: `Parlay X has no correlation key for ${procedure}` };
      default:
        return assertNever(procedure);
    }
    const kind = procedure === 'REFUND' ? 'REFUND' : 'CHARGE';
    switch (this.settings.statusMode) {
      case 'query':
        return this.queryStatus(req.reference, kind);
      case 'replay':
        return kind === 'CHARGE'
          ? this.replayStatus(req.reference)
          : { kind: 'unknown', reason: 'replay status covers charges only' };
      case 'none':
        return {
          kind: 'unknown',
          reason: 'Parlay X Payment has no status operation; the settlement report resolves it',
        };
      default:
        return assertNever(this.settings.statusMode);
    }
  }

  private async queryStatus(reference: string, procedure: 'CHARGE' | 'REFUND'): Promise<Outcome> {
    const call: Call = {
      operation: 'getChargeStatus',
      reference,
      path: this.settings.statusPath,
      xml: envelope(this.security(undefined), chargeStatusBody(this.settings.statusNs, reference)),
      summary: { referenceCode: reference },
      responseElement: 'getChargeStatusResponse',
    };
    const wire = await this.send(call);
    let outcome: Outcome;
    if (wire.kind === 'body') {
      try {
        outcome = outcomeOfChargeRecord(parseChargeRecord(wire.content), procedure);
      } catch (err) {
        outcome = {
          kind: 'unknown',
          reason: `unreadable status answer: ${(err as Error).message}`,
        };
      }
    } else {
      // A failed status query says nothing about the charge.
      outcome = {
        kind: 'unknown',
        reason: `status query failed (${wire.kind === 'fault' ? (wire.fault.messageId ?? wire.fault.faultcode) : wire.kind === 'http' ? `HTTP ${wire.status}` : wire.reason})`,
      };
    }
    this.record(call, wire, outcome);
    if (outcome.kind === 'succeeded' || outcome.kind === 'declined')
      this.replayable.delete(reference);
    return outcome;
  }

  private async replayStatus(reference: string): Promise<Outcome> {
    const original = this.replayable.get(reference);
    if (!original)
      return {
        kind: 'unknown',
        reason: 'no replayable request for this reference in this process',
      };
    const outcome = await this.charge({ reference, ...original });
    if (outcome.kind === 'declined' && outcome.code === 'CHANNEL_UNAVAILABLE') {
      return {
        kind: 'unknown',
        reason: `replay not answered (${outcome.providerCode ?? 'unavailable'})`,
      };
    }
    if (outcome.kind !== 'unknown') this.replayable.delete(reference);
    return outcome;
  }

  private remember(req: ChargeRequest): void {
    if (this.settings.statusMode !== 'replay' || !req.msisdn) return;
    if (this.replayable.size >= MAX_REMEMBERED)
      this.replayable.delete(this.replayable.keys().next().value!);
    this.replayable.set(req.reference, {
      msisdn: req.msisdn,
      amount: req.amount,
      currency: req.currency,
      description: req.description,
    });
  }

  private rememberReservation(id: string, description: string): void {
    if (this.reservations.size >= MAX_REMEMBERED)
      this.reservations.delete(this.reservations.keys().next().value!);
    this.reservations.set(id, { description });
  }

  // ---------------------------------------------------------------------------------- plumbing

  async close(): Promise<void> {
    this.consents.clear();
    await this.agent.close();
  }

  private chargingInformation(
    description: string,
    amount: bigint,
    currency: string,
  ): ChargingInformation {
    return { description, currency, amount: toXsdDecimal(amount, currency) };
  }

  /**
   * Reads a money-moving exchange. `expected` is what we asked for: a duplicate answer that
   * reports another amount is a conflict, never a success.
   */
  private moneyOutcome(
    wire: Wire,
    referenceCode: string | undefined,
    expected?: { amount: bigint; currency: string },
    providerRef?: string,
  ): Outcome {
    switch (wire.kind) {
      case 'body':
        return { kind: 'succeeded', ...(providerRef ? { providerRef } : {}), ...(expected ?? {}) };
      case 'fault': {
        const condition = conditionOfFault(wire.fault, referenceCode);
        const outcome = outcomeOfCondition(condition, wire.fault, providerRef);
        if (dispositionOf(condition).kind === 'duplicate' && expected) {
          const reported = duplicateAmount(wire.fault);
          if (reported) {
            let same: boolean;
            try {
              same =
                reported.currency === expected.currency &&
                fromXsdDecimal(reported.amount, expected.currency) === expected.amount;
            } catch {
              same = false;
            }
            if (!same)
              return {
                kind: 'unknown',
                reason: `amount conflict: the reference was already used for ${reported.amount} ${reported.currency}`,
              };
          }
          return { kind: 'succeeded', ...(providerRef ? { providerRef } : {}), ...expected };
        }
        return outcome;
      }
      case 'http':
        return outcomeOfCondition(conditionOfHttpStatus(wire.status), undefined, providerRef);
      case 'lost':
        return { kind: 'unknown', reason: wire.reason, ...(providerRef ? { providerRef } : {}) };
      case 'notSent':
        return {
          kind: 'declined',
          code: 'CHANNEL_UNAVAILABLE',
          providerCode: 'NOT_SENT',
          message: wire.reason,
        };
      default:
        return assertNever(wire);
    }
  }

  /**
   * One exchange. The client timeout runs from the moment the request is written to its socket
   * (undici's onRequestStart): time spent queued or connecting is not "after send". A request
   * that never reached a socket within `queueTimeoutMs`, or failed before, was not sent.
   */
  private send(call: Call): Promise<Sent> {
    const started = performance.now();
    const { timeoutMs } = this.config;
    return new Promise<Sent>((resolve) => {
      let settled = false;
      let sent = false;
      let status: number | undefined;
      const chunks: Buffer[] = [];
      const finish = (wire: Wire) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ ...wire, durationMs: Math.round(performance.now() - started) });
      };
      let timer: NodeJS.Timeout = setTimeout(
        () =>
          finish({
            kind: 'notSent',
            reason: `no connection within ${this.settings.queueTimeoutMs} ms`,
          }),
        this.settings.queueTimeoutMs,
      );
      this.agent.dispatch(
        {
          origin: this.origin,
          path: this.basePath + call.path,
          method: 'POST',
          headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: '""' },
          body: call.xml,
        },
        {
          onRequestStart: (controller) => {
            if (settled) {
              // We already gave up on it: aborting here keeps it off the wire.
              controller.abort(new Error('given up before sending'));
              return;
            }
            sent = true;
            clearTimeout(timer);
            timer = setTimeout(() => {
              finish({ kind: 'lost', reason: `timeout after ${timeoutMs} ms`, status });
              controller.abort(new Error('client timeout'));
            }, timeoutMs);
          },
          onResponseStart: (_controller, statusCode) => {
            status = statusCode;
          },
          onResponseData: (_controller, chunk) => {
            chunks.push(chunk);
          },
          onResponseEnd: () => {
            finish(
              status === undefined
                ? { kind: 'lost', reason: 'no status line' }
                : this.readAnswer(
                    status,
                    Buffer.concat(chunks).toString('utf8'),
                    call.responseElement,
                  ),
            );
          },
          onResponseError: (_controller, err) => {
            const code =
              (err as { code?: string }).code ??
              (err as { cause?: { code?: string } }).cause?.code ??
              err.message;
            finish(
              sent
                ? { kind: 'lost', reason: `connection lost (${code})`, status }
                : { kind: 'notSent', reason: code },
            );
          },
        },
      );
    });
  }

  private readAnswer(status: number, text: string, responseElement: string): Wire {
    if (status === 503 || status === 429 || status === 401 || status === 403)
      return { kind: 'http', status };
    let parsed: ReturnType<typeof parseEnvelope> | undefined;
    try {
      parsed = parseEnvelope(text);
    } catch {
      parsed = undefined;
    }
    if (parsed?.kind === 'fault') return { kind: 'fault', status, fault: parsed.fault };
    if (status >= 400 && status < 500) return { kind: 'http', status };
    if (status !== 200)
      return parsed
        ? { kind: 'lost', reason: `HTTP ${status} without a fault`, status }
        : { kind: 'http', status };
    if (!parsed) return { kind: 'lost', reason: 'unreadable answer', status };
    if (parsed.element !== responseElement)
      return { kind: 'lost', reason: `unexpected answer element ${parsed.element}`, status };
    return { kind: 'body', status, content: parsed.content };
  }

  private record(call: Call, wire: Sent, outcome: Outcome): void {
    const durationMs = wire.durationMs;
    this.deps.record({
      direction: 'OUTBOUND',
      operation: call.operation,
      reference: call.reference,
      request: call.summary,
      response: responseSummary(wire),
      status: statusOf(wire),
      durationMs,
      outcome: outcome.kind,
      at: new Date(Date.now() - durationMs),
    });
  }
}

function responseSummary(wire: Wire): unknown {
  switch (wire.kind) {
    case 'body':
      return wire.content === '' ? {} : redactBody(wire.content);
    case 'fault':
      return faultSummary(wire.fault);
    case 'http':
      return { httpStatus: wire.status };
    case 'lost':
    case 'notSent':
      return { error: wire.reason };
    default:
      return assertNever(wire);
  }
}

/** Response bodies carry ids, amounts and states; mask any digit run that could be a number. */
function redactBody(content: unknown): unknown {
  return JSON.parse(
    JSON.stringify(content ?? {}).replace(
      /\+?\d{7,15}/g,
      (m) => `${m.slice(0, 3)}****${m.slice(-4)}`,
    ),
  );
}

function statusOf(wire: Wire): number | string {
  switch (wire.kind) {
    case 'body':
    case 'fault':
    case 'http':
      return wire.status;
    case 'lost':
      return wire.status ?? 'lost';
    case 'notSent':
      return 'not sent';
    default:
      return assertNever(wire);
  }
}

function sameOtp(given: string, expected: string): boolean {
  const a = Buffer.from(given, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  return expected.length > 0 && a.length === b.length && timingSafeEqual(a, b);
}

export const factory: AdapterFactory = {
  code: 'parlayx',
  capabilities,
  create: (config, deps) => new ParlayXAdapter(config, deps),
};
