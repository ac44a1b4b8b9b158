/**
 * Test fixture for the channels service: a cloned database, the real service on port 0, real
 * simulators on loopback posting callbacks to the service, channels and accounts created
 * through the admin API, and a fake billing endpoint that records hand-offs.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyInternalContext, type Principal } from '@coinslot/kernel';
import {
  asPrincipal,
  createTestDatabase,
  gql,
  TEST_SECRET,
  type GraphQLResponse,
} from '@coinslot/testing';
import { configSchema, type Config } from '../src/config';
import { createService, type ChannelsService } from '../src/server';
import { CredentialsKeyring } from '../src/security/keyring';

export const MERCHANT = '0190b000-0000-7000-8000-0000000000a1';
export const OTHER_MERCHANT = '0190b000-0000-7000-8000-0000000000b2';
export const OWNER: Principal = {
  kind: 'admin',
  adminId: '0190b000-0000-7000-8000-0000000000c3',
  role: 'owner',
};
export const OPERATOR: Principal = {
  kind: 'admin',
  adminId: '0190b000-0000-7000-8000-0000000000c4',
  role: 'operator',
};
export const BILLING: Principal = { kind: 'service', service: 'billing' };

export interface HandOff {
  principal: Principal;
  input: Record<string, unknown>;
}

/** Billing's GraphQL endpoint, as far as hand-offs go: records every _procedureOutcome. */
export async function startOutcomeSink(): Promise<{
  url: string;
  received: HandOff[];
  close(): Promise<void>;
}> {
  const received: HandOff[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const header = req.headers['x-coinslot-context'];
      verifyInternalContext(Array.isArray(header) ? header[0] : header, TEST_SECRET)
        .then((principal) => {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
            query: string;
            variables: { input: Record<string, unknown> };
          };
          if (!body.query.includes('_procedureOutcome')) throw new Error('unexpected operation');
          received.push({ principal, input: body.variables.input });
          res
            .writeHead(200, { 'content-type': 'application/json' })
            .end(JSON.stringify({ data: { _procedureOutcome: true } }));
        })
        .catch(() =>
          res.writeHead(401).end(JSON.stringify({ errors: [{ message: 'unauthenticated' }] })),
        );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`,
    received,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

export function testConfig(
  url: string,
  overrides: Partial<Record<keyof Config, string | number>> = {},
): Config {
  return configSchema.parse({
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
    PORT: 0,
    DATABASE_URL: url,
    DATABASE_POOL_MAX: 10,
    INTERNAL_CONTEXT_SECRET: TEST_SECRET,
    CREDENTIALS_KEYS: CredentialsKeyring.generateSpec('k1'),
    ADAPTER_TIMEOUT_MS: 400,
    RUN_LEASE_MS: 15_000,
    RESOLVER_BASE_DELAY_MS: 150,
    RESOLVER_MAX_DELAY_MS: 1_000,
    BREAKER_THRESHOLD: 3,
    BREAKER_HALF_OPEN_MS: 60_000,
    INTERACTION_FLUSH_MS: 20,
    JOB_POLL_INTERVAL_MS: 100,
    ...overrides,
  });
}

// Test data read from GraphQL answers and SQL rows: shapes are asserted, not typed.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Data = Record<string, any>;

export interface Harness {
  service: ChannelsService;
  url: string;
  baseUrl: string;
  admin<T = Data>(
    query: string,
    variables?: Record<string, unknown>,
    as?: Principal,
  ): Promise<GraphQLResponse<T>>;
  billing<T = Data>(
    query: string,
    variables?: Record<string, unknown>,
  ): Promise<GraphQLResponse<T>>;
  sql<T = Data>(text: string, params?: unknown[]): Promise<T[]>;
}

export async function startService(config: Config): Promise<Harness> {
  const service = await createService(config);
  const baseUrl = await service.listen(0);
  const url = `${baseUrl}/graphql`;
  return {
    service,
    url,
    baseUrl,
    admin: async (query, variables = {}, as = OWNER) =>
      gql(url, query, variables, await asPrincipal(as, TEST_SECRET)),
    billing: async (query, variables = {}) =>
      gql(url, query, variables, await asPrincipal(BILLING, TEST_SECRET)),
    sql: async (text, params = []) => {
      const em = service.runtime.orm.em.fork();
      return em.getConnection().execute(text, params as unknown[]) as never;
    },
  };
}

export async function createDb() {
  return createTestDatabase();
}

const CREATE = `mutation($input: CreateChannelInput!) { createChannel(input: $input) { id code } }`;
const PROVISION = `mutation($input: ProvisionChannelAccountInput!) { provisionChannelAccount(input: $input) { id status priority credentialNames credentialsKeyId } }`;

export async function addChannel(
  h: Harness,
  input: {
    code: string;
    kind: string;
    protocol: string;
    adapter: string;
    countries: string[];
    currencies?: string[];
    operators?: string[];
    settings: Record<string, unknown>;
  },
): Promise<string> {
  const r = await h.admin(CREATE, {
    input: { name: input.code, ...input, settings: JSON.stringify(input.settings) },
  });
  if (!r.data) throw new Error(JSON.stringify(r.errors));
  return r.data.createChannel.id as string;
}

export async function provision(
  h: Harness,
  channelId: string,
  credentials: Record<string, string>,
  opts: { merchantId?: string; priority?: number; settings?: Record<string, unknown> } = {},
): Promise<string> {
  const r = await h.admin(PROVISION, {
    input: {
      merchantId: opts.merchantId ?? MERCHANT,
      channelId,
      credentials: JSON.stringify(credentials),
      priority: opts.priority ?? 100,
      settings: opts.settings ? JSON.stringify(opts.settings) : null,
    },
  });
  if (!r.data) throw new Error(JSON.stringify(r.errors));
  return r.data.provisionChannelAccount.id as string;
}

export const RUN = `mutation($input: RunProcedureInput!) {
  _runProcedure(input: $input) {
    id reference procedure channelId channelCode version
    amount { amountMinor currency }
    outcome { kind final completion declineCode providerRef actionKind actionUrl attemptsLeft balance { amountMinor currency } }
    createdAt updatedAt
  }
}`;

export const RUN_BY_REFERENCE = `query($reference: String!) {
  _procedureRun(reference: $reference) { id reference channelCode version outcome { kind final declineCode providerRef actionKind } }
}`;

let seq = 0;
/** A billing-like serial number, unique per test run. */
export function serial(prefix = 'PAY'): string {
  seq += 1;
  return `${prefix}${Date.now().toString(36).toUpperCase()}${process.pid.toString(36).toUpperCase()}${seq}`;
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false>,
  timeoutMs = 8_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
