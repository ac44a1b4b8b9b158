/**
 * `npm run migrate`: applies every subgraph's migrations (and job-queue schemas) to DATABASE_URL.
 * With SEED_DEMO=1 it also seeds the demo merchant and prints fresh demo keys.
 */
import { migrateAll } from './lib/migrate-all';
import { seedDemo } from './lib/seed';

async function main(): Promise<void> {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL is required');
  await migrateAll(url);
  console.log('migrations applied');
  if (process.env.SEED_DEMO === '1') {
    const demo = await seedDemo(url);
    console.log(
      JSON.stringify(
        {
          portalApiKey: demo.portalApiKey,
          adminApiKey: demo.adminApiKey,
          ownerApiKey: demo.ownerApiKey,
        },
        null,
        2,
      ),
    );
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
