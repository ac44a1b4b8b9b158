/**
 * The payment and refund state machines: one explicit table each of
 * (state, operation, outcome) → next state. Channels report outcomes, never states
 * (ARCHITECTURE.md §5); billing decides here, and nothing else writes a status.
 *
 * - `keep` means "no status change" (the outcome may still carry news, e.g. a new OTP attempt
 *   count), and is how late, duplicated or reordered answers are absorbed.
 * - A combination missing from the table is illegal: transition() throws.
 */

export const PAYMENT_STATUSES = [
  'REQUIRES_ACTION',
  'PROCESSING',
  'SUCCEEDED',
  'FAILED',
  'CANCELED',
] as const;
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];

export const FINAL_PAYMENT_STATUSES: ReadonlySet<PaymentStatus> = new Set([
  'SUCCEEDED',
  'FAILED',
  'CANCELED',
]);
export const isFinalPayment = (s: PaymentStatus): boolean => FINAL_PAYMENT_STATUSES.has(s);

/** Where a payment starts: its row is written before anything is charged. */
export const INITIAL_PAYMENT_STATUS: PaymentStatus = 'PROCESSING';

export const PAYMENT_OPERATIONS = ['charge', 'confirm', 'resolve', 'cancel'] as const;
/**
 * - charge: the answer of billing's own charge call (channels CHARGE, the wallet hold, or the
 *   cash desk's "the player must enter a card").
 * - confirm: the answer of the consent call (the OTP the player typed).
 * - resolve: an outcome learnt later (channels' hand-off, billing's status query).
 * - cancel: the player, the portal or an expiry abandons a payment that waits for an action.
 */
export type PaymentOperation = (typeof PAYMENT_OPERATIONS)[number];

export const FAILURE_CODES = [
  'INSUFFICIENT_FUNDS',
  'DENIED',
  'LIMIT_EXCEEDED',
  'INVALID_OTP',
  'CONSENT_EXPIRED',
  'CHANNEL_UNAVAILABLE',
  'CANCELED_BY_USER',
] as const;
export type FailureCode = (typeof FAILURE_CODES)[number];

export type ActionKind = 'OTP' | 'REDIRECT';
export interface NextAction {
  kind: ActionKind;
  url?: string | null;
  attemptsLeft?: number | null;
}

/** What a channel (or the wallet, or the cash desk) answered. */
export type Outcome =
  | { kind: 'succeeded' }
  | { kind: 'pending'; action?: NextAction | null }
  | { kind: 'declined'; code: FailureCode }
  | { kind: 'unknown' };

/** The classes the tables are keyed by: a pending outcome that needs the player is an action. */
export const OUTCOME_CLASSES = ['succeeded', 'pending', 'action', 'declined', 'unknown'] as const;
export type OutcomeClass = (typeof OUTCOME_CLASSES)[number];

