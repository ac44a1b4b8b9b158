import { MikroORM, type Options, type EntityManager } from '@mikro-orm/postgresql';
import { Migrator, Migration } from '@mikro-orm/migrations';
import type { MigrationObject } from '@mikro-orm/core';
import { Client } from 'pg';

export { Migration };
export type { MigrationObject };

export interface DatabaseOptions {
  url: string;
  /** The subgraph's own PostgreSQL schema; its tables and its migration history live there. */
  schema: string;
  entities: Options['entities'];
  migrations: MigrationObject[];
  poolMax?: number;
  /** Called with every SQL statement (tests count queries with it). */
  onQuery?: (sql: string) => void;
}

/** One MikroORM per subgraph, bound to its own schema. */
export async function openDatabase(options: DatabaseOptions): Promise<MikroORM> {
  return MikroORM.init({
    clientUrl: options.url,
    schema: options.schema,
    entities: options.entities,
    extensions: [Migrator],
    discovery: { disableDynamicFileAccess: true, requireEntitiesArray: true },
    allowGlobalContext: false,
    debug: options.onQuery ? ['query'] : false,
    ...(options.onQuery ? { logger: (message: string) => options.onQuery!(message) } : {}),
    pool: { min: 0, max: options.poolMax ?? 10 },
    forceUtcTimezone: true,
    ensureDatabase: false,
    migrations: {
      migrationsList: options.migrations,
      tableName: 'schema_migrations',
      transactional: true,
      allOrNothing: true,
      snapshot: false,
      silent: true,
    },
  });
}

/** Applies the subgraph's pending migrations (creating its schema first). */
export async function migrate(orm: MikroORM, schema: string): Promise<void> {
  await orm.em.getConnection().execute(`create schema if not exists "${schema}"`);
  await orm.getMigrator().up();
}

export type { EntityManager, MikroORM };

/** Runs `fn` with a plain pg client on `url` (admin tasks: create/drop databases). */
export async function withClient<T>(url: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export function databaseUrlWithName(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/**
 * Runs SQL with `?` placeholders in the EntityManager's current transaction, if any.
 * Arrays must go through pgArray(): the driver would expand a JS array into a list.
 */
export function query<T>(
  em: EntityManager,
  sql: string,
  params: readonly unknown[] = [],
): Promise<T[]> {
  return em
    .getConnection()
    .execute<T[]>(sql, params as unknown[], 'all', em.getTransactionContext()) as Promise<T[]>;
}

/** A PostgreSQL array literal for `= any(?::text[])`, each element quoted. */
export function pgArray(values: readonly (string | number | bigint)[]): string {
  return `{${values.map((v) => `"${String(v).replace(/(["\\])/g, '\\$1')}"`).join(',')}}`;
}
