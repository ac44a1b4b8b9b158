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