export function assertNever(value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`);
}

export function classify(outcome: Outcome): OutcomeClass {
  switch (outcome.kind) {
    case 'succeeded':
      return 'succeeded';
    case 'pending':
      return outcome.action ? 'action' : 'pending';
    case 'declined':
      return 'declined';
    case 'unknown':
      return 'unknown';
    default:
      return assertNever(outcome);
  }
}

type Next<S extends string> = S | 'keep';
type Row<S extends string> = Partial<Record<OutcomeClass, Next<S>>>;
type Table<S extends string, O extends string> = Record<S, Partial<Record<O, Row<S>>>>;

/** Every outcome of a final state is absorbed: a final status never moves again. */
const ABSORB: Row<PaymentStatus> = {
  succeeded: 'keep',
  pending: 'keep',
  action: 'keep',
  declined: 'keep',
  unknown: 'keep',
};

/** Forward moves on an outcome of the charge (whoever reports it). */
const FORWARD_FROM_PROCESSING: Row<PaymentStatus> = {
  succeeded: 'SUCCEEDED',
  declined: 'FAILED',
  action: 'REQUIRES_ACTION',
  pending: 'keep',
  unknown: 'keep',
};

export const PAYMENT_TRANSITIONS = {
  PROCESSING: {
    charge: FORWARD_FROM_PROCESSING,
    // The state moved on while a consent was in flight: the answer is news about the charge.
    confirm: FORWARD_FROM_PROCESSING,
    resolve: FORWARD_FROM_PROCESSING,
  },
  REQUIRES_ACTION: {
    // The cash desk charging the card the player entered.
    charge: {
      succeeded: 'SUCCEEDED',
      declined: 'FAILED',
      action: 'keep',
      pending: 'PROCESSING',
      unknown: 'PROCESSING',
    },
    // A wrong OTP keeps the action (fewer attempts left); a right one charges, perhaps later.
    confirm: {
      succeeded: 'SUCCEEDED',
      declined: 'FAILED',
      action: 'keep',
      pending: 'PROCESSING',
      unknown: 'PROCESSING',
    },
    // 3-D Secure completed, declined or still in progress at the provider.
    resolve: {
      succeeded: 'SUCCEEDED',
      declined: 'FAILED',
      action: 'keep',
      pending: 'PROCESSING',
      unknown: 'keep',
    },
    cancel: { declined: 'CANCELED' },
  },
  SUCCEEDED: { charge: ABSORB, confirm: ABSORB, resolve: ABSORB },
  FAILED: { charge: ABSORB, confirm: ABSORB, resolve: ABSORB },
  CANCELED: { charge: ABSORB, confirm: ABSORB, resolve: ABSORB },
} as const satisfies Table<PaymentStatus, PaymentOperation>;

export class IllegalTransition extends Error {
  constructor(
    readonly machine: string,
    readonly state: string,
    readonly operation: string,
    readonly outcome: OutcomeClass,
  ) {
    super(`${machine}: ${operation} with outcome ${outcome} is not allowed in state ${state}`);
    this.name = 'IllegalTransition';
  }
}

export interface Transition<S extends string> {
  from: S;
  to: S;
  changed: boolean;
  outcome: OutcomeClass;
}

function lookup<S extends string, O extends string>(
  machine: string,
  table: Table<S, O>,
  state: S,
  operation: O,
  outcome: OutcomeClass,
): Transition<S> {
  const row = table[state]?.[operation] as Row<S> | undefined;
  const next = row?.[outcome];
  if (next === undefined) throw new IllegalTransition(machine, state, operation, outcome);
  const to = next === 'keep' ? state : next;
  return { from: state, to, changed: to !== state, outcome };
}

export function paymentTransition(
  state: PaymentStatus,
  operation: PaymentOperation,
  outcome: Outcome,
): Transition<PaymentStatus> {
  return lookup('payment', PAYMENT_TRANSITIONS, state, operation, classify(outcome));
}

/** The failure code a transition into FAILED or CANCELED records. */
export function failureCodeOf(t: Transition<string>, outcome: Outcome): FailureCode | null {
  if (!t.changed || outcome.kind !== 'declined') return null;
  return outcome.code;
}

// ------------------------------------------------------------------------------------ refunds

export const REFUND_STATUSES = ['PROCESSING', 'SUCCEEDED', 'FAILED'] as const;
export type RefundStatus = (typeof REFUND_STATUSES)[number];
export const REFUND_OPERATIONS = ['refund', 'resolve'] as const;
/** refund: the answer of billing's refund call; resolve: an outcome learnt later. */
export type RefundOperation = (typeof REFUND_OPERATIONS)[number];

const REFUND_FORWARD: Row<RefundStatus> = {
  succeeded: 'SUCCEEDED',
  declined: 'FAILED',
  pending: 'keep',
  action: 'keep',
  unknown: 'keep',
};
const REFUND_ABSORB: Row<RefundStatus> = {
  succeeded: 'keep',
  pending: 'keep',
  action: 'keep',
  declined: 'keep',
  unknown: 'keep',
};

export const REFUND_TRANSITIONS = {
  PROCESSING: { refund: REFUND_FORWARD, resolve: REFUND_FORWARD },
  SUCCEEDED: { refund: REFUND_ABSORB, resolve: REFUND_ABSORB },
  FAILED: { refund: REFUND_ABSORB, resolve: REFUND_ABSORB },
} as const satisfies Table<RefundStatus, RefundOperation>;

export function refundTransition(
  state: RefundStatus,
  operation: RefundOperation,
  outcome: Outcome,
): Transition<RefundStatus> {
  return lookup('refund', REFUND_TRANSITIONS, state, operation, classify(outcome));
}

/** The contract's failure codes; anything else a provider says is a denial. */
export function toFailureCode(code: string | null | undefined): FailureCode {
  return (FAILURE_CODES as readonly string[]).includes(code ?? '')
    ? (code as FailureCode)
    : 'DENIED';
}
