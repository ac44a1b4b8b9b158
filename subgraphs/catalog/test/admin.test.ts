import { createTestDatabase, gql, asPrincipal, codes, TEST_SECRET } from '@coinslot/testing';
import { query, type MikroORM, type Principal, type ServiceHandle } from '@coinslot/kernel';
import { createCatalogService } from '../src/server';
import { openCatalogDatabase } from '../src/database';

interface AuditRow {
  actor_kind: string;
  actor_id: string | null;
  action: string;
  target_type: string;
  target_id: string | null;
  outcome: string;
  details: Record<string, unknown>;
}

describe('catalog: admin', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let orm: MikroORM;
  let service: ServiceHandle;
  let url: string;
  const merchant = '0190c000-0000-7000-8000-00000000000a';
  const admin: Principal = {
    kind: 'admin',
    adminId: '0190c000-0000-7000-8000-0000000000ad',
    role: 'operator',
  };
  const portal: Principal = {
    kind: 'portal',
    merchantId: merchant,
    portalId: '0190c000-0000-7000-8000-0000000000a1',
  };
  const billing: Principal = { kind: 'service', service: 'billing' };

  const call = async (principal: Principal, q: string, variables: Record<string, unknown> = {}) =>
    gql(url, q, variables, await asPrincipal(principal, TEST_SECRET));
  const audit = () => query<AuditRow>(orm.em.fork(), `select * from catalog.audit_log order by id`);
  const count = async (table: string) =>
    Number(
      (await query<{ n: string }>(orm.em.fork(), `select count(*) as n from catalog.${table}`))[0]!
        .n,
    );

  const UPSERT_COUNTRY = `mutation($input: UpsertCountryInput!) { upsertCountry(input: $input) { code name(locale: "fr") timezones } }`;
  const UPSERT_RULES = `mutation($input: UpsertCountryRulesInput!) { upsertCountryRules(input: $input) { code rules { maxPerTransaction { amountMinor currency } consentRequired } } }`;
  const CREATE_SERVICE = `mutation($input: CreateServiceInput!) { createService(input: $input) { id code name } }`;
  const CREATE_PRODUCT = `mutation($input: CreateProductInput!) { createProduct(input: $input) { id sku kind name(locale: "fr") service { code } } }`;
  const CREATE_VARIANT = `mutation($input: CreateVariantInput!) { createVariant(input: $input) { id sku name walletCredit { amountMinor currency } accessDays } }`;
  const CREATE_VARIANTS = `mutation($input: CreateVariantsInput!) { createVariants(input: $input) { id sku } }`;
  const CREATE_PRICE = `mutation($input: CreatePriceInput!) { createPrice(input: $input) { id channelKind country amount { amountMinor currency } variant { sku } plan { code } } }`;
  const CREATE_PLAN = `mutation($input: CreatePlanInput!) { createPlan(input: $input) { id code interval intervalCount service { code } } }`;
  const en = (value: string) => [{ locale: 'en', value }];

  let coinPackId: string;
  let variantId: string;
  let serviceId: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    orm = await openCatalogDatabase(db.url, 2);
    service = await createCatalogService({
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      HOST: '127.0.0.1',
      PORT: 0,
      DATABASE_URL: db.url,
      DATABASE_POOL_MAX: 5,
      INTERNAL_CONTEXT_SECRET: TEST_SECRET,
    });
    url = (await service.listen(0)) + '/graphql';
  });
  afterAll(async () => {
    await service?.close();
    await orm?.close(true);
    await db?.drop();
  });

  it('builds a catalog through admin mutations, each audited', async () => {
    const country = await call(admin, UPSERT_COUNTRY, {
      input: {
        code: 'FR',
        names: [
          { locale: 'en', value: 'France' },
          { locale: 'fr', value: 'France' },
        ],
        defaultCurrency: 'EUR',
        defaultLocale: 'fr-fr',
        timezones: ['Europe/Paris'],
        addressFormat: '%O%n%N%n%A%n%Z %C',
      },
    });
    expect(country.errors).toBeUndefined();
    const rules = await call(admin, UPSERT_RULES, {
      input: {
        country: 'FR',
        maxPerTransaction: { amountMinor: '5000', currency: 'EUR' },
        consentRequired: true,
        chargingHourFrom: 8,
        chargingHourTo: 22,
      },
    });
    expect(rules.data!.upsertCountryRules.rules).toEqual({
      maxPerTransaction: { amountMinor: '5000', currency: 'EUR' },
      consentRequired: true,
    });

    const svc = await call(admin, CREATE_SERVICE, {
      input: { merchantId: merchant, code: 'vip', names: en('VIP lounge') },
    });
    serviceId = svc.data!.createService.id;
    const product = await call(admin, CREATE_PRODUCT, {
      input: {
        merchantId: merchant,
        sku: 'gems',
        kind: 'COIN_PACK',
        names: [
          { locale: 'en', value: 'Gems' },
          { locale: 'fr', value: 'Gemmes' },
        ],
      },
    });
    expect(product.data!.createProduct).toMatchObject({
      sku: 'gems',
      kind: 'COIN_PACK',
      name: 'Gemmes',
      service: null,
    });
    coinPackId = product.data!.createProduct.id;
    const variant = await call(admin, CREATE_VARIANT, {
      input: {
        productId: coinPackId,
        sku: 'gems-10',
        walletCredit: { amountMinor: '10', currency: 'GEMS' },
      },
    });
    expect(variant.data!.createVariant).toMatchObject({
      sku: 'gems-10',
      name: 'gems-10',
      walletCredit: { amountMinor: '10', currency: 'GEMS' },
      accessDays: null,
    });
    variantId = variant.data!.createVariant.id;
    // Beyond 2^53: amounts are bigint end to end, never a JS number.
    const price = await call(admin, CREATE_PRICE, {
      input: {
        variantId,
        country: 'FR',
        channelKind: 'CARD',
        amount: { amountMinor: '9007199254740993', currency: 'EUR' },
      },
    });
    expect(price.data!.createPrice).toMatchObject({
      channelKind: 'CARD',
      country: 'FR',
      amount: { amountMinor: '9007199254740993', currency: 'EUR' },
      variant: { sku: 'gems-10' },
      plan: null,
    });
    const plan = await call(admin, CREATE_PLAN, {
      input: {
        serviceId,
        code: 'vip-weekly',
        names: en('VIP weekly'),
        interval: 'WEEK',
        intervalCount: 2,
      },
    });
    expect(plan.data!.createPlan).toMatchObject({
      code: 'vip-weekly',
      interval: 'WEEK',
      intervalCount: 2,
      service: { code: 'vip' },
    });
    const planPrice = await call(admin, CREATE_PRICE, {
      input: {
        planId: plan.data!.createPlan.id,
        country: 'FR',
        channelKind: 'CARRIER_BILLING',
        amount: { amountMinor: '499', currency: 'EUR' },
      },
    });
    expect(planPrice.data!.createPrice.plan).toEqual({ code: 'vip-weekly' });
    const bulk = await call(admin, CREATE_VARIANTS, {
      input: {
        productId: coinPackId,
        variants: [
          { sku: 'gems-50', walletCredit: { amountMinor: '50', currency: 'GEMS' } },
          { sku: 'gems-99', walletCredit: { amountMinor: '99', currency: 'GEMS' } },
        ],
      },
    });
    expect(bulk.data!.createVariants.map((v: { sku: string }) => v.sku)).toEqual([
      'gems-50',
      'gems-99',
    ]);
    const off = await call(
      admin,
      `mutation($id: ID!) { setPriceActive(id: $id, active: false) { active } }`,
      { id: price.data!.createPrice.id },
    );
    expect(off.data!.setPriceActive.active).toBe(false);

    const rows = await audit();
    expect(rows.map((r) => [r.action, r.target_type, r.target_id])).toEqual([
      ['country.upsert', 'Country', 'FR'],
      ['country.rules.upsert', 'Country', 'FR'],
      ['service.create', 'Service', serviceId],
      ['product.create', 'Product', coinPackId],
      ['variant.create', 'ProductVariant', variantId],
      ['price.create', 'Price', price.data!.createPrice.id],
      ['plan.create', 'Plan', plan.data!.createPlan.id],
      ['price.create', 'Price', planPrice.data!.createPrice.id],
      ['variant.create_bulk', 'Product', coinPackId],
      ['price.deactivate', 'Price', price.data!.createPrice.id],
    ]);
    expect(new Set(rows.map((r) => `${r.actor_kind}/${r.actor_id}/${r.outcome}`))).toEqual(
      new Set([`admin:operator/${(admin as { adminId: string }).adminId}/succeeded`]),
    );
    expect(rows[5]!.details).toMatchObject({
      amountMinor: '9007199254740993',
      currency: 'EUR',
      channelKind: 'CARD',
    });
    expect(rows[8]!.details).toMatchObject({ count: 2, firstSku: 'gems-50', lastSku: 'gems-99' });
  });

  it('refuses non-admins, and writes nothing', async () => {
    const before = [await count('product'), await count('service'), (await audit()).length];
    for (const principal of [
      portal,
      billing,
      { kind: 'player', merchantId: merchant, playerId: merchant } as Principal,
    ]) {
      const r = await call(principal, CREATE_PRODUCT, {
        input: { merchantId: merchant, sku: 'sneaky', kind: 'ITEM', names: en('Sneaky') },
      });
      expect(codes(r)).toEqual(['FORBIDDEN']);
      const s = await call(principal, CREATE_SERVICE, {
        input: { merchantId: merchant, code: 'sneaky', names: en('Sneaky') },
      });
      expect(codes(s)).toEqual(['FORBIDDEN']);
    }
    expect(
      codes(
        await call(
          portal,
          `mutation { upsertCountryRules(input: { country: "FR", consentRequired: false }) { code } }`,
        ),
      ),
    ).toEqual(['FORBIDDEN']);
    expect([await count('product'), await count('service'), (await audit()).length]).toEqual(
      before,
    );
  });

  it.each([
    [
      'a coin pack variant without walletCredit',
      CREATE_VARIANT,
      () => ({ productId: coinPackId, sku: 'gems-x' }),
      'walletCredit',
    ],
    [
      'walletCredit in a real currency',
      CREATE_VARIANT,
      () => ({
        productId: coinPackId,
        sku: 'gems-x',
        walletCredit: { amountMinor: '5', currency: 'EUR' },
      }),
      'walletCredit.currency',
    ],
    [
      'a fractional walletCredit',
      CREATE_VARIANT,
      () => ({
        productId: coinPackId,
        sku: 'gems-x',
        walletCredit: { amountMinor: '1.5', currency: 'GEMS' },
      }),
      'walletCredit.amountMinor',
    ],
    [
      'a sku given twice in bulk',
      CREATE_VARIANTS,
      () => ({
        productId: coinPackId,
        variants: [
          { sku: 'd-1', walletCredit: { amountMinor: '1', currency: 'GEMS' } },
          { sku: 'd-1', walletCredit: { amountMinor: '1', currency: 'GEMS' } },
        ],
      }),
      'variants[1].sku',
    ],
    [
      'a bad sku in bulk',
      CREATE_VARIANTS,
      () => ({
        productId: coinPackId,
        variants: [
          { sku: 'ok-1', walletCredit: { amountMinor: '1', currency: 'GEMS' } },
          { sku: 'no spaces', walletCredit: { amountMinor: '1', currency: 'GEMS' } },
        ],
      }),
      'variants[1].sku',
    ],
    [
      'a carrier price in a foreign currency',
      CREATE_PRICE,
      () => ({
        variantId,
        country: 'FR',
        channelKind: 'CARRIER_BILLING',
        amount: { amountMinor: '100', currency: 'USD' },
      }),
      'amount.currency',
    ],
    [
      'a carrier price above the country cap',
      CREATE_PRICE,
      () => ({
        variantId,
        country: 'FR',
        channelKind: 'CARRIER_BILLING',
        amount: { amountMinor: '5001', currency: 'EUR' },
      }),
      'amount.amountMinor',
    ],
    [
      'a wallet price in euros',
      CREATE_PRICE,
      () => ({
        variantId,
        country: 'FR',
        channelKind: 'WALLET',
        amount: { amountMinor: '100', currency: 'EUR' },
      }),
      'amount.currency',
    ],
    [
      'an unknown currency',
      CREATE_PRICE,
      () => ({
        variantId,
        country: 'FR',
        channelKind: 'CARD',
        amount: { amountMinor: '100', currency: 'EU' },
      }),
      'amount.currency',
    ],
    [
      'an invalid country',
      CREATE_PRICE,
      () => ({
        variantId,
        country: 'XX',
        channelKind: 'CARD',
        amount: { amountMinor: '100', currency: 'EUR' },
      }),
      'country',
    ],
    [
      'a country not in the catalog',
      CREATE_PRICE,
      () => ({
        variantId,
        country: 'DE',
        channelKind: 'CARD',
        amount: { amountMinor: '100', currency: 'EUR' },
      }),
      'country',
    ],
    [
      'both a variant and a plan',
      CREATE_PRICE,
      () => ({
        variantId,
        planId: variantId,
        country: 'FR',
        channelKind: 'CARD',
        amount: { amountMinor: '100', currency: 'EUR' },
      }),
      'planId',
    ],
    [
      'an invalid name locale',
      CREATE_PRODUCT,
      () => ({
        merchantId: merchant,
        sku: 'p',
        kind: 'ITEM',
        names: [{ locale: 'not a locale!', value: 'x' }],
      }),
      'names[0].locale',
    ],
    [
      'a service product without a service',
      CREATE_PRODUCT,
      () => ({ merchantId: merchant, sku: 'p', kind: 'SERVICE_ACCESS', names: en('x') }),
      'serviceId',
    ],
    [
      'rules in a foreign currency',
      UPSERT_RULES,
      () => ({
        country: 'FR',
        maxPerDay: { amountMinor: '100', currency: 'GBP' },
        consentRequired: true,
      }),
      'maxPerDay.currency',
    ],
    [
      'an unknown time zone',
      UPSERT_COUNTRY,
      () => ({
        code: 'DE',
        names: en('Germany'),
        defaultCurrency: 'EUR',
        defaultLocale: 'de',
        timezones: ['Europe/Atlantis'],
        addressFormat: '%A',
      }),
      'timezones[0]',
    ],
    [
      'a virtual default currency',
      UPSERT_COUNTRY,
      () => ({
        code: 'DE',
        names: en('Germany'),
        defaultCurrency: 'GEMS',
        defaultLocale: 'de',
        timezones: ['Europe/Berlin'],
        addressFormat: '%A',
      }),
      'defaultCurrency',
    ],
  ])('rejects %s with BAD_USER_INPUT', async (_what, mutation, input, field) => {
    const auditBefore = (await audit()).length;
    const r = await call(admin, mutation, { input: input() });
    expect(codes(r)).toEqual(['BAD_USER_INPUT']);
    expect(r.errors![0]!.extensions!.field).toBe(field);
    expect((await audit()).length).toBe(auditBefore);
  });

  it('answers CONFLICT for a taken sku or price point, creating nothing of a bulk', async () => {
    const variantsBefore = await count('variant');
    const bulk = await call(admin, CREATE_VARIANTS, {
      input: {
        productId: coinPackId,
        variants: [
          { sku: 'gems-new', walletCredit: { amountMinor: '7', currency: 'GEMS' } },
          { sku: 'gems-10', walletCredit: { amountMinor: '7', currency: 'GEMS' } },
        ],
      },
    });
    expect(codes(bulk)).toEqual(['CONFLICT']);
    expect(bulk.errors![0]!.message).toContain('gems-10');
    expect(await count('variant')).toBe(variantsBefore);
    expect(
      codes(
        await call(admin, CREATE_PRODUCT, {
          input: { merchantId: merchant, sku: 'gems', kind: 'ITEM', names: en('Again') },
        }),
      ),
    ).toEqual(['CONFLICT']);

    const input = {
      variantId,
      country: 'FR',
      channelKind: 'CARD',
      amount: { amountMinor: '300', currency: 'EUR' },
    };
    const first = await call(admin, CREATE_PRICE, { input });
    expect(first.errors).toBeUndefined();
    expect(codes(await call(admin, CREATE_PRICE, { input }))).toEqual(['CONFLICT']);
    // The deactivated price cannot come back while another one holds its price point.
    const [old] = await query<{ id: string }>(
      orm.em.fork(),
      `select id from catalog.price where variant_id = ? and not active`,
      [variantId],
    );
    expect(
      codes(
        await call(admin, `mutation($id: ID!) { setPriceActive(id: $id, active: true) { id } }`, {
          id: old!.id,
        }),
      ),
    ).toEqual(['CONFLICT']);
  });

  it('gives billing the internal view of a price, and nobody else', async () => {
    const [price] = await query<{ id: string }>(
      orm.em.fork(),
      `select id from catalog.price where variant_id = ? and active`,
      [variantId],
    );
    const Q = `query($id: ID!) { _price(id: $id) { id merchantId country channelKind currency amount { amountMinor currency } purchasable
      variantId variantSku productId productKind walletCredit { amountMinor currency } accessDays serviceId planId planInterval } }`;
    const r = await call(billing, Q, { id: price!.id });
    expect(r.data!._price).toEqual({
      id: price!.id,
      merchantId: merchant,
      country: 'FR',
      channelKind: 'CARD',
      currency: 'EUR',
      amount: { amountMinor: '300', currency: 'EUR' },
      purchasable: true,
      variantId,
      variantSku: 'gems-10',
      productId: coinPackId,
      productKind: 'COIN_PACK',
      walletCredit: { amountMinor: '10', currency: 'GEMS' },
      accessDays: null,
      serviceId: null,
      planId: null,
      planInterval: null,
    });
    expect(codes(await call(portal, Q, { id: price!.id }))).toEqual(['FORBIDDEN']);
    expect(codes(await call(admin, Q, { id: price!.id }))).toEqual(['FORBIDDEN']);
    const none = await call(billing, Q, { id: '0190c000-0000-7000-8000-000000000000' });
    expect(none.data!._price).toBeNull();
  });
});
