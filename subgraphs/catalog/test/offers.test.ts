import fs from 'node:fs';
import path from 'node:path';
import { Kind, parse, print, validate, type OperationDefinitionNode } from 'graphql';
import {
  createTestDatabase,
  gql,
  asPrincipal,
  codes,
  TEST_SECRET,
  type GraphQLResponse,
} from '@coinslot/testing';
import { query, type MikroORM, type Principal, type ServiceHandle } from '@coinslot/kernel';
import { buildCatalogSchema, createCatalogService } from '../src/server';
import { openCatalogDatabase } from '../src/database';
import { seedCatalog, type SeededCatalog } from '../src/seed';

/** The Offers operation exactly as the client contract sends it. */
function contractOperation(name: string): string {
  const file = path.resolve(__dirname, '../../../schema/operations/portal.graphql');
  const doc = parse(fs.readFileSync(file, 'utf8'));
  const op = doc.definitions.find(
    (d): d is OperationDefinitionNode =>
      d.kind === Kind.OPERATION_DEFINITION && d.name?.value === name,
  );
  if (!op) throw new Error(`${name} is not in the contract`);
  return print(op);
}
const OFFERS = contractOperation('Offers');

interface Money {
  amountMinor: string;
  currency: string;
}
interface OfferPrice {
  id: string;
  channelKind: string;
  amount: Money;
}
interface OfferVariant {
  id: string;
  sku: string;
  name: string;
  walletCredit: Money | null;
  prices: OfferPrice[];
}
interface OfferProduct {
  id: string;
  sku: string;
  kind: string;
  name: string;
  variants: OfferVariant[];
}
interface OfferPlan {
  id: string;
  name: string;
  interval: string;
  intervalCount: number;
  service: { id: string; name: string };
  price: OfferPrice | null;
}
interface Offers {
  products: OfferProduct[];
  plans: OfferPlan[];
}
interface VariantPage {
  product: {
    variantsConnection: {
      edges: { cursor: string; node: { sku: string } }[];
      pageInfo: { hasNextPage: boolean; endCursor: string | null };
    };
  };
}

