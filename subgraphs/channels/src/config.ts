import { z } from 'zod';
import { loadConfig, subgraphConfigSchema } from '@coinslot/kernel';
import { CredentialsKeyring } from './security/keyring';

const ms = (fallback: number) => z.coerce.number().int().min(0).max(86_400_000).default(fallback);

export const configSchema = subgraphConfigSchema('channels').extend({
  /**
   * Keys that encrypt channel credentials at rest: comma-separated `id:base64key` (32 bytes
   * each), the first is current; keep old ones listed until rotateCredentialsKey has run.
   */
  CREDENTIALS_KEYS: z.string().superRefine((value, ctx) => {
    try {
      CredentialsKeyring.parse(value);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
  }),
  /** Billing's GraphQL endpoint; outcomes that change after the call are handed off there. */
  OUTCOME_WEBHOOK_URL: z.string().url().optional(),
  /** Public base URL of this service for carrier callbacks; default: the URL it listens on. */
  CALLBACK_BASE_URL: z.string().url().optional(),
  /** Client timeout of one carrier request, unless a channel's settings say otherwise. */
  ADAPTER_TIMEOUT_MS: ms(5_000),
  /** A run still `running` this long after it started is treated as unknown (crash safety). */
  RUN_LEASE_MS: ms(60_000),
  /** First status query of an unknown run, then doubling up to the maximum. */
  RESOLVER_BASE_DELAY_MS: ms(2_000),
  RESOLVER_MAX_DELAY_MS: ms(15 * 60_000),
  /** After this many status queries the run is left to the settlement file. */
  RESOLVER_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(10_000).default(200),
  /** Consecutive unavailable/unknown answers that open a channel account's circuit. */
  BREAKER_THRESHOLD: z.coerce.number().int().min(1).max(1_000).default(5),
  BREAKER_HALF_OPEN_MS: ms(30_000),
  /** Interaction log rows are written in batches at most this often. */
  INTERACTION_FLUSH_MS: ms(200),
  INTERACTION_RETENTION_DAYS: z.coerce.number().int().min(1).max(3_650).default(90),
  INTERACTION_PARTITIONS_AHEAD: z.coerce.number().int().min(1).max(60).default(7),
  JOB_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
  JOB_POLL_INTERVAL_MS: z.coerce.number().int().min(50).max(60_000).default(1_000),
});
export type Config = z.infer<typeof configSchema>;
export const loadServiceConfig = (env = process.env) => loadConfig(configSchema, env);
