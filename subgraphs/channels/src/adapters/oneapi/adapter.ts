/**
 * GSMA OneAPI Payment v1 adapter (PROTOCOLS.md §4): form-encoded requests (JSON profile per
 * channel setting), JSON answers, HTTP Basic to the operator.
 *
 * - charge: POST …/transactions/amount `Charged`, clientCorrelator = referenceCode = our
 *   reference, callbackURL = our sink + a per-payment HMAC token. 201 ⇒ succeeded, 202 ⇒ pending.
 * - refund: same URI, `Refunded` + originalServerReferenceCode. reserve/capture/release:
 *   …/amountReservation[/{transactionId}] with referenceSequence.
 * - status: GET resourceURL; when the first answer was lost (no resourceURL yet), a read-only
 *   lookup in GET …/{endUserId}/transactions by clientCorrelator. status() never charges.
 * - callbacks: Basic credentials configured at the operator + the path token; then the
 *   resourceURL is re-read and the event is built from what the server says now.
 * - consent (55): the operator answers POL3000; we open an OTP consent, confirmConsent verifies
 *   it and only then charges with `consentId` (see simulator.ts).
 *
 * config.credentials: username, password (Basic to the operator); callbackUsername,
 * callbackPassword (what the operator presents to our sink); callbackTokenKey (HMAC key for the
 * callback path tokens; defaults to callbackPassword). settings: encoding 'form' | 'json'.
 */
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
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
  ConsentRequest,
  InboundRequest,
  Outcome,
  Procedure,
  ProviderRefRequest,
  RefundRequest,
} from '../types';
import { CallbackRejected, ProcedureNotSupported, assertNever } from '../types';
import type {
  AmountTransaction,
  Consent,
  Encoding,
  PaymentFields,
  PaymentOperation,
  TransactionWrapper,
} from './transformers';
import {
  AmountConflict,
  ConsentSchema,
  TransactionListSchema,
  callbackToken,
  classifyError,
  consentOutcome,
  encodeForm,
  encodePaymentBody,
  endUserIdOf,
  fromWireAmount,
  outcomeForStatus,
  parseRequestError,
  parseTransaction,
  parseTransactionStatus,
  paymentPaths,
  redact,
  reportedAmount,
  safeEqual,
  toWireAmount,
} from './transformers';

export const capabilities: Capabilities = {
  protocol: 'ONEAPI',
  kind: 'CARRIER_BILLING',
  procedures: ['CHARGE', 'RESERVE', 'CAPTURE', 'RELEASE', 'REFUND', 'STATUS', 'CONSENT'],
  patterns: ['REQUEST_READ', 'REQUEST_DOWNLOAD', 'REQUEST_WAIT_RECEIVE'],
  consent: ['NONE', 'OTP'],
  currencies: '*',
  refunds: 'partial',
};

/** What we know about one of our references (kept before sending; bounded). */
interface Memo {
  procedure: 'CHARGE' | 'RESERVE' | 'REFUND';
  msisdn: string;
  endUserId: string;
  amount: bigint;
  currency: string;
  description: string;
  merchantName?: string;
  resourceURL?: string;
  serverReferenceCode?: string;
  callbackSent?: boolean;
  consent?: { id: string; resourceURL: string; verified: boolean };
  /** Reservations: the last applied referenceSequence, and the one chosen per pending op. */
  seq?: number;
  opSeq?: Partial<Record<'capture' | 'release', number>>;
  captured?: { amount: bigint; currency: string };
}

type Answer =
  | { type: 'answer'; status: number; location?: string; text: string; json: unknown }
  | { type: 'failed'; sent: boolean; reason: string };

interface Call {
  operation: string;
  reference?: string;
  msisdn?: string;
  method: 'GET' | 'POST';
  url: string;
  body?: { contentType: string; text: string; log: unknown };
}

const MEMORY_LIMIT = 50_000;
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

function errorCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | undefined;
  const code = e?.code ?? e?.cause?.code;
  return typeof code === 'string' ? code : undefined;
}

class OneApiAdapter implements ChannelAdapter {
  readonly capabilities = capabilities;
  private readonly agent: Agent;
  private readonly baseUrl: string;
  private readonly origin: string;
  private readonly encoding: Encoding;
  private readonly authorization: string;
  private readonly tokenKey?: string;
  private readonly sinkBase?: string;
  private readonly memory = new Map<string, Memo>();
  private readonly inflight = new Map<string, Promise<Outcome>>();

