import {
  buildFederatedSchema,
  createLogger,
  createSubgraphServer,
  MoneyType,
  PageInfo,
  type FederatedSchema,
  type ServiceHandle,
} from '@coinslot/kernel';
import type { Config } from './config';
import { openServiceDatabase } from './database';
import {
  EntitlementResolver,
  resolveEntitlementReference,
} from './modules/entitlement/entitlement.resolver';
import { createOutcomeResolver } from './modules/payment/outcome.resolver';
import { createPaymentResolver, resolvePaymentReference } from './modules/payment/payment.resolver';
import { PlayerBillingResolver } from './modules/player/player.resolver';
import {
  createSubscriptionResolver,
  resolveSubscriptionReference,
} from './modules/subscription/subscription.resolver';
import { createWebhookResolver } from './modules/webhook/webhook.resolver';
import { BillingRuntime } from './runtime';
import { PlanSubscription, Refund } from './types';

const noRuntime = (): BillingRuntime => {
  throw new Error('this schema was built without a runtime (SDL only)');
};

/**
 * type-graphql wants a pub/sub for any @Subscription, even one with its own `subscribe`.
 * Billing never serves subscriptions itself: the gateway does (graphql-ws), re-reading
 * `payment(id)` on each `payment:<id>` event billing publishes. So this one is inert.
 */
const inertPubSub = {
  publish(): void {},
  subscribe(): AsyncIterable<unknown> {
    throw new Error('billing serves no subscriptions: the gateway does');
  },
};

/** The billing subgraph schema; without a runtime it serves only for SDL (schema:write). */
export function buildBillingSchema(runtime?: BillingRuntime): Promise<FederatedSchema> {
  const rt = runtime ? () => runtime : noRuntime;
  return buildFederatedSchema(
    {
      resolvers: [
        createPaymentResolver(rt),
        PlayerBillingResolver,
        EntitlementResolver,
        createWebhookResolver(rt),
        createOutcomeResolver(rt),
        createSubscriptionResolver(rt),
      ],
      orphanedTypes: [MoneyType, PageInfo, Refund, PlanSubscription],
      pubSub: inertPubSub,
    },
    {
      Payment: { __resolveReference: resolvePaymentReference },
      Entitlement: { __resolveReference: resolveEntitlementReference },
      // Refunds are reached through their payment.
      Refund: { __resolveReference: () => null },
      PlanSubscription: { __resolveReference: resolveSubscriptionReference },
    } as never,
  );
}

export interface BillingService extends ServiceHandle {
  runtime: BillingRuntime;
}

export interface ServiceOptions {
  /** Run the graphile-worker runner (fulfilment, safety net, webhooks, cleanup). Default true. */
  jobs?: boolean;
}

/**
 * Builds the billing service: GraphQL and (unless told otherwise) the job runner, which stops
 * with close(). Nothing listens until listen().
 */
export async function createService(
  config: Config,
  options: ServiceOptions = {},
): Promise<BillingService> {
  const logger = createLogger('billing', config.LOG_LEVEL);
  const orm = await openServiceDatabase(config.DATABASE_URL, config.DATABASE_POOL_MAX);
  try {
    const runtime = new BillingRuntime(config, orm, logger);
    const { schema } = await buildBillingSchema(runtime);
    const handle = await createSubgraphServer({
      name: 'billing',
      schema,
      orm,
      secret: config.INTERNAL_CONTEXT_SECRET,
      logger,
      onClose: () => runtime.close(),
    });
    if (options.jobs ?? true) await runtime.startJobs();
    return Object.assign(handle, { runtime });
  } catch (err) {
    await orm.close(true);
    throw err;
  }
}
