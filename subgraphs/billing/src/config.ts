import { z } from 'zod';
import { hkdfSync } from 'node:crypto';
import {
  DEFAULT_PORTS,
  base64Key32 as key32,
  keyOrDerived,
  loadConfig,
  peerUrl,
  subgraphConfigSchema,
} from '@coinslot/kernel';

const ms = (fallback: number) => z.coerce.number().int().min(0).max(86_400_000).default(fallback);

export const configSchema = subgraphConfigSchema('billing')
  .extend({
    ACCOUNTS_URL: peerUrl('accounts'),
    CATALOG_URL: peerUrl('catalog'),
    CHANNELS_URL: peerUrl('channels'),
    SCRATCH_CARDS_URL: peerUrl('scratch-cards'),
    /** Public address of the gateway; the cash desk is `${PUBLIC_BASE_URL}/cash-desk/<paymentId>?t=…`. */
    PUBLIC_BASE_URL: z.string().url().default(`http://localhost:${DEFAULT_PORTS.gateway}`),
    /** AES-256-GCM key of the merchants' webhook signing secrets (and the MSISDN hash key). */
    WEBHOOK_KEY: key32,
    /**
     * HS256 key of the cash-desk tokens (the same secret as accounts' player tokens, so the
     * gateway can verify both with one key).
     */
    PLAYER_TOKEN_SECRET: z.string().min(32).optional(),
    CASH_DESK_TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).max(86_400).default(900),
    /** Status events to gateways on several machines; PostgreSQL NOTIFY is always sent. */
    REDIS_URL: z.string().url().optional(),
    /** First safety-net status query of a payment whose outcome is still open, then doubling. */
    RESOLVE_DELAY_MS: ms(30_000),
    RESOLVE_MAX_DELAY_MS: ms(15 * 60_000),
    /** How long a request waits for a concurrent one with the same idempotency key. */
    IDEMPOTENCY_WAIT_MS: ms(10_000),
    /** Idempotency keys are kept at least this long. */
    IDEMPOTENCY_TTL_HOURS: z.coerce
      .number()
      .int()
      .min(24)
      .max(24 * 90)
      .default(24),
    WEBHOOK_TIMEOUT_MS: ms(10_000),
    WEBHOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(12),
    /** First retry of a failed webhook, doubling (with jitter) up to the maximum. */
    WEBHOOK_RETRY_BASE_MS: ms(10_000),
    WEBHOOK_RETRY_MAX_MS: ms(6 * 3_600_000),
    JOB_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
    JOB_POLL_INTERVAL_MS: z.coerce.number().int().min(50).max(60_000).default(1_000),
  })
  .superRefine((c, ctx) => {
    if (c.NODE_ENV !== 'production') return;
    if (!c.WEBHOOK_KEY)
      ctx.addIssue({
        code: 'custom',
        path: ['WEBHOOK_KEY'],
        message: 'WEBHOOK_KEY is required in production (32 bytes, base64)',
      });
    if (!c.PLAYER_TOKEN_SECRET)
      ctx.addIssue({
        code: 'custom',
        path: ['PLAYER_TOKEN_SECRET'],
        message: 'PLAYER_TOKEN_SECRET is required in production',
      });
  });
export type Config = z.infer<typeof configSchema>;
export const loadServiceConfig = (env = process.env) => loadConfig(configSchema, env);

export interface BillingKeys {
  /** AES-256-GCM key for webhook secrets at rest. */
  webhookKey: Buffer;
  /** HMAC key for MSISDN hashes (caps and lookups without keeping the number). */
  msisdnKey: Buffer;
  /** HS256 key of cash-desk tokens. */
  cashDeskKey: Uint8Array;
}

/**
 * Outside production a missing key is derived from the internal-context secret (HKDF, distinct
 * labels), so a development checkout runs without extra setup; production refuses to start
 * without real keys (configSchema).
 */
export function billingKeys(
  config: Pick<Config, 'WEBHOOK_KEY' | 'PLAYER_TOKEN_SECRET' | 'INTERNAL_CONTEXT_SECRET'>,
): BillingKeys {
  const derive = (label: string) => keyOrDerived(undefined, config.INTERNAL_CONTEXT_SECRET, label);
  const webhookKey = keyOrDerived(
    config.WEBHOOK_KEY,
    config.INTERNAL_CONTEXT_SECRET,
    'billing webhook key',
  );
  const msisdnKey = Buffer.from(
    hkdfSync('sha256', webhookKey, Buffer.alloc(0), 'billing msisdn hash', 32),
  );
  const cashDeskKey = config.PLAYER_TOKEN_SECRET
    ? new TextEncoder().encode(config.PLAYER_TOKEN_SECRET)
    : new Uint8Array(derive('billing cash desk key'));
  return { webhookKey, msisdnKey, cashDeskKey };
}
