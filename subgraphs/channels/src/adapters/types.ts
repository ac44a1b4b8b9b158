/**
 * The one model every carrier and PSP protocol is turned into. Adapters return outcomes, never
 * payment states: billing owns the state machine (ARCHITECTURE.md §5).
 */

export const PROCEDURES = [
  'CHARGE',
  'RESERVE',
  'CAPTURE',
  'RELEASE',
  'REFUND',
  'BALANCE',
  'STATUS',
  'CONSENT',
] as const;
export type Procedure = (typeof PROCEDURES)[number];

export const INTERACTION_PATTERNS = [
  'REQUEST_READ',
  'REQUEST_DOWNLOAD',
  'REQUEST_WAIT_RECEIVE',
] as const;
export type InteractionPattern = (typeof INTERACTION_PATTERNS)[number];

export const CHANNEL_PROTOCOLS = ['CAMARA', 'PARLAYX', 'ONEAPI', 'SMPP', 'CARD', 'WALLET'] as const;
export type ChannelProtocol = (typeof CHANNEL_PROTOCOLS)[number];

export const CHANNEL_KINDS = ['CARRIER_BILLING', 'PREMIUM_SMS', 'CARD', 'WALLET'] as const;
export type ChannelKind = (typeof CHANNEL_KINDS)[number];

/** The contract's failureCode values. */
export const DECLINE_CODES = [
  'INSUFFICIENT_FUNDS',
  'DENIED',
  'LIMIT_EXCEEDED',
  'INVALID_OTP',
  'CONSENT_EXPIRED',
  'CHANNEL_UNAVAILABLE',
  'CANCELED_BY_USER',
] as const;
export type DeclineCode = (typeof DECLINE_CODES)[number];

export type Completion = 'poll' | 'callback' | 'report';

/** What the player must do before the procedure can go on. */
export type UserAction = { kind: 'OTP'; attemptsLeft?: number } | { kind: 'REDIRECT'; url: string };

export type Outcome =
  | { kind: 'succeeded'; providerRef?: string; amount?: bigint; currency?: string }
  | { kind: 'pending'; completion: Completion; providerRef?: string; action?: UserAction }
  | {
      kind: 'declined';
      code: DeclineCode;
      providerRef?: string;
      providerCode?: string;
      message?: string;
    }
  /** Sent but the answer was lost (timeout, dropped connection): never treat as failure. */
  | { kind: 'unknown'; reason: string; providerRef?: string };

export interface Capabilities {
  protocol: ChannelProtocol;
  kind: ChannelKind;
  procedures: readonly Procedure[];
  patterns: readonly InteractionPattern[];
  consent: readonly ('NONE' | 'OTP' | 'REDIRECT')[];
  /** ISO 4217 codes, or '*' for any. */
  currencies: readonly string[] | '*';
  refunds: 'none' | 'full' | 'partial';
  /**
   * Who executes the procedures: 'channels' (this adapter talks to a provider) or 'billing'
   * (an internal channel such as the coin wallet, run by billing against the accounts ledger;
   * its adapter throws ProcedureNotSupported). Absent means 'channels'.
   */
  executedBy?: 'channels' | 'billing';
}

/** A procedure request. `reference` is ours and stable across retries of one attempt. */
export interface ChargeRequest {
  reference: string;
  amount: bigint;
  currency: string;
  description: string;
  msisdn?: string;
  cardToken?: string;
  /** Where the player returns after a redirect (3-D Secure, consent page). */
  returnUrl?: string;
  merchantName?: string;
}

export interface ProviderRefRequest {
  reference: string;
  providerRef?: string;
  msisdn?: string;
}

export interface CaptureRequest extends ProviderRefRequest {
  amount: bigint;
  currency: string;
}

export interface ConsentRequest extends ProviderRefRequest {
  otp: string;
}

