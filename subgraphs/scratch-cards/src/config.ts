import { z } from 'zod';
import {
  DEFAULT_PORTS,
  base64Key32 as key32,
  keyOrDerived,
  loadConfig,
  peerUrl,
  subgraphConfigSchema,
} from '@coinslot/kernel';

export const DEFAULT_CHUNK_SIZE = 2_500;

const seconds = (fallback: number, max = 30 * 86_400) =>
  z.coerce.number().int().min(1).max(max).default(fallback);

export const configSchema = subgraphConfigSchema('scratch-cards')
  .extend({
    /** HMAC-SHA256 key for activation-code hashes. Changing it makes every unredeemed card unknown. */
    CARD_CODE_KEY: key32,
    /** AES-256-GCM key of the vault that holds clear codes until export (or virtual issue). */
    CARD_VAULT_KEY: key32,
    /** Public address of the gateway; export URLs are `${PUBLIC_BASE_URL}/exports/scratch-cards/<token>`. */
    PUBLIC_BASE_URL: z.string().url().default(`http://localhost:${DEFAULT_PORTS.gateway}`),
    ACCOUNTS_URL: peerUrl('accounts'),
    CATALOG_URL: peerUrl('catalog'),
    BILLING_URL: peerUrl('billing'),
    /** Rate-limiter storage: Redis when set, else this subgraph's own PostgreSQL schema. */
    REDIS_URL: z.string().url().optional(),
    EXPORT_TTL_SECONDS: seconds(600, 86_400),
    /** Failed activations (mistyped or unknown codes) allowed per sliding window. */
    ACTIVATION_MAX_FAILURES_PER_PLAYER: z.coerce.number().int().min(1).max(10_000).default(5),
    ACTIVATION_MAX_FAILURES_PER_IP: z.coerce.number().int().min(1).max(100_000).default(30),
    /** Portal-key calls all come from the portal's server: its address gets this higher limit. */
    ACTIVATION_MAX_FAILURES_PER_PORTAL_IP: z.coerce
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .default(1_000),
    ACTIVATION_FAILURE_WINDOW_SECONDS: seconds(900),
    /** How long a player or address stays locked out once over its limit. */
    ACTIVATION_LOCKOUT_SECONDS: seconds(900),
    /**
     * Cards per generation chunk: one multi-row insert and one vault entry each. Small chunks keep
     * the generator's heap flat (1M cards: ~200 MB RSS at 2,500 vs ~360 MB at 10,000), at the same speed.
     */
    GENERATION_CHUNK_SIZE: z.coerce
      .number()
      .int()
      .min(100)
      .max(100_000)
      .default(DEFAULT_CHUNK_SIZE),
    MAX_BATCH_SIZE: z.coerce.number().int().min(1).max(50_000_000).default(10_000_000),
    JOB_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
    /**
     * A redeemed card whose value was not delivered this long after activation is delivered by the
     * next sweep (every minute).
     */
    DELIVERY_RETRY_DELAY_SECONDS: seconds(30, 3_600),
    /**
     * Activations are redeemed and delivered in batches (one statement, one ledger call for all the
     * activations waiting): at most this many batches run at once, and the next one collects what
     * arrives meanwhile. An activation arriving when fewer run starts at once (no added wait).
     */
    ACTIVATION_BATCH_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(2),
    ACTIVATION_BATCH_MAX: z.coerce.number().int().min(1).max(1_000).default(200),
  })
  .superRefine((c, ctx) => {
    if (c.NODE_ENV !== 'production') return;
    for (const key of ['CARD_CODE_KEY', 'CARD_VAULT_KEY'] as const) {
      if (!c[key])
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `${key} is required in production (32 bytes, base64)`,
        });
    }
  });
export type Config = z.infer<typeof configSchema>;
export const loadServiceConfig = (env = process.env) => loadConfig(configSchema, env);

export interface CardKeys {
  codeKey: Buffer;
  vaultKey: Buffer;
}

/**
 * The two card keys. Outside production a missing key is derived from the internal-context
 * secret (HKDF, distinct labels), so a development checkout runs without extra setup; production
 * refuses to start without real keys (configSchema).
 */
export function cardKeys(
  config: Pick<Config, 'CARD_CODE_KEY' | 'CARD_VAULT_KEY' | 'INTERNAL_CONTEXT_SECRET'>,
): CardKeys {
  const codeKey = keyOrDerived(
    config.CARD_CODE_KEY,
    config.INTERNAL_CONTEXT_SECRET,
    'scratch-cards code key',
  );
  const vaultKey = keyOrDerived(
    config.CARD_VAULT_KEY,
    config.INTERNAL_CONTEXT_SECRET,
    'scratch-cards vault key',
  );
  return { codeKey, vaultKey };
}
