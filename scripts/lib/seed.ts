import { seedAccounts, type DemoKeys } from '../../subgraphs/accounts/src/seed';
import { openAccountsDatabase } from '../../subgraphs/accounts/src/database';
import { openCatalogDatabase } from '../../subgraphs/catalog/src/database';
import { seedCatalog } from '../../subgraphs/catalog/src/seed';
import { openServiceDatabase as openChannelsDatabase } from '../../subgraphs/channels/src/database';
import { seedChannels, type DemoSimulators } from '../../subgraphs/channels/src/seed';
import type { MikroORM } from '@coinslot/kernel';

async function withOrm<T>(
  open: (url: string, poolMax?: number) => Promise<MikroORM>,
  url: string,
  fn: (orm: MikroORM) => Promise<T>,
): Promise<T> {
  const orm = await open(url, 2);
  try {
    return await fn(orm);
  } finally {
    await orm.close(true);
  }
}

export interface DemoSeed extends DemoKeys {
  merchantId: string;
  portalId: string;
  virtualCurrency: string;
}

/**
 * Seeds the demo merchant, its keys, catalog and channels, each subgraph through its own code
 * and schema. Idempotent; reuses still-valid keys from an earlier demo.json.
 */
export async function seedDemo(
  url: string,
  previous?: Partial<DemoKeys>,
  /** The running simulators (simulators-main's SIMULATORS_FILE) and channels' CREDENTIALS_KEYS. */
  channels?: { simulators: DemoSimulators; credentialsKeys: string },
): Promise<DemoSeed> {
  const accounts = await withOrm(openAccountsDatabase, url, (orm) => seedAccounts(orm, previous));
  await withOrm(openCatalogDatabase, url, (orm) =>
    seedCatalog(orm, {
      merchantId: accounts.merchantId,
      virtualCurrency: accounts.virtualCurrency,
    }),
  );
  if (channels) {
    await withOrm(openChannelsDatabase, url, (orm) =>
      seedChannels(orm, { merchantId: accounts.merchantId, ...channels }),
    );
  }
  return accounts;
}