export interface RefundRequest {
  /** Our reference for the refund itself. */
  reference: string;
  /** The charge being refunded: our reference and the provider's. */
  chargeReference: string;
  chargeProviderRef?: string;
  msisdn?: string;
  amount: bigint;
  currency: string;
  /** True when the whole remaining amount is refunded. */
  full: boolean;
  reason?: string;
}

export interface BalanceResult {
  amount: bigint;
  currency: string;
}

/** One request/response exchanged with the provider, already redacted by the adapter. */
export interface Interaction {
  direction: 'OUTBOUND' | 'INBOUND';
  operation: string;
  reference?: string;
  request?: unknown;
  response?: unknown;
  status?: number | string;
  durationMs: number;
  outcome?: Outcome['kind'];
  at: Date;
}

/** An outcome that arrives later: callback, delivery receipt, settlement report. */
export interface AsyncOutcome {
  /** Provider event id (or a stable hash of the event) for deduplication. */
  eventId: string;
  procedure: Procedure;
  reference: string;
  providerRef?: string;
  outcome: Outcome;
  /** For verifying amounts when the provider reports them. */
  amount?: bigint;
  currency?: string;
  /** Provider time of the event, for ordering. */
  occurredAt?: Date;
}

export interface InboundRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  rawBody: Buffer;
  query: Record<string, string>;
  remoteAddress?: string;
}

export interface CallbackResult {
  /** HTTP status to answer the provider with. */
  status: number;
  body?: string;
  contentType?: string;
  events: AsyncOutcome[];
}

/** Thrown by handleCallback when a callback fails verification: nothing is applied. */
export class CallbackRejected extends Error {
  constructor(
    message: string,
    readonly status = 401,
  ) {
    super(message);
    this.name = 'CallbackRejected';
  }
}

export class ProcedureNotSupported extends Error {
  constructor(protocol: ChannelProtocol, procedure: Procedure) {
    super(`${protocol} does not support ${procedure}`);
    this.name = 'ProcedureNotSupported';
  }
}

export interface AdapterDeps {
  /** Every exchange with the provider, inbound and outbound, redacted. */
  record(interaction: Interaction): void;
  /** Outcomes pushed on a connection the adapter holds (SMPP receipts, settlement). */
  emit(event: AsyncOutcome): void;
  /** Our HTTPS/HTTP sink for this channel, where the provider posts callbacks. */
  callbackUrl?: string;
}

/** Per-account settings: endpoint, credentials (decrypted only in memory), timeouts. */
export interface AdapterConfig {
  baseUrl: string;
  credentials: Record<string, string>;
  /** Client timeout for one request; past it the outcome is `unknown`. */
  timeoutMs: number;
  settings?: Record<string, string | number | boolean>;
}

export interface ChannelAdapter {
  readonly capabilities: Capabilities;
  charge(req: ChargeRequest): Promise<Outcome>;
  reserve?(req: ChargeRequest): Promise<Outcome>;
  capture?(req: CaptureRequest): Promise<Outcome>;
  release?(req: ProviderRefRequest): Promise<Outcome>;
  refund?(req: RefundRequest): Promise<Outcome>;
  balance?(req: { msisdn: string; currency: string }): Promise<BalanceResult>;
  status(req: ProviderRefRequest & { procedure?: Procedure }): Promise<Outcome>;
  /** Completes an OTP consent started by charge/reserve. */
  confirmConsent?(req: ConsentRequest): Promise<Outcome>;
  /** Verifies and parses a callback; throws CallbackRejected when it is forged or stale. */
  handleCallback?(req: InboundRequest): Promise<CallbackResult>;
  close(): Promise<void>;
}

export interface AdapterFactory {
  readonly code: string;
  readonly capabilities: Capabilities;
  create(config: AdapterConfig, deps: AdapterDeps): ChannelAdapter | Promise<ChannelAdapter>;
}

/** Exhaustiveness guard for switches over unions. */
export function assertNever(value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`);
}
