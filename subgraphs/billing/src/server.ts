import { buildFederatedSchema, createLogger, createSubgraphServer, MoneyType, type FederatedSchema, type ServiceHandle } from '@coinslot/kernel';
import type { Config } from './config';
import { openServiceDatabase } from './database';
import { Entitlement, Payment, Refund, PlanSubscription } from './types';

const none = { __resolveReference: () => null };

export function buildBillingSchema(): Promise<FederatedSchema> {
  return buildFederatedSchema(
    { resolvers: [() => undefined] as never, orphanedTypes: [Payment, Refund, PlanSubscription, Entitlement, MoneyType] },
    { Payment: none, Refund: none, PlanSubscription: none, Entitlement: none },
  );
}

export async function createService(config: Config): Promise<ServiceHandle> {
  const logger = createLogger('billing', config.LOG_LEVEL);
  const orm = await openServiceDatabase(config.DATABASE_URL, config.DATABASE_POOL_MAX);
  const { schema } = await buildBillingSchema();
  return createSubgraphServer({ name: 'billing', schema, orm, secret: config.INTERNAL_CONTEXT_SECRET, logger });
}
