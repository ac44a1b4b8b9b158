import { codes } from '@coinslot/testing';
import { startStack, type Stack } from '../support/stack';

async function post(url: string, body: string | Buffer, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  const text = await res.text();
  return {
    status: res.status,
    body: JSON.parse(text) as {
      data?: unknown;
      errors?: { message: string; extensions?: { code?: string } }[];
    },
  };
}

describe('gateway: bad input gets a clear, stable error and never crashes', () => {
  let stack: Stack;
  let auth: Record<string, string>;
  beforeAll(async () => {
    stack = await startStack();
    auth = { authorization: `Bearer ${stack.demo.portalApiKey}` };
  });
  afterAll(() => stack?.close());

  afterEach(async () => {
    // Whatever was sent, the gateway still serves.
    const health = await fetch(stack.gatewayUrl.replace('/graphql', '/healthz'));
    expect(health.status).toBe(200);
    const ok = await stack.call(`{ myMerchant { slug } }`, {}, stack.demo.portalApiKey);
    expect(ok.data).toEqual({ myMerchant: { slug: 'demo-games' } });
  });

  it('malformed JSON', async () => {
    const r = await post(stack.gatewayUrl, '{"query": "{ myMerchant { slug } ', auth);
    expect(r.status).toBe(400);
    expect(r.body.errors![0]!.extensions!.code).toBe('BAD_USER_INPUT');
  });

  it('a 10 MB body', async () => {
    const big = JSON.stringify({
      query: '{ myMerchant { slug } }',
      variables: { pad: 'x'.repeat(10 * 1024 * 1024) },
    });
    const r = await post(stack.gatewayUrl, big, auth);
    expect(r.status).toBe(413);
    expect(r.body.errors![0]!.extensions!.code).toBe('BAD_USER_INPUT');
  });

  it('unknown fields and unknown input fields', async () => {
    const r = await stack.call(`{ myMerchant { slug secretThing } }`, {}, stack.demo.portalApiKey);
    expect(codes(r)).toEqual(['BAD_USER_INPUT']);
    const input = await stack.call(
      `mutation($input: RegisterPlayerInput!) { registerPlayer(input: $input) { player { id } } }`,
      { input: { externalRef: 'u1', country: 'FR', isAdmin: true } },
      stack.demo.portalApiKey,
    );
    expect(codes(input)).toEqual(['BAD_USER_INPUT']);
  });

  it('a syntax error', async () => {
    const r = await stack.call(`{ myMerchant { slug `, {}, stack.demo.portalApiKey);
    expect(codes(r)).toEqual(['BAD_USER_INPUT']);
  });

  it('a depth-50 query', async () => {
    let sel = 'id';
    for (let i = 0; i < 50; i += 1) sel = `referrer { ${sel} }`;
    const r = await stack.call(
      `query($id: ID!) { player(id: $id) { ${sel} } }`,
      { id: '00000000-0000-0000-0000-000000000000' },
      stack.demo.portalApiKey,
    );
    expect(codes(r)).toContain('BAD_USER_INPUT');
    expect(r.errors![0]!.message).toMatch(/depth/i);
  });

  it('an aliased-field bomb', async () => {
    const aliases = Array.from({ length: 500 }, (_, i) => `a${i}: myMerchant { slug }`).join(' ');
    const r = await stack.call(`{ ${aliases} }`, {}, stack.demo.portalApiKey);
    expect(codes(r)[0]).toBe('BAD_USER_INPUT');
    expect(r.data ?? null).toBeNull();
  });

  it('batched requests are refused', async () => {
    const r = await fetch(stack.gatewayUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: JSON.stringify([
        { query: '{ myMerchant { slug } }' },
        { query: '{ myMerchant { slug } }' },
      ]),
    });
    expect(r.status).toBe(400);
  });

  it.each([
    ['country', { externalRef: 'v1', country: 'ZZ' }],
    ['msisdn', { externalRef: 'v2', country: 'FR', msisdn: '+0000' }],
    ['locale', { externalRef: 'v3', country: 'FR', locale: '12_$$' }],
    ['timezone', { externalRef: 'v4', country: 'FR', timezone: 'Europe/Atlantis' }],
  ])('an invalid %s', async (field, input) => {
    const r = await stack.call(
      `mutation($input: RegisterPlayerInput!) { registerPlayer(input: $input) { player { id } } }`,
      { input },
      stack.demo.portalApiKey,
    );
    expect(codes(r)).toEqual(['BAD_USER_INPUT']);
    expect(r.errors![0]!.extensions!.field).toBe(field);
    expect(r.errors![0]!.message.length).toBeGreaterThan(10);
  });
});
