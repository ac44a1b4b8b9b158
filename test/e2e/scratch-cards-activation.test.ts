import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { codes, TEST_SECRET } from '@coinslot/testing';
import { newId, query, type Principal } from '@coinslot/kernel';
import { startStack, type Stack } from '../support/stack';
import { contractOperation } from '../support/contract';
import {
  direct,
  eventually,
  vaultCodes,
  withOrm,
} from '../../subgraphs/scratch-cards/test/support';
import { CodeCodec, DEFAULT_FORMAT } from '../../subgraphs/scratch-cards/src/codes/format';
import { configSchema } from '../../subgraphs/scratch-cards/src/config';
import { createService, type ScratchCardsService } from '../../subgraphs/scratch-cards/src/server';

const ACTIVATE = `mutation ($input: ActivateScratchCardInput!) {
  activateScratchCard(input: $input) { card { id serialNumber status } walletCredit { amountMinor currency } entitlement { id } delivered }
}`;
const ISSUE = `mutation ($input: IssueVirtualCardInput!) { _issueVirtualCard(input: $input) { cardId serialNumber activationCode } }`;
const BATCH = `query ($id: ID!) { scratchCardBatch(id: $id) { status } }`;

/** billing's _grantEntitlement as billing will serve it (billing is built in parallel). */
function fakeBilling() {
  const grants: Record<string, unknown>[] = [];
  const state = { failing: false };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const { query: q, variables } = JSON.parse(body) as {
        query: string;
        variables: Record<string, unknown>;
      };
      res.setHeader('content-type', 'application/json');
      if (!q.includes('_grantEntitlement'))
        return res.end(JSON.stringify({ errors: [{ message: 'unexpected' }] }));
      if (state.failing) {
        res.statusCode = 503;
        return res.end(
          JSON.stringify({
            errors: [{ message: 'billing unavailable', extensions: { code: 'INTERNAL' } }],
          }),
        );
      }
      grants.push(variables);
      const validUntil = new Date(Date.now() + Number(variables.days) * 86_400_000).toISOString();
      res.end(
        JSON.stringify({
          data: { _grantEntitlement: { id: `ent-${String(variables.key)}`, validUntil } },
        }),
      );
    });
  });
  return { server, grants, state };
}

