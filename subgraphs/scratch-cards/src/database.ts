import { AuditLogEntity, openDatabase, type MikroORM } from '@coinslot/kernel';
import { migrations } from './migrations';

export const SCHEMA = 'scratch_cards';

export function openServiceDatabase(url: string, poolMax?: number): Promise<MikroORM> {
  return openDatabase({ url, schema: SCHEMA, entities: [AuditLogEntity], migrations, poolMax });
}
