import { Migration } from '@coinslot/kernel';

/**
 * Transfers as one server-side call. Before, a transfer was five round trips (begin, insert,
 * two balance updates, commit) and the merchant's system accounts (coins issued, revenue, …) stayed
 * locked across the ones after the first update — under load the lock was held for as long as the
 * Node event loop took to send the next statement, and every transfer of a merchant queued on it.
 * `post_transfers` does the whole batch inside PostgreSQL: it locks every account the batch
 * touches in id order (two batches never deadlock), checks they exist in the transfer's currency,
 * inserts the new transfers (a known id is skipped: idempotent replay), adds each account's summed
 * amounts once, and appends one audit row per new transfer. It returns the transfers it created;
 * the caller compares the others with what exists. A wallet pushed below zero fails the whole
 * call with the table's check constraint (23514); an unknown account with no_data_found (P0002).
 */
export class Migration20261125000000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create or replace function accounts.post_transfers(
        p_transfers jsonb, p_actor_kind text, p_actor_id text)
      returns setof accounts.transfer
      language plpgsql as $fn$
      declare
        v_ids uuid[];
        v_missing int;
      begin
        -- Every id through an array, so each lookup below is an index scan of the primary key
        -- (a join against the set-returning functions would be planned as a scan of every account).
        select array_agg(distinct x order by x) into v_ids
          from (select (e->>'debit')::uuid as x from jsonb_array_elements(p_transfers) e
                union all
                select (e->>'credit')::uuid from jsonb_array_elements(p_transfers) e) s;

        perform 1 from accounts.ledger_account a where a.id = any(v_ids) order by a.id for update;

        select count(*) into v_missing
          from jsonb_to_recordset(p_transfers) as i(debit uuid, credit uuid, currency text)
         where (select a.currency from accounts.ledger_account a where a.id = i.debit) is distinct from i.currency
            or (select a.currency from accounts.ledger_account a where a.id = i.credit) is distinct from i.currency;
        if v_missing > 0 then
          raise exception 'ledger account not found in the transfer''s currency' using errcode = 'P0002';
        end if;

        return query
        with input as (
          select * from jsonb_to_recordset(p_transfers) as i(
            id uuid, debit uuid, credit uuid, amount bigint, currency text, kind text,
            reference text, pending boolean)
        ),
        ins as (
          insert into accounts.transfer as t
            (id, debit_account_id, credit_account_id, amount, currency, state, kind, reference, finalized_at)
          select i.id, i.debit, i.credit, i.amount, i.currency,
                 case when i.pending then 'pending' else 'posted' end, i.kind, i.reference,
                 case when i.pending then null else now() end
            from input i
          on conflict (id) do nothing
          returning t.*
        ),
        moves as (
          select ins.debit_account_id as account,
                 case when ins.state = 'posted' then ins.amount else 0 end as dp, 0::bigint as cp,
                 case when ins.state = 'pending' then ins.amount else 0 end as dpe, 0::bigint as cpe
            from ins
          union all
          select ins.credit_account_id, 0, case when ins.state = 'posted' then ins.amount else 0 end,
                 0, case when ins.state = 'pending' then ins.amount else 0 end
            from ins
        ),
        upd as (
          update accounts.ledger_account a
             set debits_posted = a.debits_posted + m.dp, credits_posted = a.credits_posted + m.cp,
                 debits_pending = a.debits_pending + m.dpe, credits_pending = a.credits_pending + m.cpe
            from (select account, sum(dp)::bigint as dp, sum(cp)::bigint as cp,
                         sum(dpe)::bigint as dpe, sum(cpe)::bigint as cpe
                    from moves group by account) m
           where a.id = m.account and a.id = any(v_ids)
          returning a.id
        ),
        audit as (
          insert into accounts.audit_log (actor_kind, actor_id, action, target_type, target_id, outcome, details)
          select p_actor_kind, p_actor_id,
                 case when ins.state = 'pending' then 'transfer.reserve' else 'transfer.post' end,
                 'Transfer', ins.id::text, 'succeeded',
                 jsonb_build_object('kind', ins.kind, 'amount', ins.amount::text,
                                    'currency', ins.currency, 'reference', ins.reference)
            from ins
           where p_actor_kind is not null
        )
        select ins.* from ins;
      end
      $fn$`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop function if exists accounts.post_transfers(jsonb, text, text)`);
  }
}
