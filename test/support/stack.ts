import {
  SUBGRAPH_NAMES,
  createLogger,
  freePort,
  urlEnvName,
  type ServiceHandle,
  type SubgraphName,
} from '@coinslot/kernel';
import {
  createTestDatabase,
  TEST_PLAYER_TOKEN_SECRET,
  TEST_SECRET,
  gql,
  bearer,
} from '@coinslot/testing';
import { createGateway, type GatewayHandle } from '../../gateway/src/server';
import { CombinedEventBus, MemoryEventBus, PgEventBus } from '../../gateway/src/events';
import { composeSupergraph } from '../../gateway/src/compose';
import { buildAllSubgraphSdl } from '../../scripts/lib/schemas';
import { SUBGRAPH_FACTORIES } from '../../scripts/lib/services';
import { seedDemo, type DemoSeed } from '../../scripts/lib/seed';
import {
  startDemoSimulators,
  type RunningSimulators,
} from '../../subgraphs/channels/src/simulators-main';
import type { ChannelsService } from '../../subgraphs/channels/src/server';
import { BillingProcess } from './billing-process';

export interface Stack {
  gatewayUrl: string;
  subgraphUrls: Record<SubgraphName, string>;
  databaseUrl: string;
  demo: DemoSeed;
  /** Events published here reach subscribers too (beside billing's PostgreSQL NOTIFY). */
  bus: MemoryEventBus;
  /** The carrier and PSP simulators the demo channels point at (charge counts, faults, 3-D Secure). */
  simulators: RunningSimulators;
  /** POST to the gateway with a bearer key or token. */
  call<T = Record<string, any>>(
    query: string,
    variables?: Record<string, unknown>,
    token?: string,
  ): ReturnType<typeof gql<T>>;
  /** With `{ billingProcess: true }`: billing as its own OS process (start, kill, restart). */
  billing?: BillingProcess;
  close(): Promise<void>;
}

export interface StackOptions {
  /**
   * Run billing as a separate OS process (`node --import tsx subgraphs/billing/src/main.ts`)
   * on the fixed port the other services point at, with the same environment, instead of
   * in-process; it is started before startStack returns and stopped by close().
   */
  billingProcess?: boolean;
}

/**
 * The real thing, in-process: every subgraph on port 0 against its own cloned database, the
 * gateway composed from the subgraphs' code, demo data seeded, the carrier and PSP simulators
 * running behind the demo channels. `overrides` adds or replaces environment variables.
 */
export async function startStack(
  overrides: NodeJS.ProcessEnv = {},
  options: StackOptions = {},
): Promise<Stack> {
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
    // Jobs and the channels' resolver run fast, so asynchronous outcomes settle within a test.
    JOB_POLL_INTERVAL_MS: '100',
    RESOLVER_BASE_DELAY_MS: '300',
    RESOLVER_MAX_DELAY_MS: '2000',
    ...overrides,
  };
  const services: ServiceHandle[] = [];
  const byName: Partial<Record<SubgraphName, ServiceHandle>> = {};
  const subgraphUrls = {} as Record<SubgraphName, string>;
  const bus = new MemoryEventBus();
  const pgBus = new PgEventBus(db.url, createLogger('stack-events', 'silent'));
  let gateway: GatewayHandle | undefined;
  let simulators: RunningSimulators | undefined;
  let billing: BillingProcess | undefined;
  let demo: DemoSeed;
  let gatewayUrl: string;
  try {
    // Subgraphs call each other both ways (billing ↔ channels, billing ↔ scratch-cards): every
    // URL is known before any service is built.
    const ports = {} as Record<SubgraphName, number>;
    for (const name of SUBGRAPH_NAMES) {
      ports[name] = await freePort();
      subgraphUrls[name] = `http://127.0.0.1:${ports[name]}/graphql`;
      env[urlEnvName(name)] = subgraphUrls[name];
    }
    // channels hands late outcomes (callbacks, resolver) back to billing.
    env.OUTCOME_WEBHOOK_URL = overrides.OUTCOME_WEBHOOK_URL ?? subgraphUrls.billing;
    for (const name of SUBGRAPH_NAMES) {
      if (name === 'billing' && options.billingProcess) {
        billing = new BillingProcess(env, ports.billing);
        continue;
      }
      const factory = SUBGRAPH_FACTORIES[name];
      if (!factory) throw new Error(`no factory for ${name}`);
      const service = await factory(env);
      services.push(service);
      byName[name] = service;
      await service.listen(ports[name]);
    }
    simulators = await startDemoSimulators({
      callbackBase: `http://127.0.0.1:${ports.channels}`,
      port: () => 0,
    });
    demo = await seedDemo(db.url, undefined, {
      simulators: simulators.info,
      credentialsKeys: env.CREDENTIALS_KEYS!,
    });
    await (byName.channels as ChannelsService).startJobs();
    await billing?.start();
    const { supergraphSdl } = composeSupergraph(await buildAllSubgraphSdl());
    await pgBus.start();
    gateway = await createGateway({
      supergraphSdl,
      subgraphUrls,
      internalContextSecret: TEST_SECRET,
      playerTokenSecret: TEST_PLAYER_TOKEN_SECRET,
      // Billing notifies payment events through PostgreSQL, as in production on one machine.
      bus: new CombinedEventBus([bus, pgBus]),
      logLevel: env.LOG_LEVEL,
    });
    gatewayUrl = `${await gateway.listen(0)}/graphql`;
  } catch (err) {
    if (gateway) await gateway.close();
    else await pgBus.close();
    await billing?.stop();
    for (const s of services) await s.close();
    await simulators?.stop();
    await db.drop();
    throw err;
  }
  const sims = simulators;
  const started = gateway;
  const billingProcess = billing;
  return {
    gatewayUrl,
    subgraphUrls,
    databaseUrl: db.url,
    demo,
    bus,
    simulators: sims,
    billing: billingProcess,
    call: (query, variables = {}, token) =>
      gql(gatewayUrl, query, variables, token ? bearer(token) : {}),
    async close() {
      await started.close();
      await billingProcess?.stop();
      for (const s of services) await s.close();
      await sims.stop();
      await db.drop();
    },
  };
}
