import fc from 'fast-check';
import { contractOperation } from '../../../test/support/contract';
import { startStack, type Stack } from '../../../test/support/stack';
import {
  createPayment,
  eventually,
  offers,
  readPayment,
  registerPlayer,
  unique,
  walletBalance,
  type Offers,
} from '../../../test/support/payments';

// Test data read from GraphQL answers: shapes are asserted, not typed.
type Data = Record<string, any>;

type Op =
  | {
      kind: 'coins';
      player: number;
      pack: 'coins100' | 'coins550';
      token: 'tok_ok' | 'tok_declined' | 'tok_insufficient';
    }
  | { kind: 'carrier'; player: number; n: '00' | '51' | '54' }
  | { kind: 'sword'; player: number }
  | { kind: 'refund'; target: number; amount: 'rest' | number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('coins' as const),
    player: fc.nat(1),
    pack: fc.constantFrom('coins100' as const, 'coins550' as const),
    token: fc.constantFrom(
      'tok_ok' as const,
      'tok_ok' as const,
      'tok_declined' as const,
      'tok_insufficient' as const,
    ),
  }),
  fc.record({
    kind: fc.constant('carrier' as const),
    player: fc.nat(1),
    n: fc.constantFrom('00' as const, '51' as const, '54' as const),
  }),
  fc.record({ kind: fc.constant('sword' as const), player: fc.nat(1) }),
  fc.record({
    kind: fc.constant('refund' as const),
    target: fc.nat(20),
    amount: fc.oneof(fc.constant('rest' as const), fc.integer({ min: 1, max: 1100 })),
  }),
);

interface Paid {
  id: string;
  player: number;
  kind: 'card' | 'carrier' | 'wallet';
  amount: bigint;
  refunded: bigint;
  coins: bigint;
}

/**
 * Property, against the real services: whatever sequence of card and carrier payments, wallet
 * purchases, declines, refunds and over-refunds happens, the ledger sums to zero in every
 * currency, no wallet goes below zero, no payment is refunded beyond what was paid, and the
 * books agree with billing (revenue = paid − refunded, wallets = coins credited − spent + returned).
 */
