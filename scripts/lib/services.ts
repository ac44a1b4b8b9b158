import type { ServiceHandle, SubgraphName } from '@coinslot/kernel';
import { createAccountsService } from '../../subgraphs/accounts/src/server';
import { accountsConfigSchema } from '../../subgraphs/accounts/src/config';
import { createCatalogService } from '../../subgraphs/catalog/src/server';
import { catalogConfigSchema } from '../../subgraphs/catalog/src/config';
import { createService as createBilling } from '../../subgraphs/billing/src/server';
import { configSchema as billingConfig } from '../../subgraphs/billing/src/config';
import { createService as createScratchCards } from '../../subgraphs/scratch-cards/src/server';
import { configSchema as scratchConfig } from '../../subgraphs/scratch-cards/src/config';
import { createService as createChannels } from '../../subgraphs/channels/src/server';
import { configSchema as channelsConfig } from '../../subgraphs/channels/src/config';

/** Builds one subgraph service in-process from an environment (tests, benchmarks). */
export const SUBGRAPH_FACTORIES: Record<
  SubgraphName,
  (env: NodeJS.ProcessEnv) => Promise<ServiceHandle>
> = {
  accounts: (env) => createAccountsService(accountsConfigSchema.parse(env)),
  catalog: (env) => createCatalogService(catalogConfigSchema.parse(env)),
  billing: (env) => createBilling(billingConfig.parse(env)),
  'scratch-cards': (env) => createScratchCards(scratchConfig.parse(env)),
  channels: (env) => createChannels(channelsConfig.parse(env)),
};
