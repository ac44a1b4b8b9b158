import { withClient } from '@coinslot/kernel';
import { startStack, type Stack } from '../support/stack';
import type { BillingProcess } from '../support/billing-process';
import {
  createPayment,
  eventually,
  offers,
  registerPlayer,
  unique,
  walletBalance,
  type Offers,
} from '../support/payments';

// Test data read from GraphQL answers and SQL rows: shapes are asserted, not typed.
type Data = Record<string, any>;

/**
 * Crash safety: billing runs as its own OS process and kills itself with SIGKILL at a chosen
 * point of a payment (COINSLOT_CRASH_AT, subgraphs/billing/src/crash.ts, test-only); then it is
 * started again without the crash point. Whatever the safety net, channels' idempotent runs and
 * the job retries do, every payment must end final, as the simulator says, charged exactly
 * once, with exactly one ledger posting and one delivery, and the ledger balanced.
 *
 * Each point with a carrier payment (CAMARA FR, test number 00, charged synchronously; a coin
 * pack: revenue posted, coins credited) and, where the path differs, a wallet purchase (the
 * "charge" is a pending ledger hold instead of a channel call, captured after delivery).
 */

const CARRIER_MSISDN = '+33612345600'; // CAMARA FR simulator, 00: succeeds at once
const FAST = {
  // The safety net asks channels (or retries the wallet hold) soon after a crash.
  RESOLVE_DELAY_MS: '300',
  RESOLVE_MAX_DELAY_MS: '1000',
  // A retry whose first request died waits this long before IDEMPOTENCY_KEY_IN_USE.
  IDEMPOTENCY_WAIT_MS: '500',
};

type Case = 'carrier' | 'wallet';
interface Attempt {
  case: Case;
  point: string;
  playerId: string;
  input: Record<string, string>;
  /** What the crash left behind, read before billing was started again. */
  left: { id: string; status: string; serial: string; effects: string[]; key: string | undefined };
}

