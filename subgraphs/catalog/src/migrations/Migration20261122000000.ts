import { Migration, auditLogMigrationSql } from '@coinslot/kernel';

const NAMES_CHECK = `check (jsonb_typeof(names) = 'object')`;
const CODE = `text collate "C" not null check (code ~ '^[a-z0-9][a-z0-9._-]{0,63}$')`;
// SKUs sort byte-wise (collate "C") so keyset pagination and its index agree on every server.
const SKU = `text collate "C" not null check (sku ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$')`;

export class Migration20261122000000 extends Migration {
  override async up(): Promise<void> {
    // Countries and their rules are shared by every merchant; everything else is per merchant.
    this.addSql(`create table catalog.country (
      code text primary key check (code ~ '^[A-Z]{2}$'),
      names jsonb not null ${NAMES_CHECK},
      default_currency text not null,
      default_locale text not null,
      timezones text[] not null check (cardinality(timezones) > 0),
      address_format text not null,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )`);
    // Carrier-billing limits in the country's currency; charging hours are local, [from, to),
    // wrapping midnight when from > to.
    this.addSql(`create table catalog.country_rule (
      country text primary key references catalog.country (code),
      currency text not null,
      max_per_transaction bigint check (max_per_transaction > 0),
      max_per_day bigint check (max_per_day > 0),
      max_per_month bigint check (max_per_month > 0),
      consent_required boolean not null default false,
      charging_hour_from smallint check (charging_hour_from between 0 and 23),
      charging_hour_to smallint check (charging_hour_to between 1 and 24),
      updated_at timestamptz not null default now(),
      check ((charging_hour_from is null) = (charging_hour_to is null)),
      check (charging_hour_from is distinct from charging_hour_to)
    )`);
    // Foreign ids of other subgraphs (merchant_id) are plain columns. merchant_id is repeated
    // on every row and tied to the parent by composite keys, so isolation is a column check.
    this.addSql(`create table catalog.service (
      id uuid primary key,
      merchant_id uuid not null,
      code ${CODE},
      names jsonb not null ${NAMES_CHECK},
      active boolean not null default true,
      created_at timestamptz not null default now(),
      unique (merchant_id, code),
      unique (id, merchant_id)
    )`);
    this.addSql(`create table catalog.product (
      id uuid primary key,
      merchant_id uuid not null,
      sku ${SKU},
      kind text not null check (kind in ('COIN_PACK', 'ITEM', 'SERVICE_ACCESS')),
      names jsonb not null ${NAMES_CHECK},
      service_id uuid,
      active boolean not null default true,
      created_at timestamptz not null default now(),
      unique (merchant_id, sku),
      unique (id, merchant_id),
      foreign key (service_id, merchant_id) references catalog.service (id, merchant_id),
      check (kind <> 'SERVICE_ACCESS' or service_id is not null)
    )`);
    this.addSql(
      `create index product_service_idx on catalog.product (service_id) where service_id is not null`,
    );
    // Thousands per product: the (product_id, sku) unique index serves keyset pagination.
    this.addSql(`create table catalog.variant (
      id uuid primary key,
      merchant_id uuid not null,
      product_id uuid not null,
      sku ${SKU},
      names jsonb not null default '{}'::jsonb ${NAMES_CHECK},
      wallet_credit bigint check (wallet_credit > 0),
      wallet_currency text,
      access_days int check (access_days > 0),
      active boolean not null default true,
      created_at timestamptz not null default now(),
      foreign key (product_id, merchant_id) references catalog.product (id, merchant_id),
      unique (product_id, sku),
      unique (id, merchant_id),
      check ((wallet_credit is null) = (wallet_currency is null))
    )`);
    this.addSql(`create table catalog.plan (
      id uuid primary key,
      merchant_id uuid not null,
      service_id uuid not null,
      code ${CODE},
      names jsonb not null ${NAMES_CHECK},
      interval text not null check (interval in ('DAY', 'WEEK', 'MONTH')),
      interval_count int not null check (interval_count between 1 and 366),
      active boolean not null default true,
      created_at timestamptz not null default now(),
      foreign key (service_id, merchant_id) references catalog.service (id, merchant_id),
      unique (service_id, code),
      unique (id, merchant_id)
    )`);
    this.addSql(`create index plan_merchant_idx on catalog.plan (merchant_id)`);
    this.addSql(`create table catalog.price (
      id uuid primary key,
      merchant_id uuid not null,
      variant_id uuid,
      plan_id uuid,
      country text not null references catalog.country (code),
      channel_kind text not null check (channel_kind in ('CARRIER_BILLING', 'PREMIUM_SMS', 'CARD', 'WALLET')),
      currency text not null,
      amount bigint not null check (amount > 0),
      active boolean not null default true,
      created_at timestamptz not null default now(),
      foreign key (variant_id, merchant_id) references catalog.variant (id, merchant_id),
      foreign key (plan_id, merchant_id) references catalog.plan (id, merchant_id),
      check ((variant_id is null) <> (plan_id is null))
    )`);
    // One active price point per (variant|plan, country, channel kind, currency); the same
    // indexes serve the hot lookups "active prices of these variants/plans in a country".
    this.addSql(`create unique index price_variant_point_idx on catalog.price
      (variant_id, country, channel_kind, currency) where active and variant_id is not null`);
    this.addSql(`create unique index price_plan_point_idx on catalog.price
      (plan_id, country, channel_kind, currency) where active and plan_id is not null`);
    this.addSql(
      `create index price_variant_idx on catalog.price (variant_id) where variant_id is not null`,
    );
    this.addSql(`create index price_plan_idx on catalog.price (plan_id) where plan_id is not null`);
    for (const sql of auditLogMigrationSql('catalog')) this.addSql(sql);
  }
}
