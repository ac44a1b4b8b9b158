import { codes } from '@coinslot/testing';
import { startStack, type Stack } from '../support/stack';
import { contractOperation } from '../support/contract';

/** The contract's player and catalog operations, exactly as portals send them, with the demo keys. */
describe('contract: RegisterPlayer, IssuePlayerToken, PlayerOverview (wallets), Offers', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack?.close());

  it('registers a player once per externalRef and returns the same player again', async () => {
    const input = {
      externalRef: 'contract-1',
      country: 'DE',
      msisdn: '+4915112345600',
      locale: 'de-DE',
      timezone: 'Europe/Berlin',
      email: 'p@example.com',
    };
    const first = await stack.call(
      contractOperation('RegisterPlayer'),
      { input },
      stack.demo.portalApiKey,
    );
    expect(first.errors).toBeUndefined();
    const created = await stack.call(
      `query($id: ID!) { player(id: $id) { createdAt } }`,
      { id: first.data!.registerPlayer.player.id },
      stack.demo.portalApiKey,
    );
    expect(created.data!.player.createdAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(first.data!.registerPlayer.player).toMatchObject({
      externalRef: 'contract-1',
      country: 'DE',
      locale: 'de-DE',
      timezone: 'Europe/Berlin',
      msisdn: '+4915112345600',
    });
    const again = await stack.call(
      contractOperation('RegisterPlayer'),
      { input },
      stack.demo.portalApiKey,
    );
    expect(again.data!.registerPlayer.player.id).toBe(first.data!.registerPlayer.player.id);
  });

  it('issues a player token that reads its own overview (wallets) and nothing else', async () => {
    const reg = await stack.call(
      contractOperation('RegisterPlayer'),
      { input: { externalRef: 'contract-2', country: 'FR' } },
      stack.demo.portalApiKey,
    );
    const playerId = reg.data!.registerPlayer.player.id;
    const tok = await stack.call(
      contractOperation('IssuePlayerToken'),
      { playerId },
      stack.demo.portalApiKey,
    );
    expect(tok.errors).toBeUndefined();
    const token = tok.data!.issuePlayerToken.token;
    const overview = `query PlayerOverview($id: ID!) { player(id: $id) { id externalRef country wallets { currency balance { amountMinor currency } } } }`;
    const mine = await stack.call(overview, { id: playerId }, token);
    expect(mine.data!.player).toEqual({
      id: playerId,
      externalRef: 'contract-2',
      country: 'FR',
      wallets: [{ currency: 'GEMS', balance: { amountMinor: '0', currency: 'GEMS' } }],
    });
    const viaPortal = await stack.call(overview, { id: playerId }, stack.demo.portalApiKey);
    expect(viaPortal.data!.player).toEqual(mine.data!.player);
    const other = await stack.call(
      contractOperation('RegisterPlayer'),
      { input: { externalRef: 'contract-3', country: 'FR' } },
      stack.demo.portalApiKey,
    );
    const denied = await stack.call(overview, { id: other.data!.registerPlayer.player.id }, token);
    expect(codes(denied)).toEqual(['NOT_FOUND']);
  });

  it.each(['FR', 'DE', 'GB', 'US'])(
    'serves the demo catalog for %s in the local currency, localised',
    async (country) => {
      const currency = { FR: 'EUR', DE: 'EUR', GB: 'GBP', US: 'USD' }[country];
      const locale = { FR: 'fr-FR', DE: 'de-DE', GB: 'en-GB', US: 'en-US' }[country];
      const r = await stack.call(
        contractOperation('Offers'),
        { country, locale },
        stack.demo.portalApiKey,
      );
      expect(r.errors).toBeUndefined();
      const { products, plans } = r.data!;
      const kinds = new Set(products.map((p: { kind: string }) => p.kind));
      expect([...kinds]).toEqual(expect.arrayContaining(['COIN_PACK', 'ITEM']));
      const coinPack = products.find((p: { kind: string }) => p.kind === 'COIN_PACK');
      const variant = coinPack.variants[0];
      expect(variant.walletCredit).toEqual({
        amountMinor: expect.stringMatching(/^\d+$/),
        currency: 'GEMS',
      });
      const channelKinds = variant.prices.map((p: { channelKind: string }) => p.channelKind);
      expect(channelKinds).toEqual(expect.arrayContaining(['CARD', 'CARRIER_BILLING']));
      for (const p of variant.prices) expect(p.amount.currency).toBe(currency);
      const item = products.find((p: { kind: string }) => p.kind === 'ITEM');
      expect(
        item.variants.flatMap(
          (v: { prices: { channelKind: string; amount: { currency: string } }[] }) => v.prices,
        ),
      ).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            channelKind: 'WALLET',
            amount: expect.objectContaining({ currency: 'GEMS' }),
          }),
        ]),
      );
      expect(plans.map((p: { interval: string }) => p.interval).sort()).toEqual(
        expect.arrayContaining(['DAY', 'MONTH', 'WEEK']),
      );
      for (const plan of plans) expect(plan.price.amount.currency).toBe(currency);
      if (country === 'FR') expect(JSON.stringify(r.data)).toMatch(/[éèàç]|Pack|pièces/i);
    },
  );

  it('refuses Offers without a key and with an invalid country', async () => {
    expect(codes(await stack.call(contractOperation('Offers'), { country: 'FR' }))).toEqual([
      'UNAUTHENTICATED',
    ]);
    const bad = await stack.call(
      contractOperation('Offers'),
      { country: 'France' },
      stack.demo.portalApiKey,
    );
    expect(codes(bad)).toContain('BAD_USER_INPUT');
  });
});
