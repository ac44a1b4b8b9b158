import {
  buildFederatedSchema,
  createLogger,
  createSubgraphServer,
  MoneyType,
  PageInfo,
  type FederatedSchema,
  type ServiceHandle,
} from '@coinslot/kernel';
import type { AccountsConfig } from './config';
import { openAccountsDatabase } from './database';
import { AdminResolver } from './modules/admin/admin.resolver';
import { CredentialResolver } from './modules/credential/credential.resolver';
import { LedgerResolver } from './modules/ledger/ledger.resolver';
import { createPlayerResolver, type PlayerTokenSettings } from './modules/player/player.resolver';
import { references } from './references';

export async function buildAccountsSchema(tokens: PlayerTokenSettings): Promise<FederatedSchema> {
  return buildFederatedSchema(
    {
      resolvers: [createPlayerResolver(tokens), AdminResolver, CredentialResolver, LedgerResolver],
      orphanedTypes: [MoneyType, PageInfo],
    },
    references as never,
  );
}

/** Builds the accounts service; nothing listens until handle.listen(). */
export async function createAccountsService(
  config: AccountsConfig,
  hooks: { onQuery?: (sql: string) => void } = {},
): Promise<ServiceHandle> {
  const logger = createLogger('accounts', config.LOG_LEVEL);
  const orm = await openAccountsDatabase(
    config.DATABASE_URL,
    config.DATABASE_POOL_MAX,
    hooks.onQuery,
  );
  const { schema } = await buildAccountsSchema({
    secret: new TextEncoder().encode(config.PLAYER_TOKEN_SECRET),
    ttlSeconds: config.PLAYER_TOKEN_TTL_SECONDS,
  });
  return createSubgraphServer({
    name: 'accounts',
    schema,
    orm,
    secret: config.INTERNAL_CONTEXT_SECRET,
    logger,
  });
}
