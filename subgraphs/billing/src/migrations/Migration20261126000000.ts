import { Migration } from '@coinslot/kernel';

/**
 * Recurring plan subscriptions. A subscription is charged once per period through the ordinary
 * payment path; each of its payments names the subscription and the period it pays for.
 */
export class Migration20261126000000 extends Migration {
  override async up(): Promise<void> {
    // `status` changes only in subscription.service (subscribe, cancel, the renewal job, and the
    // hook that runs in the transaction of its payments' final status).
    this.addSql(`create table billing.plan_subscription (
      id uuid primary key,
      merchant_id uuid not null,
      portal_id uuid,
      player_id uuid not null,
      plan_id uuid not null,
      service_id uuid not null,
      price_id uuid not null,
      channel_id uuid,
      channel_kind text not null check (channel_kind in ('CARRIER_BILLING', 'PREMIUM_SMS', 'WALLET')),
      country text not null check (country ~ '^[A-Z]{2}$'),
      timezone text not null,
      charging_hour_from int check (charging_hour_from between 0 and 23),
      charging_hour_to int check (charging_hour_to between 1 and 24),
      interval text not null check (interval in ('DAY', 'WEEK', 'MONTH')),
      interval_count int not null check (interval_count between 1 and 366),
      amount bigint not null check (amount > 0),
      currency text not null,
      msisdn_masked text,
      msisdn_hash text,
      msisdn_sealed text,
      status text not null check (status in ('PENDING', 'ACTIVE', 'PAST_DUE', 'CANCELED')),
      period int not null default 0 check (period >= 0),
      current_period_start timestamptz,
      current_period_end timestamptz,
      next_charge_at timestamptz,
      cancel_at_period_end boolean not null default false,
      canceled_at timestamptz,
      cancel_reason text check (cancel_reason in ('REQUESTED', 'PERIOD_END', 'FIRST_PAYMENT_FAILED', 'PAYMENT_FAILED', 'NOT_CHARGEABLE')),
      failed_attempts int not null default 0 check (failed_attempts >= 0),
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      check ((status = 'CANCELED') = (canceled_at is not null)),
      check (status = 'PENDING' or status = 'CANCELED' or current_period_end is not null)
    )`);
    // One live subscription per player and service: two would extend the same access twice.
    this.addSql(`create unique index plan_subscription_live_idx
      on billing.plan_subscription (merchant_id, player_id, service_id) where status <> 'CANCELED'`);
    this.addSql(
      `create index plan_subscription_player_idx on billing.plan_subscription (player_id, created_at desc, id desc)`,
    );

    // The link from a payment to the subscription and the period it pays for.
    this.addSql(`alter table billing.payment add column subscription_period int`);
    this.addSql(`alter table billing.payment add constraint payment_subscription_fk
      foreign key (subscription_id) references billing.plan_subscription (id)`);
    this.addSql(`alter table billing.payment add constraint payment_subscription_period_check
      check ((subscription_id is null) = (subscription_period is null) and (subscription_period is null or subscription_period > 0))`);
    // At most one charge per period that is in flight or taken; a failed one may be retried.
    this.addSql(`create unique index payment_subscription_period_idx
      on billing.payment (subscription_id, subscription_period)
      where subscription_id is not null and status not in ('FAILED', 'CANCELED')`);
    this.addSql(
      `create index payment_subscription_idx on billing.payment (subscription_id) where subscription_id is not null`,
    );

    // subscribe is idempotent like createPayment; its key row names the subscription.
    this.addSql(`alter table billing.idempotency_key add column subscription_id uuid`);
  }
}
