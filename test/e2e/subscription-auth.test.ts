import WebSocket from 'ws';
import { createClient } from 'graphql-ws';
import { SignJWT } from 'jose';
import { TEST_PLAYER_TOKEN_SECRET } from '@coinslot/testing';
import { startStack, type Stack } from '../support/stack';
import { contractOperation } from '../support/contract';
import { createPayment, offers, registerPlayer } from '../support/payments';

/** A live status subscription re-checks its credential on every event. */
describe('paymentStatusChanged: an expired player token ends the subscription', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack?.close());

  it('delivers the current state, then answers UNAUTHENTICATED once the token expired', async () => {
    const prices = await offers(stack, 'FR');
    const playerId = await registerPlayer(stack, { country: 'FR' });
    // A CARD price without a card token waits at REQUIRES_ACTION: the subscription stays open.
    const created = await createPayment(stack, { playerId, priceId: prices.coins100.CARD });
    const paymentId = created.data!.createPayment.payment.id as string;
    const merchantId = (await stack.call(`{ myMerchant { id } }`, {}, stack.demo.portalApiKey))
      .data!.myMerchant.id as string;
    // The same token accounts would issue, but living two seconds.
    const token = await new SignJWT({ mid: merchantId, typ: 'player' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(playerId)
      .setIssuer('coinslot-accounts')
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + 2)
      .sign(new TextEncoder().encode(TEST_PLAYER_TOKEN_SECRET));

    const client = createClient({
      url: stack.gatewayUrl.replace('http', 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${token}` },
      retryAttempts: 0,
    });
    const messages: { data?: unknown; errors?: { extensions?: { code?: string } }[] }[] = [];
    let completed = false;
    try {
      client.subscribe(
        { query: contractOperation('PaymentStatus'), variables: { paymentId } },
        {
          next: (m) => void messages.push(m as never),
          error: () => undefined,
          complete: () => void (completed = true),
        },
      );
      const until = async (ok: () => boolean) => {
        for (let i = 0; i < 100 && !ok(); i += 1) await new Promise((r) => setTimeout(r, 50));
      };
      await until(() => messages.length >= 1);
      expect(messages[0]).toMatchObject({
        data: { paymentStatusChanged: { id: paymentId, status: 'REQUIRES_ACTION' } },
      });

      await new Promise((r) => setTimeout(r, 2500));
      stack.bus.publish(`payment:${paymentId}`, { status: 'REQUIRES_ACTION' });
      await until(() => completed);
      expect(messages).toHaveLength(2);
      expect(messages[1]!.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      expect(completed).toBe(true);
    } finally {
      await client.dispose();
    }
  });
});