describe('scratch cards: activation rules, abuse protection, virtual cards, service time', () => {
  let stack: Stack;
  let sc: string;
  let players: string[];
  const operator = () => stack.demo.adminApiKey;
  const owner = () => stack.demo.ownerApiKey;
  const billing = fakeBilling();
  let withFakeBilling: ScratchCardsService;

  beforeAll(async () => {
    stack = await startStack();
    sc = stack.subgraphUrls['scratch-cards'];
    players = [];
    for (let i = 0; i < 4; i += 1) {
      const r = await stack.call(
        contractOperation('RegisterPlayer'),
        { input: { externalRef: `sc-act-${i}`, country: 'DE' } },
        stack.demo.portalApiKey,
      );
      players.push(r.data!.registerPlayer.player.id);
    }
    await new Promise<void>((r) => billing.server.listen(0, '127.0.0.1', () => r()));
    // A second scratch-cards instance on the same database whose billing is the fake above.
    withFakeBilling = await createService(
      configSchema.parse({
        NODE_ENV: 'test',
        LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
        DATABASE_URL: stack.databaseUrl,
        DATABASE_POOL_MAX: '4',
        INTERNAL_CONTEXT_SECRET: TEST_SECRET,
        CARD_CODE_KEY: Buffer.alloc(32, 11).toString('base64'),
        CARD_VAULT_KEY: Buffer.alloc(32, 13).toString('base64'),
        ACCOUNTS_URL: stack.subgraphUrls.accounts,
        CATALOG_URL: stack.subgraphUrls.catalog,
        BILLING_URL: `http://127.0.0.1:${(billing.server.address() as AddressInfo).port}/graphql`,
        PORT: '0',
      }),
      { jobs: false },
    );
    await withFakeBilling.listen(0);
  });
  afterAll(async () => {
    await withFakeBilling?.close();
    await new Promise<void>((r) => billing.server.close(() => r()));
    await stack?.close();
  });

  const player = (i: number): Principal => ({
    kind: 'player',
    merchantId: stack.demo.merchantId,
    playerId: players[i]!,
  });
  const activate = (p: Principal, activationCode: string, clientIp = '198.51.100.1', url = sc) =>
    direct(
      url,
      p,
      ACTIVATE,
      { input: { playerId: (p as { playerId: string }).playerId, activationCode } },
      clientIp,
    );

  async function batch(
    input: Record<string, unknown>,
    approve = true,
  ): Promise<{ id: string; cards: { running: number; code: string }[] }> {
    const r = await stack.call(contractOperation('CreateScratchCardBatch'), { input }, operator());
    expect(r.errors).toBeUndefined();
    const id = r.data!.createScratchCardBatch.batch.id as string;
    await eventually(
      async () =>
        (await stack.call(BATCH, { id }, operator())).data?.scratchCardBatch.status ===
        'PENDING_APPROVAL'
          ? true
          : undefined,
      20_000,
    );
    if (approve)
      expect(
        (await stack.call(contractOperation('ApproveScratchCardBatch'), { id }, owner())).errors,
      ).toBeUndefined();
    const cards = await withOrm(stack.databaseUrl, (orm) => vaultCodes(orm, id));
    return { id, cards };
  }
  const coins = (count: number, kind = 'PHYSICAL') => ({
    count,
    kind,
    walletCredit: { amountMinor: '10', currency: 'GEMS' },
  });

  it('refuses INACTIVE cards (batch awaiting approval), then accepts them once approved', async () => {
    const b = await batch(coins(5), false);
    const before = await activate(player(0), b.cards[0]!.code);
    expect(before.errors?.[0]?.extensions).toMatchObject({
      code: 'CONFLICT',
      reason: 'NOT_ACTIVE',
    });
    await stack.call(contractOperation('ApproveScratchCardBatch'), { id: b.id }, owner());
    const after = await activate(player(0), b.cards[0]!.code);
    expect(after.errors).toBeUndefined();
    expect(after.data!.activateScratchCard).toMatchObject({
      card: { status: 'REDEEMED' },
      walletCredit: { amountMinor: '10', currency: 'GEMS' },
      delivered: true,
    });
  });

  it('delivers the coins of a card redeemed just before a crash, once, through the sweep', async () => {
    const b = await batch(coins(2));
    const wallet = async () => {
      const r = await stack.call(
        `query ($id: ID!) { player(id: $id) { wallets { currency balance { amountMinor } } } }`,
        { id: players[3] },
        stack.demo.portalApiKey,
      );
      return BigInt(
        r.data!.player.wallets.find((w: { currency: string }) => w.currency === 'GEMS')?.balance
          .amountMinor ?? '0',
      );
    };
    const before = await wallet();
    // What the database holds when the process dies right after the redemption committed.
    const [card] = await withOrm(stack.databaseUrl, (orm) =>
      query<{ id: string }>(
        orm.em.fork(),
        `with c as (
           update scratch_cards.card set status = 'REDEEMED', activation_id = ?, redeemed_by = ?,
                  redeemed_at = now() - interval '5 minutes'
            where batch_id = ? and running = (select min(running) from scratch_cards.card where batch_id = ?)
            returning id, redeemed_at)
         insert into scratch_cards.card_delivery_due (card_id, due_since)
         select id, redeemed_at from c returning card_id as id`,
        [newId(), players[3], b.id, b.id],
      ),
    );
    expect(await wallet()).toBe(before);
    const first = await withFakeBilling.runtime.deliverPending(60);
    expect(first.delivered).toBeGreaterThanOrEqual(1);
    await withFakeBilling.runtime.deliverPending(60);
    expect(await wallet()).toBe(before + 10n);
    const [row] = await withOrm(stack.databaseUrl, (orm) =>
      query<{ delivered: boolean; transfers: number; due: number }>(
        orm.em.fork(),
        `select c.delivered_at is not null as delivered,
                (select count(*)::int from accounts.transfer t where t.id = c.activation_id) as transfers,
                (select count(*)::int from scratch_cards.card_delivery_due d where d.card_id = c.id) as due
           from scratch_cards.card c where c.id = ?`,
        [card!.id],
      ),
    );
    expect(row).toEqual({ delivered: true, transfers: 1, due: 0 });
  });

  it('gives expired, voided and used cards distinct errors', async () => {
    const b = await batch(coins(4));
    await withOrm(stack.databaseUrl, (orm) =>
      query(
        orm.em.fork(),
        `update scratch_cards.batch set expires_at = now() - interval '1 minute' where id = ?`,
        [b.id],
      ),
    );
    const expired = await activate(player(1), b.cards[0]!.code);
    expect(expired.errors?.[0]?.extensions).toMatchObject({ code: 'CONFLICT', reason: 'EXPIRED' });

    const c = await batch(coins(3));
    await stack.call(
      `mutation ($id: ID!) { voidScratchCardBatch(id: $id) { batch { status } } }`,
      { id: c.id },
      operator(),
    );
    const voided = await activate(player(1), c.cards[0]!.code);
    expect(voided.errors?.[0]?.extensions).toMatchObject({ code: 'CONFLICT', reason: 'VOIDED' });

    const d = await batch(coins(2));
    expect((await activate(player(1), d.cards[0]!.code)).errors).toBeUndefined();
    const used = await activate(player(2), d.cards[0]!.code);
    expect(used.errors?.[0]?.extensions).toMatchObject({
      code: 'CONFLICT',
      reason: 'ALREADY_REDEEMED',
    });
    const unknown = await activate(player(2), new CodeCodec(DEFAULT_FORMAT).generate(1)[0]!);
    expect(unknown.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND' });
    const messages = [expired, voided, used, unknown].map((r) => r.errors![0]!.message);
    expect(new Set(messages).size).toBe(4);
  });

  it('stops a brute force of 1,000 random codes, which activates nothing', async () => {
    const b = await batch(coins(300));
    const codec = new CodeCodec(DEFAULT_FORMAT);
    // Well-formed guesses (right check character) from one address, spread over many player ids.
    const guesses = codec.generate(1_000);
    const outcomes: (string | undefined)[] = [];
    for (let i = 0; i < guesses.length; i += 25) {
      const wave = await Promise.all(
        guesses.slice(i, i + 25).map((g) =>
          activate(
            { kind: 'player', merchantId: stack.demo.merchantId, playerId: newId() },
            g,
            '203.0.113.66',
          ).then((r) => {
            if (r.data?.activateScratchCard) return 'ACTIVATED';
            return r.errors?.[0]?.extensions?.code;
          }),
        ),
      );
      outcomes.push(...wave);
    }
    expect(outcomes.filter((o) => o === 'ACTIVATED')).toEqual([]);
    const limited = outcomes.filter((o) => o === 'RATE_LIMITED').length;
    // The address may get 30 failures per window (plus what was in flight when it tipped over).
    expect(limited).toBeGreaterThanOrEqual(1_000 - 30 - 25);
    expect(outcomes.filter((o) => o !== 'RATE_LIMITED').every((o) => o === 'NOT_FOUND')).toBe(true);
    const [redeemed] = await withOrm(stack.databaseUrl, (orm) =>
      query<{ n: number }>(
        orm.em.fork(),
        `select count(*)::int as n from scratch_cards.card where batch_id = ? and status = 'REDEEMED'`,
        [b.id],
      ),
    );
    expect(redeemed!.n).toBe(0);

    // Locked out: even a valid code from that address is refused, with a retry delay.
    const locked = await activate(player(3), b.cards[0]!.code, '203.0.113.66');
    expect(locked.errors?.[0]?.extensions).toMatchObject({
      code: 'RATE_LIMITED',
      retryAfterSeconds: expect.any(Number),
    });
    // Per player too: five failures from five addresses lock the player out (a throw-away player id:
    // the lockout lasts 15 minutes).
    const stranger: Principal = {
      kind: 'player',
      merchantId: stack.demo.merchantId,
      playerId: newId(),
    };
    for (let k = 0; k < 5; k += 1) {
      const miss = await activate(stranger, guesses[k]!, `192.0.2.${k + 1}`);
      expect(codes(miss)).toEqual(['NOT_FOUND']);
    }
    expect(codes(await activate(stranger, b.cards[0]!.code, '192.0.2.99'))).toEqual([
      'RATE_LIMITED',
    ]);
    // Mistyped codes count as failures as well.
    const typist: Principal = {
      kind: 'player',
      merchantId: stack.demo.merchantId,
      playerId: newId(),
    };
    for (let k = 0; k < 5; k += 1) {
      expect(codes(await activate(typist, 'AAAA-AAAA-AAAA-AAA0', '192.0.2.200'))).toEqual([
        'BAD_USER_INPUT',
      ]);
    }
    expect(codes(await activate(typist, b.cards[1]!.code, '192.0.2.201'))).toEqual([
      'RATE_LIMITED',
    ]);
    // Another player at another address is unaffected.
    expect((await activate(player(1), b.cards[1]!.code, '198.51.100.77')).errors).toBeUndefined();
  });

  it('issues a virtual card once per payment, even under concurrent calls, and the code activates', async () => {
    const v = await batch(coins(20, 'VIRTUAL'));
    const service: Principal = { kind: 'service', service: 'billing' };
    const paymentId = newId();
    const input = {
      paymentId,
      merchantId: stack.demo.merchantId,
      playerId: players[2],
      batchId: v.id,
    };
    const same = await Promise.all(
      Array.from({ length: 8 }, () => direct(sc, service, ISSUE, { input })),
    );
    for (const r of same) expect(r.errors).toBeUndefined();
    const issued = same.map((r) => r.data!._issueVirtualCard);
    expect(new Set(issued.map((x) => x.serialNumber)).size).toBe(1);
    expect(new Set(issued.map((x) => x.activationCode)).size).toBe(1);
    expect(issued[0].activationCode).toMatch(/^[2-9A-HJKMNP-Z]{4}(-[2-9A-HJKMNP-Z]{4}){3}$/);

    const others = await Promise.all(
      Array.from({ length: 10 }, () =>
        direct(sc, service, ISSUE, { input: { ...input, paymentId: newId() } }),
      ),
    );
    const serials = new Set(others.map((r) => r.data!._issueVirtualCard.serialNumber));
    expect(serials.size).toBe(10);
    expect(serials.has(issued[0].serialNumber)).toBe(false);
    const [sold] = await withOrm(stack.databaseUrl, (orm) =>
      query<{ n: number }>(
        orm.em.fork(),
        `select count(*)::int as n from scratch_cards.card where batch_id = ? and sold_to_payment_id is not null`,
        [v.id],
      ),
    );
    expect(sold!.n).toBe(11);

    const reused = await direct(sc, service, ISSUE, { input: { ...input, playerId: players[3] } });
    expect(codes(reused)).toEqual(['IDEMPOTENCY_KEY_REUSED']);
    expect(codes(await direct(sc, player(2), ISSUE, { input }))).toEqual(['FORBIDDEN']);

    // An unsold card's code opens nothing; the sold one activates.
    const unsold = v.cards[v.cards.length - 1]!.code;
    expect(
      (await activate(player(2), unsold, '198.51.100.5')).errors?.[0]?.extensions,
    ).toMatchObject({ code: 'NOT_FOUND' });
    const ok = await activate(player(2), issued[0].activationCode, '198.51.100.5');
    expect(ok.data!.activateScratchCard).toMatchObject({
      card: { serialNumber: issued[0].serialNumber, status: 'REDEEMED' },
      delivered: true,
    });
  });

  it("grants service time through billing's _grantEntitlement, retrying until billing answers", async () => {
    const services = await stack.call(
      `query ($m: ID) { services(merchantId: $m) { id code } }`,
      { m: stack.demo.merchantId },
      operator(),
    );
    const serviceId = services.data!.services.find((s: { code: string }) => s.code === 'premium')
      .id as string;
    const b = await batch({
      count: 3,
      kind: 'PHYSICAL',
      serviceId,
      accessDays: 30,
      merchantId: stack.demo.merchantId,
    });
    const url = `${withFakeBilling.url()}/graphql`;

    const ok = await activate(player(0), b.cards[0]!.code, '198.51.100.9', url);
    expect(ok.errors).toBeUndefined();
    expect(ok.data!.activateScratchCard).toMatchObject({
      card: { status: 'REDEEMED' },
      walletCredit: null,
      delivered: true,
    });
    expect(ok.data!.activateScratchCard.entitlement.id).toMatch(/^ent-scratch-card:/);
    expect(billing.grants).toEqual([
      {
        key: expect.stringMatching(/^scratch-card:[0-9a-f-]{36}$/),
        merchantId: stack.demo.merchantId,
        playerId: players[0],
        serviceId,
        days: 30,
      },
    ]);

    // Billing down: the card is redeemed and owes its value (the card is the outbox), nothing is lost.
    billing.state.failing = true;
    const queued = await activate(player(1), b.cards[1]!.code, '198.51.100.9', url);
    expect(queued.data!.activateScratchCard).toMatchObject({
      card: { status: 'REDEEMED' },
      entitlement: null,
      delivered: false,
    });
    const cardId = queued.data!.activateScratchCard.card.id as string;
    // The sweep (every minute) finds it; while billing is down it stays owed.
    expect(await withFakeBilling.runtime.deliverPending(0)).toEqual({ delivered: 0, failed: 1 });
    billing.state.failing = false;
    // A card younger than the retry delay is left to its own inline attempt.
    expect(await withFakeBilling.runtime.deliverPending(3600)).toEqual({
      delivered: 0,
      failed: 0,
    });
    // Next sweep: delivered once; sweeping again grants nothing more.
    expect(await withFakeBilling.runtime.deliverPending(0)).toEqual({ delivered: 1, failed: 0 });
    expect(await withFakeBilling.runtime.deliverPending(0)).toEqual({ delivered: 0, failed: 0 });
    expect(billing.grants).toHaveLength(2);
    const [card] = await withOrm(stack.databaseUrl, (orm) =>
      query<{ delivered_at: unknown; delivery_ref: string }>(
        orm.em.fork(),
        `select delivered_at, delivery_ref from scratch_cards.card where id = ?`,
        [cardId],
      ),
    );
    expect(card!.delivered_at).toBeTruthy();
    expect(card!.delivery_ref).toMatch(/^ent-scratch-card:/);

    // Through the real stack, billing's own _grantEntitlement answers at once: delivered.
    const direct = await activate(player(2), b.cards[2]!.code, '198.51.100.9');
    expect(direct.data!.activateScratchCard).toMatchObject({
      card: { status: 'REDEEMED' },
      delivered: true,
      entitlement: { id: expect.any(String) },
    });
  });
});
