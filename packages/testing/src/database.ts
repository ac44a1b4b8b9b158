import { randomBytes } from 'node:crypto';
import { databaseUrlWithName, withClient } from '@coinslot/kernel';

/**
 * A fresh database for one test file, cloned from the migrated template that globalSetup made.
 * Returns its URL and a drop function.
 */
export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const adminUrl = process.env.COINSLOT_TEST_ADMIN_URL;
  const template = process.env.COINSLOT_TEST_TEMPLATE;
  if (!adminUrl || !template)
    throw new Error('createTestDatabase() needs jest globalSetup (npm test)');
  const name = `coinslot_t_${randomBytes(6).toString('hex')}`;
  await withClient(adminUrl, (c) => c.query(`create database ${name} template ${template}`));
  return {
    url: databaseUrlWithName(adminUrl, name),
    async drop() {
      await withClient(adminUrl, (c) => c.query(`drop database if exists ${name} with (force)`));
    },
  };
}

export const TEST_SECRET = 'test-internal-context-secret-0123456789abcdef';
export const TEST_PLAYER_TOKEN_SECRET = 'test-player-token-secret-0123456789abcdef';
