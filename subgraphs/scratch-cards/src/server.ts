import { buildFederatedSchema, createLogger, createSubgraphServer, type FederatedSchema, type ServiceHandle } from '@coinslot/kernel';
import type { Config } from './config';
import { openServiceDatabase } from './database';
import { ScratchCard, ScratchCardBatch } from './types';

const none = { __resolveReference: () => null };

export function buildScratchCardsSchema(): Promise<FederatedSchema> {
  return buildFederatedSchema(
    { resolvers: [() => undefined] as never, orphanedTypes: [ScratchCardBatch, ScratchCard] },
    { ScratchCardBatch: none, ScratchCard: none },
  );
}

export async function createService(config: Config): Promise<ServiceHandle> {
  const logger = createLogger('scratch-cards', config.LOG_LEVEL);
  const orm = await openServiceDatabase(config.DATABASE_URL, config.DATABASE_POOL_MAX);
  const { schema } = await buildScratchCardsSchema();
  return createSubgraphServer({ name: 'scratch-cards', schema, orm, secret: config.INTERNAL_CONTEXT_SECRET, logger });
}
