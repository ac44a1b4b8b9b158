// Before any import that could construct the gateway: no cloud metadata probes, no usage reports.
process.env.APOLLO_TELEMETRY_DISABLED ??= '1';

import fs from 'node:fs';
import path from 'node:path';
import { createLogger, runUntilSignal } from '@coinslot/kernel';
import { loadGatewayConfig, subgraphUrls } from './config';
import {
  CombinedEventBus,
  MemoryEventBus,
  PgEventBus,
  RedisEventBus,
  type EventBus,
} from './events';
import { createGateway } from './server';

const config = loadGatewayConfig();
const logger = createLogger('gateway', config.LOG_LEVEL);

runUntilSignal('gateway', logger, async () => {
  const supergraphPath =
    config.SUPERGRAPH_PATH ?? path.join(__dirname, '..', '..', 'schema', 'supergraph.graphql');
  const supergraphSdl = fs.readFileSync(supergraphPath, 'utf8');
  const buses: EventBus[] = [];
  if (config.DATABASE_URL) {
    const pg = new PgEventBus(config.DATABASE_URL, logger);
    await pg.start();
    buses.push(pg);
  }
  if (config.REDIS_URL) {
    const redis = new RedisEventBus(config.REDIS_URL, logger);
    await redis.start();
    buses.push(redis);
  }
  const bus: EventBus =
    buses.length === 0
      ? new MemoryEventBus()
      : buses.length === 1
        ? buses[0]!
        : new CombinedEventBus(buses);
  const gateway = await createGateway({
    supergraphSdl,
    subgraphUrls: subgraphUrls(config),
    internalContextSecret: config.INTERNAL_CONTEXT_SECRET,
    playerTokenSecret: config.PLAYER_TOKEN_SECRET,
    bus,
    logLevel: config.LOG_LEVEL,
    limits: {
      maxDepth: config.MAX_DEPTH,
      maxAliases: config.MAX_ALIASES,
      maxCost: config.MAX_COST,
      maxTokens: config.MAX_TOKENS,
    },
  });
  const url = await gateway.listen(config.PORT, config.HOST);
  logger.info({ url: `${url}/graphql` }, 'gateway ready');
  return gateway;
});
