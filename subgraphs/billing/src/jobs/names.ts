/**
 * The billing job queue (graphile-worker, schema `billing_jobs`). Every job is added in the
 * same transaction as the fact it reacts to (the transactional outbox) and carries that fact's
 * id; its consumer is idempotent (marks in billing.payment_effect, ids derived from the fact).
 */
export const JOB = {
  /** A payment succeeded: revenue posting, delivery, wallet capture. */
  FULFIL: 'billing.fulfil',
  /** A wallet payment failed or was canceled: void its hold, if any. */
  RELEASE_HOLD: 'billing.release_hold',
  /** Safety net: asks channels (or the ledger) for an open payment's outcome. */
  RESOLVE_PAYMENT: 'billing.resolve_payment',
  /** Safety net for a refund still processing. */
  RESOLVE_REFUND: 'billing.resolve_refund',
  /** A refund succeeded: the ledger reversal. */
  SETTLE_REFUND: 'billing.settle_refund',
  /** One attempt at one webhook delivery (retries re-add it with a backoff). */
  SEND_WEBHOOK: 'billing.send_webhook',
  /** Hourly: idempotency keys past their retention. */
  CLEANUP: 'billing.cleanup',
  /**
   * A plan subscription's next period: charged at next_charge_at (or, canceled at period end,
   * the subscription ends at current_period_end). One job per subscription and period.
   */
  RENEW_SUBSCRIPTION: 'billing.renew_subscription',
} as const;

export const resolvePaymentKey = (paymentId: string) => `resolve:${paymentId}`;
export const resolveRefundKey = (refundId: string) => `resolve-refund:${refundId}`;
export const renewSubscriptionKey = (subscriptionId: string, period: number) =>
  `renew:${subscriptionId}:${period}`;
