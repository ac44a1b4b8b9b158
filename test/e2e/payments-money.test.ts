import { codes } from '@coinslot/testing';
import { contractOperation } from '../support/contract';
import { startStack, type Stack } from '../support/stack';
import {
  createPayment,
  eventually,
  finalPayment,
  offers,
  readPayment,
  registerPlayer,
  unique,
  walletBalance,
  type Offers,
} from '../support/payments';

// Test data read from GraphQL answers: shapes are asserted, not typed.
type Data = Record<string, any>;

/**
 * Where the money goes: refunds, the coin wallet, coin packs, service access, the ledger the
 * admins read, and merchant isolation. Contract operations through the real gateway.
 */
describe('payments: refunds, wallet, delivery and the ledger', () => {
  let stack: Stack;
  let fr: Offers;
  const portal = () => stack.demo.portalApiKey;

  beforeAll(async () => {
    stack = await startStack();
    fr = await offers(stack, 'FR');
  });
  afterAll(async () => {
    await stack?.close();
  });

  const refund = (input: Record<string, unknown>, token = portal()) =>
    stack.call(
      contractOperation('RefundPayment'),
      { input: { idempotencyKey: unique('refund'), ...input } },
      token,
    );

  const paidByCard = async (priceId: string, playerId?: string) => {
    const player = playerId ?? (await registerPlayer(stack, { country: 'FR' }));
    const r = await createPayment(stack, { playerId: player, priceId, cardToken: 'tok_ok' });
    expect(r.data!.createPayment.payment.status).toBe('SUCCEEDED');
    return { playerId: player, payment: r.data!.createPayment.payment as Data };
  };

  describe('refunds', () => {
    it('partial, several, never above what remains, then full; each on the card that took the money', async () => {
      const { payment } = await paidByCard(fr.coins550.CARD!); // 9.99 EUR
      const first = await refund({
        paymentId: payment.id,
        amountMinor: '300',
        reason: 'partial goodwill',
      });
      expect(first.errors).toBeUndefined();
      expect(first.data!.refundPayment.refund).toMatchObject({
        amount: { amountMinor: '300', currency: 'EUR' },
      });
      expect(['SUCCEEDED', 'PROCESSING']).toContain(first.data!.refundPayment.refund.status);
      expect(first.data!.refundPayment.payment).toMatchObject({
        status: 'SUCCEEDED',
        refundedAmount: { amountMinor: '300' },
      });

      const second = await refund({ paymentId: payment.id, amountMinor: '200' });
      expect(second.data!.refundPayment.payment.refundedAmount.amountMinor).toBe('500');

      const over = await refund({ paymentId: payment.id, amountMinor: '500' });
      expect(over.errors?.[0]?.extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        reason: 'REFUND_EXCEEDS_REMAINING',
        remainingMinor: '499',
      });

      const rest = await refund({ paymentId: payment.id });
      expect(rest.data!.refundPayment.refund.amount.amountMinor).toBe('499');
      expect(rest.data!.refundPayment.payment.refundedAmount.amountMinor).toBe('999');
      const nothing = await refund({ paymentId: payment.id });
      expect(codes(nothing)).toEqual(['CONFLICT']);

      await eventually('the refunds to succeed at the PSP', async () => {
        const p = await readPayment(stack, payment.id);
        return p.refunds.length === 3 && p.refunds.every((r: Data) => r.status === 'SUCCEEDED')
          ? p
          : null;
      });
      const p = await readPayment(stack, payment.id);
      expect(p.refunds.map((r: Data) => r.amount.amountMinor)).toEqual(['300', '200', '499']);
      expect(p).toMatchObject({
        status: 'SUCCEEDED',
        refundedAmount: { amountMinor: '999', currency: 'EUR' },
      });
      expect(stack.simulators.controls.card.netCharged(payment.serialNumber)).toBe(0n);
    });

    it('concurrent refunds never exceed the payment; a repeated key refunds once', async () => {
      const { payment } = await paidByCard(fr.coins100.CARD!); // 1.99 EUR
      const results = await Promise.all(
        Array.from({ length: 6 }, () => refund({ paymentId: payment.id, amountMinor: '50' })),
      );
      const ok = results.filter((r) => !r.errors);
      expect(ok).toHaveLength(3);
      expect(results.filter((r) => r.errors).map((r) => r.errors![0]!.extensions!.code)).toEqual(
        Array(3).fill('BAD_USER_INPUT'),
      );

      const key = unique('once');
      const a = await refund({ idempotencyKey: key, paymentId: payment.id, amountMinor: '49' });
      const b = await refund({ idempotencyKey: key, paymentId: payment.id, amountMinor: '49' });
      expect(b.data).toEqual(a.data);
      expect(
        codes(await refund({ idempotencyKey: key, paymentId: payment.id, amountMinor: '1' })),
      ).toEqual(['IDEMPOTENCY_KEY_REUSED']);
      const p = await eventually('refunds', async () => {
        const x = await readPayment(stack, payment.id);
        return x.refunds.every((r: Data) => r.status === 'SUCCEEDED') ? x : null;
      });
      expect(p.refunds).toHaveLength(4);
      expect(p.refundedAmount.amountMinor).toBe('199');
    });

    it('only a succeeded payment can be refunded', async () => {
      const playerId = await registerPlayer(stack, { country: 'FR' });
      const failed = await createPayment(stack, {
        playerId,
        priceId: fr.coins100.CARD,
        cardToken: 'tok_declined',
      });
      expect(codes(await refund({ paymentId: failed.data!.createPayment.payment.id }))).toEqual([
        'CONFLICT',
      ]);
    });
  });

  describe('the coin wallet', () => {
    it('a coin pack credits its walletCredit once; a wallet purchase debits the coins once; its refund returns them', async () => {
      const playerId = await registerPlayer(stack, { country: 'FR' });
      const buy = {
        idempotencyKey: unique('coins'),
        orderRef: unique('o'),
        playerId,
        priceId: fr.coins550.CARD,
        cardToken: 'tok_ok',
      };
      const pack = await stack.call(contractOperation('CreatePayment'), { input: buy }, portal());
      expect(pack.data!.createPayment.payment.status).toBe('SUCCEEDED');
      await stack.call(contractOperation('CreatePayment'), { input: buy }, portal()); // a retry: no second credit
      await eventually('the coins', async () => (await walletBalance(stack, playerId)) === 550n);

      const sword = {
        idempotencyKey: unique('sword'),
        orderRef: unique('o'),
        playerId,
        priceId: fr.sword.WALLET,
      };
      const bought = await stack.call(
        contractOperation('CreatePayment'),
        { input: sword },
        portal(),
      );
      expect(bought.data!.createPayment.payment).toMatchObject({
        status: 'SUCCEEDED',
        amount: { amountMinor: '250', currency: 'GEMS' },
      });
      await stack.call(contractOperation('CreatePayment'), { input: sword }, portal());
      expect(await walletBalance(stack, playerId)).toBe(300n);
      // Once delivered, the hold is posted; the balance stays debited once.
      await eventually('delivery', async () => {
        const p = await readPayment(stack, bought.data!.createPayment.payment.id);
        return p.status === 'SUCCEEDED';
      });
      await new Promise((r) => setTimeout(r, 500));
      expect(await walletBalance(stack, playerId)).toBe(300n);
      expect(
        (await readPayment(stack, bought.data!.createPayment.payment.id)).channel,
      ).toMatchObject({ kind: 'WALLET' });

      const back = await refund({ paymentId: bought.data!.createPayment.payment.id });
      expect(back.data!.refundPayment.refund).toMatchObject({
        status: 'SUCCEEDED',
        amount: { amountMinor: '250', currency: 'GEMS' },
      });
      expect(await walletBalance(stack, playerId)).toBe(550n);
    });

    it('not enough coins: FAILED INSUFFICIENT_FUNDS and nothing moves', async () => {
      const playerId = await registerPlayer(stack, { country: 'FR' });
      const r = await createPayment(stack, { playerId, priceId: fr.sword.WALLET });
      expect(r.data!.createPayment.payment).toMatchObject({
        status: 'FAILED',
        failureCode: 'INSUFFICIENT_FUNDS',
      });
      expect(await walletBalance(stack, playerId)).toBe(0n);
    });

    it('concurrent wallet purchases never overdraw the wallet', async () => {
      const { playerId } = await paidByCard(fr.coins550.CARD!);
      await eventually('the coins', async () => (await walletBalance(stack, playerId)) === 550n);
      const results = await Promise.all(
        Array.from({ length: 4 }, () =>
          createPayment(stack, { playerId, priceId: fr.sword.WALLET }),
        ),
      );
      const statuses = results.map((r) => r.data!.createPayment.payment.status).sort();
      expect(statuses).toEqual(['FAILED', 'FAILED', 'SUCCEEDED', 'SUCCEEDED']);
      expect(await walletBalance(stack, playerId)).toBe(50n);
    });
  });

  it('service access: the premium pass grants 30 days, shown on PlayerOverview', async () => {
    const { playerId, payment } = await paidByCard(fr.pass.CARD!);
    const overview = await eventually('the entitlement', async () => {
      const r = await stack.call(contractOperation('PlayerOverview'), { id: playerId }, portal());
      return r.data!.player.entitlements.length ? r.data!.player : null;
    });
    expect(overview.entitlements).toEqual([
      { service: { id: fr.serviceId, name: 'Premium membership' }, validUntil: expect.any(String) },
    ]);
    const days = (Date.parse(overview.entitlements[0].validUntil) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThanOrEqual(30);
    expect(overview.payments.edges[0].node).toMatchObject({ id: payment.id, status: 'SUCCEEDED' });
    expect(overview.subscriptions).toEqual([]);
  });

  it("admins see revenue and coins issued in the merchant's ledger, and every currency sums to zero", async () => {
    await paidByCard(fr.coins100.CARD!);
    const admin = stack.demo.adminApiKey;
    const accounts = await eventually('postings', async () => {
      const r = await stack.call(
        `query($m: ID!) { ledgerAccounts(merchantId: $m) { kind currency creditsPosted { amountMinor } debitsPosted { amountMinor } } }`,
        { m: stack.demo.merchantId },
        admin,
      );
      const rows = r.data!.ledgerAccounts as Data[];
      return rows.some((a) => a.kind === 'revenue' && a.currency === 'EUR') &&
        rows.some((a) => a.kind === 'coins_issued')
        ? rows
        : null;
    });
    const revenue = accounts.find((a) => a.kind === 'revenue' && a.currency === 'EUR')!;
    expect(BigInt(revenue.creditsPosted.amountMinor)).toBeGreaterThan(0n);
    const issued = accounts.find((a) => a.kind === 'coins_issued' && a.currency === 'GEMS')!;
    expect(BigInt(issued.debitsPosted.amountMinor)).toBeGreaterThan(0n);
    const totals = await stack.call(
      `{ ledgerTotals { currency postedNet pendingNet } }`,
      {},
      admin,
    );
    for (const t of totals.data!.ledgerTotals as Data[])
      expect(t).toMatchObject({ postedNet: '0', pendingNet: '0' });

    const list = await stack.call(
      `query($m: ID!) { payments(merchantId: $m, status: SUCCEEDED, first: 5) { edges { node { id status } } pageInfo { hasNextPage } } }`,
      { m: stack.demo.merchantId },
      admin,
    );
    expect(list.data!.payments.edges.length).toBe(5);
    expect(list.data!.payments.edges.every((e: Data) => e.node.status === 'SUCCEEDED')).toBe(true);
    expect(
      codes(
        await stack.call(
          `query($m: ID!) { payments(merchantId: $m) { edges { node { id } } } }`,
          { m: stack.demo.merchantId },
          portal(),
        ),
      ),
    ).toEqual(['FORBIDDEN']);
  });

  it("merchant isolation: another merchant's portal sees NOT_FOUND for our payments and players", async () => {
    const owner = stack.demo.ownerApiKey;
    const m = await stack.call(
      `mutation($i: CreateMerchantInput!) { createMerchant(input: $i) { id } }`,
      { i: { slug: unique('rival').toLowerCase(), name: 'Rival' } },
      owner,
    );
    const p = await stack.call(
      `mutation($i: CreatePortalInput!) { createPortal(input: $i) { key { apiKey } } }`,
      { i: { merchantId: m.data!.createMerchant.id, name: 'rival portal' } },
      owner,
    );
    const rival = p.data!.createPortal.key.apiKey as string;
    const { playerId, payment } = await paidByCard(fr.coins100.CARD!);
    expect(
      codes(await stack.call(contractOperation('Payment'), { id: payment.id }, rival)),
    ).toEqual(['NOT_FOUND']);
    expect(codes(await refund({ paymentId: payment.id }, rival))).toEqual(['NOT_FOUND']);
    expect(
      codes(
        await stack.call(
          contractOperation('ConfirmPayment'),
          { input: { paymentId: payment.id, otp: '123456' } },
          rival,
        ),
      ),
    ).toEqual(['NOT_FOUND']);
    expect(
      codes(
        await createPayment(
          stack,
          { playerId, priceId: fr.coins100.CARD, cardToken: 'tok_ok' },
          rival,
        ),
      ),
    ).toEqual(['NOT_FOUND']);
    await finalPayment(stack, payment.id);
  });
});
