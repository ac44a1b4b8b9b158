import { createHash, hkdfSync } from 'node:crypto';
import { z } from 'zod';

/** Settings every service reads. Each service extends this with its own. */
export const baseConfigSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  HOST: z.string().default('127.0.0.1'),
  DATABASE_URL: z.string().url(),
  DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),
  /** HMAC key the gateway signs the internal context with; subgraphs verify with it. */
  INTERNAL_CONTEXT_SECRET: z
    .string()
    .min(32, 'INTERNAL_CONTEXT_SECRET must have at least 32 characters'),
});
export type BaseConfig = z.infer<typeof baseConfigSchema>;

/** Validates the environment against a schema; fails fast with every problem listed. */
export function loadConfig<S extends z.ZodType>(
  schema: S,
  env: NodeJS.ProcessEnv = process.env,
): z.infer<S> {
  const result = schema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues
      .map((i) => `  ${i.path.join('.')}: ${i.message}`)
      .join('\n');
    throw new Error(`Invalid configuration:\n${problems}`);
  }
  return result.data;
}

export const DEFAULT_PORTS = {
  gateway: 4000,
  accounts: 4001,
  catalog: 4002,
  billing: 4003,
  'scratch-cards': 4004,
  channels: 4005,
} as const;
export type ServiceName = keyof typeof DEFAULT_PORTS;
export const SUBGRAPH_NAMES = [
  'accounts',
  'catalog',
  'billing',
  'scratch-cards',
  'channels',
] as const;
export type SubgraphName = (typeof SUBGRAPH_NAMES)[number];

/** Env var that overrides a service's port, e.g. SCRATCH_CARDS_PORT. */
export function portEnvName(service: ServiceName): string {
  return `${service.toUpperCase().replace(/-/g, '_')}_PORT`;
}
/** Env var the gateway reads a subgraph's URL from, e.g. SCRATCH_CARDS_URL. */
export function urlEnvName(service: SubgraphName): string {
  return `${service.toUpperCase().replace(/-/g, '_')}_URL`;
}

export function subgraphConfigSchema(service: SubgraphName) {
  return baseConfigSchema.extend({
    PORT: z.coerce.number().int().min(0).max(65535).default(DEFAULT_PORTS[service]),
  });
}

/** A peer subgraph's GraphQL endpoint (for internal calls), defaulting to its local port. */
export function peerUrl(service: SubgraphName) {
  return z.string().url().default(`http://127.0.0.1:${DEFAULT_PORTS[service]}/graphql`);
}

/** An optional base64 (or base64url) encoded 32-byte key. */
export const base64Key32 = z
  .string()
  .refine(
    (v) => Buffer.from(v, 'base64').length === 32,
    'must be 32 bytes, base64-encoded (openssl rand -base64 32)',
  )
  .optional();

/**
 * A service key: the configured one, or outside production one derived from the internal-context
 * secret (HKDF with a distinct label per use), so a development checkout runs without extra
 * setup. Production configs refuse to start without the real key.
 */
export function keyOrDerived(
  configured: string | undefined,
  internalSecret: string,
  label: string,
): Buffer {
  if (configured) return Buffer.from(configured, 'base64');
  return Buffer.from(
    hkdfSync('sha256', internalSecret, createHash('sha256').update('coinslot').digest(), label, 32),
  );
}
