import { asPrincipal, codes, gql, TEST_SECRET } from '@coinslot/testing';
import type { Principal } from '@coinslot/kernel';
import { startStack, type Stack } from '../../../test/support/stack';
import {
  createPayment,
  eventually,
  finalPayment,
  offers,
  readPayment,
  registerPlayer,
  walletBalance,
  type Offers,
} from '../../../test/support/payments';

// Test data read from GraphQL answers: shapes are asserted, not typed.
type Data = Record<string, any>;

const OUTCOME = `mutation ($input: ProcedureOutcomeInput!) { _procedureOutcome(input: $input) }`;
const CHANNELS: Principal = { kind: 'service', service: 'channels' };

/**
 * Outcomes learnt after billing's own call: channels' hand-offs (late, duplicated, reordered)
 * and billing's safety net. Here channels cannot reach billing (its hand-off URL is dead), so
 * every hand-off is one this test sends, and the safety net is the only other way to learn.
 */
describe('billing: hand-offs and the safety net', () => {
  let stack: Stack;
  let fr: Offers;
  const handOff = async (input: Record<string, unknown>, as: Principal = CHANNELS) =>
    gql(stack.subgraphUrls.billing, OUTCOME, { input }, await asPrincipal(as, TEST_SECRET));

  beforeAll(async () => {
    stack = await startStack({
      OUTCOME_WEBHOOK_URL: 'http://127.0.0.1:9/graphql',
      RESOLVE_DELAY_MS: '300',
      RESOLVE_MAX_DELAY_MS: '600',
    });
    fr = await offers(stack, 'FR');
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('without any hand-off, the safety net settles 77, 78 and 91 by asking channels', async () => {
    const cases = await Promise.all(
      ['77', '78', '91'].map(async (n) => {
        const playerId = await registerPlayer(stack, { country: 'FR', msisdn: `+336123456${n}` });
        const r = await createPayment(stack, { playerId, priceId: fr.coins100.CARRIER_BILLING });
        const p = r.data!.createPayment.payment as Data;
        expect(p.status).toBe('PROCESSING');
        return { n, p, final: await finalPayment(stack, p.id as string, 20_000) };
      }),
    );
    expect(cases.map((c) => [c.n, c.final.status, c.final.failureCode])).toEqual([
      ['77', 'SUCCEEDED', null],
      ['78', 'FAILED', 'DENIED'],
      ['91', 'SUCCEEDED', null],
    ]);
    for (const c of cases.filter((x) => x.final.status === 'SUCCEEDED')) {
      expect(stack.simulators.controls.camara.chargeCount(c.p.serialNumber as string)).toBe(1);
    }
  });

  it('hand-offs apply only forward: a stale, duplicated or contradicting one changes nothing, and coins are credited once', async () => {
    const playerId = await registerPlayer(stack, { country: 'FR' });
    const r = await createPayment(stack, {
      playerId,
      priceId: fr.coins100.CARD,
      cardToken: 'tok_3ds',
    });
    const p = r.data!.createPayment.payment as Data;
    expect(p.status).toBe('REQUIRES_ACTION');
    const base = {
      runId: '01900000-0000-7000-8000-00000000000a',
      reference: p.serialNumber,
      procedure: 'CHARGE',
      channelId: '01900000-0000-7000-8000-00000000000b',
      final: false,
      amountMinor: '199',
      currency: 'EUR',
      occurredAt: new Date().toISOString(),
    };
    const status = async () => (await readPayment(stack, p.id as string)).status as string;

    expect(
      (
        await handOff({
          ...base,
          version: 50,
          kind: 'PENDING',
          actionKind: 'REDIRECT',
          actionUrl: 'https://psp.example/3ds',
        })
      ).data,
    ).toEqual({ _procedureOutcome: true });
    expect(await status()).toBe('REQUIRES_ACTION');
    expect((await handOff({ ...base, version: 52, kind: 'SUCCEEDED', final: true })).data).toEqual({
      _procedureOutcome: true,
    });
    expect(await status()).toBe('SUCCEEDED');
    // Duplicated, then a late one from before, then a contradicting newer one: all absorbed.
    await handOff({ ...base, version: 52, kind: 'SUCCEEDED', final: true });
    await handOff({ ...base, version: 51, kind: 'DECLINED', declineCode: 'DENIED', final: true });
    await handOff({ ...base, version: 53, kind: 'DECLINED', declineCode: 'DENIED', final: true });
    await handOff({ ...base, version: 54, kind: 'PENDING' });
    expect(await readPayment(stack, p.id as string)).toMatchObject({
      status: 'SUCCEEDED',
      failureCode: null,
    });
    await eventually('the coins', async () => (await walletBalance(stack, playerId)) === 100n);
    await new Promise((res) => setTimeout(res, 500));
    expect(await walletBalance(stack, playerId)).toBe(100n);
  });

  it('refuses a hand-off whose amount differs from the payment, and ignores unknown references', async () => {
    const playerId = await registerPlayer(stack, { country: 'FR' });
    const p = (
      await createPayment(stack, { playerId, priceId: fr.coins100.CARD, cardToken: 'tok_3ds' })
    ).data!.createPayment.payment as Data;
    const base = {
      runId: '01900000-0000-7000-8000-00000000000c',
      reference: p.serialNumber,
      procedure: 'CHARGE',
      channelId: '01900000-0000-7000-8000-00000000000b',
      version: 80,
      kind: 'SUCCEEDED',
      final: true,
      currency: 'EUR',
      occurredAt: new Date().toISOString(),
    };
    expect((await handOff({ ...base, amountMinor: '1' })).data).toEqual({
      _procedureOutcome: true,
    });
    expect((await readPayment(stack, p.id as string)).status).toBe('REQUIRES_ACTION');
    expect(
      (await handOff({ ...base, reference: 'CS00000000000000000', amountMinor: '199' })).data,
    ).toEqual({ _procedureOutcome: true });
    // Only services hand off.
    const portal: Principal = {
      kind: 'portal',
      merchantId: stack.demo.merchantId,
      portalId: stack.demo.portalId,
    };
    expect(codes(await handOff({ ...base, amountMinor: '199' }, portal))).toEqual(['FORBIDDEN']);
    expect((await readPayment(stack, p.id as string)).status).toBe('REQUIRES_ACTION');
  });
});