describe('crash safety: billing killed with SIGKILL in the middle of a payment', () => {
  let stack: Stack;
  let billing: BillingProcess;
  let fr: Offers;
  /** Funded with 550 coins; buys swords (250) with its wallet. */
  let walletPlayer: string;
  const attempts: Attempt[] = [];

  const sql = <T = Data>(text: string, params: unknown[] = []) =>
    withClient(stack.databaseUrl, async (c) => (await c.query(text, params)).rows as T[]);
  const paymentByOrder = async (orderRef: string) =>
    (await sql(`select * from billing.payment where order_ref = $1`, [orderRef]))[0];

  beforeAll(async () => {
    stack = await startStack(FAST, { billingProcess: true });
    billing = stack.billing!;
    fr = await offers(stack, 'FR');
    // A funded wallet, bought the ordinary way (no crash point armed yet).
    walletPlayer = await registerPlayer(stack, { country: 'FR' });
    const funded = await createPayment(stack, {
      playerId: walletPlayer,
      priceId: fr.coins550.CARD,
      cardToken: 'tok_ok',
    });
    expect(funded.data?.createPayment.payment.status).toBe('SUCCEEDED');
    await eventually(
      'the 550 coins',
      async () => (await walletBalance(stack, walletPlayer)) === 550n,
    );
  }, 60_000);

  afterAll(async () => {
    await stack?.close();
  });

  /**
   * Starts billing armed at `point`, sends one payment, waits until billing killed itself there
   * and reads what it left behind. `answered`: the point lies after the client's answer.
   */
  async function crashDuring(point: string, kase: Case, answered = false): Promise<Attempt> {
    await billing.stop();
    await billing.start({ COINSLOT_CRASH_AT: point });
    const playerId =
      kase === 'carrier'
        ? await registerPlayer(stack, { country: 'FR', msisdn: CARRIER_MSISDN })
        : walletPlayer;
    const input = {
      idempotencyKey: unique('key'),
      orderRef: unique(`crash-${point}-${kase}`),
      playerId,
      priceId: (kase === 'carrier' ? fr.coins100.CARRIER_BILLING : fr.sword.WALLET)!,
    };
    const r = await createPayment(stack, input);
    if (answered) {
      expect(r.data?.createPayment.payment.status).toBe('SUCCEEDED');
    } else {
      // The client never hears back: billing died in the middle of its request.
      expect(r.data?.createPayment ?? null).toBeNull();
      expect(r.errors?.length).toBeGreaterThan(0);
    }
    expect(await billing.exited()).toEqual({ code: null, signal: 'SIGKILL' });
    const row = await paymentByOrder(input.orderRef);
    const marks = await sql(
      `select effect from billing.payment_effect where payment_id = $1 order by effect`,
      [row.id],
    );
    const [key] = await sql(`select state from billing.idempotency_key where key = $1`, [
      input.idempotencyKey,
    ]);
    const attempt: Attempt = {
      case: kase,
      point,
      playerId,
      input,
      left: {
        id: row.id,
        status: row.status,
        serial: row.serial_number,
        effects: marks.map((m) => m.effect as string),
        key: key?.state,
      },
    };
    attempts.push(attempt);
    return attempt;
  }

  /** Waits until the payment is final and its effects are done; returns what it left. */
  async function settle(a: Attempt) {
    const row = await eventually(
      `${a.case} payment crashed ${a.point} to be final and fulfilled`,
      async () => {
        const p = await paymentByOrder(a.input.orderRef!);
        if (!p || !['SUCCEEDED', 'FAILED', 'CANCELED'].includes(p.status)) return null;
        const marks = await sql(
          `select effect, state from billing.payment_effect where payment_id = $1`,
          [p.id],
        );
        const done = (e: string) => marks.some((m) => m.effect === e && m.state === 'DONE');
        const fulfilled =
          a.case === 'carrier'
            ? done('ledger.revenue') && done('deliver')
            : done('deliver') && done('wallet.capture');
        return fulfilled ? p : null;
      },
      30_000,
    );
    const transfers = await sql(
      `select kind, state, amount::text, currency from accounts.transfer where reference = $1 order by kind`,
      [row.serial_number],
    );
    const deliveries = await sql(
      `select event_type, count(*)::int as n from billing.webhook_delivery where payment_id = $1 group by event_type order by event_type`,
      [row.id],
    );
    return { row, transfers, deliveries };
  }

  async function expectCarrierConsistent(a: Attempt) {
    const { row, transfers, deliveries } = await settle(a);
    expect(row).toMatchObject({ status: 'SUCCEEDED', failure_code: null });
    // Charged exactly once at the carrier, whatever was resolved or retried on the way.
    expect(stack.simulators.controls.camara.chargeCount(row.serial_number)).toBe(1);
    // Exactly one revenue posting and one coin credit.
    expect(transfers).toEqual([
      { kind: 'payment.coins', state: 'posted', amount: '100', currency: 'GEMS' },
      { kind: 'payment.revenue', state: 'posted', amount: '199', currency: 'EUR' },
    ]);
    expect(await walletBalance(stack, a.playerId)).toBe(100n);
    for (const d of deliveries) expect(d.n).toBe(1);
    return row;
  }

  async function expectWalletConsistent(a: Attempt) {
    const { row, transfers, deliveries } = await settle(a);
    expect(row).toMatchObject({ status: 'SUCCEEDED', failure_code: null });
    // One hold, captured once; the sword delivered once.
    expect(transfers).toEqual([
      { kind: 'payment.wallet', state: 'posted', amount: '250', currency: 'GEMS' },
    ]);
    expect(deliveries).toContainEqual({ event_type: 'item.deliver', n: 1 });
    for (const d of deliveries) expect(d.n).toBe(1);
    return row;
  }

  /** The same request again: the stored answer, never a second charge. */
  async function expectReplay(a: Attempt, row: Data) {
    const again = await createPayment(stack, a.input);
    expect(again.errors).toBeUndefined();
    expect(again.data!.createPayment.payment).toMatchObject({ id: row.id, status: row.status });
    if (a.case === 'carrier')
      expect(stack.simulators.controls.camara.chargeCount(row.serial_number)).toBe(1);
  }

  it('after the charge was sent, before billing saved the result: the safety net finishes it, charged once', async () => {
    const carrier = await crashDuring('after-charge-sent', 'carrier');
    const wallet = await crashDuring('after-charge-sent', 'wallet');
    // Left behind: PROCESSING payments whose idempotency keys are still running, nothing done;
    // the carrier charged, the wallet hold made.
    for (const a of [carrier, wallet])
      expect(a.left).toMatchObject({ status: 'PROCESSING', effects: [], key: 'running' });
    expect(stack.simulators.controls.camara.chargeCount(carrier.left.serial)).toBe(1);
    expect(
      await sql(`select kind from accounts.transfer where reference = $1`, [wallet.left.serial]),
    ).toEqual([{ kind: 'payment.wallet' }]);

    await billing.start();
    const carrierRow = await expectCarrierConsistent(carrier);
    const walletRow = await expectWalletConsistent(wallet);
    expect(await walletBalance(stack, walletPlayer)).toBe(300n);

    // The client retries with the same key: the request that owned it died, but its payment is
    // final, so the retry gets the payment's state at once and nothing is charged again.
    await expectReplay(carrier, carrierRow);
    expect(stack.simulators.controls.camara.chargeCount(carrier.left.serial)).toBe(1);
    await expectReplay(wallet, walletRow);
    expect(await walletBalance(stack, walletPlayer)).toBe(300n);
  });

  it('after the result was saved, before the ledger posting and delivery jobs ran: the jobs run once after the restart', async () => {
    const carrier = await crashDuring('after-result-saved', 'carrier');
    const wallet = await crashDuring('after-result-saved', 'wallet');
    // Left behind: SUCCEEDED with the answer stored under the key, no effect done yet.
    for (const a of [carrier, wallet])
      expect(a.left).toMatchObject({ status: 'SUCCEEDED', effects: [], key: 'completed' });

    await billing.start();
    const carrierRow = await expectCarrierConsistent(carrier);
    const walletRow = await expectWalletConsistent(wallet);
    expect(await walletBalance(stack, walletPlayer)).toBe(50n);
    await expectReplay(carrier, carrierRow);
    await expectReplay(wallet, walletRow);
  });

  it('inside the fulfil job, after the revenue transfer and before its mark: the job runs again (lock of the dead runner released), one posting', async () => {
    const carrier = await crashDuring('after-revenue-posted', 'carrier', true);
    // Left behind: the revenue transfer made, its mark missing, the job locked by a dead runner.
    expect(carrier.left).toMatchObject({ status: 'SUCCEEDED', effects: [], key: 'completed' });
    expect(
      await sql(`select kind from accounts.transfer where reference = $1`, [carrier.left.serial]),
    ).toEqual([{ kind: 'payment.revenue' }]);
    const [job] = await sql(`select locked_by from billing_jobs.jobs where key = $1`, [
      `fulfil:${carrier.left.id}`,
    ]);
    expect(job?.locked_by).toEqual(expect.any(String));

    await billing.start();
    const row = await expectCarrierConsistent(carrier);
    await expectReplay(carrier, row);
  });

  it('afterwards: the ledger balances in every currency, nothing pending, no job stuck', async () => {
    const totals = await stack.call(
      `{ ledgerTotals { currency postedNet pendingNet } }`,
      {},
      stack.demo.adminApiKey,
    );
    expect(totals.errors).toBeUndefined();
    const rows = totals.data!.ledgerTotals as Data[];
    expect(rows.map((t) => t.currency)).toEqual(expect.arrayContaining(['EUR', 'GEMS']));
    for (const t of rows) expect(t).toMatchObject({ postedNet: '0', pendingNet: '0' });
    expect(
      await sql(`select count(*)::int as n from accounts.transfer where state = 'pending'`),
    ).toEqual([{ n: 0 }]);
    expect(
      await sql(
        `select id from billing.payment where status not in ('SUCCEEDED', 'FAILED', 'CANCELED')`,
      ),
    ).toEqual([]);
    expect(
      await sql(
        `select task_identifier, locked_by from billing_jobs.jobs where task_identifier <> 'billing.cleanup'`,
      ),
    ).toEqual([]);
    // Five crashed payments, each charged (or held) once: one payment row per order.
    expect(attempts).toHaveLength(5);
    expect(
      await sql(`select count(*)::int as n from billing.payment where order_ref like 'crash-%'`),
    ).toEqual([{ n: 5 }]);
    // The wallet player: 550 bought, two swords at 250.
    expect(await walletBalance(stack, walletPlayer)).toBe(50n);
  });
});
