import { openDatabase, type MikroORM } from '@coinslot/kernel';
import { entities } from './entities';
import { migrations } from './migrations';

export const SCHEMA = 'catalog';

export function openCatalogDatabase(url: string, poolMax?: number): Promise<MikroORM> {
  return openDatabase({ url, schema: SCHEMA, entities, migrations, poolMax });
}
