import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres, withClient, databaseUrlWithName } from '@coinslot/kernel';
import { migrateAll } from '../../scripts/lib/migrate-all';

/**
 * One PostgreSQL per test run (embedded unless DATABASE_URL is set) and one migrated template
 * database; every test file clones it (CREATE DATABASE … TEMPLATE), so files run in parallel.
 */
export default async function globalSetup(): Promise<void> {
  process.env.APOLLO_TELEMETRY_DISABLED = '1';
  let adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coinslot-test-'));
    fs.chmodSync(dir, 0o755);
    const pg = await startEmbeddedPostgres({ dataDir: path.join(dir, 'data'), persistent: false });
    (globalThis as Record<string, unknown>).__COINSLOT_PG__ = { pg, dir };
    adminUrl = pg.url;
  }
  const template = `coinslot_template_${process.pid}`;
  await withClient(adminUrl, async (c) => {
    await c.query(`drop database if exists ${template}`);
    await c.query(`create database ${template}`);
  });
  await migrateAll(databaseUrlWithName(adminUrl, template));
  // MikroORM keeps entity metadata on globalThis, and jest hands globalSetup's globals to test
  // files, whose realm has other Map/Set classes: drop them so each test file discovers anew.
  for (const key of Object.keys(globalThis)) {
    if (key.startsWith('mikro-orm-')) delete (globalThis as Record<string, unknown>)[key];
  }
  process.env.COINSLOT_TEST_ADMIN_URL = adminUrl;
  process.env.COINSLOT_TEST_TEMPLATE = template;
}