  constructor(
    private readonly config: AdapterConfig,
    private readonly deps: AdapterDeps,
  ) {
    const { username, password } = config.credentials;
    if (!username || !password)
      throw new Error('OneAPI needs credentials.username and credentials.password');
    this.baseUrl = config.baseUrl.replace(/\/+$/, '');
    this.origin = new URL(this.baseUrl).origin;
    const encoding = config.settings?.encoding ?? 'form';
    if (encoding !== 'form' && encoding !== 'json')
      throw new Error(`unknown OneAPI encoding ${String(encoding)}`);
    this.encoding = encoding;
    this.authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
    this.tokenKey = config.credentials.callbackTokenKey ?? config.credentials.callbackPassword;
    this.sinkBase = deps.callbackUrl?.replace(/\/+$/, '');
    this.agent = new Agent({
      keepAliveTimeout: 4_000,
      keepAliveMaxTimeout: 30_000,
      connections: 64,
      pipelining: 1,
    });
  }

  // ------------------------------------------------------------------ procedures

  charge(req: ChargeRequest): Promise<Outcome> {
    return this.once(`charge:${req.reference}`, () => this.begin(req, 'CHARGE'));
  }

  reserve(req: ChargeRequest): Promise<Outcome> {
    return this.once(`reserve:${req.reference}`, () => this.begin(req, 'RESERVE'));
  }

  capture(req: CaptureRequest): Promise<Outcome> {
    return this.once(`capture:${req.reference}`, () => this.reservationOp(req, 'capture', req));
  }

  release(req: ProviderRefRequest): Promise<Outcome> {
    return this.once(`release:${req.reference}`, () => this.reservationOp(req, 'release'));
  }

  refund(req: RefundRequest): Promise<Outcome> {
    return this.once(`refund:${req.reference}`, () => this.doRefund(req));
  }

  confirmConsent(req: ConsentRequest): Promise<Outcome> {
    return this.once(`consent:${req.reference}`, () => this.doConfirm(req));
  }

