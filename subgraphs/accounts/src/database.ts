import { openDatabase, type MikroORM } from '@coinslot/kernel';
import { entities } from './entities';
import { migrations } from './migrations';

export const SCHEMA = 'accounts';

export function openAccountsDatabase(
  url: string,
  poolMax?: number,
  onQuery?: (sql: string) => void,
): Promise<MikroORM> {
  return openDatabase({ url, schema: SCHEMA, entities, migrations, poolMax, onQuery });
}
