import { z } from 'zod';
import {
  DEFAULT_PORTS,
  SUBGRAPH_NAMES,
  loadConfig,
  urlEnvName,
  type SubgraphName,
} from '@coinslot/kernel';

const urls = Object.fromEntries(
  SUBGRAPH_NAMES.map((name) => [
    urlEnvName(name),
    z.string().url().default(`http://127.0.0.1:${DEFAULT_PORTS[name]}/graphql`),
  ]),
) as Record<string, z.ZodDefault<z.ZodString>>;

export const gatewayConfigSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  HOST: z.string().default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(DEFAULT_PORTS.gateway),
  INTERNAL_CONTEXT_SECRET: z.string().min(32),
  PLAYER_TOKEN_SECRET: z.string().min(32),
  /** Where the committed supergraph lives; composed by `npm run schema:write`. */
  SUPERGRAPH_PATH: z.string().optional(),
  /** Redis for subscription fan-out across gateway instances; PostgreSQL LISTEN/NOTIFY otherwise. */
  REDIS_URL: z.string().url().optional(),
  /** PostgreSQL for LISTEN/NOTIFY events (the same database as the subgraphs). */
  DATABASE_URL: z.string().url().optional(),
  MAX_DEPTH: z.coerce.number().int().min(2).max(50).default(10),
  MAX_ALIASES: z.coerce.number().int().min(1).default(15),
  MAX_COST: z.coerce.number().int().min(100).default(5000),
  MAX_TOKENS: z.coerce.number().int().min(100).default(2000),
  ...urls,
});
export type GatewayConfig = z.infer<typeof gatewayConfigSchema>;

export const loadGatewayConfig = (env = process.env) => loadConfig(gatewayConfigSchema, env);

export function subgraphUrls(config: GatewayConfig): Record<SubgraphName, string> {
  const c = config as unknown as Record<string, string>;
  return Object.fromEntries(SUBGRAPH_NAMES.map((n) => [n, c[urlEnvName(n)]!])) as Record<
    SubgraphName,
    string
  >;
}
