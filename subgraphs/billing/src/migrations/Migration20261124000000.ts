import { Migration } from '@coinslot/kernel';

const PAYMENT_STATUS = `('REQUIRES_ACTION', 'PROCESSING', 'SUCCEEDED', 'FAILED', 'CANCELED')`;
const FAILURE_CODE = `('INSUFFICIENT_FUNDS', 'DENIED', 'LIMIT_EXCEEDED', 'INVALID_OTP', 'CONSENT_EXPIRED', 'CHANNEL_UNAVAILABLE', 'CANCELED_BY_USER')`;
const CHANNEL_KIND = `('CARRIER_BILLING', 'PREMIUM_SMS', 'CARD', 'WALLET')`;

/**
 * Billing's tables. Foreign ids of other subgraphs (merchant, portal, player, price, variant,
 * channel, service, plan) are plain uuid columns (ARCHITECTURE.md §3).
 */
export class Migration20261124000000 extends Migration {
  override async up(): Promise<void> {
    // One row per payment. `status` is written only through the state machine (payment.service).
    this.addSql(`create table billing.payment (
      id uuid primary key,
      serial_number text not null unique check (serial_number ~ '^[A-Z0-9]{6,40}$'),
      merchant_id uuid not null,
      portal_id uuid,
      player_id uuid not null,
      order_ref text not null check (length(order_ref) between 1 and 200),
      price_id uuid not null,
      variant_id uuid,
      plan_id uuid,
      subscription_id uuid,
      product_kind text check (product_kind in ('COIN_PACK', 'ITEM', 'SERVICE_ACCESS')),
      channel_id uuid,
      channel_kind text not null check (channel_kind in ${CHANNEL_KIND}),
      country text not null check (country ~ '^[A-Z]{2}$'),
      msisdn_masked text,
      msisdn_hash text,
      amount bigint not null check (amount > 0),
      currency text not null,
      status text not null check (status in ${PAYMENT_STATUS}),
      failure_code text check (failure_code in ${FAILURE_CODE}),
      refunded_amount bigint not null default 0,
      refund_count int not null default 0,
      next_action jsonb,
      consent_attempts int not null default 0,
      confirming_until timestamptz,
      outcome_version int not null default 0,
      fulfilment jsonb not null default '{}'::jsonb,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      final_at timestamptz,
      check (refunded_amount >= 0 and refunded_amount <= amount),
      check ((status = 'FAILED') = (failure_code is not null) or status = 'CANCELED')
    )`);
    this.addSql(
      `create index payment_merchant_order_idx on billing.payment (merchant_id, order_ref)`,
    );
    this.addSql(
      `create index payment_player_idx on billing.payment (player_id, created_at desc, id desc)`,
    );
    this.addSql(
      `create index payment_merchant_idx on billing.payment (merchant_id, created_at desc, id desc)`,
    );
    // Country caps sum the player's charges of one kind in a local day or month.
    this
      .addSql(`create index payment_caps_idx on billing.payment (player_id, channel_kind, created_at)
      where status in ('PROCESSING', 'SUCCEEDED')`);
    this.addSql(
      `create index payment_open_idx on billing.payment (updated_at) where final_at is null`,
    );

    // Refunds have their own lifecycle; `number` makes the channel reference `<serial>:R<n>`.
    this.addSql(`create table billing.refund (
      id uuid primary key,
      payment_id uuid not null references billing.payment (id),
      merchant_id uuid not null,
      number int not null check (number > 0),
      reference text not null unique,
      amount bigint not null check (amount > 0),
      currency text not null,
      status text not null check (status in ('PROCESSING', 'SUCCEEDED', 'FAILED')),
      failure_code text,
      reason text check (length(reason) <= 500),
      outcome_version int not null default 0,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      final_at timestamptz,
      unique (payment_id, number)
    )`);

    // Idempotency of money-moving mutations: one row per (merchant, key), written in the same
    // transaction as the effect; the hash covers the operation and its parameters.
    this.addSql(`create table billing.idempotency_key (
      merchant_id uuid not null,
      key text not null check (length(key) between 1 and 255),
      request_hash text not null,
      operation text not null,
      state text not null check (state in ('running', 'completed')),
      payment_id uuid,
      refund_id uuid,
      response jsonb,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      primary key (merchant_id, key)
    )`);
    this.addSql(`create index idempotency_key_created_idx on billing.idempotency_key (created_at)`);

    // Time-limited access to a merchant's service; extended by grants, each idempotent on its key.
    this.addSql(`create table billing.entitlement (
      id uuid primary key,
      merchant_id uuid not null,
      player_id uuid not null,
      service_id uuid not null,
      valid_until timestamptz not null,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      unique (merchant_id, player_id, service_id)
    )`);
    this.addSql(`create index entitlement_player_idx on billing.entitlement (player_id)`);
    this.addSql(`create table billing.entitlement_grant (
      id uuid primary key,
      entitlement_id uuid not null references billing.entitlement (id),
      idempotency_key text not null unique check (length(idempotency_key) between 1 and 255),
      days int not null check (days > 0),
      source text not null,
      source_ref text,
      valid_until_before timestamptz,
      valid_until_after timestamptz not null,
      granted_at timestamptz not null default now()
    )`);

    // One webhook endpoint per merchant; the signing secret is sealed (AES-256-GCM, AAD = id).
    this.addSql(`create table billing.webhook_endpoint (
      id uuid primary key,
      merchant_id uuid not null unique,
      url text not null,
      secret_sealed text not null,
      secret_prefix text not null,
      enabled boolean not null default true,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )`);
    // Every webhook sent or to be sent: the log, the retry state, the replay source.
    this.addSql(`create table billing.webhook_delivery (
      id uuid primary key,
      merchant_id uuid not null,
      endpoint_id uuid references billing.webhook_endpoint (id),
      event_type text not null,
      event_key text not null unique,
      payment_id uuid,
      refund_id uuid,
      payload jsonb not null,
      status text not null check (status in ('PENDING', 'SUCCEEDED', 'FAILED', 'SKIPPED')),
      attempts int not null default 0,
      next_attempt_at timestamptz,
      last_response_code int,
      last_error text,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      delivered_at timestamptz
    )`);
    this.addSql(
      `create index webhook_delivery_merchant_idx on billing.webhook_delivery (merchant_id, created_at desc)`,
    );
    this.addSql(
      `create index webhook_delivery_payment_idx on billing.webhook_delivery (payment_id) where payment_id is not null`,
    );

    // Marks of effects already applied (ledger postings, delivery), so a replayed job is a no-op.
    this.addSql(`create table billing.payment_effect (
      payment_id uuid not null references billing.payment (id),
      effect text not null,
      state text not null check (state in ('DONE', 'FAILED')),
      result jsonb not null default '{}'::jsonb,
      at timestamptz not null default now(),
      primary key (payment_id, effect)
    )`);
  }
}
