import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { asPrincipal, codes, gql, TEST_SECRET } from '@coinslot/testing';
import type { Principal } from '@coinslot/kernel';
import { contractOperation } from '../../../test/support/contract';
import { startStack, type Stack } from '../../../test/support/stack';
import {
  createPayment,
  eventually,
  offers,
  registerPlayer,
  walletBalance,
  type Offers,
} from '../../../test/support/payments';

// Test data read from GraphQL answers: shapes are asserted, not typed.
type Data = Record<string, any>;

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
  at: number;
}

/** A merchant's game server: records every webhook, fails the first `failFirst` of each event. */
function gameServer(failFirst: number) {
  const received: Received[] = [];
  const seen = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      received.push({ headers: req.headers, body, at: Date.now() });
      const id = String(req.headers['coinslot-event-id']);
      const n = (seen.get(id) ?? 0) + 1;
      seen.set(id, n);
      res.writeHead(n <= failFirst ? 500 : 200).end();
    });
  });
  return { server, received };
}

/** What a merchant does with the secret: recompute the HMAC over `t.body` and compare. */
function verify(secret: string, header: string, body: string): boolean {
  const parts = Object.fromEntries(
    header.split(',').map((kv) => kv.split('=') as [string, string]),
  );
  const expected = createHmac('sha256', secret).update(`${parts.t}.${body}`).digest();
  const given = Buffer.from(parts.v1 ?? '', 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

describe('billing: delivery (webhooks, entitlements)', () => {
  let stack: Stack;
  let fr: Offers;
  const game = gameServer(2);
  let gameUrl: string;
  let endpointSecret = '';
  const secretOf = () => endpointSecret;

  beforeAll(async () => {
    await new Promise<void>((r) => game.server.listen(0, '127.0.0.1', () => r()));
    gameUrl = `http://127.0.0.1:${(game.server.address() as AddressInfo).port}/hooks`;
    stack = await startStack({ WEBHOOK_RETRY_BASE_MS: '150', WEBHOOK_RETRY_MAX_MS: '1000' });
    fr = await offers(stack, 'FR');
  });
  afterAll(async () => {
    await stack?.close();
    await new Promise<void>((r) => game.server.close(() => r()));
  });

  it('signed webhooks: an item bought with coins reaches the game server, retried with backoff until it answers, logged, replayable', async () => {
    const set = await stack.call(
      `mutation($m: ID!, $u: String!) { setWebhookEndpoint(merchantId: $m, url: $u) { secret endpoint { id url secretPrefix } } }`,
      { m: stack.demo.merchantId, u: gameUrl },
      stack.demo.ownerApiKey,
    );
    expect(set.errors).toBeUndefined();
    const secret = set.data!.setWebhookEndpoint.secret as string;
    endpointSecret = secret;
    expect(secret).toMatch(/^whsec_/);
    expect(set.data!.setWebhookEndpoint.endpoint.secretPrefix).toBe(secret.slice(0, 12));
    // Operators cannot change where money events go.
    const denied = await stack.call(
      `mutation($m: ID!, $u: String!) { setWebhookEndpoint(merchantId: $m, url: $u) { secret } }`,
      { m: stack.demo.merchantId, u: gameUrl },
      stack.demo.adminApiKey,
    );
    expect(codes(denied)).toEqual(['FORBIDDEN']);

    const playerId = await registerPlayer(stack, { country: 'FR' });
    expect(
      (await createPayment(stack, { playerId, priceId: fr.coins550.CARD, cardToken: 'tok_ok' }))
        .data!.createPayment.payment.status,
    ).toBe('SUCCEEDED');
    await eventually('coins', async () => (await walletBalance(stack, playerId)) === 550n);
    const sword = (await createPayment(stack, { playerId, priceId: fr.sword.WALLET })).data!
      .createPayment.payment as Data;
    expect(sword.status).toBe('SUCCEEDED');

    const delivered = await eventually(
      'the item webhook, after two failed attempts',
      async () => {
        const ok = game.received.filter(
          (r) =>
            r.headers['coinslot-event-type'] === 'item.deliver' &&
            JSON.parse(r.body).data.paymentId === sword.id,
        );
        return ok.length >= 3 ? ok : null;
      },
      20_000,
    );
    const [first, , third] = delivered;
    expect(first!.body).toBe(third!.body);
    expect(third!.at - first!.at).toBeGreaterThanOrEqual(150);
    for (const r of delivered)
      expect(verify(secret, String(r.headers['coinslot-signature']), r.body)).toBe(true);
    expect(verify('whsec_wrong', String(first!.headers['coinslot-signature']), first!.body)).toBe(
      false,
    );
    const event = JSON.parse(first!.body);
    expect(event).toMatchObject({
      type: 'item.deliver',
      data: {
        paymentId: sword.id,
        playerId,
        sku: 'golden-sword-legendary',
        serialNumber: sword.serialNumber,
      },
    });
    expect(event.id).toBe(first!.headers['coinslot-event-id']);

    // The portal hears about the payment too.
    await eventually('payment.succeeded', async () =>
      game.received.some(
        (r) =>
          r.headers['coinslot-event-type'] === 'payment.succeeded' &&
          JSON.parse(r.body).data.payment.id === sword.id,
      ),
    );

    const log = await eventually('the log', async () => {
      const r = await stack.call(
        `query($m: ID!) { webhookDeliveries(merchantId: $m, first: 50) { id eventType paymentId status attempts lastResponseCode deliveredAt } }`,
        { m: stack.demo.merchantId },
        stack.demo.adminApiKey,
      );
      const row = (r.data!.webhookDeliveries as Data[]).find(
        (d) => d.eventType === 'item.deliver' && d.paymentId === sword.id,
      );
      return row?.status === 'SUCCEEDED' ? row : null;
    });
    expect(log).toMatchObject({ attempts: 3, lastResponseCode: 200 });

    const before = game.received.length;
    const replay = await stack.call(
      `mutation($id: ID!) { replayWebhookDelivery(id: $id) { id status } }`,
      { id: log.id },
      stack.demo.adminApiKey,
    );
    expect(replay.data!.replayWebhookDelivery).toMatchObject({ id: log.id, status: 'PENDING' });
    const again = await eventually('the replay', async () =>
      game.received.slice(before).find((r) => r.headers['coinslot-event-id'] === log.id),
    );
    expect(JSON.parse(again.body).id).toBe(log.id);
    // The coins were debited once, and the hold posted once the item was handed over.
    expect(await walletBalance(stack, playerId)).toBe(300n);
  });

  it('a variant sold as a virtual scratch card: one card per payment, its code sent signed to the game server, and it activates', async () => {
    const admin = stack.demo.adminApiKey;
    const batch = await stack.call(
      contractOperation('CreateScratchCardBatch'),
      {
        input: { count: 3, kind: 'VIRTUAL', walletCredit: { amountMinor: '25', currency: 'GEMS' } },
      },
      admin,
    );
    const batchId = batch.data!.createScratchCardBatch.batch.id as string;
    await eventually(
      'generation',
      async () => {
        const r = await stack.call(
          `query($id: ID!) { scratchCardBatch(id: $id) { status } }`,
          { id: batchId },
          admin,
        );
        return r.data?.scratchCardBatch?.status === 'PENDING_APPROVAL';
      },
      20_000,
    );
    expect(
      (
        await stack.call(
          contractOperation('ApproveScratchCardBatch'),
          { id: batchId },
          stack.demo.ownerApiKey,
        )
      ).errors,
    ).toBeUndefined();
    const price = await stack.call(
      `query($id: ID!) { price(id: $id) { variant { id } } }`,
      { id: fr.coins100.CARD },
      stack.demo.portalApiKey,
    );
    const variantId = price.data!.price.variant.id as string;
    const link = await stack.call(
      `mutation($v: ID!, $b: ID) { setVariantScratchCardBatch(variantId: $v, batchId: $b) { id } }`,
      { v: variantId, b: batchId },
      admin,
    );
    expect(link.errors).toBeUndefined();
    try {
      const buyer = await registerPlayer(stack, { country: 'FR' });
      const paid = (
        await createPayment(stack, {
          playerId: buyer,
          priceId: fr.coins100.CARD,
          cardToken: 'tok_ok',
        })
      ).data!.createPayment.payment as Data;
      expect(paid.status).toBe('SUCCEEDED');
      const issued = await eventually('the card webhook', async () =>
        game.received.find(
          (r) =>
            r.headers['coinslot-event-type'] === 'scratch_card.issued' &&
            JSON.parse(r.body).data.paymentId === paid.id,
        ),
      );
      expect(verify(secretOf(), String(issued.headers['coinslot-signature']), issued.body)).toBe(
        true,
      );
      const code = JSON.parse(issued.body).data.activationCode as string;
      const friend = await registerPlayer(stack, { country: 'FR' });
      const activated = await stack.call(
        contractOperation('ActivateScratchCard'),
        { input: { playerId: friend, activationCode: code } },
        stack.demo.portalApiKey,
      );
      expect(activated.errors).toBeUndefined();
      expect(activated.data!.activateScratchCard).toMatchObject({
        card: { status: 'REDEEMED' },
        walletCredit: { amountMinor: '25', currency: 'GEMS' },
      });
      // The pack itself was delivered too, once.
      await eventually('the coins', async () => (await walletBalance(stack, buyer)) === 100n);
    } finally {
      await stack.call(
        `mutation($v: ID!) { setVariantScratchCardBatch(variantId: $v, batchId: null) { id } }`,
        { v: variantId },
        admin,
      );
    }
  });

  describe('_grantEntitlement (internal, for scratch cards and plans)', () => {
    const GRANT = `mutation($input: GrantEntitlementInput!) { _grantEntitlement(input: $input) { id validUntil service { id } } }`;
    const scratchCards: Principal = { kind: 'service', service: 'scratch-cards' };
    const grant = async (input: Record<string, unknown>, as: Principal = scratchCards) =>
      gql(stack.subgraphUrls.billing, GRANT, { input }, await asPrincipal(as, TEST_SECRET));

    it('extends access by its days, once per key, concurrently too; other parameters with the key are refused', async () => {
      const playerId = await registerPlayer(stack, { country: 'FR' });
      const input = {
        idempotencyKey: `scratch-card:${playerId}`,
        merchantId: stack.demo.merchantId,
        playerId,
        serviceId: fr.serviceId,
        days: 7,
      };
      const answers = await Promise.all(Array.from({ length: 10 }, () => grant(input)));
      for (const a of answers) expect(a.errors).toBeUndefined();
      expect(new Set(answers.map((a) => JSON.stringify(a.data))).size).toBe(1);
      const first = answers[0]!.data!._grantEntitlement;
      const days = (Date.parse(first.validUntil) - Date.now()) / 86_400_000;
      expect(days).toBeGreaterThan(6.9);
      expect(days).toBeLessThanOrEqual(7);

      const more = await grant({ ...input, idempotencyKey: `${input.idempotencyKey}:2`, days: 3 });
      expect(more.data!._grantEntitlement.id).toBe(first.id);
      expect(
        Date.parse(more.data!._grantEntitlement.validUntil) - Date.parse(first.validUntil),
      ).toBe(3 * 86_400_000);

      expect(codes(await grant({ ...input, days: 8 }))).toEqual(['IDEMPOTENCY_KEY_REUSED']);
      expect(codes(await grant({ ...input, days: 0, idempotencyKey: 'x' }))).toEqual([
        'BAD_USER_INPUT',
      ]);
      const portal: Principal = {
        kind: 'portal',
        merchantId: stack.demo.merchantId,
        portalId: stack.demo.portalId,
      };
      expect(codes(await grant(input, portal))).toEqual(['FORBIDDEN']);

      const overview = await stack.call(
        contractOperation('PlayerOverview'),
        { id: playerId },
        stack.demo.portalApiKey,
      );
      expect(overview.data!.player.entitlements).toEqual([
        {
          service: { id: fr.serviceId, name: 'Premium membership' },
          validUntil: more.data!._grantEntitlement.validUntil,
        },
      ]);
    });
  });
});
