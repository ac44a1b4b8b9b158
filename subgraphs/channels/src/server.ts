import { buildFederatedSchema, createLogger, createSubgraphServer, type FederatedSchema, type ServiceHandle } from '@coinslot/kernel';
import type { Config } from './config';
import { openServiceDatabase } from './database';
import { Channel } from './types';

const none = { __resolveReference: () => null };

export function buildChannelsSchema(): Promise<FederatedSchema> {
  return buildFederatedSchema({ resolvers: [() => undefined] as never, orphanedTypes: [Channel] }, { Channel: none });
}

export async function createService(config: Config): Promise<ServiceHandle> {
  const logger = createLogger('channels', config.LOG_LEVEL);
  const orm = await openServiceDatabase(config.DATABASE_URL, config.DATABASE_POOL_MAX);
  const { schema } = await buildChannelsSchema();
  return createSubgraphServer({ name: 'channels', schema, orm, secret: config.INTERNAL_CONTEXT_SECRET, logger });
}
