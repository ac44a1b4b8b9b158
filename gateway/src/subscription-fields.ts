import type { ExecutionResult } from 'graphql';
import type { SubscriptionField } from './subscriptions';

const FINAL_PAYMENT_STATUSES = new Set(['SUCCEEDED', 'FAILED', 'CANCELED']);

/**
 * Every subscription field the gateway serves. Billing publishes `payment:<id>` on every status
 * change; the gateway re-reads `payment(id:)` with the subscriber's principal.
 */
export const SUBSCRIPTION_FIELDS: Record<string, SubscriptionField> = {
  paymentStatusChanged: {
    topic: (args) => `payment:${String(args.paymentId)}`,
    queryField: 'payment',
    queryArgs: (args) => ({ id: args.paymentId }),
    isFinalResult: (result: ExecutionResult) => {
      const data = result.data as
        { paymentStatusChanged?: { status?: string } | null } | null | undefined;
      return FINAL_PAYMENT_STATUSES.has(data?.paymentStatusChanged?.status ?? '');
    },
  },
};