  async status(req: ProviderRefRequest & { procedure?: Procedure }): Promise<Outcome> {
    const procedure = req.procedure ?? 'CHARGE';
    switch (procedure) {
      case 'CHARGE':
        return (await this.read(req, 'charge')).outcome;
      case 'REFUND':
        return (await this.read(req, 'refund')).outcome;
      case 'RESERVE':
        return (await this.read(req, 'reserve')).outcome;
      case 'CAPTURE':
        return (await this.read(req, 'capture')).outcome;
      case 'RELEASE':
        return (await this.read(req, 'release')).outcome;
      case 'CONSENT':
        return this.consentStatus(req);
      case 'STATUS':
      case 'BALANCE':
        throw new ProcedureNotSupported('ONEAPI', procedure);
      default:
        return assertNever(procedure);
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  // ------------------------------------------------------------------ charge / reserve

  private async begin(req: ChargeRequest, procedure: 'CHARGE' | 'RESERVE'): Promise<Outcome> {
    if (!req.msisdn) throw new Error('OneAPI charges an MSISDN: msisdn is required');
    toWireAmount(req.amount, req.currency); // rejects currencies OneAPI cannot bill, before anything is sent
    const endUserId = endUserIdOf(req.msisdn);
    let memo = this.memory.get(req.reference);
    if (
      memo &&
      (memo.amount !== req.amount ||
        memo.currency !== req.currency ||
        memo.endUserId !== endUserId ||
        memo.procedure !== procedure)
    ) {
      throw new Error(`reference ${req.reference} was already used with other data`);
    }
    if (!memo) {
      memo = {
        procedure,
        msisdn: req.msisdn,
        endUserId,
        amount: req.amount,
        currency: req.currency,
        description: req.description,
        merchantName: req.merchantName,
      };
      this.remember(req.reference, memo);
    }
    return this.sendPayment(req.reference, memo);
  }

  /** POSTs the charge (or reservation) with our reference as clientCorrelator: safe to repeat. */
  private async sendPayment(
    reference: string,
    memo: Memo,
    consentAttempted = false,
  ): Promise<Outcome> {
    const paths = paymentPaths(this.baseUrl, memo.endUserId);
    const op: PaymentOperation = memo.procedure === 'RESERVE' ? 'reserve' : 'charge';
    const callbackURL = op === 'charge' ? this.callbackUrlFor(reference) : undefined;
    memo.callbackSent = callbackURL !== undefined;
    const fields: PaymentFields = {
      endUserId: memo.endUserId,
      transactionOperationStatus: op === 'reserve' ? 'Reserved' : 'Charged',
      referenceCode: reference,
      referenceSequence: op === 'reserve' ? 1 : undefined,
      description: memo.description,
      currency: memo.currency,
      amount: toWireAmount(memo.amount, memo.currency),
      clientCorrelator: reference,
      onBehalfOf: memo.merchantName,
      callbackURL,
      consentId: memo.consent?.verified ? memo.consent.id : undefined,
    };
    const wrapper: TransactionWrapper =
      op === 'reserve' ? 'amountReservationTransaction' : 'amountTransaction';
    const call = this.post(
      op,
      reference,
      memo.msisdn,
      op === 'reserve' ? paths.reservation : paths.amount,
      wrapper,
      fields,
    );
    const { answer, durationMs } = await this.http(call);
    const result = this.paymentAnswer(reference, memo, op, answer);
    if (result === 'consentRequired') {
      this.log(call, answer, durationMs, {
        kind: 'pending',
        completion: 'poll',
        action: { kind: 'OTP' },
      });
      if (consentAttempted)
        return { kind: 'unknown', reason: 'operator still requires consent after a verified OTP' };
      return this.startConsent(reference, memo);
    }
    this.log(call, answer, durationMs, result);
    return result;
  }

  /** The answer to a money-moving request. */
  private paymentAnswer(
    reference: string,
    memo: Memo,
    op: PaymentOperation,
    answer: Answer,
  ): Outcome | 'consentRequired' {
    if (answer.type === 'failed') {
      return answer.sent
        ? { kind: 'unknown', reason: answer.reason, providerRef: memo.serverReferenceCode }
        : {
            kind: 'declined',
            code: 'CHANNEL_UNAVAILABLE',
            providerCode: 'NOT_SENT',
            message: answer.reason,
          };
    }
    if (answer.status >= 200 && answer.status < 300) {
      const parsed = parseTransaction(answer.json);
      if (!parsed)
        return {
          kind: 'unknown',
          reason: `unreadable ${answer.status} answer`,
          providerRef: memo.serverReferenceCode,
        };
      return this.transactionOutcome(reference, memo, op, parsed.txn, answer.location);
    }
    const cls = classifyError(answer.status, parseRequestError(answer.json));
    switch (cls.type) {
      case 'declined':
        return {
          kind: 'declined',
          code: cls.code,
          providerCode: cls.providerCode,
          message: cls.message,
        };
      case 'unknown':
        return { kind: 'unknown', reason: cls.reason, providerRef: memo.serverReferenceCode };
      case 'consentRequired':
        return op === 'charge' || op === 'reserve'
          ? 'consentRequired'
          : { kind: 'unknown', reason: `unexpected ${cls.providerCode}` };
      default:
        return assertNever(cls);
    }
  }

  /** Checks a transaction against what we asked for and maps its status (transformers map). */
  private transactionOutcome(
    reference: string,
    memo: Memo | undefined,
    op: PaymentOperation,
    txn: AmountTransaction,
    location?: string,
  ): Outcome {
    const providerRef = txn.serverReferenceCode ?? memo?.serverReferenceCode;
    if (op === 'charge' || op === 'refund' || op === 'reserve') {
      const foreign =
        (txn.clientCorrelator && txn.clientCorrelator !== reference) ||
        (txn.referenceCode && txn.referenceCode !== reference);
      if (foreign)
        return {
          kind: 'unknown',
          reason: `answer is for another transaction (${txn.clientCorrelator ?? txn.referenceCode})`,
          providerRef,
        };
    }
    const status = parseTransactionStatus(txn.transactionOperationStatus);
    if (!status)
      return {
        kind: 'unknown',
        reason: `unrecognised transactionOperationStatus "${txn.transactionOperationStatus}"`,
        providerRef,
      };
    if (memo) {
      if (providerRef && (op === 'charge' || op === 'refund' || op === 'reserve'))
        memo.serverReferenceCode = providerRef;
      const resource = this.trusted(txn.resourceURL) ?? this.trusted(location);
      if (resource && (op === 'charge' || op === 'refund' || op === 'reserve'))
        memo.resourceURL = resource;
      const sequence = Number(txn.referenceSequence);
      if (memo.procedure === 'RESERVE' && Number.isInteger(sequence) && sequence > 0) {
        memo.seq = Math.max(memo.seq ?? 0, sequence);
      }
    }
    const outcome = outcomeForStatus(status, op, {
      providerRef,
      completion: memo?.callbackSent ? 'callback' : 'poll',
    });
    if (outcome.kind !== 'succeeded') return outcome;
    let reported: { amount: bigint; currency: string } | undefined;
    try {
      reported = reportedAmount(txn, op, memo?.currency);
    } catch (err) {
      if (err instanceof AmountConflict || err instanceof RangeError)
        return { kind: 'unknown', reason: `AMOUNT_CONFLICT: ${err.message}`, providerRef };
      throw err;
    }
    const expected =
      op === 'capture'
        ? memo?.captured
        : op === 'release'
          ? undefined
          : memo && { amount: memo.amount, currency: memo.currency };
    if (
      reported &&
      expected &&
      (reported.amount !== expected.amount || reported.currency !== expected.currency)
    ) {
      return {
        kind: 'unknown',
        reason: `AMOUNT_CONFLICT: asked ${expected.amount} ${expected.currency}, operator reports ${reported.amount} ${reported.currency}`,
        providerRef,
      };
    }
    return reported
      ? { ...outcome, amount: reported.amount, currency: reported.currency }
      : outcome;
  }

  // ------------------------------------------------------------------ consent (55)

  private async startConsent(reference: string, memo: Memo): Promise<Outcome> {
    const paths = paymentPaths(this.baseUrl, memo.endUserId);
    const form = {
      referenceCode: reference,
      clientCorrelator: reference,
      purpose: memo.procedure === 'RESERVE' ? 'Reserved' : 'Charged',
      description: memo.description,
      currency: memo.currency,
      amount: toWireAmount(memo.amount, memo.currency),
    };
    const call: Call = {
      operation: 'consent.create',
      reference,
      msisdn: memo.msisdn,
      method: 'POST',
      url: paths.consents,
      body: { contentType: 'application/x-www-form-urlencoded', text: encodeForm(form), log: form },
    };
    const { answer, durationMs } = await this.http(call);
    let outcome: Outcome;
    let consent: Consent | undefined;
    if (answer.type === 'failed') {
      // Nothing was charged (the operator refused the charge without consent).
      outcome = {
        kind: 'declined',
        code: 'CHANNEL_UNAVAILABLE',
        providerCode: 'CONSENT',
        message: `consent not opened: ${answer.reason}`,
      };
    } else if (answer.status === 200 || answer.status === 201) {
      const parsed = ConsentSchema.safeParse(answer.json);
      if (parsed.success) {
        consent = parsed.data.consent;
        memo.consent = {
          id: consent.consentId,
          resourceURL:
            this.trusted(consent.resourceURL) ?? paths.consentResource(consent.consentId),
          verified: consent.status === 'verified',
        };
        outcome = consentOutcome(consent);
      } else {
        outcome = {
          kind: 'declined',
          code: 'CHANNEL_UNAVAILABLE',
          providerCode: 'CONSENT',
          message: 'unreadable consent answer',
        };
      }
    } else {
      const cls = classifyError(answer.status, parseRequestError(answer.json));
      outcome =
        cls.type === 'declined'
          ? {
              kind: 'declined',
              code: cls.code,
              providerCode: cls.providerCode,
              message: cls.message,
            }
          : {
              kind: 'declined',
              code: 'CHANNEL_UNAVAILABLE',
              providerCode: 'CONSENT',
              message: `consent not opened: HTTP ${answer.status}`,
            };
    }
    this.log(call, answer, durationMs, outcome);
    if (consent?.status === 'verified') return this.sendPayment(reference, memo, true);
    return outcome;
  }

  private async doConfirm(req: ConsentRequest): Promise<Outcome> {
    let memo = this.memory.get(req.reference);
    const msisdn = req.msisdn ?? memo?.msisdn;
    const consentId = memo?.consent?.id ?? req.providerRef;
    if (!msisdn || !consentId) throw new Error(`no OTP consent is open for ${req.reference}`);
    const paths = paymentPaths(this.baseUrl, endUserIdOf(msisdn));
    if (memo?.consent?.verified) return this.sendPayment(req.reference, memo, true);
    const resourceURL = memo?.consent?.resourceURL ?? paths.consentResource(consentId);
    const form = { otp: req.otp };
    const call: Call = {
      operation: 'consent.verify',
      reference: req.reference,
      msisdn,
      method: 'POST',
      url: `${resourceURL}/verify`,
      body: { contentType: 'application/x-www-form-urlencoded', text: encodeForm(form), log: form },
    };
    const { answer, durationMs } = await this.http(call);
    let outcome: Outcome;
    let verified: Consent | undefined;
    if (answer.type === 'failed') {
      outcome = {
        kind: 'unknown',
        reason: `OTP verification: ${answer.reason}`,
        providerRef: consentId,
      };
    } else if (answer.status === 200) {
      const parsed = ConsentSchema.safeParse(answer.json);
      if (!parsed.success) {
        outcome = { kind: 'unknown', reason: 'unreadable consent answer', providerRef: consentId };
      } else {
        outcome = consentOutcome(parsed.data.consent, consentId);
        if (parsed.data.consent.status === 'verified') verified = parsed.data.consent;
      }
    } else {
      const cls = classifyError(answer.status, parseRequestError(answer.json));
      outcome =
        cls.type === 'declined'
          ? {
              kind: 'declined',
              code: cls.code,
              providerCode: cls.providerCode,
              message: cls.message,
              providerRef: consentId,
            }
          : {
              kind: 'unknown',
              reason: cls.type === 'unknown' ? cls.reason : `HTTP ${answer.status}`,
              providerRef: consentId,
            };
    }
    this.log(call, answer, durationMs, outcome);
    if (!verified) return outcome;

    // Charge after the OTP check. After a restart the consent tells what was agreed to.
    if (!memo) {
      const info = verified.paymentAmount?.chargingInformation;
      if (!info?.currency || info.amount === undefined)
        return {
          kind: 'unknown',
          reason: 'consent verified, but the agreed amount is unknown',
          providerRef: consentId,
        };
      memo = {
        procedure: verified.purpose === 'Reserved' ? 'RESERVE' : 'CHARGE',
        msisdn,
        endUserId: endUserIdOf(msisdn),
        amount: fromWireAmount(info.amount, info.currency),
        currency: info.currency,
        description: info.description ?? 'Purchase',
      };
      this.remember(req.reference, memo);
    }
    memo.consent = { id: consentId, resourceURL, verified: true };
    return this.sendPayment(req.reference, memo, true);
  }

  private async consentStatus(req: ProviderRefRequest): Promise<Outcome> {
    const memo = this.memory.get(req.reference);
    const msisdn = req.msisdn ?? memo?.msisdn;
    const consentId = memo?.consent?.id ?? req.providerRef;
    if (!msisdn || !consentId)
      return { kind: 'unknown', reason: 'no consent known for this reference' };
    const url =
      memo?.consent?.resourceURL ??
      paymentPaths(this.baseUrl, endUserIdOf(msisdn)).consentResource(consentId);
    const call: Call = {
      operation: 'consent.status',
      reference: req.reference,
      msisdn,
      method: 'GET',
      url,
    };
    const { answer, durationMs } = await this.http(call);
    let outcome: Outcome = {
      kind: 'unknown',
      reason: answer.type === 'failed' ? answer.reason : `HTTP ${answer.status}`,
      providerRef: consentId,
    };
    if (answer.type === 'answer' && answer.status === 200) {
      const parsed = ConsentSchema.safeParse(answer.json);
      if (parsed.success) outcome = consentOutcome(parsed.data.consent, consentId);
    }
    this.log(call, answer, durationMs, outcome);
    return outcome;
  }

  // ------------------------------------------------------------------ refund

  private async doRefund(req: RefundRequest): Promise<Outcome> {
    const chargeMemo = this.memory.get(req.chargeReference);
    const msisdn = req.msisdn ?? chargeMemo?.msisdn;
    if (!msisdn) throw new Error('OneAPI refunds need the MSISDN of the charge');
    toWireAmount(req.amount, req.currency);
    let original = req.chargeProviderRef ?? chargeMemo?.serverReferenceCode;
    if (!original) {
      const found = await this.lookup(req.chargeReference, msisdn, 'charge');
      original = found.txn?.serverReferenceCode;
      if (!original)
        throw new Error(
          `cannot refund ${req.chargeReference}: the operator's reference of the charge is unknown`,
        );
    }
    const endUserId = endUserIdOf(msisdn);
    let memo = this.memory.get(req.reference);
    if (
      memo &&
      (memo.amount !== req.amount || memo.currency !== req.currency || memo.procedure !== 'REFUND')
    ) {
      throw new Error(`reference ${req.reference} was already used with other data`);
    }
    if (!memo) {
      memo = {
        procedure: 'REFUND',
        msisdn,
        endUserId,
        amount: req.amount,
        currency: req.currency,
        description: req.reason ?? 'Refund',
      };
      this.remember(req.reference, memo);
    }
    const fields: PaymentFields = {
      endUserId,
      transactionOperationStatus: 'Refunded',
      referenceCode: req.reference,
      originalServerReferenceCode: original,
      description: memo.description,
      currency: req.currency,
      amount: toWireAmount(req.amount, req.currency),
      clientCorrelator: req.reference,
    };
    const call = this.post(
      'refund',
      req.reference,
      msisdn,
      paymentPaths(this.baseUrl, endUserId).amount,
      'amountTransaction',
      fields,
    );
    const { answer, durationMs } = await this.http(call);
    const result = this.paymentAnswer(req.reference, memo, 'refund', answer);
    const outcome: Outcome =
      result === 'consentRequired'
        ? { kind: 'unknown', reason: 'unexpected consent demand on a refund' }
        : result;
    this.log(call, answer, durationMs, outcome);
    return outcome;
  }

  // ------------------------------------------------------------------ capture / release

  private async reservationOp(
    req: ProviderRefRequest,
    op: 'capture' | 'release',
    amount?: { amount: bigint; currency: string },
  ): Promise<Outcome> {
    let memo = this.memory.get(req.reference);
    const msisdn = req.msisdn ?? memo?.msisdn;
    const transactionId = req.providerRef ?? memo?.serverReferenceCode;
    if (!msisdn || !transactionId)
      throw new Error(
        `${op}: the reservation of ${req.reference} is unknown (msisdn and providerRef needed)`,
      );
    const endUserId = endUserIdOf(msisdn);
    const url =
      memo?.resourceURL ?? paymentPaths(this.baseUrl, endUserId).reservationResource(transactionId);
    if (!memo || memo.seq === undefined) {
      // After a restart: learn the reservation's state (and its referenceSequence) first.
      const current = await this.get(`${op}.read`, req.reference, msisdn, url);
      const parsed =
        current.type === 'answer' && current.status === 200
          ? parseTransaction(current.json)
          : undefined;
      if (!parsed)
        return {
          kind: 'unknown',
          reason: `${op}: could not read the reservation`,
          providerRef: transactionId,
        };
      const info = parsed.txn.paymentAmount?.chargingInformation;
      if (!memo) {
        memo = {
          procedure: 'RESERVE',
          msisdn,
          endUserId,
          amount:
            info?.amount !== undefined && info.currency
              ? fromWireAmount(info.amount, info.currency)
              : (amount?.amount ?? 0n),
          currency: info?.currency ?? amount?.currency ?? '',
          description: info?.description ?? 'Purchase',
          serverReferenceCode: transactionId,
          resourceURL: url,
        };
        this.remember(req.reference, memo);
      }
      memo.seq = Number(parsed.txn.referenceSequence ?? 1);
    }
    // Persist the sequence before sending: a retry reuses it, so the operator applies it once.
    const opSeq = (memo.opSeq ??= {});
    const sequence = (opSeq[op] ??= memo.seq! + 1);
    if (op === 'capture' && amount)
      memo.captured = { amount: amount.amount, currency: amount.currency };
    const fields: PaymentFields = {
      endUserId,
      transactionOperationStatus: op === 'capture' ? 'Charged' : 'Released',
      referenceCode: req.reference,
      referenceSequence: sequence,
      description: memo.description,
      currency: op === 'capture' && amount ? amount.currency : undefined,
      amount: op === 'capture' && amount ? toWireAmount(amount.amount, amount.currency) : undefined,
    };
    const call = this.post(op, req.reference, msisdn, url, 'amountReservationTransaction', fields);
    const { answer, durationMs } = await this.http(call);
    const result = this.paymentAnswer(req.reference, memo, op, answer);
    const outcome: Outcome =
      result === 'consentRequired'
        ? { kind: 'unknown', reason: 'unexpected consent demand' }
        : result;
    if (outcome.kind === 'succeeded' || outcome.kind === 'declined') {
      memo.seq = Math.max(memo.seq ?? 0, sequence);
      delete opSeq[op];
    }
    this.log(call, answer, durationMs, outcome);
    return outcome;
  }

  // ------------------------------------------------------------------ status (read-only)

  /**
   * The transaction for our reference: GET its resourceURL when known, otherwise look it up
   * by clientCorrelator in the end user's transaction list. Never sends a charge.
   */
  private async read(
    req: ProviderRefRequest,
    op: PaymentOperation,
    hint?: { resourceURL?: string },
  ): Promise<{ outcome: Outcome; txn?: AmountTransaction }> {
    const memo = this.memory.get(req.reference);
    const msisdn = req.msisdn ?? memo?.msisdn;
    const reservation = op === 'reserve' || op === 'capture' || op === 'release';
    let url = memo?.resourceURL ?? this.trusted(hint?.resourceURL);
    if (!url && reservation && msisdn && req.providerRef)
      url = paymentPaths(this.baseUrl, endUserIdOf(msisdn)).reservationResource(req.providerRef);
    if (url) {
      const call: Call = {
        operation: `${op}.status`,
        reference: req.reference,
        msisdn,
        method: 'GET',
        url,
      };
      const { answer, durationMs } = await this.http(call);
      if (answer.type === 'answer' && answer.status === 200) {
        const parsed = parseTransaction(answer.json);
        const outcome: Outcome = parsed
          ? this.transactionOutcome(req.reference, memo, op, parsed.txn)
          : { kind: 'unknown', reason: 'unreadable transaction', providerRef: req.providerRef };
        this.log(call, answer, durationMs, outcome);
        return { outcome, txn: parsed?.txn };
      }
      const outcome: Outcome = {
        kind: 'unknown',
        reason: answer.type === 'failed' ? answer.reason : `status read: HTTP ${answer.status}`,
        providerRef: req.providerRef,
      };
      this.log(call, answer, durationMs, outcome);
      if (answer.type === 'failed' || answer.status !== 404 || !msisdn) return { outcome };
    }
    if (!msisdn)
      return {
        outcome: {
          kind: 'unknown',
          reason: 'status needs the MSISDN or a known resourceURL',
          providerRef: req.providerRef,
        },
      };
    const found = await this.lookup(req.reference, msisdn, op, req.providerRef);
    if (found.txn)
      return {
        outcome: this.transactionOutcome(req.reference, memo, op, found.txn),
        txn: found.txn,
      };
    if (found.listed && memo?.consent && !memo.serverReferenceCode)
      return { outcome: await this.consentStatus(req) };
    return {
      outcome: {
        kind: 'unknown',
        reason: found.listed
          ? `NOT_FOUND: the operator has no transaction with clientCorrelator ${req.reference}`
          : (found.reason ?? 'lookup failed'),
        providerRef: req.providerRef,
      },
    };
  }

  /** GET …/{endUserId}/transactions, filtered by our reference (or the operator's). */
  private async lookup(
    reference: string,
    msisdn: string,
    op: PaymentOperation,
    providerRef?: string,
  ): Promise<{ txn?: AmountTransaction; listed: boolean; reason?: string }> {
    const url = paymentPaths(this.baseUrl, endUserIdOf(msisdn)).transactions;
    const call: Call = { operation: `${op}.lookup`, reference, msisdn, method: 'GET', url };
    const { answer, durationMs } = await this.http(call);
    if (answer.type === 'failed' || answer.status !== 200) {
      const reason = answer.type === 'failed' ? answer.reason : `lookup: HTTP ${answer.status}`;
      this.log(call, answer, durationMs, { kind: 'unknown', reason });
      return { listed: false, reason };
    }
    const parsed = TransactionListSchema.safeParse(answer.json);
    if (!parsed.success) {
      this.log(call, answer, durationMs, { kind: 'unknown', reason: 'unreadable list' });
      return { listed: false, reason: 'unreadable transaction list' };
    }
    const list = parsed.data.paymentTransactionList;
    const candidates =
      op === 'charge' || op === 'refund'
        ? (list.amountTransaction ?? [])
        : (list.amountReservationTransaction ?? []);
    const txn = candidates.find((t) => {
      if (op === 'charge' && t.originalServerReferenceCode) return false;
      if (op === 'refund' && !t.originalServerReferenceCode) return false;
      return (
        t.clientCorrelator === reference ||
        (providerRef !== undefined && t.serverReferenceCode === providerRef) ||
        (!t.clientCorrelator && t.referenceCode === reference)
      );
    });
    this.log(
      call,
      { ...answer, json: txn ? { found: txn } : { found: null } },
      durationMs,
      undefined,
    );
    return { txn, listed: true };
  }

  // ------------------------------------------------------------------ callbacks

  async handleCallback(req: InboundRequest): Promise<CallbackResult> {
    const started = performance.now();
    const path = req.path.replace(/\/[^/]*$/, '/[token]');
    const body = req.rawBody.toString('utf8');
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      json = undefined;
    }
    const record = (status: number, reference?: string, outcome?: Outcome) =>
      this.deps.record(
        redact(
          {
            direction: 'INBOUND' as const,
            operation: 'callback',
            reference,
            request: { method: req.method, path, body: json ?? body.slice(0, 500) },
            status,
            durationMs: performance.now() - started,
            outcome: outcome?.kind,
            at: new Date(),
          },
          [],
        ),
      );
    const reject = (message: string, status = 401, reference?: string): never => {
      record(status, reference);
      throw new CallbackRejected(message, status);
    };

    if (req.method.toUpperCase() !== 'POST') reject('callbacks are POSTed', 405);
    // 1. The credentials we configured at the operator for its notifications.
    const { callbackUsername, callbackPassword } = this.config.credentials;
    if (callbackPassword) {
      const header = Array.isArray(req.headers.authorization)
        ? req.headers.authorization[0]
        : req.headers.authorization;
      const m = /^Basic\s+(.+)$/i.exec(header ?? '');
      const decoded = m ? Buffer.from(m[1]!, 'base64').toString('utf8') : '';
      const colon = decoded.indexOf(':');
      const userOk =
        colon >= 0 &&
        safeEqual(decoded.slice(0, colon), callbackUsername ?? decoded.slice(0, colon));
      const passOk = colon >= 0 && safeEqual(decoded.slice(colon + 1), callbackPassword);
      if (!userOk || !passOk) reject('callback credentials do not match');
    }
    // 2. The per-payment token in the path, bound to the reference in the body.
    const parsed = parseTransaction(json);
    if (!parsed || parsed.wrapper !== 'amountTransaction')
      return reject('not an amountTransaction notification', 400);
    const txn = parsed.txn;
    const reference = txn.clientCorrelator ?? txn.referenceCode;
    if (
      !reference ||
      (txn.clientCorrelator && txn.referenceCode && txn.clientCorrelator !== txn.referenceCode)
    ) {
      return reject('notification without a consistent reference', 400);
    }
    const token = req.path.split('/').filter(Boolean).pop() ?? '';
    if (!this.tokenKey || !safeEqual(token, callbackToken(this.tokenKey, reference)))
      reject('callback path token does not match', 401, reference);
    if (!parseTransactionStatus(txn.transactionOperationStatus))
      reject(`unknown status ${txn.transactionOperationStatus}`, 400, reference);

    // 3. Re-read the resource: the event is what the operator's ledger says now.
    const msisdn = txn.endUserId?.startsWith('tel:') ? txn.endUserId.slice(4) : undefined;
    const current = await this.read(
      { reference, providerRef: txn.serverReferenceCode, msisdn },
      'charge',
      { resourceURL: txn.resourceURL },
    );
    if (!current.txn) {
      // Verified but unconfirmed: no event now; the operator retries, the resolver polls.
      record(503, reference, current.outcome);
      return { status: 503, body: 'retry later', contentType: 'text/plain', events: [] };
    }
    const confirmed = current.txn;
    const status =
      parseTransactionStatus(confirmed.transactionOperationStatus)?.toLowerCase() ?? 'unknown';
    const providerRef = confirmed.serverReferenceCode ?? txn.serverReferenceCode;
    const outcome = current.outcome;
    const event: AsyncOutcome = {
      eventId: `oneapi:${providerRef ?? reference}:${status}`,
      procedure: 'CHARGE',
      reference,
      providerRef,
      outcome,
      ...(outcome.kind === 'succeeded' && outcome.amount !== undefined
        ? { amount: outcome.amount, currency: outcome.currency }
        : {}),
    };
    record(200, reference, outcome);
    return { status: 200, body: '', contentType: 'text/plain', events: [event] };
  }

  // ------------------------------------------------------------------ plumbing

  private once(key: string, fn: () => Promise<Outcome>): Promise<Outcome> {
    const running = this.inflight.get(key);
    if (running) return running;
    const p = fn().finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  private remember(reference: string, memo: Memo): void {
    this.memory.set(reference, memo);
    if (this.memory.size > MEMORY_LIMIT) {
      const oldest = this.memory.keys().next().value;
      if (oldest !== undefined) this.memory.delete(oldest);
    }
  }

  private callbackUrlFor(reference: string): string | undefined {
    if (!this.sinkBase || !this.tokenKey) return undefined;
    return `${this.sinkBase}/${callbackToken(this.tokenKey, reference)}`;
  }

  /** Only URLs on the operator's own origin are ever fetched. */
  private trusted(url: string | undefined): string | undefined {
    if (!url) return undefined;
    try {
      return new URL(url).origin === this.origin ? url : undefined;
    } catch {
      return undefined;
    }
  }

  private post(
    operation: string,
    reference: string,
    msisdn: string,
    url: string,
    wrapper: TransactionWrapper,
    fields: PaymentFields,
  ): Call {
    const { contentType, body } = encodePaymentBody(wrapper, fields, this.encoding);
    return {
      operation,
      reference,
      msisdn,
      method: 'POST',
      url,
      body: { contentType, text: body, log: fields },
    };
  }

  private async get(
    operation: string,
    reference: string,
    msisdn: string,
    url: string,
  ): Promise<Answer> {
    const call: Call = { operation, reference, msisdn, method: 'GET', url };
    const { answer, durationMs } = await this.http(call);
    this.log(call, answer, durationMs, undefined);
    return answer;
  }

  private async http(call: Call): Promise<{ answer: Answer; durationMs: number }> {
    const started = performance.now();
    try {
      const res = await request(call.url, {
        method: call.method,
        dispatcher: this.agent,
        headers: {
          authorization: this.authorization,
          accept: 'application/json',
          ...(call.body ? { 'content-type': call.body.contentType } : {}),
        },
        body: call.body?.text,
        signal: AbortSignal.timeout(this.config.timeoutMs),
      });
      const text = await res.body.text();
      let json: unknown;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = undefined;
      }
      const location = res.headers.location;
      return {
        answer: {
          type: 'answer',
          status: res.statusCode,
          location: Array.isArray(location) ? location[0] : location,
          text,
          json,
        },
        durationMs: performance.now() - started,
      };
    } catch (err) {
      const code = errorCode(err);
      const name = (err as Error)?.name;
      const reason =
        name === 'TimeoutError' || name === 'AbortError' || code === 'UND_ERR_ABORTED'
          ? `no answer within ${this.config.timeoutMs} ms`
          : `${code ?? name ?? 'error'}: ${(err as Error)?.message ?? String(err)}`;
      return {
        answer: { type: 'failed', sent: !(code && NOT_SENT_CODES.has(code)), reason },
        durationMs: performance.now() - started,
      };
    }
  }

  private log(call: Call, answer: Answer, durationMs: number, outcome: Outcome | undefined): void {
    const response =
      answer.type === 'answer'
        ? {
            location: answer.location,
            body: answer.json ?? (answer.text ? answer.text.slice(0, 500) : undefined),
          }
        : { error: answer.reason };
    this.deps.record(
      redact(
        {
          direction: 'OUTBOUND' as const,
          operation: call.operation,
          reference: call.reference,
          request: { method: call.method, url: call.url, body: call.body?.log },
          response,
          status: answer.type === 'answer' ? answer.status : answer.sent ? 'NO_ANSWER' : 'NOT_SENT',
          durationMs,
          outcome: outcome?.kind,
          at: new Date(),
        },
        [call.msisdn],
        this.sinkBase,
      ),
    );
  }
}

export const factory: AdapterFactory = {
  code: 'oneapi',
  capabilities,
  create(config: AdapterConfig, deps: AdapterDeps): ChannelAdapter {
    return new OneApiAdapter(config, deps);
  },
};
