import { Migration, auditLogMigrationSql } from '@coinslot/kernel';

export class Migration20261121000000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table accounts.merchant (
      id uuid primary key,
      slug text not null unique,
      name text not null,
      virtual_currency text check (virtual_currency ~ '^[A-Z][A-Z0-9]{3,11}$'),
      created_at timestamptz not null default now()
    )`);
    this.addSql(`create table accounts.portal (
      id uuid primary key,
      merchant_id uuid not null references accounts.merchant (id),
      name text not null,
      webhook_url text,
      created_at timestamptz not null default now()
    )`);
    this.addSql(`create index portal_merchant_idx on accounts.portal (merchant_id)`);
    this.addSql(`create table accounts.admin_user (
      id uuid primary key,
      email text not null unique,
      name text not null,
      role text not null check (role in ('operator', 'owner')),
      created_at timestamptz not null default now()
    )`);
    this.addSql(`create table accounts.api_key (
      id uuid primary key,
      key_hash text not null unique,
      prefix text not null,
      kind text not null check (kind in ('portal', 'admin')),
      portal_id uuid references accounts.portal (id),
      admin_user_id uuid references accounts.admin_user (id),
      created_at timestamptz not null default now(),
      revoked_at timestamptz,
      check ((kind = 'portal') = (portal_id is not null) and (kind = 'admin') = (admin_user_id is not null))
    )`);
    this.addSql(`create table accounts.player (
      id uuid primary key,
      merchant_id uuid not null references accounts.merchant (id),
      external_ref text not null,
      country char(2) not null,
      locale text,
      timezone text,
      msisdn text,
      email text,
      referrer_id uuid references accounts.player (id),
      created_at timestamptz not null default now(),
      unique (merchant_id, external_ref)
    )`);
    this.addSql(`create index player_referrer_idx on accounts.player (referrer_id)`);
    // Referral tree as a closure table: every ancestor of a player at every depth.
    this.addSql(`create table accounts.referral (
      ancestor_id uuid not null references accounts.player (id),
      descendant_id uuid not null references accounts.player (id),
      depth int not null check (depth > 0),
      primary key (ancestor_id, descendant_id)
    )`);
    this.addSql(`create index referral_descendant_idx on accounts.referral (descendant_id)`);
    // Double-entry ledger. Balances are kept on the account in the same transaction as the
    // transfer that moves them, TigerBeetle-style (posted and pending, debits and credits).
    this.addSql(`create table accounts.ledger_account (
      id uuid primary key,
      merchant_id uuid references accounts.merchant (id),
      player_id uuid references accounts.player (id),
      kind text not null,
      currency text not null,
      allow_negative boolean not null default false,
      debits_posted bigint not null default 0,
      credits_posted bigint not null default 0,
      debits_pending bigint not null default 0,
      credits_pending bigint not null default 0,
      created_at timestamptz not null default now(),
      check (debits_posted >= 0 and credits_posted >= 0 and debits_pending >= 0 and credits_pending >= 0),
      check (allow_negative or credits_posted - debits_posted - debits_pending >= 0)
    )`);
    this.addSql(`create unique index ledger_account_owner_idx on accounts.ledger_account
      (kind, currency, coalesce(merchant_id, '00000000-0000-0000-0000-000000000000'), coalesce(player_id, '00000000-0000-0000-0000-000000000000'))`);
    this.addSql(
      `create index ledger_account_player_idx on accounts.ledger_account (player_id) where player_id is not null`,
    );
    this.addSql(`create table accounts.transfer (
      id uuid primary key,
      debit_account_id uuid not null references accounts.ledger_account (id),
      credit_account_id uuid not null references accounts.ledger_account (id),
      amount bigint not null check (amount > 0),
      currency text not null,
      state text not null check (state in ('pending', 'posted', 'voided')),
      kind text not null,
      reference text,
      created_at timestamptz not null default now(),
      finalized_at timestamptz,
      check (debit_account_id <> credit_account_id)
    )`);
    this.addSql(`create index transfer_debit_idx on accounts.transfer (debit_account_id)`);
    this.addSql(`create index transfer_credit_idx on accounts.transfer (credit_account_id)`);
    this.addSql(
      `create index transfer_reference_idx on accounts.transfer (reference) where reference is not null`,
    );
    for (const sql of auditLogMigrationSql('accounts')) this.addSql(sql);
  }
}
