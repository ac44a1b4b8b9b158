import fc from 'fast-check';
import { createTestDatabase } from '@coinslot/testing';
import { newId, query, type MikroORM } from '@coinslot/kernel';
import { openAccountsDatabase } from '../src/database';
import {
  AccountKind,
  availableBalance,
  ledger,
  type LedgerAccountRow,
} from '../src/modules/ledger/ledger.service';

describe('accounts: double-entry ledger', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let orm: MikroORM;
  const merchant = newId();
  const players: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    orm = await openAccountsDatabase(db.url, 4);
    const em = orm.em.fork();
    await query(
      em,
      `insert into accounts.merchant (id, slug, name, virtual_currency) values (?, 'l', 'L', 'GEMS')`,
      [merchant],
    );
    for (let i = 0; i < 3; i += 1) {
      const id = newId();
      players.push(id);
      await query(
        em,
        `insert into accounts.player (id, merchant_id, external_ref, country) values (?, ?, ?, 'FR')`,
        [id, merchant, `p${i}`],
      );
    }
  });
  afterAll(async () => {
    await orm?.close();
    await db?.drop();
  });

  const account = (kind: string, currency: string, playerId?: string) =>
    ledger.account(orm.em.fork(), {
      kind,
      currency,
      merchantId: merchant,
      playerId: playerId ?? null,
    });

  it('is idempotent on the transfer id, and refuses the same id with other parameters', async () => {
    const issued = await account(AccountKind.COINS_ISSUED, 'GEMS');
    const wallet = await account(AccountKind.PLAYER_WALLET, 'GEMS', players[0]);
    const id = newId();
    const input = {
      id,
      debitAccountId: issued.id,
      creditAccountId: wallet.id,
      amount: 100n,
      currency: 'GEMS',
      kind: 'coin_pack',
    };
    await Promise.all(Array.from({ length: 10 }, () => ledger.transfer(orm.em.fork(), input)));
    const [after] = await query<LedgerAccountRow>(
      orm.em.fork(),
      `select * from accounts.ledger_account where id = ?`,
      [wallet.id],
    );
    expect(availableBalance(after!)).toBe(100n);
    await expect(ledger.transfer(orm.em.fork(), { ...input, amount: 101n })).rejects.toMatchObject({
      extensions: { code: 'IDEMPOTENCY_KEY_REUSED' },
    });
  });

  it('never lets a wallet go below zero, even under concurrent spending', async () => {
    const wallet = await account(AccountKind.PLAYER_WALLET, 'GEMS', players[1]);
    const issued = await account(AccountKind.COINS_ISSUED, 'GEMS');
    const sales = await account(AccountKind.COIN_SALES, 'GEMS');
    await ledger.transfer(orm.em.fork(), {
      id: newId(),
      debitAccountId: issued.id,
      creditAccountId: wallet.id,
      amount: 50n,
      currency: 'GEMS',
      kind: 'grant',
    });
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () =>
        ledger.transfer(orm.em.fork(), {
          id: newId(),
          debitAccountId: wallet.id,
          creditAccountId: sales.id,
          amount: 20n,
          currency: 'GEMS',
          kind: 'purchase',
          pending: true,
        }),
      ),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(2);
    const [after] = await query<LedgerAccountRow>(
      orm.em.fork(),
      `select * from accounts.ledger_account where id = ?`,
      [wallet.id],
    );
    expect(availableBalance(after!)).toBe(10n);
  });

  it('keeps every currency at zero sum and every wallet ≥ 0 through random operations (property)', async () => {
    type Op =
      | { t: 'issue'; player: number; amount: bigint }
      | { t: 'spend'; player: number; amount: bigint; outcome: 'post' | 'void' | 'leave' }
      | { t: 'revenue'; amount: bigint; currency: 'EUR' | 'GBP' };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({
        t: fc.constant('issue' as const),
        player: fc.integer({ min: 0, max: 2 }),
        amount: fc.bigInt({ min: 1n, max: 500n }),
      }),
      fc.record({
        t: fc.constant('spend' as const),
        player: fc.integer({ min: 0, max: 2 }),
        amount: fc.bigInt({ min: 1n, max: 500n }),
        outcome: fc.constantFrom('post' as const, 'void' as const, 'leave' as const),
      }),
      fc.record({
        t: fc.constant('revenue' as const),
        amount: fc.bigInt({ min: 1n, max: 10_000n }),
        currency: fc.constantFrom('EUR' as const, 'GBP' as const),
      }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 15 }), async (ops) => {
        for (const o of ops) {
          const em = orm.em.fork();
          if (o.t === 'issue') {
            const [from, to] = [
              await account(AccountKind.COINS_ISSUED, 'GEMS'),
              await account(AccountKind.PLAYER_WALLET, 'GEMS', players[o.player]),
            ];
            await ledger.transfer(em, {
              id: newId(),
              debitAccountId: from.id,
              creditAccountId: to.id,
              amount: o.amount,
              currency: 'GEMS',
              kind: 'issue',
            });
          } else if (o.t === 'spend') {
            const [from, to] = [
              await account(AccountKind.PLAYER_WALLET, 'GEMS', players[o.player]),
              await account(AccountKind.COIN_SALES, 'GEMS'),
            ];
            const id = newId();
            const ok = await ledger
              .transfer(em, {
                id,
                debitAccountId: from.id,
                creditAccountId: to.id,
                amount: o.amount,
                currency: 'GEMS',
                kind: 'spend',
                pending: true,
              })
              .then(
                () => true,
                (err: { extensions?: { code?: string } }) => {
                  expect(err.extensions?.code).toBe('CONFLICT');
                  return false;
                },
              );
            if (ok && o.outcome === 'post') await ledger.post(orm.em.fork(), id);
            if (ok && o.outcome === 'void') await ledger.void(orm.em.fork(), id);
          } else {
            const [from, to] = [
              await account(AccountKind.CHANNEL_CLEARING, o.currency),
              await account(AccountKind.REVENUE, o.currency),
            ];
            await ledger.transfer(em, {
              id: newId(),
              debitAccountId: from.id,
              creditAccountId: to.id,
              amount: o.amount,
              currency: o.currency,
              kind: 'sale',
            });
          }
        }
        for (const t of await ledger.totals(orm.em.fork())) {
          expect(t.net).toBe(0n);
          expect(t.pendingNet).toBe(0n);
        }
        const wallets = await query<LedgerAccountRow>(
          orm.em.fork(),
          `select * from accounts.ledger_account where kind = 'player_wallet'`,
        );
        for (const w of wallets) expect(availableBalance(w)).toBeGreaterThanOrEqual(0n);
      }),
      { numRuns: 25 },
    );
  });

  it('posts a batch in one call: each account once, all or none, idempotent per transfer', async () => {
    const issued = await account(AccountKind.COINS_ISSUED, 'STARS');
    const wallets = await Promise.all(
      players.map((p) => account(AccountKind.PLAYER_WALLET, 'STARS', p)),
    );
    const batch = Array.from({ length: 30 }, (_, i) => ({
      id: newId(),
      debitAccountId: issued.id,
      creditAccountId: wallets[i % 3]!.id,
      amount: BigInt(i + 1),
      currency: 'STARS',
      kind: 'scratch_card',
      reference: `card-${i}`,
    }));
    const rows = await ledger.transferMany(orm.em.fork(), batch, { kind: 'service', id: 'test' });
    expect(rows.map((r) => r.id)).toEqual(batch.map((b) => b.id));
    expect(rows.every((r) => r.state === 'posted')).toBe(true);
    const balances = async () =>
      query<LedgerAccountRow>(
        orm.em.fork(),
        `select * from accounts.ledger_account where currency = 'STARS' and kind = 'player_wallet' order by player_id`,
      );
    const sumFor = (w: number) =>
      batch.filter((_, i) => i % 3 === w).reduce((a, b) => a + b.amount, 0n);
    const first = await balances();
    for (let w = 0; w < 3; w += 1) {
      const row = first.find((r) => r.id === wallets[w]!.id)!;
      expect(availableBalance(row)).toBe(sumFor(w));
    }
    const audit = await query<{ n: number }>(
      orm.em.fork(),
      `select count(*)::int as n from accounts.audit_log where action = 'transfer.post' and target_id = any(?::text[])`,
      [`{${batch.map((b) => b.id).join(',')}}`],
    );
    expect(audit[0]!.n).toBe(30);

    // A replay (the whole batch, or part of it plus new ones) moves nothing twice.
    const extra = { ...batch[0]!, id: newId(), amount: 1000n };
    const again = await ledger.transferMany(orm.em.fork(), [...batch.slice(0, 10), extra]);
    expect(again.map((r) => r.id)).toEqual([...batch.slice(0, 10).map((b) => b.id), extra.id]);
    const second = await balances();
    const w0 = second.find((r) => r.id === wallets[0]!.id)!;
    expect(availableBalance(w0)).toBe(sumFor(0) + 1000n);

    // Same id, other amount: refused.
    await expect(
      ledger.transferMany(orm.em.fork(), [{ ...batch[5]!, amount: 999n }]),
    ).rejects.toMatchObject({ extensions: { code: 'IDEMPOTENCY_KEY_REUSED' } });

    // One overdraft in a batch refuses all of it.
    const sales = await account(AccountKind.COIN_SALES, 'STARS');
    const fine = { ...batch[0]!, id: newId(), amount: 7n };
    const overdraft = {
      id: newId(),
      debitAccountId: wallets[1]!.id,
      creditAccountId: sales.id,
      amount: 1_000_000n,
      currency: 'STARS',
      kind: 'purchase',
    };
    await expect(ledger.transferMany(orm.em.fork(), [fine, overdraft])).rejects.toMatchObject({
      extensions: { code: 'CONFLICT' },
    });
    const [none] = await query<{ n: number }>(
      orm.em.fork(),
      `select count(*)::int as n from accounts.transfer where id = any(?::uuid[])`,
      [`{${fine.id},${overdraft.id}}`],
    );
    expect(none!.n).toBe(0);
    expect(availableBalance((await balances()).find((r) => r.id === wallets[0]!.id)!)).toBe(
      sumFor(0) + 1000n,
    );

    // An account in another currency is not found, and nothing moves.
    const eur = await account(AccountKind.PLAYER_WALLET, 'EUR', players[0]);
    await expect(
      ledger.transferMany(orm.em.fork(), [{ ...fine, id: newId(), creditAccountId: eur.id }]),
    ).rejects.toMatchObject({ extensions: { code: 'NOT_FOUND' } });
  });

  it('runs concurrent batches over the same accounts in any order without deadlock or loss', async () => {
    const issued = await account(AccountKind.COINS_ISSUED, 'RUBY');
    const wallets = await Promise.all(
      players.map((p) => account(AccountKind.PLAYER_WALLET, 'RUBY', p)),
    );
    // Each batch touches the hot issuance account and every wallet, in a shuffled order.
    const batches = Array.from({ length: 24 }, (_, b) =>
      Array.from({ length: 9 }, (_, i) => ({
        id: newId(),
        debitAccountId: issued.id,
        creditAccountId: wallets[(i + b) % 3]!.id,
        amount: 1n,
        currency: 'RUBY',
        kind: 'scratch_card',
      })).sort(() => (b % 2 === 0 ? 1 : -1)),
    );
    await Promise.all(batches.map((batch) => ledger.transferMany(orm.em.fork(), batch)));
    const rows = await query<LedgerAccountRow>(
      orm.em.fork(),
      `select * from accounts.ledger_account where currency = 'RUBY'`,
    );
    const issuedRow = rows.find((r) => r.id === issued.id)!;
    expect(BigInt(issuedRow.debits_posted)).toBe(216n);
    const total = rows
      .filter((r) => r.kind === 'player_wallet')
      .reduce((a, r) => a + availableBalance(r), 0n);
    expect(total).toBe(216n);
    const totals = await ledger.totals(orm.em.fork());
    expect(totals.find((t) => t.currency === 'RUBY')?.net).toBe(0n);
  });

  it('finds the accounts of a transfer by index, however many accounts the ledger holds', async () => {
    const em = orm.em.fork();
    await query(
      em,
      `with p as (
         insert into accounts.player (id, merchant_id, external_ref, country)
         select gen_random_uuid(), ?, 'many-' || g, 'FR' from generate_series(1, 3000) g
         returning id)
       insert into accounts.ledger_account (id, merchant_id, player_id, kind, currency)
       select gen_random_uuid(), ?, p.id, 'player_wallet', 'GEMS' from p`,
      [merchant, merchant],
    );
    await account(AccountKind.PLAYER_WALLET, 'GEMS', players[2]);
    await query(em, `analyze accounts.ledger_account`);
    const scans = await em.transactional(async (tx) => {
      const read = async () =>
        (
          await query<{ seq: string; tuples: string }>(
            tx,
            `select seq_scan as seq, coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) as tuples
               from pg_stat_xact_user_tables
              where schemaname = 'accounts' and relname = 'ledger_account'`,
          )
        )[0]!;
      const before = await read();
      // Finding both (existing) accounts among 3,000 wallets of the currency, then the transfer.
      const issued = await ledger.account(tx, {
        kind: AccountKind.COINS_ISSUED,
        currency: 'GEMS',
        merchantId: merchant,
      });
      const wallet = await ledger.account(tx, {
        kind: AccountKind.PLAYER_WALLET,
        currency: 'GEMS',
        merchantId: merchant,
        playerId: players[2],
      });
      await ledger.transferMany(tx, [
        {
          id: newId(),
          debitAccountId: issued.id,
          creditAccountId: wallet.id,
          amount: 5n,
          currency: 'GEMS',
          kind: 'grant',
        },
      ]);
      const after = await read();
      return {
        seq: Number(after.seq) - Number(before.seq),
        tuples: Number(after.tuples) - Number(before.tuples),
      };
    });
    // Reading every wallet of the currency per lookup or transfer would grow with the players.
    expect(scans.seq).toBe(0);
    expect(scans.tuples).toBeGreaterThan(0);
    expect(scans.tuples).toBeLessThan(20);
  });

  it('keeps the audit log append-only', async () => {
    const em = orm.em.fork();
    await query(
      em,
      `insert into accounts.audit_log (actor_kind, action, target_type, outcome) values ('service', 'x', 'Test', 'succeeded')`,
    );
    await expect(query(em, `update accounts.audit_log set action = 'y'`)).rejects.toThrow(
      /append-only/,
    );
    await expect(query(em, `delete from accounts.audit_log`)).rejects.toThrow(/append-only/);
  });
});
