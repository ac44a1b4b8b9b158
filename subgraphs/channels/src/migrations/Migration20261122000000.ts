import { Migration } from '@coinslot/kernel';

const KINDS = `'CARRIER_BILLING', 'PREMIUM_SMS', 'CARD', 'WALLET'`;
const PROTOCOLS = `'CAMARA', 'PARLAYX', 'ONEAPI', 'SMPP', 'CARD', 'WALLET'`;
const PROCEDURES = `'CHARGE', 'RESERVE', 'CAPTURE', 'RELEASE', 'REFUND', 'BALANCE', 'STATUS', 'CONSENT'`;

/**
 * The channels model: channels as data, number ranges, per-merchant channel accounts with
 * encrypted credentials, procedure runs (the idempotency record of every call billing makes),
 * callback events (dedupe), the day-partitioned interaction log and settlement bookkeeping.
 * No `?` anywhere in this SQL: the driver would read it as a placeholder.
 */
export class Migration20261122000000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table channels.operator (
      code text primary key,
      name text not null,
      country text not null check (country ~ '^[A-Z]{2}$')
    )`);

    this.addSql(`create table channels.number_range (
      prefix text primary key check (prefix ~ '^[+][1-9][0-9]{0,14}$'),
      country text not null check (country ~ '^[A-Z]{2}$'),
      operator_code text references channels.operator (code),
      description text
    )`);

    this.addSql(`create table channels.channel (
      id uuid primary key,
      code text not null unique check (code ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
      name text not null,
      kind text not null check (kind in (${KINDS})),
      protocol text not null check (protocol in (${PROTOCOLS})),
      adapter text not null,
      countries text[] not null default '{}',
      operators text[] not null default '{}',
      currencies text[] not null default '{}',
      settings jsonb not null default '{}'::jsonb,
      enabled boolean not null default true,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )`);

    this.addSql(`create table channels.channel_account (
      id uuid primary key,
      merchant_id uuid not null,
      channel_id uuid not null references channels.channel (id),
      status text not null default 'active' check (status in ('active', 'disabled')),
      priority integer not null default 100,
      settings jsonb not null default '{}'::jsonb,
      credential_names text[] not null default '{}',
      credentials_key_id text not null,
      credentials_iv bytea not null,
      credentials_tag bytea not null,
      credentials_ciphertext bytea not null,
      revision integer not null default 1,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      unique (merchant_id, channel_id)
    )`);
    this.addSql(
      `create index channel_account_channel_idx on channels.channel_account (channel_id)`,
    );
    this.addSql(
      `create index channel_account_key_idx on channels.channel_account (credentials_key_id)`,
    );

    this.addSql(`create table channels.procedure_run (
      id uuid primary key,
      reference text not null unique,
      serial text not null,
      request_hash text not null,
      hash_key_id text not null,
      procedure text not null check (procedure in (${PROCEDURES})),
      merchant_id uuid not null,
      channel_id uuid not null references channels.channel (id),
      account_id uuid not null references channels.channel_account (id),
      parent_id uuid references channels.procedure_run (id),
      adapter_reference text not null,
      amount bigint not null check (amount >= 0),
      currency text not null,
      country text,
      msisdn_masked text,
      msisdn_hash text,
      msisdn_sealed text,
      state text not null check (state in ('running', 'open', 'final')),
      outcome_kind text check (outcome_kind in ('pending', 'unknown', 'succeeded', 'declined')),
      outcome_code text,
      completion text check (completion in ('poll', 'callback', 'report')),
      provider_code text,
      outcome_message text,
      provider_ref text,
      action jsonb,
      balance_amount bigint,
      balance_currency text,
      attempts integer not null default 0,
      resolve_attempts integer not null default 0,
      routing jsonb not null default '[]'::jsonb,
      version integer not null default 0,
      lease_until timestamptz,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      final_at timestamptz
    )`);
    this.addSql(`create index procedure_run_serial_idx on channels.procedure_run (serial)`);
    this.addSql(
      `create index procedure_run_provider_ref_idx on channels.procedure_run (account_id, provider_ref) where provider_ref is not null`,
    );
    this.addSql(
      `create index procedure_run_parent_idx on channels.procedure_run (parent_id) where parent_id is not null`,
    );
    this.addSql(
      `create index procedure_run_account_created_idx on channels.procedure_run (account_id, created_at)`,
    );

    this.addSql(`create table channels.callback_event (
      id uuid primary key,
      channel_id uuid not null references channels.channel (id),
      account_id uuid references channels.channel_account (id),
      event_id text not null,
      source text not null check (source in ('callback', 'push', 'settlement', 'rejected')),
      reference text,
      procedure text,
      outcome_kind text,
      run_id uuid references channels.procedure_run (id),
      received_at timestamptz not null default now(),
      verified boolean not null,
      applied boolean not null default false,
      note text,
      raw jsonb not null default '{}'::jsonb,
      unique (channel_id, event_id)
    )`);
    this.addSql(
      `create index callback_event_run_idx on channels.callback_event (run_id) where run_id is not null`,
    );

    // The interaction log: range-partitioned by day on "at"; a default partition catches rows
    // for a day whose partition is missing, and ensure_interaction_partition moves them over.
    this.addSql(`create table channels.interaction (
      id uuid not null default gen_random_uuid(),
      at timestamptz not null,
      channel_id uuid,
      account_id uuid,
      direction text not null check (direction in ('OUTBOUND', 'INBOUND')),
      protocol text not null,
      operation text not null,
      reference text,
      serial text,
      status text,
      outcome text,
      duration_ms integer not null default 0,
      request jsonb,
      response jsonb,
      primary key (at, id)
    ) partition by range (at)`);
    this.addSql(
      `create table channels.interaction_default partition of channels.interaction default`,
    );
    this.addSql(`create index interaction_serial_idx on channels.interaction (serial, at)`);
    this.addSql(`create index interaction_reference_idx on channels.interaction (reference)`);
    this
      .addSql(`create or replace function channels.ensure_interaction_partition(day date) returns boolean
      language plpgsql as $$
      declare
        part text := 'interaction_' || to_char(day, 'YYYYMMDD');
        lo timestamptz := day::timestamp at time zone 'UTC';
        hi timestamptz := (day + 1)::timestamp at time zone 'UTC';
      begin
        if to_regclass('channels.' || part) is not null then return false; end if;
        perform pg_advisory_xact_lock(hashtext('channels.interaction partitions'));
        if to_regclass('channels.' || part) is not null then return false; end if;
        execute format('create table channels.%I (like channels.interaction including defaults including constraints)', part);
        execute format('with moved as (delete from channels.interaction_default where at >= %L and at < %L returning *) insert into channels.%I select * from moved', lo, hi, part);
        execute format('alter table channels.interaction attach partition channels.%I for values from (%L) to (%L)', part, lo, hi);
        return true;
      end $$`);
    this
      .addSql(`create or replace function channels.ensure_interaction_partitions(first_day date, days integer) returns integer
      language plpgsql as $$
      declare created integer := 0;
      begin
        for i in 0 .. days - 1 loop
          if channels.ensure_interaction_partition(first_day + i) then created := created + 1; end if;
        end loop;
        return created;
      end $$`);
    this
      .addSql(`create or replace function channels.drop_interaction_partitions_before(day date) returns integer
      language plpgsql as $$
      declare
        r record;
        dropped integer := 0;
      begin
        for r in
          select c.relname from pg_inherits i
            join pg_class c on c.oid = i.inhrelid
            join pg_class p on p.oid = i.inhparent
            join pg_namespace n on n.oid = p.relnamespace
           where n.nspname = 'channels' and p.relname = 'interaction' and c.relname ~ '^interaction_[0-9]{8}$'
             and to_date(substr(c.relname, 13), 'YYYYMMDD') < day
        loop
          execute format('drop table channels.%I', r.relname);
          dropped := dropped + 1;
        end loop;
        return dropped;
      end $$`);
    this.addSql(`select channels.ensure_interaction_partitions(current_date - 1, 9)`);

    this.addSql(`create table channels.settlement_file (
      id uuid primary key,
      channel_id uuid not null references channels.channel (id),
      account_id uuid not null references channels.channel_account (id),
      name text not null,
      sha256 text not null,
      file_key text not null,
      file_date date not null,
      row_count integer not null,
      matched integer not null,
      mismatches integer not null,
      resolved integer not null,
      processed_at timestamptz not null default now(),
      unique (account_id, file_key)
    )`);

    this.addSql(`create table channels.settlement_mismatch (
      id uuid primary key,
      file_id uuid references channels.settlement_file (id),
      channel_id uuid not null references channels.channel (id),
      account_id uuid references channels.channel_account (id),
      kind text not null,
      reason text,
      reference text,
      operator_txn_id text,
      run_id uuid references channels.procedure_run (id),
      our_amount bigint,
      our_currency text,
      our_outcome text,
      their_amount bigint,
      their_currency text,
      their_status text,
      detail jsonb not null default '{}'::jsonb,
      status text not null default 'open' check (status in ('open', 'resolved')),
      created_at timestamptz not null default now()
    )`);
    this.addSql(
      `create index settlement_mismatch_channel_idx on channels.settlement_mismatch (channel_id, created_at)`,
    );
  }
}
