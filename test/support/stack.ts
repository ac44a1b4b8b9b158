import { SUBGRAPH_NAMES, urlEnvName, type ServiceHandle, type SubgraphName } from '@coinslot/kernel';
import { createTestDatabase, TEST_PLAYER_TOKEN_SECRET, TEST_SECRET, gql, bearer } from '@coinslot/testing';
import { createGateway, type GatewayHandle } from '../../gateway/src/server';
import { MemoryEventBus } from '../../gateway/src/events';
import { composeSupergraph } from '../../gateway/src/compose';
import { buildAllSubgraphSdl } from '../../scripts/lib/schemas';
import { SUBGRAPH_FACTORIES } from '../../scripts/lib/services';
import { seedDemo, type DemoSeed } from '../../scripts/lib/seed';

export interface Stack {
  gatewayUrl: string;
  subgraphUrls: Record<SubgraphName, string>;
  databaseUrl: string;
  demo: DemoSeed;
  bus: MemoryEventBus;
  /** POST to the gateway with a bearer key or token. */
  call<T = Record<string, any>>(query: string, variables?: Record<string, unknown>, token?: string): ReturnType<typeof gql<T>>;
  close(): Promise<void>;
}

/**
 * The real thing, in-process: every subgraph on port 0 against its own cloned database, the
 * gateway composed from the subgraphs' code, demo data seeded.
 */
export async function startStack(): Promise<Stack> {
  const db = await createTestDatabase();
  const env: NodeJS.ProcessEnv = {
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
    DATABASE_URL: db.url,
    DATABASE_POOL_MAX: '5',
    INTERNAL_CONTEXT_SECRET: TEST_SECRET,
    PLAYER_TOKEN_SECRET: TEST_PLAYER_TOKEN_SECRET,
    // channels encrypts carrier credentials at rest (id:base64 of 32 bytes; a test-only key).
    CREDENTIALS_KEYS: `test:${Buffer.alloc(32, 7).toString('base64')}`,
    // scratch-cards: HMAC key of activation codes and AES key of the code vault (test-only keys).
    CARD_CODE_KEY: Buffer.alloc(32, 11).toString('base64'),
    CARD_VAULT_KEY: Buffer.alloc(32, 13).toString('base64'),
    PORT: '0',
  };
  const services: ServiceHandle[] = [];
  const subgraphUrls = {} as Record<SubgraphName, string>;
  const bus = new MemoryEventBus();
  let gateway: GatewayHandle | undefined;
  let demo: DemoSeed;
  let gatewayUrl: string;
  try {
    for (const name of SUBGRAPH_NAMES) {
      const factory = SUBGRAPH_FACTORIES[name];
      if (!factory) throw new Error(`no factory for ${name}`);
      const service = await factory(env);
      services.push(service);
      subgraphUrls[name] = `${await service.listen(0)}/graphql`;
      // Later subgraphs call earlier ones directly (e.g. scratch-cards → accounts, catalog, billing).
      env[urlEnvName(name)] = subgraphUrls[name];
    }
    demo = await seedDemo(db.url);
    const { supergraphSdl } = composeSupergraph(await buildAllSubgraphSdl());
    gateway = await createGateway({
      supergraphSdl,
      subgraphUrls,
      internalContextSecret: TEST_SECRET,
      playerTokenSecret: TEST_PLAYER_TOKEN_SECRET,
      bus,
      logLevel: env.LOG_LEVEL,
    });
    gatewayUrl = `${await gateway.listen(0)}/graphql`;
  } catch (err) {
    await gateway?.close();
    for (const s of services) await s.close();
    await db.drop();
    throw err;
  }
  const started = gateway;
  return {
    gatewayUrl,
    subgraphUrls,
    databaseUrl: db.url,
    demo,
    bus,
    call: (query, variables = {}, token) => gql(gatewayUrl, query, variables, token ? bearer(token) : {}),
    async close() {
      await started.close();
      for (const s of services) await s.close();
      await db.drop();
    },
  };
}
