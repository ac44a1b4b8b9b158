import {
  isUuid,
  isVirtualCurrency,
  newId,
  pgArray,
  query,
  type EntityManager,
  type MikroORM,
} from '@coinslot/kernel';
import type {
  ChannelKindValue,
  LocalizedNames,
  PlanIntervalValue,
  ProductKindValue,
} from './entities';

/**
 * The demo catalog (CONTRACT.md, "Demo mode"). Every row has a fixed natural key (country
 * code, sku, service and plan code), every insert is `on conflict do nothing`: running it on
 * every start changes nothing the second time and never overwrites an admin's edits.
 */

interface SeedCountry {
  code: string;
  names: LocalizedNames;
  currency: string;
  locale: string;
  timezones: string[];
  addressFormat: string;
  rules: {
    perTransaction: bigint;
    perDay: bigint;
    perMonth: bigint;
    consent: boolean;
    hours: [number, number];
  };
}

const COUNTRIES: SeedCountry[] = [
  {
    code: 'FR',
    names: { en: 'France', fr: 'France', de: 'Frankreich' },
    currency: 'EUR',
    locale: 'fr-FR',
    timezones: ['Europe/Paris'],
    addressFormat: '%O%n%N%n%A%n%Z %C',
    rules: {
      perTransaction: 5000n,
      perDay: 10000n,
      perMonth: 30000n,
      consent: true,
      hours: [8, 22],
    },
  },
  {
    code: 'DE',
    names: { en: 'Germany', fr: 'Allemagne', de: 'Deutschland' },
    currency: 'EUR',
    locale: 'de-DE',
    timezones: ['Europe/Berlin'],
    addressFormat: '%N%n%O%n%A%n%Z %C',
    rules: {
      perTransaction: 5000n,
      perDay: 10000n,
      perMonth: 30000n,
      consent: true,
      hours: [8, 22],
    },
  },
  {
    code: 'GB',
    names: { en: 'United Kingdom', fr: 'Royaume-Uni', de: 'Vereinigtes Königreich' },
    currency: 'GBP',
    locale: 'en-GB',
    timezones: ['Europe/London'],
    addressFormat: '%N%n%O%n%A%n%C%n%Z',
    rules: {
      perTransaction: 4000n,
      perDay: 8000n,
      perMonth: 24000n,
      consent: true,
      hours: [8, 21],
    },
  },
  {
    code: 'US',
    names: { en: 'United States', fr: 'États-Unis', de: 'Vereinigte Staaten' },
    currency: 'USD',
    locale: 'en-US',
    timezones: [
      'America/New_York',
      'America/Chicago',
      'America/Denver',
      'America/Phoenix',
      'America/Los_Angeles',
      'America/Anchorage',
      'Pacific/Honolulu',
    ],
    addressFormat: '%N%n%O%n%A%n%C, %S %Z',
    rules: {
      perTransaction: 10000n,
      perDay: 20000n,
      perMonth: 50000n,
      consent: false,
      hours: [9, 21],
    },
  },
];

/** Real-money prices per country: the country's currency, minor units. */
type PriceTable = Record<string, Partial<Record<ChannelKindValue, bigint>>>;

interface SeedVariant {
  sku: string;
  names: LocalizedNames;
  walletCredit?: bigint;
  accessDays?: number;
  prices: PriceTable;
  /** WALLET price in the merchant's coins, in every country. */
  coins?: bigint;
}

interface SeedProduct {
  sku: string;
  kind: ProductKindValue;
  names: LocalizedNames;
  service?: boolean;
  variants: SeedVariant[];
}

const card = (fr: bigint, gb: bigint, us: bigint): PriceTable => ({
  FR: { CARD: fr },
  DE: { CARD: fr },
  GB: { CARD: gb },
  US: { CARD: us },
});
const cardAndCarrier = (eur: bigint, gbp: bigint, usd: bigint, sms?: bigint): PriceTable => ({
  FR: { CARD: eur, CARRIER_BILLING: eur },
  DE: { CARD: eur, CARRIER_BILLING: eur },
  GB: { CARD: gbp, CARRIER_BILLING: gbp, ...(sms ? { PREMIUM_SMS: sms } : {}) },
  US: { CARD: usd, CARRIER_BILLING: usd },
});

const SERVICE = {
  code: 'premium',
  names: { en: 'Premium membership', fr: 'Abonnement Premium', de: 'Premium-Mitgliedschaft' },
};

