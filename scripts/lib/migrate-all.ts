import { migrate, migrateJobs, type MikroORM } from '@coinslot/kernel';
import { SUBGRAPH_DATABASES } from './subgraphs';

/** Migrates every subgraph's schema in one database, each with its own migration history. */
export async function migrateAll(url: string): Promise<void> {
  for (const db of SUBGRAPH_DATABASES) {
    const orm: MikroORM = await db.open(url, 2);
    try {
      await migrate(orm, db.schema);
    } finally {
      await orm.close(true);
    }
    if (db.jobs) await migrateJobs(url, db.schema);
  }
}
