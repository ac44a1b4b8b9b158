import { codes } from '@coinslot/testing';
import { query } from '@coinslot/kernel';
import { startStack, type Stack } from '../support/stack';
import { contractOperation } from '../support/contract';
import {
  allStoredText,
  eventually,
  vaultCodes,
  withOrm,
} from '../../subgraphs/scratch-cards/test/support';
import { CodeCodec, DEFAULT_FORMAT } from '../../subgraphs/scratch-cards/src/codes/format';

const BATCH = `query ($id: ID!) { scratchCardBatch(id: $id) { id status count generatedCount kind walletCredit { amountMinor currency } cardCounts { status count } } }`;
// The contract's ActivateScratchCard, plus `delivered` (whether the value is already delivered).
const ACTIVATE = `mutation ($input: ActivateScratchCardInput!) {
  activateScratchCard(input: $input) { card { serialNumber status } walletCredit { amountMinor currency } entitlement { id } delivered }
}`;
const WALLET = `query ($id: ID!) { player(id: $id) { wallets { currency balance { amountMinor } } } }`;

/**
 * The scratch-card contract operations through the real gateway with the demo keys: an operator
 * orders a batch, an owner (not the creator) approves it, the printing CSV downloads once, and
 * players activate its codes.
 */
describe('contract: CreateScratchCardBatch, ApproveScratchCardBatch, ExportScratchCardBatch, activation', () => {
  let stack: Stack;
  let players: string[];
  let batchId: string;
  let csv: { serialNumber: string; activationCode: string }[] = [];

  beforeAll(async () => {
    stack = await startStack();
    players = [];
    for (const ref of ['sc-e2e-1', 'sc-e2e-2']) {
      const r = await stack.call(
        contractOperation('RegisterPlayer'),
        { input: { externalRef: ref, country: 'FR' } },
        stack.demo.portalApiKey,
      );
      players.push(r.data!.registerPlayer.player.id);
    }
  });
  afterAll(() => stack?.close());

  const waitFor = (id: string, status: string) =>
    eventually(
      async () => {
        const r = await stack.call(BATCH, { id }, stack.demo.adminApiKey);
        return r.data?.scratchCardBatch?.status === status ? r.data.scratchCardBatch : undefined;
      },
      20_000,
      `batch ${id} ${status}`,
    );
  const wallet = async (playerId: string) => {
    const r = await stack.call(WALLET, { id: playerId }, stack.demo.portalApiKey);
    return (
      r.data!.player.wallets.find((w: { currency: string }) => w.currency === 'GEMS')?.balance
        .amountMinor ?? '0'
    );
  };
  const download = (url: string) => {
    // The link names the public gateway address; the in-process gateway listens elsewhere.
    const gateway = new URL(stack.gatewayUrl);
    return fetch(`${gateway.origin}${new URL(url).pathname}`);
  };

  it('lets an operator order a batch (merchant derived from the currency) and reports generation progress', async () => {
    const input = {
      count: 50,
      kind: 'PHYSICAL',
      walletCredit: { amountMinor: '25', currency: 'GEMS' },
    };
    const r = await stack.call(
      contractOperation('CreateScratchCardBatch'),
      { input },
      stack.demo.adminApiKey,
    );
    expect(r.errors).toBeUndefined();
    expect(r.data!.createScratchCardBatch.batch).toMatchObject({
      status: 'GENERATING',
      count: 50,
      kind: 'PHYSICAL',
    });
    batchId = r.data!.createScratchCardBatch.batch.id;
    const ready = await waitFor(batchId, 'PENDING_APPROVAL');
    expect(ready).toMatchObject({
      generatedCount: 50,
      walletCredit: { amountMinor: '25', currency: 'GEMS' },
      cardCounts: [{ status: 'INACTIVE', count: 50 }],
    });
  });

  it('refuses bad orders clearly', async () => {
    const order = (input: Record<string, unknown>) =>
      stack.call(contractOperation('CreateScratchCardBatch'), { input }, stack.demo.adminApiKey);
    expect(codes(await order({ count: 5, kind: 'PHYSICAL' }))).toEqual(['BAD_USER_INPUT']);
    expect(
      codes(
        await order({
          count: 5,
          kind: 'PHYSICAL',
          walletCredit: { amountMinor: '5', currency: 'GEMS' },
          accessDays: 3,
        }),
      ),
    ).toEqual(['BAD_USER_INPUT']);
    expect(
      codes(
        await order({
          count: 5,
          kind: 'PHYSICAL',
          walletCredit: { amountMinor: '5', currency: 'NOPE' },
        }),
      ),
    ).toEqual(['BAD_USER_INPUT']);
    const noMerchant = await order({
      count: 5,
      kind: 'PHYSICAL',
      serviceId: '0190b7a1-0000-7000-8000-000000000000',
      accessDays: 7,
    });
    expect(noMerchant.errors?.[0]).toMatchObject({
      extensions: { code: 'BAD_USER_INPUT', field: 'merchantId' },
    });
    expect(
      codes(
        await stack.call(
          contractOperation('CreateScratchCardBatch'),
          {
            input: {
              count: 5,
              kind: 'PHYSICAL',
              walletCredit: { amountMinor: '5', currency: 'GEMS' },
            },
          },
          stack.demo.portalApiKey,
        ),
      ),
    ).toEqual(['FORBIDDEN']);
  });

  it('needs an owner other than the creator to approve; the cards become ACTIVE', async () => {
    // Not exportable before approval.
    expect(
      codes(
        await stack.call(
          contractOperation('ExportScratchCardBatch'),
          { id: batchId },
          stack.demo.adminApiKey,
        ),
      ),
    ).toEqual(['CONFLICT']);
    // The operator who created it lacks the owner role.
    expect(
      codes(
        await stack.call(
          contractOperation('ApproveScratchCardBatch'),
          { id: batchId },
          stack.demo.adminApiKey,
        ),
      ),
    ).toEqual(['FORBIDDEN']);
    // The owner may not approve a batch the owner created.
    const own = await stack.call(
      contractOperation('CreateScratchCardBatch'),
      {
        input: { count: 3, kind: 'PHYSICAL', walletCredit: { amountMinor: '1', currency: 'GEMS' } },
      },
      stack.demo.ownerApiKey,
    );
    const ownId = own.data!.createScratchCardBatch.batch.id;
    await waitFor(ownId, 'PENDING_APPROVAL');
    const self = await stack.call(
      contractOperation('ApproveScratchCardBatch'),
      { id: ownId },
      stack.demo.ownerApiKey,
    );
    expect(codes(self)).toEqual(['FORBIDDEN']);
    const refused = await withOrm(stack.databaseUrl, (orm) =>
      query<{ outcome: string }>(
        orm.em.fork(),
        `select outcome from scratch_cards.audit_log where action = 'batch.approve' and target_id = ?`,
        [ownId],
      ),
    );
    expect(refused).toEqual([{ outcome: 'refused' }]);

    const ok = await stack.call(
      contractOperation('ApproveScratchCardBatch'),
      { id: batchId },
      stack.demo.ownerApiKey,
    );
    expect(ok.errors).toBeUndefined();
    expect(ok.data!.approveScratchCardBatch.batch).toEqual({ id: batchId, status: 'APPROVED' });
    expect(
      (await stack.call(BATCH, { id: batchId }, stack.demo.adminApiKey)).data!.scratchCardBatch
        .cardCounts,
    ).toEqual([{ status: 'ACTIVE', count: 50 }]);
    expect(
      codes(
        await stack.call(
          contractOperation('ApproveScratchCardBatch'),
          { id: batchId },
          stack.demo.ownerApiKey,
        ),
      ),
    ).toEqual(['CONFLICT']);
  });

  it('exports the printing CSV at a single-use URL, then keeps no clear code anywhere', async () => {
    const r = await stack.call(
      contractOperation('ExportScratchCardBatch'),
      { id: batchId },
      stack.demo.adminApiKey,
    );
    expect(r.errors).toBeUndefined();
    const { url, expiresAt, count } = r.data!.exportScratchCardBatch;
    expect(count).toBe(50);
    expect(url).toMatch(/^http:\/\/localhost:4000\/exports\/scratch-cards\/[A-Za-z0-9_-]{43}$/);
    expect(new Date(expiresAt).getTime()).toBeGreaterThan(Date.now());

    const res = await download(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
    const lines = (await res.text()).trim().split('\n');
    expect(lines[0]).toBe('serialNumber,activationCode');
    csv = lines.slice(1).map((l) => {
      const [serialNumber, activationCode] = l.split(',');
      return { serialNumber: serialNumber!, activationCode: activationCode! };
    });
    expect(csv).toHaveLength(50);
    expect(new Set(csv.map((c) => c.activationCode)).size).toBe(50);
    for (const c of csv) {
      expect(c.serialNumber).toMatch(/^SC-\d{6}-\d{8}$/);
      expect(c.activationCode).toMatch(/^[2-9A-HJKMNP-Z]{4}(-[2-9A-HJKMNP-Z]{4}){3}$/);
    }

    const again = await download(url);
    expect(again.status).toBe(410);
    expect(
      codes(
        await stack.call(
          contractOperation('ExportScratchCardBatch'),
          { id: batchId },
          stack.demo.adminApiKey,
        ),
      ),
    ).toEqual(['CONFLICT']);
    expect((await download(url.replace(/[^/]+$/, 'A'.repeat(43)))).status).toBe(404);

    // No exported code is left in any text or bytea column of the subgraph's tables (or its job queue).
    const stored = await withOrm(stack.databaseUrl, (orm) =>
      allStoredText(orm, ['scratch_cards', 'scratch_cards_jobs']),
    );
    expect(stored.length).toBeGreaterThan(50);
    const leaks = csv.filter((c) =>
      stored.some(
        (v) => v.includes(c.activationCode) || v.includes(c.activationCode.replace(/-/g, '')),
      ),
    );
    expect(leaks).toEqual([]);
  });

  it('exports only approved physical batches', async () => {
    const v = await stack.call(
      contractOperation('CreateScratchCardBatch'),
      {
        input: { count: 2, kind: 'VIRTUAL', walletCredit: { amountMinor: '1', currency: 'GEMS' } },
      },
      stack.demo.adminApiKey,
    );
    const vid = v.data!.createScratchCardBatch.batch.id;
    await waitFor(vid, 'PENDING_APPROVAL');
    await stack.call(
      contractOperation('ApproveScratchCardBatch'),
      { id: vid },
      stack.demo.ownerApiKey,
    );
    const denied = await stack.call(
      contractOperation('ExportScratchCardBatch'),
      { id: vid },
      stack.demo.adminApiKey,
    );
    expect(codes(denied)).toEqual(['CONFLICT']);
    expect(denied.errors![0]!.message).toMatch(/physical/);
  });

  it('activates a printed code once through the gateway and credits the wallet', async () => {
    const [card] = csv;
    const before = BigInt(await wallet(players[0]!));
    const ok = await stack.call(
      contractOperation('ActivateScratchCard'),
      { input: { playerId: players[0], activationCode: card!.activationCode.toLowerCase() } },
      stack.demo.portalApiKey,
    );
    expect(ok.errors).toBeUndefined();
    expect(ok.data!.activateScratchCard).toEqual({
      card: { serialNumber: card!.serialNumber, status: 'REDEEMED' },
      walletCredit: { amountMinor: '25', currency: 'GEMS' },
      entitlement: null,
    });
    expect(BigInt(await wallet(players[0]!))).toBe(before + 25n);

    const used = await stack.call(
      ACTIVATE,
      { input: { playerId: players[1], activationCode: card!.activationCode } },
      stack.demo.portalApiKey,
    );
    expect(used.errors?.[0]?.extensions).toMatchObject({
      code: 'CONFLICT',
      reason: 'ALREADY_REDEEMED',
    });

    const care = await stack.call(
      `query ($s: String!) { scratchCard(serialNumber: $s) { serialNumber status redeemedBy { id } deliveredAt batch { id } } }`,
      { s: card!.serialNumber },
      stack.demo.adminApiKey,
    );
    expect(care.data!.scratchCard).toMatchObject({
      serialNumber: card!.serialNumber,
      status: 'REDEEMED',
      redeemedBy: { id: players[0] },
      batch: { id: batchId },
    });
    expect(care.data!.scratchCard.deliveredAt).toBeTruthy();
    const audit = await withOrm(stack.databaseUrl, (orm) =>
      query<{ actor_kind: string; outcome: string }>(
        orm.em.fork(),
        `select a.actor_kind, a.outcome from scratch_cards.audit_log a join scratch_cards.card c on c.id::text = a.target_id
          where a.action = 'card.activate' and c.serial_number = ?`,
        [card!.serialNumber],
      ),
    );
    expect(audit).toEqual([{ actor_kind: 'portal', outcome: 'succeeded' }]);
  });

  it('tells typos, voided and unknown codes apart, and a player token acts only for itself', async () => {
    const code = csv[1]!.activationCode;
    const i = 5; // a character of the second group
    const typo = code.slice(0, i) + (code[i] === 'A' ? 'B' : 'A') + code.slice(i + 1);
    const mistyped = await stack.call(
      ACTIVATE,
      { input: { playerId: players[0], activationCode: typo } },
      stack.demo.portalApiKey,
    );
    expect(mistyped.errors?.[0]).toMatchObject({
      extensions: { code: 'BAD_USER_INPUT', field: 'activationCode' },
    });
    expect(mistyped.errors![0]!.message).toMatch(/mistyped/);

    const voided = await stack.call(
      `mutation ($s: String!) { voidScratchCard(serialNumber: $s) { card { status } } }`,
      { s: csv[2]!.serialNumber },
      stack.demo.adminApiKey,
    );
    expect(voided.data!.voidScratchCard.card.status).toBe('VOIDED');
    const onVoided = await stack.call(
      ACTIVATE,
      { input: { playerId: players[0], activationCode: csv[2]!.activationCode } },
      stack.demo.portalApiKey,
    );
    expect(onVoided.errors?.[0]?.extensions).toMatchObject({ code: 'CONFLICT', reason: 'VOIDED' });

    const token = (
      await stack.call(
        contractOperation('IssuePlayerToken'),
        { playerId: players[0] },
        stack.demo.portalApiKey,
      )
    ).data!.issuePlayerToken.token;
    const forOther = await stack.call(
      ACTIVATE,
      { input: { playerId: players[1], activationCode: csv[3]!.activationCode } },
      token,
    );
    expect(codes(forOther)).toEqual(['NOT_FOUND']);
    const own = await stack.call(
      ACTIVATE,
      { input: { playerId: players[0], activationCode: csv[3]!.activationCode } },
      token,
    );
    expect(own.data!.activateScratchCard.card.status).toBe('REDEEMED');
    expect(
      codes(
        await stack.call(ACTIVATE, {
          input: { playerId: players[0], activationCode: csv[4]!.activationCode },
        }),
      ),
    ).toEqual(['UNAUTHENTICATED']);
  });

  it('lets two concurrent activations of one code succeed exactly once, crediting the wallet once', async () => {
    const card = csv[10]!;
    const before = await Promise.all(players.map(async (p) => BigInt(await wallet(p))));
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, k) =>
        stack.call(
          ACTIVATE,
          { input: { playerId: players[k % 2], activationCode: card.activationCode } },
          stack.demo.portalApiKey,
        ),
      ),
    );
    const wins = results.filter((r) => r.data?.activateScratchCard);
    expect(wins).toHaveLength(1);
    for (const r of results.filter((x) => !x.data?.activateScratchCard)) {
      expect(r.errors?.[0]?.extensions).toMatchObject({
        code: 'CONFLICT',
        reason: 'ALREADY_REDEEMED',
      });
    }
    const after = await Promise.all(players.map(async (p) => BigInt(await wallet(p))));
    expect(after[0]! + after[1]! - before[0]! - before[1]!).toBe(25n);
    const transfers = await withOrm(stack.databaseUrl, (orm) =>
      query<{ amount: string; kind: string }>(
        orm.em.fork(),
        `select amount::text, kind from accounts.transfer where reference = ?`,
        [card.serialNumber],
      ),
    );
    expect(transfers).toEqual([{ amount: '25', kind: 'scratch_card' }]);
  });

  it('activates many cards arriving together (batched) exactly once each, with every coin delivered', async () => {
    const cards = csv.slice(20, 50);
    const before = await Promise.all(players.map(async (p) => BigInt(await wallet(p))));
    // 30 cards at once, 6 of them sent twice: batches form, and a code twice in one batch loses once.
    const attempts = [...cards, ...cards.slice(0, 6)].map((c, k) => ({
      code: c.activationCode,
      player: players[k % 2]!,
    }));
    const results = await Promise.all(
      attempts.map((a) =>
        stack.call(
          ACTIVATE,
          { input: { playerId: a.player, activationCode: a.code } },
          stack.demo.portalApiKey,
        ),
      ),
    );
    const won = new Map<string, string>();
    results.forEach((r, k) => {
      if (r.data?.activateScratchCard) {
        expect(r.data.activateScratchCard).toMatchObject({
          card: { status: 'REDEEMED' },
          walletCredit: { amountMinor: '25', currency: 'GEMS' },
        });
        expect(won.has(attempts[k]!.code)).toBe(false);
        won.set(attempts[k]!.code, attempts[k]!.player);
      } else {
        expect(r.errors?.[0]?.extensions).toMatchObject({ reason: 'ALREADY_REDEEMED' });
      }
    });
    expect(won.size).toBe(30);
    const after = await Promise.all(players.map(async (p) => BigInt(await wallet(p))));
    for (const [i, p] of players.entries()) {
      const credited = [...won.values()].filter((w) => w === p).length;
      expect(after[i]! - before[i]!).toBe(25n * BigInt(credited));
    }
    const [state] = await withOrm(stack.databaseUrl, async (orm) =>
      query<{ undelivered: number; transfers: number; due: number }>(
        orm.em.fork(),
        `select (select count(*)::int from scratch_cards.card where serial_number = any(?::text[]) and (status <> 'REDEEMED' or delivered_at is null)) as undelivered,
                (select count(*)::int from accounts.transfer where reference = any(?::text[])) as transfers,
                (select count(*)::int from scratch_cards.card_delivery_due d join scratch_cards.card c on c.id = d.card_id where c.serial_number = any(?::text[])) as due`,
        Array(3).fill(`{${cards.map((c) => c.serialNumber).join(',')}}`),
      ),
    );
    // Every card delivered inline, one transfer each, and nothing left owed in the outbox.
    expect(state).toEqual({ undelivered: 0, transfers: 30, due: 0 });
  });

  it('answers an unknown code with a generic NOT_FOUND that reveals nothing', async () => {
    // A well-formed code (right check character) that no card has.
    const [unknown] = new CodeCodec(DEFAULT_FORMAT).generate(1);
    const r = await stack.call(
      ACTIVATE,
      { input: { playerId: players[1], activationCode: unknown } },
      stack.demo.portalApiKey,
    );
    expect(r.errors?.[0]).toMatchObject({
      message: expect.stringMatching(/^Invalid activation code/),
      extensions: { code: 'NOT_FOUND' },
    });
    expect(JSON.stringify(r.errors)).not.toMatch(/SC-\d/);
  });

  it("validates a merchant's card format (entropy, shape) and applies it to later batches", async () => {
    const SET = `mutation ($input: SetScratchCardFormatInput!) { setScratchCardFormat(input: $input) { serialPrefix codeLength alphabet entropyBits } }`;
    const merchantId = stack.demo.merchantId;
    const weak = await stack.call(
      SET,
      { input: { merchantId, serialPrefix: 'GEMS', codeLength: 12 } },
      stack.demo.adminApiKey,
    );
    expect(weak.errors?.[0]).toMatchObject({
      extensions: { code: 'BAD_USER_INPUT', field: 'codeLength' },
    });
    expect(weak.errors![0]!.message).toMatch(/at least 64/);
    const odd = await stack.call(
      SET,
      { input: { merchantId, serialPrefix: 'GEMS', alphabet: 'ABCDEFGHJKMNPQRSTUVWXYZ2345' } },
      stack.demo.adminApiKey,
    );
    expect(odd.errors?.[0]).toMatchObject({
      extensions: { code: 'BAD_USER_INPUT', field: 'alphabet' },
    });
    const ok = await stack.call(
      SET,
      { input: { merchantId, serialPrefix: 'GEMS', codeLength: 20, groupSize: 5 } },
      stack.demo.adminApiKey,
    );
    expect(ok.data!.setScratchCardFormat).toEqual({
      serialPrefix: 'GEMS',
      codeLength: 20,
      alphabet: '23456789ABCDEFGHJKMNPQRSTUVWXYZ',
      entropyBits: 94,
    });
    const r = await stack.call(
      contractOperation('CreateScratchCardBatch'),
      {
        input: { count: 2, kind: 'PHYSICAL', walletCredit: { amountMinor: '1', currency: 'GEMS' } },
      },
      stack.demo.adminApiKey,
    );
    const id = r.data!.createScratchCardBatch.batch.id;
    await waitFor(id, 'PENDING_APPROVAL');
    const b = await stack.call(
      `query ($id: ID!) { scratchCardBatch(id: $id) { firstSerialNumber } }`,
      { id },
      stack.demo.adminApiKey,
    );
    expect(b.data!.scratchCardBatch.firstSerialNumber).toMatch(/^GEMS-\d{6}-\d{8}$/);
  });

  it('activates a service card through the gateway: the contract answer carries the entitlement', async () => {
    const services = await stack.call(
      `query ($m: ID) { services(merchantId: $m) { id code } }`,
      { m: stack.demo.merchantId },
      stack.demo.adminApiKey,
    );
    const serviceId = services.data!.services.find(
      (x: { code: string }) => x.code === 'premium',
    ).id;
    const input = {
      count: 2,
      kind: 'PHYSICAL',
      serviceId,
      accessDays: 30,
      merchantId: stack.demo.merchantId,
    };
    const r = await stack.call(
      contractOperation('CreateScratchCardBatch'),
      { input },
      stack.demo.adminApiKey,
    );
    expect(r.errors).toBeUndefined();
    const id = r.data!.createScratchCardBatch.batch.id;
    await waitFor(id, 'PENDING_APPROVAL');
    await stack.call(contractOperation('ApproveScratchCardBatch'), { id }, stack.demo.ownerApiKey);
    const [first] = await withOrm(stack.databaseUrl, (orm) => vaultCodes(orm, id, 20)); // the format set above
    const ok = await stack.call(
      contractOperation('ActivateScratchCard'),
      { input: { playerId: players[1], activationCode: first!.code } },
      stack.demo.portalApiKey,
    );
    expect(ok.errors).toBeUndefined();
    const answer = ok.data!.activateScratchCard;
    expect(answer).toMatchObject({
      card: { status: 'REDEEMED' },
      walletCredit: null,
      entitlement: { service: { id: serviceId } },
    });
    const days = (new Date(answer.entitlement.validUntil).getTime() - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThan(30.1);
  });
});
