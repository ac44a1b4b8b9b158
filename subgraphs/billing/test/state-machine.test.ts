import fc from 'fast-check';
import {
  FINAL_PAYMENT_STATUSES,
  IllegalTransition,
  OUTCOME_CLASSES,
  PAYMENT_OPERATIONS,
  PAYMENT_STATUSES,
  PAYMENT_TRANSITIONS,
  REFUND_OPERATIONS,
  REFUND_STATUSES,
  REFUND_TRANSITIONS,
  classify,
  failureCodeOf,
  isFinalPayment,
  paymentTransition,
  refundTransition,
  type Outcome,
  type OutcomeClass,
  type PaymentOperation,
  type PaymentStatus,
} from '../src/domain/state-machine';

/** One concrete outcome of each class. */
const SAMPLE: Record<OutcomeClass, Outcome> = {
  succeeded: { kind: 'succeeded' },
  pending: { kind: 'pending', action: null },
  action: { kind: 'pending', action: { kind: 'OTP', attemptsLeft: 2 } },
  declined: { kind: 'declined', code: 'DENIED' },
  unknown: { kind: 'unknown' },
};

const outcomeArb: fc.Arbitrary<Outcome> = fc.oneof(
  fc.constant<Outcome>({ kind: 'succeeded' }),
  fc.constant<Outcome>({ kind: 'unknown' }),
  fc.constantFrom<Outcome>(
    { kind: 'pending' },
    { kind: 'pending', action: { kind: 'REDIRECT', url: 'https://psp.example/3ds' } },
    { kind: 'pending', action: { kind: 'OTP', attemptsLeft: 1 } },
  ),
  fc
    .constantFrom(
      'INSUFFICIENT_FUNDS',
      'DENIED',
      'INVALID_OTP',
      'CHANNEL_UNAVAILABLE',
      'CANCELED_BY_USER',
    )
    .map((code) => ({ kind: 'declined', code }) as Outcome),
);

describe('payment state machine (model-based)', () => {
  it('classifies every outcome into exactly one class', () => {
    for (const c of OUTCOME_CLASSES) expect(classify(SAMPLE[c])).toBe(c);
  });

  // The table is the model: every (state, operation, outcome) either moves as it says or throws.
  for (const state of PAYMENT_STATUSES) {
    for (const op of PAYMENT_OPERATIONS) {
      for (const cls of OUTCOME_CLASSES) {
        const row = (
          PAYMENT_TRANSITIONS[state] as Partial<
            Record<PaymentOperation, Partial<Record<OutcomeClass, string>>>
          >
        )[op];
        const next = row?.[cls];
        it(`${state} × ${op} × ${cls} → ${next === undefined ? 'throws' : next}`, () => {
          if (next === undefined) {
            expect(() => paymentTransition(state, op, SAMPLE[cls])).toThrow(IllegalTransition);
            return;
          }
          const t = paymentTransition(state, op, SAMPLE[cls]);
          expect(t.to).toBe(next === 'keep' ? state : next);
          expect(t.changed).toBe(t.to !== state);
        });
      }
    }
  }

  it('a final status absorbs every outcome and refuses cancel', () => {
    for (const state of FINAL_PAYMENT_STATUSES) {
      for (const op of ['charge', 'confirm', 'resolve'] as const) {
        for (const cls of OUTCOME_CLASSES)
          expect(paymentTransition(state, op, SAMPLE[cls])).toMatchObject({
            to: state,
            changed: false,
          });
      }
      expect(() => paymentTransition(state, 'cancel', SAMPLE.declined)).toThrow(IllegalTransition);
    }
  });

  it('only a declined outcome reaches FAILED or CANCELED, and records its code', () => {
    for (const state of PAYMENT_STATUSES) {
      for (const op of PAYMENT_OPERATIONS) {
        for (const cls of OUTCOME_CLASSES) {
          let t;
          try {
            t = paymentTransition(state, op, SAMPLE[cls]);
          } catch {
            continue;
          }
          if (t.changed && (t.to === 'FAILED' || t.to === 'CANCELED')) {
            expect(cls).toBe('declined');
            expect(failureCodeOf(t, SAMPLE[cls])).toBe('DENIED');
          }
          if (t.changed && t.to === 'SUCCEEDED') expect(cls).toBe('succeeded');
        }
      }
    }
  });

  it('property: any sequence of answers, hand-offs and retries never leaves a final status nor skips to SUCCEEDED without a success', () => {
    const step = fc.record({
      op: fc.constantFrom<PaymentOperation>('charge', 'confirm', 'resolve', 'cancel'),
      outcome: outcomeArb,
    });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 30 }), (steps) => {
        let state: PaymentStatus = 'PROCESSING';
        let finalSeen: PaymentStatus | null = null;
        for (const s of steps) {
          let to: PaymentStatus;
          try {
            to = paymentTransition(state, s.op, s.outcome).to;
          } catch (err) {
            expect(err).toBeInstanceOf(IllegalTransition);
            continue; // an illegal move changes nothing
          }
          if (finalSeen) expect(to).toBe(finalSeen);
          if (to === 'SUCCEEDED' && state !== 'SUCCEEDED') expect(s.outcome.kind).toBe('succeeded');
          state = to;
          if (isFinalPayment(state)) finalSeen = state;
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('refund state machine (model-based)', () => {
  for (const state of REFUND_STATUSES) {
    for (const op of REFUND_OPERATIONS) {
      for (const cls of OUTCOME_CLASSES) {
        const next = REFUND_TRANSITIONS[state][op][cls];
        it(`${state} × ${op} × ${cls} → ${next}`, () => {
          const t = refundTransition(state, op, SAMPLE[cls]);
          expect(t.to).toBe(next === 'keep' ? state : next);
        });
      }
    }
  }
});
