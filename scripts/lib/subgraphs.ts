import type { MikroORM } from '@coinslot/kernel';
import { SCHEMA as ACCOUNTS, openAccountsDatabase } from '../../subgraphs/accounts/src/database';
import { SCHEMA as CATALOG, openCatalogDatabase } from '../../subgraphs/catalog/src/database';

import {
  SCHEMA as BILLING,
  openServiceDatabase as openBillingDatabase,
} from '../../subgraphs/billing/src/database';
import {
  SCHEMA as SCRATCH_CARDS,
  openServiceDatabase as openScratchCardsDatabase,
} from '../../subgraphs/scratch-cards/src/database';
import {
  SCHEMA as CHANNELS,
  openServiceDatabase as openChannelsDatabase,
} from '../../subgraphs/channels/src/database';

export interface SubgraphDatabase {
  name: string;
  schema: string;
  open(url: string, poolMax?: number): Promise<MikroORM>;
  /** Runs a graphile-worker queue (its schema `<schema>_jobs` is migrated too). */
  jobs?: boolean;
}

/** Every subgraph's database entry point, for migrations in start-up and tests. */
export const SUBGRAPH_DATABASES: SubgraphDatabase[] = [
  { name: 'accounts', schema: ACCOUNTS, open: openAccountsDatabase },
  { name: 'catalog', schema: CATALOG, open: openCatalogDatabase },
  { name: 'billing', schema: BILLING, open: openBillingDatabase, jobs: true },
  { name: 'scratch-cards', schema: SCRATCH_CARDS, open: openScratchCardsDatabase, jobs: true },
  { name: 'channels', schema: CHANNELS, open: openChannelsDatabase, jobs: true },
];
