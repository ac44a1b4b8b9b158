import express from 'express';
import {
  MAX_BODY_BYTES,
  MoneyType,
  buildFederatedSchema,
  createLogger,
  createSubgraphServer,
  type FederatedSchema,
  type ServiceHandle,
} from '@coinslot/kernel';
import type { Config } from './config';
import { openServiceDatabase } from './database';
import { createAccountResolver } from './modules/account/account.resolver';
import { createChannelResolver, resolveChannelReference } from './modules/channel/channel.resolver';
import { createProcedureResolver } from './modules/procedure/procedure.resolver';
import { createSettlementResolver } from './modules/settlement/settlement.resolver';
import { ChannelsRuntime } from './runtime/runtime';

export interface ChannelsService extends ServiceHandle {
  runtime: ChannelsRuntime;
  /** Starts the job runner (resolver, hand-offs, partitions, settlement); main.ts calls it. */
  startJobs(): Promise<void>;
}

const noRuntime = (): ChannelsRuntime => {
  throw new Error('this schema was built without a runtime (SDL only)');
};

/** The channels subgraph schema; without a runtime it serves only for SDL (schema:write). */
export function buildChannelsSchema(runtime?: ChannelsRuntime): Promise<FederatedSchema> {
  const rt = runtime ? () => runtime : noRuntime;
  return buildFederatedSchema(
    {
      resolvers: [
        createChannelResolver(rt),
        createAccountResolver(rt),
        createProcedureResolver(rt),
        createSettlementResolver(rt),
      ],
      orphanedTypes: [MoneyType],
    },
    { Channel: { __resolveReference: resolveChannelReference } } as never,
  );
}

/** Builds the channels service; nothing listens and no job runs until listen() / startJobs(). */
export async function createService(config: Config): Promise<ChannelsService> {
  const logger = createLogger('channels', config.LOG_LEVEL);
  const orm = await openServiceDatabase(config.DATABASE_URL, config.DATABASE_POOL_MAX);
  let runtime: ChannelsRuntime;
  try {
    runtime = new ChannelsRuntime(config, orm, logger);
  } catch (err) {
    await orm.close(true);
    throw err;
  }
  const { schema } = await buildChannelsSchema(runtime);
  const handle = await createSubgraphServer({
    name: 'channels',
    schema,
    orm,
    secret: config.INTERNAL_CONTEXT_SECRET,
    logger,
    routes(app) {
      // One URL per channel for carrier callbacks; the raw body is what signatures cover.
      app.use(
        '/callbacks',
        express.raw({ type: () => true, limit: MAX_BODY_BYTES }),
        (req, res, next) => {
          runtime.callbacks.handleHttp(req, res).catch(next);
        },
      );
    },
    onClose: () => runtime.close(),
  });
  runtime.setBaseUrl(() => handle.url() || undefined);
  return Object.assign(handle, { runtime, startJobs: () => runtime.startJobs() });
}