const PRODUCTS: SeedProduct[] = [
  {
    sku: 'coins',
    kind: 'COIN_PACK',
    names: { en: 'Coins', fr: 'Pièces', de: 'Münzen' },
    variants: [
      {
        sku: 'coins-100',
        names: { en: '100 coins', fr: '100 pièces', de: '100 Münzen' },
        walletCredit: 100n,
        prices: cardAndCarrier(199n, 179n, 199n, 150n),
      },
      {
        sku: 'coins-550',
        names: { en: '550 coins', fr: '550 pièces', de: '550 Münzen' },
        walletCredit: 550n,
        prices: cardAndCarrier(999n, 899n, 999n, 500n),
      },
    ],
  },
  {
    sku: 'golden-sword',
    kind: 'ITEM',
    names: { en: 'Golden sword', fr: "Épée d'or", de: 'Goldenes Schwert' },
    variants: [
      // English only on purpose: French and German storefronts show the English name.
      {
        sku: 'golden-sword-legendary',
        names: { en: 'Legendary golden sword' },
        prices: {},
        coins: 250n,
      },
    ],
  },
  {
    sku: 'premium-pass',
    kind: 'SERVICE_ACCESS',
    names: { en: 'Premium pass', fr: 'Pass Premium', de: 'Premium-Pass' },
    service: true,
    variants: [
      {
        sku: 'premium-pass-30d',
        names: { en: '30 days', fr: '30 jours', de: '30 Tage' },
        accessDays: 30,
        prices: card(899n, 799n, 899n),
      },
    ],
  },
];

const PLANS: {
  code: string;
  interval: PlanIntervalValue;
  names: LocalizedNames;
  prices: PriceTable;
}[] = [
  {
    code: 'premium-day',
    interval: 'DAY',
    names: { en: 'Premium, 1 day', fr: 'Premium, 1 jour', de: 'Premium, 1 Tag' },
    prices: cardAndCarrier(99n, 99n, 99n),
  },
  {
    code: 'premium-week',
    interval: 'WEEK',
    names: { en: 'Premium, 1 week', fr: 'Premium, 1 semaine', de: 'Premium, 1 Woche' },
    prices: cardAndCarrier(299n, 249n, 299n),
  },
  {
    code: 'premium-month',
    interval: 'MONTH',
    names: { en: 'Premium, 1 month', fr: 'Premium, 1 mois', de: 'Premium, 1 Monat' },
    prices: cardAndCarrier(999n, 899n, 999n),
  },
];

export interface SeedCatalogOptions {
  merchantId: string;
  /** The merchant's coins (accounts' merchant.virtual_currency), e.g. "GEMS". */
  virtualCurrency: string;
}

export interface SeededCatalog {
  serviceId: string;
  /** By sku. */
  products: Record<string, string>;
  /** By sku. */
  variants: Record<string, string>;
  /** By code. */
  plans: Record<string, string>;
}

/** Inserts a row keyed by a natural key, or finds the one already there; returns its id. */
async function ensure(
  em: EntityManager,
  insert: string,
  params: unknown[],
  select: string,
  key: unknown[],
): Promise<string> {
  const [inserted] = await query<{ id: string }>(
    em,
    `${insert} on conflict do nothing returning id`,
    params,
  );
  if (inserted) return inserted.id;
  const [existing] = await query<{ id: string }>(em, select, key);
  if (!existing) throw new Error(`seed: row vanished (${select})`);
  return existing.id;
}

async function ensurePrices(
  em: EntityManager,
  merchantId: string,
  owner: { column: 'variant_id' | 'plan_id'; id: string },
  points: { country: string; kind: ChannelKindValue; currency: string; amount: bigint }[],
): Promise<void> {
  for (const p of points) {
    await query(
      em,
      `insert into catalog.price (id, merchant_id, ${owner.column}, country, channel_kind, currency, amount)
       values (?, ?, ?, ?, ?, ?, ?::bigint)
       on conflict (${owner.column}, country, channel_kind, currency) where active and ${owner.column} is not null do nothing`,
      [newId(), merchantId, owner.id, p.country, p.kind, p.currency, p.amount.toString()],
    );
  }
}

