import {
  createTestDatabase,
  gql,
  asPrincipal,
  codes,
  TEST_SECRET,
  TEST_PLAYER_TOKEN_SECRET,
} from '@coinslot/testing';
import { query, type ServiceHandle } from '@coinslot/kernel';
import { createAccountsService } from '../src/server';
import { openAccountsDatabase } from '../src/database';

describe('accounts: players', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let service: ServiceHandle;
  let url: string;
  const merchantA = '0190a000-0000-7000-8000-00000000000a';
  const merchantB = '0190a000-0000-7000-8000-00000000000b';
  const portalA = {
    kind: 'portal' as const,
    merchantId: merchantA,
    portalId: '0190a000-0000-7000-8000-0000000000a1',
  };
  const portalB = {
    kind: 'portal' as const,
    merchantId: merchantB,
    portalId: '0190a000-0000-7000-8000-0000000000b1',
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    const orm = await openAccountsDatabase(db.url, 2);
    await query(
      orm.em.fork(),
      `insert into accounts.merchant (id, slug, name, virtual_currency) values (?, 'a', 'A', 'GEMS'), (?, 'b', 'B', null)`,
      [merchantA, merchantB],
    );
    await orm.close();
    service = await createAccountsService({
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      HOST: '127.0.0.1',
      PORT: 0,
      DATABASE_URL: db.url,
      DATABASE_POOL_MAX: 5,
      INTERNAL_CONTEXT_SECRET: TEST_SECRET,
      PLAYER_TOKEN_SECRET: TEST_PLAYER_TOKEN_SECRET,
      PLAYER_TOKEN_TTL_SECONDS: 3600,
    });
    url = (await service.listen(0)) + '/graphql';
  });
  afterAll(async () => {
    await service?.close();
    await db?.drop();
  });

  const REGISTER = `mutation($input: RegisterPlayerInput!) { registerPlayer(input: $input) { created player { id externalRef country msisdn wallets { currency balance { amountMinor currency } } } } }`;

  it('registers once per externalRef, even concurrently, with a zero wallet in the merchant currency', async () => {
    const headers = await asPrincipal(portalA, TEST_SECRET);
    const input = { externalRef: 'p-1', country: 'FR', msisdn: '+33612345600' };
    const results = await Promise.all(
      Array.from({ length: 10 }, () => gql(url, REGISTER, { input }, headers)),
    );
    const ids = new Set(results.map((r) => r.data?.registerPlayer.player.id));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => r.data?.registerPlayer.created)).toHaveLength(1);
    expect(results[0]!.data?.registerPlayer.player.wallets).toEqual([
      { currency: 'GEMS', balance: { amountMinor: '0', currency: 'GEMS' } },
    ]);
  });

  it('refuses an unsigned or forged internal context', async () => {
    const none = await gql(url, `{ player(id: "x") { id } }`);
    expect(none.status).toBe(401);
    expect(codes(none)).toEqual(['UNAUTHENTICATED']);
    const forged = await gql(
      url,
      `{ player(id: "x") { id } }`,
      {},
      await asPrincipal(portalA, 'another-secret-another-secret-another-secret'),
    );
    expect(codes(forged)).toEqual(['UNAUTHENTICATED']);
  });

  it("answers NOT_FOUND for another merchant's player", async () => {
    const a = await gql(
      url,
      REGISTER,
      { input: { externalRef: 'iso-1', country: 'DE' } },
      await asPrincipal(portalA, TEST_SECRET),
    );
    const id = a.data!.registerPlayer.player.id;
    const fromB = await gql(
      url,
      `query($id: ID!) { player(id: $id) { id externalRef } }`,
      { id },
      await asPrincipal(portalB, TEST_SECRET),
    );
    expect(codes(fromB)).toEqual(['NOT_FOUND']);
    expect(JSON.stringify(fromB)).not.toContain('iso-1');
  });

  it.each([
    [{ externalRef: 'bad-1', country: 'XX' }, 'country'],
    [{ externalRef: 'bad-2', country: 'FR', msisdn: '12345' }, 'msisdn'],
    [{ externalRef: 'bad-3', country: 'FR', locale: 'not a locale!' }, 'locale'],
    [{ externalRef: 'bad-4', country: 'FR', timezone: 'Mars/Olympus' }, 'timezone'],
    [{ externalRef: '', country: 'FR' }, 'externalRef'],
  ])('rejects invalid input %j with BAD_USER_INPUT on %s', async (input, field) => {
    const r = await gql(url, REGISTER, { input }, await asPrincipal(portalA, TEST_SECRET));
    expect(codes(r)).toEqual(['BAD_USER_INPUT']);
    expect(r.errors![0]!.extensions!.field).toBe(field);
  });
});
