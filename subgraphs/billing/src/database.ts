import { AuditLogEntity, openDatabase, type MikroORM } from '@coinslot/kernel';
import { migrations } from './migrations';

export const SCHEMA = 'billing';

export function openServiceDatabase(url: string, poolMax?: number): Promise<MikroORM> {
  return openDatabase({ url, schema: SCHEMA, entities: [AuditLogEntity], migrations, poolMax });
}

/** Raw rows may carry timestamps as PostgreSQL text ("2026-01-31 12:00:00.123+00"): make Dates. */
export function pgDate(value: Date | string): Date;
export function pgDate(value: Date | string | null): Date | null;
export function pgDate(value: Date | string | null): Date | null {
  if (value === null) return null;
  if (value instanceof Date) return value;
  const d = new Date(value.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00'));
  if (Number.isNaN(d.getTime())) throw new RangeError(`not a timestamp: ${value}`);
  return d;
}

/** jsonb may come back parsed or as text, depending on the driver's type parsers. */
export function pgJson<T>(value: T | string | null): T | null {
  if (value === null || value === undefined) return null;
  return typeof value === 'string' ? (JSON.parse(value) as T) : value;
}
