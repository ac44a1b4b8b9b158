import type { EntityManager } from '@coinslot/kernel';
import {
  AppError,
  ErrorCode,
  conflict,
  newId,
  notFound,
  assertCurrency,
  pgArray,
  query,
} from '@coinslot/kernel';

export type TransferState = 'pending' | 'posted' | 'voided';

export interface TransferRow {
  id: string;
  debit_account_id: string;
  credit_account_id: string;
  amount: string;
  currency: string;
  state: TransferState;
  kind: string;
  reference: string | null;
  created_at: Date;
  finalized_at: Date | null;
}

export interface LedgerAccountRow {
  id: string;
  merchant_id: string | null;
  player_id: string | null;
  kind: string;
  currency: string;
  allow_negative: boolean;
  debits_posted: string;
  credits_posted: string;
  debits_pending: string;
  credits_pending: string;
}

/** Kinds of ledger accounts. Wallets are the players'; the rest are the merchant's books. */
export const AccountKind = {
  PLAYER_WALLET: 'player_wallet',
  /** Coins put into circulation by the merchant (debit-normal, may go negative). */
  COINS_ISSUED: 'coins_issued',
  /** Coins spent by players on the merchant's items. */
  COIN_SALES: 'coin_sales',
  /** Real money taken through channels. */
  REVENUE: 'revenue',
  /** Real money owed by channels, cleared by settlement. */
  CHANNEL_CLEARING: 'channel_clearing',
} as const;

const SYSTEM_KINDS_MAY_GO_NEGATIVE = new Set<string>([
  AccountKind.COINS_ISSUED,
  AccountKind.REVENUE,
  AccountKind.CHANNEL_CLEARING,
  AccountKind.COIN_SALES,
]);

/** Credit-normal view of an account: what a wallet holder can spend. */
export function availableBalance(
  a: Pick<LedgerAccountRow, 'credits_posted' | 'debits_posted' | 'debits_pending'>,
): bigint {
  return BigInt(a.credits_posted) - BigInt(a.debits_posted) - BigInt(a.debits_pending);
}

export interface TransferInput {
  /** The caller's id for this transfer; repeating it is idempotent. */
  id: string;
  debitAccountId: string;
  creditAccountId: string;
  amount: bigint;
  currency: string;
  kind: string;
  reference?: string | null;
  /** Two-phase: reserve now, post or void later. */
  pending?: boolean;
}

/** Who asked for a transfer, for the audit log. */
export interface Actor {
  kind: string;
  id: string | null;
}

type Movement = Pick<TransferInput, 'debitAccountId' | 'creditAccountId' | 'amount' | 'currency'>;

const sameTransfer = (a: Movement, b: Movement) =>
  a.debitAccountId === b.debitAccountId &&
  a.creditAccountId === b.creditAccountId &&
  a.amount === b.amount &&
  a.currency === b.currency;

function sql(em: EntityManager) {
  return <T>(text: string, params: unknown[] = []) => query<T>(em, text, params);
}

/**
 * The double-entry ledger. Every transfer debits one account and credits another of the same
 * currency in one transaction, so per currency the balances always sum to zero; the database
 * checks that no wallet goes below zero.
 */
export class LedgerService {
  /** Finds or creates an account; concurrent callers get the same row. */
  async account(
    em: EntityManager,
    owner: { kind: string; currency: string; merchantId?: string | null; playerId?: string | null },
  ): Promise<LedgerAccountRow> {
    assertCurrency(owner.currency);
    const q = sql(em);
    const allowNegative = SYSTEM_KINDS_MAY_GO_NEGATIVE.has(owner.kind);
    const inserted = await q<LedgerAccountRow>(
      `insert into accounts.ledger_account (id, merchant_id, player_id, kind, currency, allow_negative)
       values (?, ?, ?, ?, ?, ?)
       on conflict (kind, currency, coalesce(merchant_id, '00000000-0000-0000-0000-000000000000'), coalesce(player_id, '00000000-0000-0000-0000-000000000000'))
       do nothing returning *`,
      [
        newId(),
        owner.merchantId ?? null,
        owner.playerId ?? null,
        owner.kind,
        owner.currency,
        allowNegative,
      ],
    );
    if (inserted[0]) return inserted[0];
    // The owner index's own expressions, so this is an index lookup ("is not distinct from"
    // would scan every account).
    const [existing] = await q<LedgerAccountRow>(
      `select * from accounts.ledger_account where kind = ? and currency = ?
         and coalesce(merchant_id, '00000000-0000-0000-0000-000000000000') = coalesce(?::uuid, '00000000-0000-0000-0000-000000000000')
         and coalesce(player_id, '00000000-0000-0000-0000-000000000000') = coalesce(?::uuid, '00000000-0000-0000-0000-000000000000')`,
      [owner.kind, owner.currency, owner.merchantId ?? null, owner.playerId ?? null],
    );
    return existing!;
  }

  async transfer(
    em: EntityManager,
    input: TransferInput,
    actor: Actor | null = null,
  ): Promise<TransferRow> {
    const [row] = await this.transferMany(em, [input], actor);
    return row!;
  }