function pricePoints(table: PriceTable, coins: { currency: string; amount?: bigint }) {
  const points: { country: string; kind: ChannelKindValue; currency: string; amount: bigint }[] =
    [];
  for (const country of COUNTRIES) {
    for (const [kind, amount] of Object.entries(table[country.code] ?? {}) as [
      ChannelKindValue,
      bigint,
    ][]) {
      points.push({ country: country.code, kind, currency: country.currency, amount });
    }
    if (coins.amount != null)
      points.push({
        country: country.code,
        kind: 'WALLET',
        currency: coins.currency,
        amount: coins.amount,
      });
  }
  return points;
}

export async function seedCatalog(
  orm: MikroORM,
  options: SeedCatalogOptions,
): Promise<SeededCatalog> {
  const { merchantId, virtualCurrency } = options;
  if (!isUuid(merchantId)) throw new Error(`seedCatalog: merchantId "${merchantId}" is not a UUID`);
  if (!isVirtualCurrency(virtualCurrency))
    throw new Error(`seedCatalog: "${virtualCurrency}" is not a virtual currency code`);

  return orm.em.fork().transactional(async (em) => {
    for (const c of COUNTRIES) {
      await query(
        em,
        `insert into catalog.country (code, names, default_currency, default_locale, timezones, address_format)
         values (?, ?::jsonb, ?, ?, ?::text[], ?) on conflict (code) do nothing`,
        [
          c.code,
          JSON.stringify(c.names),
          c.currency,
          c.locale,
          pgArray(c.timezones),
          c.addressFormat,
        ],
      );
      await query(
        em,
        `insert into catalog.country_rule
           (country, currency, max_per_transaction, max_per_day, max_per_month, consent_required, charging_hour_from, charging_hour_to)
         values (?, ?, ?::bigint, ?::bigint, ?::bigint, ?, ?, ?) on conflict (country) do nothing`,
        [
          c.code,
          c.currency,
          c.rules.perTransaction.toString(),
          c.rules.perDay.toString(),
          c.rules.perMonth.toString(),
          c.rules.consent,
          c.rules.hours[0],
          c.rules.hours[1],
        ],
      );
    }

    const serviceId = await ensure(
      em,
      `insert into catalog.service (id, merchant_id, code, names) values (?, ?, ?, ?::jsonb)`,
      [newId(), merchantId, SERVICE.code, JSON.stringify(SERVICE.names)],
      `select id from catalog.service where merchant_id = ? and code = ?`,
      [merchantId, SERVICE.code],
    );

    const seeded: SeededCatalog = { serviceId, products: {}, variants: {}, plans: {} };
    for (const p of PRODUCTS) {
      const productId = await ensure(
        em,
        `insert into catalog.product (id, merchant_id, sku, kind, names, service_id) values (?, ?, ?, ?, ?::jsonb, ?)`,
        [newId(), merchantId, p.sku, p.kind, JSON.stringify(p.names), p.service ? serviceId : null],
        `select id from catalog.product where merchant_id = ? and sku = ?`,
        [merchantId, p.sku],
      );
      seeded.products[p.sku] = productId;
      for (const v of p.variants) {
        const variantId = await ensure(
          em,
          `insert into catalog.variant (id, merchant_id, product_id, sku, names, wallet_credit, wallet_currency, access_days)
           values (?, ?, ?, ?, ?::jsonb, ?::bigint, ?, ?)`,
          [
            newId(),
            merchantId,
            productId,
            v.sku,
            JSON.stringify(v.names),
            v.walletCredit?.toString() ?? null,
            v.walletCredit != null ? virtualCurrency : null,
            v.accessDays ?? null,
          ],
          `select id from catalog.variant where product_id = ? and sku = ?`,
          [productId, v.sku],
        );
        seeded.variants[v.sku] = variantId;
        await ensurePrices(
          em,
          merchantId,
          { column: 'variant_id', id: variantId },
          pricePoints(v.prices, { currency: virtualCurrency, amount: v.coins }),
        );
      }
    }

    for (const plan of PLANS) {
      const planId = await ensure(
        em,
        `insert into catalog.plan (id, merchant_id, service_id, code, names, interval, interval_count) values (?, ?, ?, ?, ?::jsonb, ?, 1)`,
        [newId(), merchantId, serviceId, plan.code, JSON.stringify(plan.names), plan.interval],
        `select id from catalog.plan where service_id = ? and code = ?`,
        [serviceId, plan.code],
      );
      seeded.plans[plan.code] = planId;
      await ensurePrices(
        em,
        merchantId,
        { column: 'plan_id', id: planId },
        pricePoints(plan.prices, { currency: virtualCurrency }),
      );
    }
    return seeded;
  });
}
