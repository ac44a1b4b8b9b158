import { z } from 'zod';
import { loadConfig, subgraphConfigSchema } from '@coinslot/kernel';

export const accountsConfigSchema = subgraphConfigSchema('accounts').extend({
  /** HMAC key for player tokens; the gateway verifies them with the same key. */
  PLAYER_TOKEN_SECRET: z.string().min(32),
  PLAYER_TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).max(86_400).default(3600),
});
export type AccountsConfig = z.infer<typeof accountsConfigSchema>;
export const loadAccountsConfig = (env = process.env) => loadConfig(accountsConfigSchema, env);
