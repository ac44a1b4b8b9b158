import type { MikroORM } from '@coinslot/kernel';
import { SCHEMA as ACCOUNTS, openAccountsDatabase } from '../../subgraphs/accounts/src/database';
import { SCHEMA as CATALOG, openCatalogDatabase } from '../../subgraphs/catalog/src/database';

export interface SubgraphDatabase {
  name: string;
  schema: string;
  open(url: string, poolMax?: number): Promise<MikroORM>;
}

/** Every subgraph's database entry point, for migrations in start-up and tests. */
export const SUBGRAPH_DATABASES: SubgraphDatabase[] = [
  { name: 'accounts', schema: ACCOUNTS, open: openAccountsDatabase },
  { name: 'catalog', schema: CATALOG, open: openCatalogDatabase },
];