describe('catalog: offers', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let orm: MikroORM;
  let service: ServiceHandle;
  let url: string;
  let seededA: SeededCatalog;
  const sql: string[] = [];
  const merchantA = '0190b000-0000-7000-8000-00000000000a';
  const merchantB = '0190b000-0000-7000-8000-00000000000b';
  const merchantC = '0190b000-0000-7000-8000-00000000000c';
  const portalA: Principal = {
    kind: 'portal',
    merchantId: merchantA,
    portalId: '0190b000-0000-7000-8000-0000000000a1',
  };
  const portalB: Principal = {
    kind: 'portal',
    merchantId: merchantB,
    portalId: '0190b000-0000-7000-8000-0000000000b1',
  };
  const portalC: Principal = {
    kind: 'portal',
    merchantId: merchantC,
    portalId: '0190b000-0000-7000-8000-0000000000c1',
  };
  const playerA: Principal = {
    kind: 'player',
    merchantId: merchantA,
    playerId: '0190b000-0000-7000-8000-0000000000a9',
  };
  const admin: Principal = {
    kind: 'admin',
    adminId: '0190b000-0000-7000-8000-0000000000ad',
    role: 'operator',
  };
  const billing: Principal = { kind: 'service', service: 'billing' };

  const call = async <T = Record<string, any>>(
    principal: Principal,
    q: string,
    variables: Record<string, unknown> = {},
  ) => gql<T>(url, q, variables, await asPrincipal(principal, TEST_SECRET));
  /** Runs an operation and returns how many SQL statements it sent. */
  const counted = async <T = Record<string, any>>(
    principal: Principal,
    q: string,
    variables: Record<string, unknown> = {},
  ) => {
    const headers = await asPrincipal(principal, TEST_SECRET);
    sql.length = 0;
    const result = await gql<T>(url, q, variables, headers);
    return { result, queries: sql.length, statements: [...sql] };
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    orm = await openCatalogDatabase(db.url, 2);
    seededA = await seedCatalog(orm, { merchantId: merchantA, virtualCurrency: 'GEMS' });
    await seedCatalog(orm, { merchantId: merchantB, virtualCurrency: 'GOLD' });
    service = await createCatalogService(
      {
        NODE_ENV: 'test',
        LOG_LEVEL: 'silent',
        HOST: '127.0.0.1',
        PORT: 0,
        DATABASE_URL: db.url,
        DATABASE_POOL_MAX: 5,
        INTERNAL_CONTEXT_SECRET: TEST_SECRET,
      },
      { onQuery: (statement) => sql.push(statement) },
    );
    url = (await service.listen(0)) + '/graphql';
  });
  afterAll(async () => {
    await service?.close();
    await orm?.close(true);
    await db?.drop();
  });

  it('the contract Offers operation validates against the catalog schema', async () => {
    const { schema } = await buildCatalogSchema();
    expect(validate(schema, parse(OFFERS))).toEqual([]);
  });

  it('offers FR products, variants, prices and plans with French names, falling back to English', async () => {
    const r = await call<Offers>(portalA, OFFERS, { country: 'FR', locale: 'fr' });
    expect(r.errors).toBeUndefined();
    const { products, plans } = r.data!;
    expect(products.map((p) => [p.sku, p.kind, p.name])).toEqual([
      ['coins', 'COIN_PACK', 'Pièces'],
      ['golden-sword', 'ITEM', "Épée d'or"],
      ['premium-pass', 'SERVICE_ACCESS', 'Pass Premium'],
    ]);
    const coins = products[0]!;
    expect(coins.variants.map((v) => [v.sku, v.name, v.walletCredit])).toEqual([
      ['coins-100', '100 pièces', { amountMinor: '100', currency: 'GEMS' }],
      ['coins-550', '550 pièces', { amountMinor: '550', currency: 'GEMS' }],
    ]);
    expect(coins.variants[0]!.prices.map((p) => [p.channelKind, p.amount])).toEqual([
      ['CARD', { amountMinor: '199', currency: 'EUR' }],
      ['CARRIER_BILLING', { amountMinor: '199', currency: 'EUR' }],
    ]);
    const sword = products[1]!.variants[0]!;
    expect(sword.name).toBe('Legendary golden sword'); // no French name: English
    expect(sword.walletCredit).toBeNull();
    expect(sword.prices.map((p) => [p.channelKind, p.amount])).toEqual([
      ['WALLET', { amountMinor: '250', currency: 'GEMS' }],
    ]);

    expect(
      plans.map((p) => [
        p.name,
        p.interval,
        p.intervalCount,
        p.service.name,
        p.price?.channelKind,
        p.price?.amount,
      ]),
    ).toEqual([
      [
        'Premium, 1 jour',
        'DAY',
        1,
        'Premium membership',
        'CARRIER_BILLING',
        { amountMinor: '99', currency: 'EUR' },
      ],
      [
        'Premium, 1 semaine',
        'WEEK',
        1,
        'Premium membership',
        'CARRIER_BILLING',
        { amountMinor: '299', currency: 'EUR' },
      ],
      [
        'Premium, 1 mois',
        'MONTH',
        1,
        'Premium membership',
        'CARRIER_BILLING',
        { amountMinor: '999', currency: 'EUR' },
      ],
    ]);
    expect(new Set(plans.map((p) => p.service.id)).size).toBe(1);
  });

  it('offers each country in its own currency, with premium SMS in GB', async () => {
    for (const [country, currency] of [
      ['DE', 'EUR'],
      ['GB', 'GBP'],
      ['US', 'USD'],
    ] as const) {
      const r = await call<Offers>(portalA, OFFERS, { country, locale: null });
      expect(r.errors).toBeUndefined();
      const prices = r.data!.products[0]!.variants[0]!.prices;
      const kinds = prices.map((p) => p.channelKind);
      expect(kinds).toEqual(
        country === 'GB' ? ['CARD', 'CARRIER_BILLING', 'PREMIUM_SMS'] : ['CARD', 'CARRIER_BILLING'],
      );
      expect(new Set(prices.map((p) => p.amount.currency))).toEqual(new Set([currency]));
      expect(r.data!.plans.map((p) => p.interval)).toEqual(['DAY', 'WEEK', 'MONTH']);
    }
    const none = await call<Offers>(portalA, OFFERS, { country: 'JP', locale: 'ja' });
    expect(none.data).toEqual({ products: [], plans: [] });
  });

  it.each([
    ['fr-CA', 'Pièces', 'language of the tag'],
    ['de-AT', 'Münzen', 'language of the tag'],
    ['ja', 'Coins', 'English'],
    [null, 'Coins', 'English'],
  ] as [string | null, string, string][])(
    'names in %s resolve to %s (%s)',
    async (locale, expected) => {
      const r = await call<Offers>(portalA, OFFERS, { country: 'FR', locale });
      expect(r.data!.products[0]!.name).toBe(expected);
    },
  );

  it('seeding again changes nothing', async () => {
    const count = async () =>
      query<{ n: string }>(
        orm.em.fork(),
        `select (select count(*) from catalog.product) + (select count(*) from catalog.variant)
        + (select count(*) from catalog.price) + (select count(*) from catalog.plan) + (select count(*) from catalog.service)
        + (select count(*) from catalog.country) + (select count(*) from catalog.country_rule) as n`,
      );
    const before = await count();
    const again = await seedCatalog(orm, { merchantId: merchantA, virtualCurrency: 'GEMS' });
    expect(again).toEqual(seededA);
    expect(await count()).toEqual(before);
  });

  it("never shows another merchant's catalog", async () => {
    const a = await call<Offers>(portalA, OFFERS, { country: 'FR', locale: 'en' });
    const b = await call<Offers>(portalB, OFFERS, { country: 'FR', locale: 'en' });
    const idsA = new Set(
      a.data!.products.flatMap((p) => [
        p.id,
        ...p.variants.flatMap((v) => [v.id, ...v.prices.map((x) => x.id)]),
      ]),
    );
    const idsB = b.data!.products.flatMap((p) => [
      p.id,
      ...p.variants.flatMap((v) => [v.id, ...v.prices.map((x) => x.id)]),
    ]);
    expect(idsB.length).toBeGreaterThan(0);
    expect(idsB.filter((id) => idsA.has(id))).toEqual([]);
    expect(b.data!.products[0]!.variants[0]!.walletCredit!.currency).toBe('GOLD');

    const coinsA = a.data!.products[0]!;
    const priceA = coinsA.variants[0]!.prices[0]!;
    for (const [q, id] of [
      [`query($id: ID!) { product(id: $id) { id sku } }`, coinsA.id],
      [`query($id: ID!) { productVariant(id: $id) { id sku } }`, coinsA.variants[0]!.id],
      [`query($id: ID!) { price(id: $id) { id amount { amountMinor } } }`, priceA.id],
      [`query($id: ID!) { plan(id: $id) { id } }`, a.data!.plans[0]!.id],
    ] as const) {
      const fromB = await call(portalB, q, { id });
      expect(codes(fromB)).toEqual(['NOT_FOUND']);
      expect(fromB.data).toBeNull();
      const fromA = await call(playerA, q, { id });
      expect(fromA.errors).toBeUndefined();
    }
    // Federation references of another merchant's objects resolve to null.
    const refs = await call(
      portalB,
      `query($r: [_Any!]!) { _entities(representations: $r) { ... on Product { sku } ... on Price { id } } }`,
      {
        r: [
          { __typename: 'Product', id: coinsA.id },
          { __typename: 'Price', id: priceA.id },
        ],
      },
    );
    expect(refs.data).toEqual({ _entities: [null, null] });
    // Naming another merchant is NOT_FOUND; an admin must name one.
    expect(
      codes(await call(portalA, `{ products(country: "FR", merchantId: "${merchantB}") { id } }`)),
    ).toEqual(['NOT_FOUND']);
    const anon = await call(admin, `{ products(country: "FR") { id } }`);
    expect(codes(anon)).toEqual(['BAD_USER_INPUT']);
    expect(anon.errors![0]!.extensions!.field).toBe('merchantId');
    const named = await call(
      admin,
      `{ products(country: "FR", merchantId: "${merchantA}") { id } }`,
    );
    expect(named.data!.products.map((p: { id: string }) => p.id)).toEqual(
      a.data!.products.map((p) => p.id),
    );
  });

  it.each([
    [`{ products(country: "XX") { id } }`, 'country'],
    [`{ products(country: "fr") { id } }`, 'country'],
    [`{ plans(country: "France") { id } }`, 'country'],
    [`{ products(country: "FR") { name(locale: "not a locale!") } }`, 'locale'],
    [`{ products(country: "FR") { variants { prices(country: "ZZ") { id } } } }`, 'country'],
    [`{ country(code: "X1") { code } }`, 'code'],
    [`{ countries { name(locale: "--") } }`, 'locale'],
  ])('rejects %s with BAD_USER_INPUT on %s', async (q, field) => {
    const r = await call(portalA, q);
    expect(r.errors!.length).toBeGreaterThan(0);
    expect(new Set(codes(r))).toEqual(new Set(['BAD_USER_INPUT']));
    expect(r.errors![0]!.extensions!.field).toBe(field);
  });

  it('serves countries with locale data and carrier-billing rules', async () => {
    const r = await call(
      portalA,
      `{
      countries { code name(locale: "de") defaultCurrency timezones }
      fr: country(code: "FR") { name(locale: "fr") defaultLocale addressFormat
        rules { currency maxPerTransaction { amountMinor currency } maxPerMonth { amountMinor currency } consentRequired chargingHourFrom chargingHourTo } }
      jp: country(code: "JP") { code }
    }`,
    );
    expect(r.errors).toBeUndefined();
    expect(r.data!.countries.map((c: { code: string; name: string }) => [c.code, c.name])).toEqual([
      ['DE', 'Deutschland'],
      ['FR', 'Frankreich'],
      ['GB', 'Vereinigtes Königreich'],
      ['US', 'Vereinigte Staaten'],
    ]);
    const us = r.data!.countries.find((c: { code: string }) => c.code === 'US');
    expect(us.defaultCurrency).toBe('USD');
    expect(us.timezones.length).toBeGreaterThan(3);
    expect(r.data!.fr).toEqual({
      name: 'France',
      defaultLocale: 'fr-FR',
      addressFormat: '%O%n%N%n%A%n%Z %C',
      rules: {
        currency: 'EUR',
        maxPerTransaction: { amountMinor: '5000', currency: 'EUR' },
        maxPerMonth: { amountMinor: '30000', currency: 'EUR' },
        consentRequired: true,
        chargingHourFrom: 8,
        chargingHourTo: 22,
      },
    });
    expect(r.data!.jp).toBeNull();
  });

  it('resolves references in one SQL query per type, however many', async () => {
    const offers = await call<Offers>(portalA, OFFERS, { country: 'GB', locale: 'en' });
    const products = offers.data!.products;
    const variants = products.flatMap((p) => p.variants);
    const prices = variants.flatMap((v) => v.prices);
    const representations = [
      ...products.map((p) => ({ __typename: 'Product', id: p.id })),
      ...variants.map((v) => ({ __typename: 'ProductVariant', id: v.id })),
      ...prices.map((p) => ({ __typename: 'Price', id: p.id })),
      ...offers.data!.plans.map((p) => ({ __typename: 'Plan', id: p.id })),
      { __typename: 'Service', id: seededA.serviceId },
      { __typename: 'Country', code: 'GB' },
      { __typename: 'Country', code: 'US' },
    ];
    const { result, queries } = await counted(
      billing,
      `query($r: [_Any!]!) { _entities(representations: $r) {
      ... on Product { sku } ... on ProductVariant { sku } ... on Price { channelKind amount { amountMinor currency } }
      ... on Plan { interval } ... on Service { code } ... on Country { defaultCurrency } } }`,
      { r: representations },
    );
    expect(result.errors).toBeUndefined();
    expect(result.data!._entities).toHaveLength(representations.length);
    expect(result.data!._entities.every((e: unknown) => e !== null)).toBe(true);
    expect(queries).toBe(6);
  });

  describe('at scale', () => {
    beforeAll(async () => {
      // Merchant C: the demo catalog plus 20 products × 50 variants, each with two FR prices.
      await seedCatalog(orm, { merchantId: merchantC, virtualCurrency: 'GEMS' });
      const em = orm.em.fork();
      await query(
        em,
        `insert into catalog.product (id, merchant_id, sku, kind, names)
        select gen_random_uuid(), ?, 'bulk-' || lpad(i::text, 2, '0'), 'ITEM', jsonb_build_object('en', 'Bulk ' || i, 'fr', 'Lot ' || i)
          from generate_series(1, 20) i`,
        [merchantC],
      );
      await query(
        em,
        `insert into catalog.variant (id, merchant_id, product_id, sku, names)
        select gen_random_uuid(), p.merchant_id, p.id, p.sku || '-' || lpad(j::text, 3, '0'), jsonb_build_object('en', 'Variant ' || j)
          from catalog.product p, generate_series(1, 50) j where p.merchant_id = ? and p.sku like 'bulk-%'`,
        [merchantC],
      );
      await query(
        em,
        `insert into catalog.price (id, merchant_id, variant_id, country, channel_kind, currency, amount)
        select gen_random_uuid(), v.merchant_id, v.id, 'FR', k, 'EUR', 100 + (random() * 1000)::int
          from catalog.variant v join catalog.product p on p.id = v.product_id, unnest(array['CARD', 'CARRIER_BILLING']) k
         where p.merchant_id = ? and p.sku like 'bulk-%'`,
        [merchantC],
      );
    });

    it('Offers for 23 products and 1,004 variants costs as few SQL queries as for 3 products', async () => {
      const small = await counted<Offers>(portalA, OFFERS, { country: 'FR', locale: 'fr' });
      const big = await counted<Offers>(portalC, OFFERS, { country: 'FR', locale: 'fr' });
      expect(big.result.errors).toBeUndefined();
      const { products, plans } = big.result.data!;
      expect(products).toHaveLength(23);
      expect(
        products
          .filter((p) => p.sku.startsWith('bulk-'))
          .every((p) => p.variants.length === 50 && p.name.startsWith('Lot ')),
      ).toBe(true);
      expect(products.flatMap((p) => p.variants).every((v) => v.prices.length > 0)).toBe(true);
      expect(plans.every((p) => p.price !== null)).toBe(true);
      // products, variants, variant prices, plans, plan services, plan prices
      expect(small.queries).toBe(6);
      // …plus one: DataLoader batches at most 1,000 keys, and there are 1,004 variants.
      expect(big.queries).toBeLessThanOrEqual(7);
    });

    it('pages through a product of 3,000 variants created in bulk', async () => {
      const created = await call(
        admin,
        `mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }`,
        {
          input: {
            merchantId: merchantC,
            sku: 'big-pack',
            kind: 'COIN_PACK',
            names: [{ locale: 'en', value: 'Big pack' }],
          },
        },
      );
      const productId: string = created.data!.createProduct.id;
      const skus = Array.from({ length: 3000 }, (_, i) => `big-${String(i).padStart(4, '0')}`);
      const bulk = await call(
        admin,
        `mutation($input: CreateVariantsInput!) { createVariants(input: $input) { id sku walletCredit { amountMinor } } }`,
        {
          input: {
            productId,
            // Shuffled: the page order comes from the database, not from insertion.
            variants: [...skus].reverse().map((sku, i) => ({
              sku,
              walletCredit: { amountMinor: String(i + 1), currency: 'GEMS' },
            })),
          },
        },
      );
      expect(bulk.errors).toBeUndefined();
      expect(bulk.data!.createVariants).toHaveLength(3000);
      expect(bulk.data!.createVariants[0].sku).toBe('big-2999');

      const PAGE = `query($id: ID!, $after: String) { product(id: $id) {
        variantsConnection(first: 200, after: $after) { edges { cursor node { sku } } pageInfo { hasNextPage endCursor } } } }`;
      const seen: string[] = [];
      let after: string | null = null;
      let pages = 0;
      for (;;) {
        const { result: page, queries }: { result: GraphQLResponse<VariantPage>; queries: number } =
          await counted<VariantPage>(portalC, PAGE, { id: productId, after });
        expect(page.errors).toBeUndefined();
        expect(queries).toBe(2); // the product, one page of variants
        const conn: VariantPage['product']['variantsConnection'] =
          page.data!.product.variantsConnection;
        seen.push(...conn.edges.map((e) => e.node.sku));
        pages += 1;
        if (!conn.pageInfo.hasNextPage) break;
        expect(conn.pageInfo.endCursor).toBe(conn.edges[conn.edges.length - 1]!.cursor);
        after = conn.pageInfo.endCursor;
      }
      expect(pages).toBe(15);
      expect(seen).toEqual(skus);

      const list = await call(
        portalC,
        `query($id: ID!) { product(id: $id) { variants { sku } second: variants(first: 3, after: "${Buffer.from(JSON.stringify(['big-0099'])).toString('base64url')}") { sku } } }`,
        { id: productId },
      );
      expect(list.data!.product.variants).toHaveLength(100);
      expect(list.data!.product.second.map((v: { sku: string }) => v.sku)).toEqual([
        'big-0100',
        'big-0101',
        'big-0102',
      ]);

      const badCursor = await call(
        portalC,
        `query($id: ID!) { product(id: $id) { variantsConnection(after: "nope") { pageInfo { hasNextPage } } } }`,
        { id: productId },
      );
      expect(codes(badCursor)).toEqual(['BAD_USER_INPUT']);
      expect(badCursor.errors![0]!.extensions!.field).toBe('after');
      const badSize = await call(
        portalC,
        `query($id: ID!) { product(id: $id) { variants(first: 5000) { sku } } }`,
        { id: productId },
      );
      expect(codes(badSize)).toEqual(['BAD_USER_INPUT']);
      expect(badSize.errors![0]!.extensions!.field).toBe('first');
    });
  });
});
