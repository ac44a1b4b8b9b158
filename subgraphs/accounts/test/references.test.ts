import {
  createTestDatabase,
  gql,
  asPrincipal,
  TEST_SECRET,
  TEST_PLAYER_TOKEN_SECRET,
} from '@coinslot/testing';
import { newId, query, type ServiceHandle } from '@coinslot/kernel';
import { createAccountsService } from '../src/server';
import { openAccountsDatabase } from '../src/database';

/**
 * Federation resolves Player references from other subgraphs (billing's Payment.player, …)
 * through `_entities`: a list of N players must cost a bounded number of SQL queries.
 */
describe('accounts: batched entity resolution', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let service: ServiceHandle;
  let url: string;
  const sql: string[] = [];
  const merchant = newId();
  const ids: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    const orm = await openAccountsDatabase(db.url, 2);
    const em = orm.em.fork();
    await query(
      em,
      `insert into accounts.merchant (id, slug, name, virtual_currency) values (?, 'm', 'M', 'GEMS')`,
      [merchant],
    );
    for (let i = 0; i < 100; i += 1) {
      const id = newId();
      ids.push(id);
      await query(
        em,
        `insert into accounts.player (id, merchant_id, external_ref, country) values (?, ?, ?, 'FR')`,
        [id, merchant, `p${i}`],
      );
      await query(
        em,
        `insert into accounts.ledger_account (id, merchant_id, player_id, kind, currency) values (?, ?, ?, 'player_wallet', 'GEMS')`,
        [newId(), merchant, id],
      );
    }
    await orm.close();
    service = await createAccountsService(
      {
        NODE_ENV: 'test',
        LOG_LEVEL: 'silent',
        HOST: '127.0.0.1',
        PORT: 0,
        DATABASE_URL: db.url,
        DATABASE_POOL_MAX: 5,
        INTERNAL_CONTEXT_SECRET: TEST_SECRET,
        PLAYER_TOKEN_SECRET: TEST_PLAYER_TOKEN_SECRET,
        PLAYER_TOKEN_TTL_SECONDS: 3600,
      },
      { onQuery: (q) => sql.push(q) },
    );
    url = (await service.listen(0)) + '/graphql';
  });
  afterAll(async () => {
    await service?.close();
    await db?.drop();
  });

  it('resolves 100 players with their wallets in two SQL queries', async () => {
    const headers = await asPrincipal(
      { kind: 'portal', merchantId: merchant, portalId: newId() },
      TEST_SECRET,
    );
    sql.length = 0;
    const r = await gql(
      url,
      `query($r: [_Any!]!) { _entities(representations: $r) { ... on Player { id externalRef wallets { currency balance { amountMinor } } } } }`,
      { r: ids.map((id) => ({ __typename: 'Player', id })) },
      headers,
    );
    expect(r.errors).toBeUndefined();
    expect(r.data!._entities).toHaveLength(100);
    expect(r.data!._entities.map((p: { id: string }) => p.id)).toEqual(ids);
    expect(r.data!._entities[0].wallets).toEqual([
      { currency: 'GEMS', balance: { amountMinor: '0' } },
    ]);
    const selects = sql.filter((q) => /select/i.test(q));
    expect(selects).toHaveLength(2);
  });

  it("resolves another merchant's players to null, not their data", async () => {
    const headers = await asPrincipal(
      { kind: 'portal', merchantId: newId(), portalId: newId() },
      TEST_SECRET,
    );
    const r = await gql(
      url,
      `query($r: [_Any!]!) { _entities(representations: $r) { ... on Player { id externalRef } } }`,
      { r: ids.slice(0, 3).map((id) => ({ __typename: 'Player', id })) },
      headers,
    );
    expect(r.data!._entities).toEqual([null, null, null]);
  });
});
