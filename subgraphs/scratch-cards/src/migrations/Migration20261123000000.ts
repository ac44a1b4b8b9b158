import { Migration } from '@coinslot/kernel';

/**
 * Scratch cards: card formats per merchant, batches, cards, the vault of clear codes (until
 * export or virtual issue), single-use export tokens and the activation limiter's counters.
 */
export class Migration20261123000000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table scratch_cards.card_format (
      id uuid primary key,
      merchant_id uuid not null,
      serial_prefix text not null check (serial_prefix ~ '^[A-Z]{1,8}$'),
      running_width int not null check (running_width between 3 and 12),
      alphabet text not null check (alphabet ~ '^[A-Z0-9]{16,36}$'),
      code_length int not null check (code_length between 8 and 32),
      group_size int not null check (group_size between 0 and 8),
      created_by text not null,
      created_at timestamptz not null default now()
    )`);
    this.addSql(
      `create index card_format_merchant_idx on scratch_cards.card_format (merchant_id, created_at desc)`,
    );

    // Batch numbers are system-wide: they make serial numbers unique across merchants.
    this.addSql(`create sequence scratch_cards.batch_number_seq`);
    this.addSql(`create table scratch_cards.batch (
      id uuid primary key,
      number bigint not null unique default nextval('scratch_cards.batch_number_seq'),
      merchant_id uuid not null,
      kind text not null check (kind in ('PHYSICAL', 'VIRTUAL')),
      count int not null check (count > 0),
      credit_amount bigint check (credit_amount > 0),
      credit_currency text,
      service_id uuid,
      access_days int check (access_days > 0),
      expires_at timestamptz,
      status text not null default 'GENERATING'
        check (status in ('GENERATING', 'PENDING_APPROVAL', 'APPROVED', 'VOIDED')),
      generated_count int not null default 0,
      serial_prefix text not null,
      running_width int not null,
      alphabet text not null,
      code_length int not null,
      group_size int not null,
      created_by uuid not null,
      created_at timestamptz not null default now(),
      generated_at timestamptz,
      approved_by uuid,
      approved_at timestamptz,
      voided_by text,
      voided_at timestamptz,
      exported_at timestamptz,
      vault_erased_at timestamptz,
      check (generated_count between 0 and count),
      check ((credit_amount is not null and credit_currency is not null and service_id is null and access_days is null)
          or (credit_amount is null and credit_currency is null and service_id is not null and access_days is not null)),
      check (status <> 'APPROVED' or approved_by is not null),
      -- Four eyes, also at the database: the approver is never the creator.
      check (approved_by is null or approved_by <> created_by)
    )`);
    this.addSql(
      `create index batch_merchant_idx on scratch_cards.batch (merchant_id, created_at desc)`,
    );

    // fillfactor leaves room on each page so status changes (approve, redeem) can be HOT updates.
    this.addSql(`create table scratch_cards.card (
      id uuid primary key,
      batch_id uuid not null references scratch_cards.batch (id),
      merchant_id uuid not null,
      running int not null,
      serial_number text not null,
      code_hash bytea not null check (length(code_hash) = 32),
      status text not null default 'INACTIVE'
        check (status in ('INACTIVE', 'ACTIVE', 'REDEEMED', 'VOIDED', 'EXPIRED')),
      for_sale boolean not null default false,
      activation_id uuid,
      redeemed_by uuid,
      redeemed_at timestamptz,
      delivered_at timestamptz,
      delivery_ref text,
      sold_to_payment_id uuid,
      sold_to_player_id uuid,
      sold_at timestamptz,
      voided_at timestamptz,
      check (status <> 'REDEEMED' or (activation_id is not null and redeemed_by is not null and redeemed_at is not null))
    ) with (fillfactor = 90)`);
    this.addSql(`create unique index card_serial_number_idx on scratch_cards.card (serial_number)`);
    this.addSql(`create unique index card_code_hash_idx on scratch_cards.card (code_hash)`);
    this.addSql(
      `create unique index card_batch_running_idx on scratch_cards.card (batch_id, running)`,
    );
    this.addSql(
      `create unique index card_activation_idx on scratch_cards.card (activation_id) where activation_id is not null`,
    );
    this.addSql(
      `create unique index card_payment_idx on scratch_cards.card (sold_to_payment_id) where sold_to_payment_id is not null`,
    );
    // The stock of a virtual batch: cards not sold yet, in running order (issue takes the first free one).
    this.addSql(
      `create index card_virtual_stock_idx on scratch_cards.card (batch_id, running) where for_sale and sold_to_payment_id is null`,
    );

    this.addSql(`create table scratch_cards.card_vault (
      batch_id uuid not null references scratch_cards.batch (id),
      first_running int not null,
      card_count int not null check (card_count > 0),
      iv bytea not null,
      tag bytea not null,
      ciphertext bytea not null,
      created_at timestamptz not null default now(),
      primary key (batch_id, first_running)
    )`);
    // Ciphertext does not compress; skip the attempt.
    this.addSql(
      `alter table scratch_cards.card_vault alter column ciphertext set storage external`,
    );

    this.addSql(`create table scratch_cards.export_token (
      token_hash bytea primary key,
      batch_id uuid not null references scratch_cards.batch (id),
      created_by text not null,
      created_at timestamptz not null default now(),
      expires_at timestamptz not null,
      used_at timestamptz,
      revoked_at timestamptz
    )`);
    this.addSql(`create index export_token_batch_idx on scratch_cards.export_token (batch_id)`);

    // rate-limiter-flexible's RateLimiterPostgres layout (created here, not by the library at runtime).
    this.addSql(`create table scratch_cards.activation_limiter (
      key varchar(255) primary key,
      points integer not null default 0,
      expire bigint
    )`);
  }
}
