import WebSocket from 'ws';
import { createClient } from 'graphql-ws';
import { asPrincipal, bearer, codes, gql, TEST_SECRET } from '@coinslot/testing';
import { INTERNAL_CONTEXT_HEADER } from '@coinslot/kernel';
import { startStack, type Stack } from '../support/stack';

const REGISTER = `mutation RegisterPlayer($input: RegisterPlayerInput!) { registerPlayer(input: $input) { player { id externalRef country locale timezone msisdn } } }`;
const PLAYER = `query($id: ID!) { player(id: $id) { id externalRef wallets { currency balance { amountMinor currency } } } }`;

describe('gateway: authentication and merchant isolation', () => {
  let stack: Stack;
  let otherPortalKey: string;
  let playerA: string;

  beforeAll(async () => {
    stack = await startStack();
    // A second merchant, onboarded by the owner through the API.
    const m = await stack.call(
      `mutation { createMerchant(input: { slug: "other", name: "Other Games", virtualCurrency: "COINS" }) { id } }`,
      {},
      stack.demo.ownerApiKey,
    );
    const p = await stack.call(
      `mutation($id: ID!) { createPortal(input: { merchantId: $id, name: "Other portal" }) { key { apiKey } } }`,
      { id: m.data!.createMerchant.id },
      stack.demo.ownerApiKey,
    );
    otherPortalKey = p.data!.createPortal.key.apiKey;
    const r = await stack.call(
      REGISTER,
      { input: { externalRef: 'alice', country: 'FR', msisdn: '+33612345600' } },
      stack.demo.portalApiKey,
    );
    playerA = r.data!.registerPlayer.player.id;
  });
  afterAll(() => stack?.close());

  it('answers UNAUTHENTICATED without a key, with an unknown key and with a garbage token', async () => {
    for (const token of [undefined, 'csp_not-a-real-key', 'eyJhbGciOiJIUzI1NiJ9.e30.x']) {
      const r = await stack.call(PLAYER, { id: playerA }, token);
      expect(codes(r)).toEqual(['UNAUTHENTICATED']);
      expect(r.data?.player ?? null).toBeNull();
    }
  });

  it("gives another merchant's portal NOT_FOUND, never the player", async () => {
    const r = await stack.call(PLAYER, { id: playerA }, otherPortalKey);
    expect(codes(r)).toEqual(['NOT_FOUND']);
    expect(JSON.stringify(r)).not.toContain('alice');
  });

  it('lets a player token see only its own player', async () => {
    const t = await stack.call(
      `mutation($id: ID!) { issuePlayerToken(playerId: $id) { token expiresAt } }`,
      { id: playerA },
      stack.demo.portalApiKey,
    );
    const token = t.data!.issuePlayerToken.token as string;
    expect(new Date(t.data!.issuePlayerToken.expiresAt).getTime()).toBeGreaterThan(Date.now());
    const own = await stack.call(PLAYER, { id: playerA }, token);
    expect(own.data!.player.externalRef).toBe('alice');
    const bob = await stack.call(
      REGISTER,
      { input: { externalRef: 'bob', country: 'DE' } },
      stack.demo.portalApiKey,
    );
    const other = await stack.call(PLAYER, { id: bob.data!.registerPlayer.player.id }, token);
    expect(codes(other)).toEqual(['NOT_FOUND']);
    // A player token cannot act as a portal.
    const reg = await stack.call(
      REGISTER,
      { input: { externalRef: 'mallory', country: 'FR' } },
      token,
    );
    expect(codes(reg)).toEqual(['FORBIDDEN']);
  });

  it('refuses a client-sent internal-context header at the gateway, even a validly signed one', async () => {
    const forged = await asPrincipal({ kind: 'admin', adminId: 'x', role: 'owner' }, TEST_SECRET);
    const r = await gql(
      stack.gatewayUrl,
      PLAYER,
      { id: playerA },
      { ...forged, ...bearer(otherPortalKey) },
    );
    expect(codes(r)).toEqual(['FORBIDDEN']);
    expect(JSON.stringify(r)).not.toContain('alice');
  });

  it('refuses a forged internal context sent straight to a subgraph', async () => {
    const wrongSecret = await asPrincipal(
      { kind: 'admin', adminId: 'x', role: 'owner' },
      'x'.repeat(40),
    );
    const r = await gql(stack.subgraphUrls.accounts, PLAYER, { id: playerA }, wrongSecret);
    expect(r.status).toBe(401);
    expect(codes(r)).toEqual(['UNAUTHENTICATED']);
    const unsigned = await gql(
      stack.subgraphUrls.accounts,
      PLAYER,
      { id: playerA },
      { [INTERNAL_CONTEXT_HEADER]: JSON.stringify({ kind: 'admin' }) },
    );
    expect(codes(unsigned)).toEqual(['UNAUTHENTICATED']);
  });

  it('keeps operator-only keys away from owner operations', async () => {
    const r = await stack.call(
      `mutation { createMerchant(input: { slug: "nope", name: "Nope" }) { id } }`,
      {},
      stack.demo.adminApiKey,
    );
    expect(codes(r)).toEqual(['FORBIDDEN']);
    // The subgraph's message reaches the client (not a bare "403: Forbidden").
    expect(r.errors![0]!.message).toMatch(/owner role/);
  });

  it('stops accepting a revoked portal key (after the gateway cache expires)', async () => {
    const m = await stack.call(`{ merchants { id slug } }`, {}, stack.demo.ownerApiKey);
    const other = m.data!.merchants.find((x: { slug: string }) => x.slug === 'other');
    const portals = await stack.call(
      `query($id: ID!) { portals(merchantId: $id) { id } }`,
      { id: other.id },
      stack.demo.ownerApiKey,
    );
    const issued = await stack.call(
      `mutation($id: ID!) { createPortalApiKey(portalId: $id) { id apiKey } }`,
      { id: portals.data!.portals[0].id },
      stack.demo.ownerApiKey,
    );
    const key = issued.data!.createPortalApiKey.apiKey;
    const before = await stack.call(`{ myMerchant { slug } }`, {}, key);
    expect(before.data!.myMerchant.slug).toBe('other');
    const revoked = await stack.call(
      `mutation($id: ID!) { revokeApiKey(id: $id) }`,
      { id: issued.data!.createPortalApiKey.id },
      stack.demo.ownerApiKey,
    );
    expect(revoked.data!.revokeApiKey).toBe(true);
    // Straight to accounts: the credential is gone at once.
    const direct = await gql(
      stack.subgraphUrls.accounts,
      `query($h: String!) { _credential(keyHash: $h) { kind } }`,
      { h: require('@coinslot/kernel').hashApiKey(key) },
      await asPrincipal({ kind: 'service', service: 'test' }, TEST_SECRET),
    );
    expect(direct.data!._credential).toBeNull();
  });

  it('serves Apollo Sandbox and introspection without a key, but no data', async () => {
    const page = await fetch(stack.gatewayUrl, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('sandbox');
    const intro = await gql(stack.gatewayUrl, `{ __schema { queryType { name } } }`);
    expect(intro.data).toEqual({ __schema: { queryType: { name: 'Query' } } });
  });

  it('does not expose internal fields in the public API', async () => {
    const r = await stack.call(
      `query($h: String!) { _credential(keyHash: $h) { kind } }`,
      { h: 'x' },
      stack.demo.ownerApiKey,
    );
    expect(codes(r)).toEqual(['BAD_USER_INPUT']);
  });

  it('refuses graphql-ws connections without a valid key', async () => {
    const wsUrl = stack.gatewayUrl.replace('http', 'ws');
    const closed = await new Promise<number>((resolve) => {
      const client = createClient({
        url: wsUrl,
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        lazy: false,
        onNonLazyError: () => undefined,
        connectionParams: { authorization: 'Bearer csp_nope' },
        on: { closed: (e) => resolve((e as { code: number }).code) },
      });
      client.subscribe(
        { query: 'subscription { x }' },
        { next: () => undefined, error: () => undefined, complete: () => undefined },
      );
    });
    expect(closed).toBe(4403);
  });
});