  /**
   * Several transfers in one server-side call (`accounts.post_transfers`): one round trip, the
   * touched accounts locked in id order only inside PostgreSQL, each account's balance updated once
   * for the whole batch — so a merchant's hot system accounts are held for microseconds, not for
   * the Node round trips of a multi-statement transaction. Idempotent per transfer id: a known id
   * returns the existing transfer, or IDEMPOTENCY_KEY_REUSED when its parameters differ. All or
   * nothing: a wallet that would go below zero refuses the whole batch.
   */
  async transferMany(
    em: EntityManager,
    inputs: TransferInput[],
    actor: Actor | null = null,
  ): Promise<TransferRow[]> {
    if (inputs.length === 0) return [];
    const byId = new Map<string, TransferInput>();
    for (const input of inputs) {
      if (input.amount <= 0n) throw conflict('A transfer moves a positive amount.');
      if (input.debitAccountId === input.creditAccountId)
        throw conflict('A transfer needs two different accounts.');
      const seen = byId.get(input.id);
      if (seen && !sameTransfer(seen, input))
        throw new AppError(
          ErrorCode.IDEMPOTENCY_KEY_REUSED,
          `Transfer ${input.id} appears twice with other parameters.`,
        );
      byId.set(input.id, input);
    }
    const payload = [...byId.values()].map((t) => ({
      id: t.id,
      debit: t.debitAccountId,
      credit: t.creditAccountId,
      amount: t.amount.toString(),
      currency: t.currency,
      kind: t.kind,
      reference: t.reference ?? null,
      pending: t.pending ?? false,
    }));
    let created: TransferRow[];
    try {
      created = await query<TransferRow>(
        em,
        `select * from accounts.post_transfers(?::jsonb, ?, ?)`,
        [JSON.stringify(payload), actor?.kind ?? null, actor?.id ?? null],
      );
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === '23514')
        throw conflict('Insufficient balance: the wallet cannot go below zero.');
      if (code === 'P0002') throw notFound('Ledger account in the transfer currency');
      throw err;
    }
    const found = new Map(created.map((t) => [t.id, t]));
    const replayed = [...byId.keys()].filter((id) => !found.has(id));
    if (replayed.length > 0) {
      const existing = await query<TransferRow>(
        em,
        `select * from accounts.transfer where id = any(?::uuid[])`,
        [pgArray(replayed)],
      );
      for (const t of existing) found.set(t.id, t);
      for (const id of replayed) {
        const t = found.get(id);
        const input = byId.get(id)!;
        if (
          !t ||
          !sameTransfer(input, {
            debitAccountId: t.debit_account_id,
            creditAccountId: t.credit_account_id,
            amount: BigInt(t.amount),
            currency: t.currency,
          })
        ) {
          throw new AppError(
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
            `Transfer ${id} exists with other parameters.`,
          );
        }
      }
    }
    return inputs.map((i) => found.get(i.id)!);
  }

  /** Completes a pending transfer. Posting twice is a no-op; posting a voided one is a conflict. */
  async post(em: EntityManager, id: string): Promise<TransferRow> {
    return this.finalize(em, id, 'posted');
  }

  /** Cancels a pending transfer, releasing what it held. */
  async void(em: EntityManager, id: string): Promise<TransferRow> {
    return this.finalize(em, id, 'voided');
  }

  private async finalize(
    em: EntityManager,
    id: string,
    to: 'posted' | 'voided',
  ): Promise<TransferRow> {
    return em.transactional(async (tx) => {
      const q = sql(tx);
      const [t] = await q<TransferRow>(`select * from accounts.transfer where id = ? for update`, [
        id,
      ]);
      if (!t) throw notFound(`Transfer ${id}`);
      if (t.state === to) return t;
      if (t.state !== 'pending') throw conflict(`Transfer ${id} is already ${t.state}.`);
      const input = {
        debitAccountId: t.debit_account_id,
        creditAccountId: t.credit_account_id,
        amount: BigInt(t.amount),
        currency: t.currency,
      };
      await this.move(tx, input, 'debits_pending', 'credits_pending', -1n);
      if (to === 'posted') await this.move(tx, input, 'debits_posted', 'credits_posted', 1n);
      const [updated] = await q<TransferRow>(
        `update accounts.transfer set state = ?, finalized_at = now() where id = ? returning *`,
        [to, id],
      );
      return updated!;
    });
  }

  /** Applies one transfer's amount to both sides; accounts locked in id order (no deadlocks). */
  private async move(
    em: EntityManager,
    t: { debitAccountId: string; creditAccountId: string; amount: bigint; currency: string },
    debitColumn: string,
    creditColumn: string,
    sign: 1n | -1n,
  ): Promise<void> {
    const q = sql(em);
    const sides = [
      { id: t.debitAccountId, column: debitColumn },
      { id: t.creditAccountId, column: creditColumn },
    ].sort((a, b) => (a.id < b.id ? -1 : 1));
    for (const side of sides) {
      let rows: { id: string }[];
      try {
        rows = await q<{ id: string }>(
          `update accounts.ledger_account set ${side.column} = ${side.column} + ? where id = ? and currency = ? returning id`,
          [(t.amount * sign).toString(), side.id, t.currency],
        );
      } catch (err) {
        if ((err as { code?: string }).code === '23514') {
          throw conflict('Insufficient balance: the wallet cannot go below zero.');
        }
        throw err;
      }
      if (rows.length !== 1) throw notFound(`Ledger account ${side.id} in ${t.currency}`);
    }
  }

  /** Per currency, the sum of all posted balances (debit − credit); always zero. */
  async totals(
    em: EntityManager,
  ): Promise<{ currency: string; net: bigint; pendingNet: bigint }[]> {
    const rows = await sql(em)<{ currency: string; net: string; pending_net: string }>(
      `select currency, sum(debits_posted - credits_posted)::text as net,
              sum(debits_pending - credits_pending)::text as pending_net
         from accounts.ledger_account group by currency order by currency`,
    );
    return rows.map((r) => ({
      currency: r.currency,
      net: BigInt(r.net),
      pendingNet: BigInt(r.pending_net),
    }));
  }
}

export const ledger = new LedgerService();
