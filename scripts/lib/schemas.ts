import type { SubgraphSdl } from '../../gateway/src/compose';
import { buildAccountsSchema } from '../../subgraphs/accounts/src/server';
import { buildCatalogSchema } from '../../subgraphs/catalog/src/server';
import { buildBillingSchema } from '../../subgraphs/billing/src/server';
import { buildChannelsSchema } from '../../subgraphs/channels/src/server';
import { buildScratchCardsSchema } from '../../subgraphs/scratch-cards/src/server';

/** Every subgraph's SDL, built from code without a database. */
export async function buildAllSubgraphSdl(): Promise<SubgraphSdl[]> {
  const unusedKey = { secret: new Uint8Array(32), ttlSeconds: 60 };
  return [
    { name: 'accounts', sdl: (await buildAccountsSchema(unusedKey)).sdl },
    { name: 'catalog', sdl: (await buildCatalogSchema()).sdl },
    { name: 'billing', sdl: (await buildBillingSchema()).sdl },
    { name: 'scratch-cards', sdl: (await buildScratchCardsSchema()).sdl },
    { name: 'channels', sdl: (await buildChannelsSchema()).sdl },
  ];
}
