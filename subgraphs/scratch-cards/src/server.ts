import {
  MoneyType,
  buildFederatedSchema,
  createLogger,
  createSubgraphServer,
  type FederatedSchema,
  type ServiceHandle,
} from '@coinslot/kernel';
import type { Config } from './config';
import { openServiceDatabase } from './database';
import { ScratchCardsRuntime } from './runtime';
import { createBatchResolver, resolveBatchReference } from './modules/batch/batch.resolver';
import { createCardResolver, resolveCardReference } from './modules/card/card.resolver';
import { FormatResolver } from './modules/format/format.resolver';
import { createVirtualResolver } from './modules/virtual/virtual.resolver';
import { exportRoutes } from './modules/export/export.routes';
import type { GenerationDeps } from './modules/batch/generation';

const noRuntime = (): ScratchCardsRuntime => {
  throw new Error('this schema was built without a runtime (SDL only)');
};

/** The scratch-cards subgraph schema; without a runtime it serves only for SDL (schema:write). */
export function buildScratchCardsSchema(runtime?: ScratchCardsRuntime): Promise<FederatedSchema> {
  const rt = runtime ? () => runtime : noRuntime;
  return buildFederatedSchema(
    {
      resolvers: [
        createBatchResolver(rt),
        createCardResolver(rt),
        FormatResolver,
        createVirtualResolver(rt),
      ],
      orphanedTypes: [MoneyType],
    },
    {
      ScratchCardBatch: { __resolveReference: resolveBatchReference },
      ScratchCard: { __resolveReference: resolveCardReference },
    } as never,
  );
}

export interface ScratchCardsService extends ServiceHandle {
  runtime: ScratchCardsRuntime;
}

export interface ServiceOptions {
  /** Run the graphile-worker runner (generation, delivery retries, expiry). Default true. */
  jobs?: boolean;
  /** Tests only: replace the code source of generation. */
  generation?: Partial<Pick<GenerationDeps, 'codes'>>;
}

/**
 * Builds the scratch-cards service: GraphQL, GET /exports/:token and (unless told otherwise) the
 * job runner, which stops with close(). Nothing listens until listen().
 */
export async function createService(
  config: Config,
  options: ServiceOptions = {},
): Promise<ScratchCardsService> {
  const logger = createLogger('scratch-cards', config.LOG_LEVEL);
  const orm = await openServiceDatabase(config.DATABASE_URL, config.DATABASE_POOL_MAX);
  let runtime: ScratchCardsRuntime | undefined;
  try {
    runtime = new ScratchCardsRuntime(config, orm, logger, options.generation);
    const rt = runtime;
    const { schema } = await buildScratchCardsSchema(runtime);
    const handle = await createSubgraphServer({
      name: 'scratch-cards',
      schema,
      orm,
      secret: config.INTERNAL_CONTEXT_SECRET,
      logger,
      routes: (app) => exportRoutes(app, { orm, vault: rt.vault, log: logger }),
      onClose: () => rt.close(),
    });
    if (options.jobs ?? true) {
      try {
        await rt.startJobs();
      } catch (err) {
        await handle.close();
        throw err;
      }
    }
    return Object.assign(handle, { runtime: rt });
  } catch (err) {
    await runtime?.close().catch(() => undefined);
    await orm.close(true).catch(() => undefined);
    throw err;
  }
}
