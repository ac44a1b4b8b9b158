import { AuditLogEntity, jobSchema, openDatabase, type MikroORM } from '@coinslot/kernel';
import { migrations } from './migrations';

export const SCHEMA = 'scratch_cards';
/** graphile-worker's queue schema for this subgraph (migrated by scripts/lib/migrate-all.ts). */
export const jobSchemaName = jobSchema(SCHEMA);

export function openServiceDatabase(url: string, poolMax?: number): Promise<MikroORM> {
  return openDatabase({ url, schema: SCHEMA, entities: [AuditLogEntity], migrations, poolMax });
}