describe('billing ledger invariants (fast-check, real services)', () => {
  let stack: Stack;
  let fr: Offers;

  beforeAll(async () => {
    stack = await startStack();
    fr = await offers(stack, 'FR');
  });
  afterAll(async () => {
    await stack?.close();
  });

  const revenueEur = async (): Promise<bigint> => {
    const r = await stack.call(
      `query($m: ID!) { ledgerAccounts(merchantId: $m) { kind currency creditsPosted { amountMinor } debitsPosted { amountMinor } } }`,
      { m: stack.demo.merchantId },
      stack.demo.adminApiKey,
    );
    const a = (r.data!.ledgerAccounts as Data[]).find(
      (x) => x.kind === 'revenue' && x.currency === 'EUR',
    );
    return a ? BigInt(a.creditsPosted.amountMinor) - BigInt(a.debitsPosted.amountMinor) : 0n;
  };

  it('holds for random sequences', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 3, maxLength: 9 }), async (ops) => {
        const players = [
          await registerPlayer(stack, { country: 'FR', msisdn: '+33612345600' }),
          await registerPlayer(stack, { country: 'FR', msisdn: '+33612345600' }),
        ];
        const revenueBefore = await revenueEur();
        const paid: Paid[] = [];
        const expectedCoins = [0n, 0n];
        let expectedRevenue = 0n;

        for (const op of ops) {
          switch (op.kind) {
            case 'coins': {
              const r = await createPayment(stack, {
                playerId: players[op.player],
                priceId: fr[op.pack].CARD,
                cardToken: op.token,
              });
              const p = r.data!.createPayment.payment;
              expect(p.status).toBe(op.token === 'tok_ok' ? 'SUCCEEDED' : 'FAILED');
              if (p.status === 'SUCCEEDED') {
                const coins = op.pack === 'coins100' ? 100n : 550n;
                paid.push({
                  id: p.id,
                  player: op.player,
                  kind: 'card',
                  amount: BigInt(p.amount.amountMinor),
                  refunded: 0n,
                  coins,
                });
                expectedCoins[op.player]! += coins;
                expectedRevenue += BigInt(p.amount.amountMinor);
              }
              break;
            }
            case 'carrier': {
              const r = await createPayment(stack, {
                playerId: players[op.player],
                priceId: fr.coins100.CARRIER_BILLING,
                msisdn: `+336123456${op.n}`,
              });
              if (r.errors) {
                // The country's daily cap may refuse, before anything is charged.
                expect(r.errors[0]!.extensions).toMatchObject({
                  code: 'CONFLICT',
                  reason: 'DAILY_LIMIT',
                });
                break;
              }
              const p = r.data!.createPayment.payment;
              expect(p.status).toBe(op.n === '00' ? 'SUCCEEDED' : 'FAILED');
              if (p.status === 'SUCCEEDED') {
                paid.push({
                  id: p.id,
                  player: op.player,
                  kind: 'carrier',
                  amount: 199n,
                  refunded: 0n,
                  coins: 100n,
                });
                expectedCoins[op.player]! += 100n;
                expectedRevenue += 199n;
              }
              break;
            }
            case 'sword': {
              // The wallet balance the ledger shows may lag the coin credits (delivery is a job).
              await eventually(
                'coin credits',
                async () =>
                  (await walletBalance(stack, players[op.player]!)) === expectedCoins[op.player],
              );
              const r = await createPayment(stack, {
                playerId: players[op.player],
                priceId: fr.sword.WALLET,
              });
              const p = r.data!.createPayment.payment;
              const enough = expectedCoins[op.player]! >= 250n;
              expect({ status: p.status, failureCode: p.failureCode }).toEqual(
                enough
                  ? { status: 'SUCCEEDED', failureCode: null }
                  : { status: 'FAILED', failureCode: 'INSUFFICIENT_FUNDS' },
              );
              if (enough) {
                paid.push({
                  id: p.id,
                  player: op.player,
                  kind: 'wallet',
                  amount: 250n,
                  refunded: 0n,
                  coins: 0n,
                });
                expectedCoins[op.player]! -= 250n;
              }
              break;
            }
            case 'refund': {
              if (paid.length === 0) break;
              const target = paid[op.target % paid.length]!;
              const remaining = target.amount - target.refunded;
              const amount = op.amount === 'rest' ? remaining : BigInt(op.amount);
              const r = await stack.call(
                contractOperation('RefundPayment'),
                {
                  input: {
                    idempotencyKey: unique('refund'),
                    paymentId: target.id,
                    amountMinor: op.amount === 'rest' ? null : String(op.amount),
                  },
                },
                stack.demo.portalApiKey,
              );
              if (remaining === 0n) {
                expect(r.errors?.[0]?.extensions?.code).toBe('CONFLICT');
              } else if (amount > remaining) {
                expect(r.errors?.[0]?.extensions).toMatchObject({
                  code: 'BAD_USER_INPUT',
                  reason: 'REFUND_EXCEEDS_REMAINING',
                });
              } else {
                expect(r.errors).toBeUndefined();
                target.refunded += amount;
                if (target.kind === 'wallet') expectedCoins[target.player]! += amount;
                else expectedRevenue -= amount;
              }
              break;
            }
          }
        }

        // Every effect settles: wallets and revenue agree with what billing says happened.
        for (const i of [0, 1]) {
          await eventually(
            `player ${i}'s wallet`,
            async () => (await walletBalance(stack, players[i]!)) === expectedCoins[i],
            15_000,
          );
          expect(expectedCoins[i]).toBeGreaterThanOrEqual(0n);
        }
        await eventually(
          'revenue',
          async () => (await revenueEur()) - revenueBefore === expectedRevenue,
          15_000,
        );
        for (const p of paid) {
          const now = await eventually('refunds to settle', async () => {
            const x = await readPayment(stack, p.id);
            return x.refunds.every((r: Data) => r.status !== 'PROCESSING') ? x : null;
          });
          expect(BigInt(now.refundedAmount.amountMinor)).toBe(p.refunded);
          expect(BigInt(now.refundedAmount.amountMinor)).toBeLessThanOrEqual(
            BigInt(now.amount.amountMinor),
          );
          const refunded = (now.refunds as Data[])
            .filter((r) => r.status === 'SUCCEEDED')
            .reduce((s, r) => s + BigInt(r.amount.amountMinor), 0n);
          expect(refunded).toBe(p.refunded);
        }
        const totals = await stack.call(
          `{ ledgerTotals { currency postedNet pendingNet } }`,
          {},
          stack.demo.adminApiKey,
        );
        for (const t of totals.data!.ledgerTotals as Data[])
          expect(t).toMatchObject({ postedNet: '0', pendingNet: '0' });
      }),
      { numRuns: 8 },
    );
  });
});
