import { seedAccounts, type DemoKeys } from '../../subgraphs/accounts/src/seed';
import { openAccountsDatabase } from '../../subgraphs/accounts/src/database';

export interface DemoSeed extends DemoKeys {
  merchantId: string;
  portalId: string;
  virtualCurrency: string;
}

/**
 * Seeds the demo merchant, its keys, catalog and channels, each subgraph through its own code
 * and schema. Idempotent; reuses still-valid keys from an earlier demo.json.
 */
export async function seedDemo(url: string, previous?: Partial<DemoKeys>): Promise<DemoSeed> {
  const accounts = await openAccountsDatabase(url, 2);
  try {
    const seed = await seedAccounts(accounts, previous);
    return seed;
  } finally {
    await accounts.close(true);
  }
}
