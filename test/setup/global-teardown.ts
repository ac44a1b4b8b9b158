import fs from 'node:fs';
import { withClient } from '@coinslot/kernel';
import type { EmbeddedPostgresHandle } from '@coinslot/kernel';

export default async function globalTeardown(): Promise<void> {
  const handle = (globalThis as Record<string, unknown>).__COINSLOT_PG__ as
    { pg: EmbeddedPostgresHandle; dir: string } | undefined;
  if (handle) {
    await handle.pg.stop();
    fs.rmSync(handle.dir, { recursive: true, force: true });
    return;
  }
  // An external PostgreSQL (DATABASE_URL): drop what this run created.
  const adminUrl = process.env.COINSLOT_TEST_ADMIN_URL;
  if (!adminUrl) return;
  await withClient(adminUrl, async (c) => {
    const { rows } = await c.query<{ datname: string }>(
      `select datname from pg_database where datname like 'coinslot_t_%' or datname = $1`,
      [process.env.COINSLOT_TEST_TEMPLATE],
    );
    for (const r of rows) await c.query(`drop database if exists "${r.datname}" with (force)`);
  });
}
