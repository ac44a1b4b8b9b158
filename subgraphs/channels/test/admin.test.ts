/**
 * The admin surface and what it guarantees at rest: encrypted credentials and key rotation,
 * the redacted, day-partitioned interaction log behind ChannelInteractions, the Channels
 * contract operation, audit rows, and settlement reconciliation over SFTP.
 */
import { codes } from '@coinslot/testing';
import { spec as camaraSpec } from '../src/adapters/camara/conformance';
import { startSimulator as startCamara } from '../src/adapters/camara/simulator';
import { startSimulator as startCard } from '../src/adapters/card/simulator';
import { startSimulator as startParlayx } from '../src/adapters/parlayx/simulator';
import type { Simulator } from '../src/adapters/simulator';
import { startSettlementSimulator, type SettlementSimulator } from '../src/settlement/simulator';
import type { SettlementRow } from '../src/settlement/format';
import { CredentialsKeyring } from '../src/security/keyring';
import {
  MERCHANT,
  OPERATOR,
  RUN,
  addChannel,
  createDb,
  provision,
  serial,
  startService,
  testConfig,
  type Harness,
} from './fixture';

const CHANNELS = `query Channels {
  channels { id code kind protocol countries capabilities { procedures interactionPatterns } }
}`;
const CHANNEL_INTERACTIONS = `query ChannelInteractions($serialNumber: String!) {
  channelInteractions(serialNumber: $serialNumber) {
    direction protocol operation outcome durationMs at
  }
}`;

describe('channels: admin, credentials at rest, interaction log, settlement', () => {
  let db: Awaited<ReturnType<typeof createDb>>;
  let h: Harness;
  let camara: Simulator;
  let card: Simulator;
  let parlayx: Simulator;
  let sftp: SettlementSimulator;
  const k1 = CredentialsKeyring.generateSpec('k1');
  const k2 = CredentialsKeyring.generateSpec('k2');
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    db = await createDb();
    h = await startService(testConfig(db.url, { CREDENTIALS_KEYS: k1 }));
    const cb = (code: string) => `${h.baseUrl}/callbacks/${code}`;
    [camara, card, parlayx, sftp] = await Promise.all([
      startCamara({ host: '127.0.0.1', port: 0, callbackUrl: cb('camara-fr') }),
      startCard({ host: '127.0.0.1', port: 0, callbackUrl: cb('card') }),
      startParlayx({ host: '127.0.0.1', port: 0 }),
      startSettlementSimulator({
        host: '127.0.0.1',
        port: 0,
        username: 'coinslot',
        password: 'sftp-Pa55word-for-tests',
      }),
    ]);
    ids.camara = await addChannel(h, {
      code: 'camara-fr',
      kind: 'CARRIER_BILLING',
      protocol: 'CAMARA',
      adapter: 'camara',
      countries: ['FR'],
      currencies: ['EUR'],
      settings: {
        ...camaraSpec.adapterConfig(camara).settings,
        baseUrl: camara.url,
        timeoutMs: 400,
      },
    });
    ids.card = await addChannel(h, {
      code: 'card',
      kind: 'CARD',
      protocol: 'CARD',
      adapter: 'card',
      countries: ['FR', 'DE', 'GB', 'US'],
      settings: { baseUrl: card.url, timeoutMs: 400 },
    });
    ids.parlayx = await addChannel(h, {
      code: 'parlayx-gb',
      kind: 'CARRIER_BILLING',
      protocol: 'PARLAYX',
      adapter: 'parlayx',
      countries: ['GB'],
      currencies: ['GBP'],
      // No status query at this operator: unknown outcomes wait for the settlement file.
      settings: {
        baseUrl: parlayx.url,
        timeoutMs: 400,
        demoOtp: '123456',
        statusMode: 'none',
        settlementSftpUrl: sftp.url,
        settlementSftpHostKey: sftp.hostKeySha256,
      },
    });
    ids.accCamara = await provision(h, ids.camara, camara.credentials);
    ids.accCard = await provision(h, ids.card, card.credentials);
    ids.accParlayx = await provision(h, ids.parlayx, {
      ...parlayx.credentials,
      authScheme: 'wsse',
      settlementSftpUsername: sftp.credentials.username,
      settlementSftpPassword: sftp.credentials.password!,
    });
  });

  afterAll(async () => {
    await h?.service.close();
    await Promise.all([camara, card, parlayx, sftp].map((s) => s?.stop()));
    await db?.drop();
  });

  const cardCharge = (reference: string) => ({
    reference,
    procedure: 'CHARGE',
    merchantId: MERCHANT,
    channelKind: 'CARD',
    country: 'FR',
    currency: 'EUR',
    cardToken: 'tok_ok',
    amountMinor: '250',
    description: 'Item',
  });

  it('answers the Channels contract operation with the documented shape; portals see only their channels', async () => {
    const r = await h.admin(CHANNELS);
    expect(r.errors).toBeUndefined();
    const byCode = Object.fromEntries(r.data!.channels.map((c: { code: string }) => [c.code, c]));
    expect(byCode['camara-fr']).toEqual({
      id: ids.camara,
      code: 'camara-fr',
      kind: 'CARRIER_BILLING',
      protocol: 'CAMARA',
      countries: ['FR'],
      capabilities: {
        procedures: ['CHARGE', 'RESERVE', 'CAPTURE', 'RELEASE', 'REFUND', 'STATUS', 'CONSENT'],
        interactionPatterns: ['REQUEST_READ', 'REQUEST_DOWNLOAD', 'REQUEST_WAIT_RECEIVE'],
      },
    });
    expect(byCode['parlayx-gb'].capabilities.procedures).toContain('BALANCE');
    const other = await h.admin(
      CHANNELS,
      {},
      {
        kind: 'portal',
        merchantId: '0190b000-0000-7000-8000-0000000000ff',
        portalId: '0190b000-0000-7000-8000-0000000000fe',
      },
    );
    expect(other.data!.channels).toEqual([]);
    const mine = await h.admin(
      CHANNELS,
      {},
      { kind: 'portal', merchantId: MERCHANT, portalId: '0190b000-0000-7000-8000-0000000000fd' },
    );
    expect(mine.data!.channels.map((c: { code: string }) => c.code).sort()).toEqual([
      'camara-fr',
      'card',
      'parlayx-gb',
    ]);
  });

  it('refuses provisioning without the owner role, and the internal API to non-services', async () => {
    const r = await h.admin(
      `mutation($input: ProvisionChannelAccountInput!) { provisionChannelAccount(input: $input) { id } }`,
      { input: { merchantId: MERCHANT, channelId: ids.card, credentials: '{"secretKey":"x"}' } },
      OPERATOR,
    );
    expect(codes(r)).toEqual(['FORBIDDEN']);
    const asAdmin = await h.admin(RUN, { input: cardCharge(serial()) });
    expect(codes(asAdmin)).toEqual(['FORBIDDEN']);
  });

  it('keeps credentials encrypted at rest, never returns them, and rotation keeps them readable', async () => {
    const secretKey = card.credentials.secretKey!;
    const accounts = await h.admin(
      `query($m: ID!) { channelAccounts(merchantId: $m) { id status credentialNames credentialsKeyId channel { code } } }`,
      { m: MERCHANT },
    );
    expect(JSON.stringify(accounts)).not.toContain(secretKey);
    expect(
      accounts.data!.channelAccounts.find(
        (a: { channel: { code: string } }) => a.channel.code === 'card',
      ),
    ).toMatchObject({ credentialNames: ['secretKey', 'webhookSecret'], credentialsKeyId: 'k1' });
    const dump = async () =>
      JSON.stringify(
        await h.sql(
          `select *, encode(credentials_ciphertext, 'escape') as ct_text from channels.channel_account`,
        ),
      );
    expect(await dump()).not.toContain(secretKey);
    expect(await dump()).not.toContain(sftp.credentials.password!);
    const audit = JSON.stringify(await h.sql(`select * from channels.audit_log`));
    expect(audit).toContain('channel_account.provision');
    expect(audit).not.toContain(secretKey);

    // A new key goes first; the old one stays listed until everything is re-encrypted.
    await h.service.close();
    h = await startService(testConfig(db.url, { CREDENTIALS_KEYS: `${k2},${k1}` }));
    const before = await h.billing(RUN, { input: cardCharge(serial()) });
    expect(before.data!._runProcedure.outcome.kind).toBe('SUCCEEDED');
    const rotated = await h.admin(`mutation { rotateCredentialsKey { keyId reencrypted } }`);
    expect(rotated.data!.rotateCredentialsKey).toEqual({ keyId: 'k2', reencrypted: 3 });
    expect(
      (await h.sql(`select distinct credentials_key_id as k from channels.channel_account`)).map(
        (r) => r.k,
      ),
    ).toEqual(['k2']);
    expect(await dump()).not.toContain(secretKey);

    await h.service.close();
    h = await startService(testConfig(db.url, { CREDENTIALS_KEYS: k2 }));
    const after = await h.billing(RUN, { input: cardCharge(serial()) });
    expect(after.data!._runProcedure.outcome.kind).toBe('SUCCEEDED');
  });

  it('logs every exchange, redacted and day-partitioned; ChannelInteractions returns it oldest first', async () => {
    const reference = serial('SN');
    const msisdn = '+33612345655';
    const started = await h.billing(RUN, {
      input: {
        reference,
        procedure: 'CHARGE',
        merchantId: MERCHANT,
        channelKind: 'CARRIER_BILLING',
        country: 'FR',
        currency: 'EUR',
        msisdn,
        amountMinor: '199',
        description: 'Coins',
      },
    });
    expect(started.data!._runProcedure.outcome.actionKind).toBe('OTP');
    const confirmed = await h.billing(RUN, {
      input: {
        reference: `${reference}:consent:1`,
        procedure: 'CONSENT',
        merchantId: MERCHANT,
        amountMinor: '0',
        currency: 'EUR',
        chargeReference: reference,
        otp: '123456',
      },
    });
    expect(confirmed.data!._runProcedure.outcome.kind).toBe('SUCCEEDED');

    const r = await h.admin(CHANNEL_INTERACTIONS, { serialNumber: reference });
    expect(r.errors).toBeUndefined();
    const list = r.data!.channelInteractions as {
      direction: string;
      protocol: string;
      operation: string;
      outcome: string | null;
      durationMs: number;
      at: string;
    }[];
    expect(list.length).toBeGreaterThanOrEqual(2);
    for (const i of list) {
      expect(Object.keys(i).sort()).toEqual([
        'at',
        'direction',
        'durationMs',
        'operation',
        'outcome',
        'protocol',
      ]);
      expect(i.protocol).toBe('CAMARA');
      expect(['OUTBOUND', 'INBOUND']).toContain(i.direction);
      expect(Number.isInteger(i.durationMs)).toBe(true);
    }
    const times = list.map((i) => Date.parse(i.at));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect(list.some((i) => i.outcome === 'SUCCEEDED')).toBe(true);
    const denied = await h.admin(
      CHANNEL_INTERACTIONS,
      { serialNumber: reference },
      { kind: 'portal', merchantId: MERCHANT, portalId: '0190b000-0000-7000-8000-0000000000fd' },
    );
    expect(codes(denied)).toEqual(['FORBIDDEN']);

    const rows = await h.sql(
      `select tableoid::regclass::text as part, * from channels.interaction`,
    );
    const text = JSON.stringify(rows);
    for (const value of [
      ...Object.values(camara.credentials),
      ...Object.values(card.credentials),
      ...Object.values(parlayx.credentials),
    ]) {
      if (value.length >= 6) expect(text).not.toContain(value);
    }
    expect(text).not.toMatch(/(?<!\d)123456(?!\d)/);
    expect(text).not.toContain(msisdn.slice(1));
    const today = new Date().toISOString().slice(0, 10).replace(/-/g, '');
    const mine = rows.filter((x) => x.serial === reference);
    expect(mine.length).toBeGreaterThan(0);
    expect(new Set(mine.map((x) => x.part))).toEqual(new Set([`channels.interaction_${today}`]));
    const parts = await h.sql<{ relname: string }>(
      `select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = 'channels.interaction'::regclass order by 1`,
    );
    expect(parts.map((p) => p.relname)).toEqual(
      expect.arrayContaining(['interaction_default', `interaction_${today}`]),
    );
  });

  it('disabling an account or a channel takes it out of routing; re-provisioning brings it back; all audited', async () => {
    const disabled = await h.admin(
      `mutation($id: ID!) { disableChannelAccount(id: $id) { id status } }`,
      { id: ids.accCard },
      OPERATOR,
    );
    expect(disabled.data!.disableChannelAccount).toEqual({ id: ids.accCard, status: 'DISABLED' });
    const refused = await h.billing(RUN, { input: cardCharge(serial()) });
    expect(codes(refused)).toEqual(['BAD_USER_INPUT']);
    await provision(h, ids.card, card.credentials);
    expect(
      (await h.billing(RUN, { input: cardCharge(serial()) })).data!._runProcedure.outcome.kind,
    ).toBe('SUCCEEDED');

    const off = await h.admin(
      `mutation($input: UpdateChannelInput!) { updateChannel(input: $input) { enabled } }`,
      { input: { id: ids.card, enabled: false } },
      OPERATOR,
    );
    expect(off.data!.updateChannel.enabled).toBe(false);
    expect(codes(await h.billing(RUN, { input: cardCharge(serial()) }))).toEqual([
      'BAD_USER_INPUT',
    ]);
    await h.admin(
      `mutation($input: UpdateChannelInput!) { updateChannel(input: $input) { enabled } }`,
      { input: { id: ids.card, enabled: true } },
    );
    expect(
      (await h.billing(RUN, { input: cardCharge(serial()) })).data!._runProcedure.outcome.kind,
    ).toBe('SUCCEEDED');

    const actions = (
      await h.sql<{ action: string; actor_kind: string }>(
        `select action, actor_kind from channels.audit_log where target_id in (?, ?) order by id`,
        [ids.accCard, ids.card],
      )
    ).map((r) => `${r.actor_kind} ${r.action}`);
    expect(actions).toEqual(
      expect.arrayContaining([
        'admin:operator channel_account.disable',
        'admin:owner channel_account.reprovision',
        'admin:operator channel.update',
        'admin:owner channel.create',
      ]),
    );
  });

  it('answers BALANCE from the operator that offers it', async () => {
    const r = await h.billing(RUN, {
      input: {
        reference: serial('BAL'),
        procedure: 'BALANCE',
        merchantId: MERCHANT,
        country: 'GB',
        currency: 'GBP',
        msisdn: '+447700900000',
        amountMinor: '0',
      },
    });
    expect(r.errors).toBeUndefined();
    expect(r.data!._runProcedure).toMatchObject({
      channelCode: 'parlayx-gb',
      outcome: { kind: 'SUCCEEDED', balance: { currency: 'GBP' } },
    });
    expect(BigInt(r.data!._runProcedure.outcome.balance.amountMinor)).toBeGreaterThan(0n);
  });

  it('keeps rows of a day without a partition in the default one and moves them when it is created; drops old days', async () => {
    const day = new Date(Date.now() + 40 * 86_400_000).toISOString().slice(0, 10);
    await h.sql(
      `insert into channels.interaction (at, direction, protocol, operation, reference, serial) values (?::timestamptz, 'OUTBOUND', 'CARD', 'test', 'FUTURE1', 'FUTURE1')`,
      [`${day}T12:00:00Z`],
    );
    const where = async () =>
      (
        await h.sql<{ part: string }>(
          `select tableoid::regclass::text as part from channels.interaction where serial = 'FUTURE1'`,
        )
      )[0]!.part;
    expect(await where()).toBe('channels.interaction_default');
    await h.sql(`select channels.ensure_interaction_partition(?::date)`, [day]);
    expect(await where()).toBe(`channels.interaction_${day.replace(/-/g, '')}`);
    const old = new Date(Date.now() - 400 * 86_400_000).toISOString().slice(0, 10);
    await h.sql(`select channels.ensure_interaction_partition(?::date)`, [old]);
    await h.service.runtime.maintainPartitions();
    const parts = (
      await h.sql<{ relname: string }>(
        `select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = 'channels.interaction'::regclass`,
      )
    ).map((p) => p.relname);
    expect(parts).not.toContain(`interaction_${old.replace(/-/g, '')}`);
    expect(parts).toContain(
      `interaction_${new Date(Date.now() + 7 * 86_400_000).toISOString().slice(0, 10).replace(/-/g, '')}`,
    );
  });

  it('reconciles a settlement file: each planted mismatch recorded, an unknown run resolved, idempotent by file', async () => {
    const gb = (reference: string, amount = '500') => ({
      reference,
      procedure: 'CHARGE',
      merchantId: MERCHANT,
      channelKind: 'CARRIER_BILLING',
      country: 'GB',
      currency: 'GBP',
      msisdn: '+447700900000',
      amountMinor: amount,
      description: 'Coins',
    });
    const matched = serial('ST');
    const absent = serial('ST');
    const lost = serial('ST');
    const wrongAmount = serial('ST');
    for (const ref of [matched, absent, wrongAmount]) {
      expect((await h.billing(RUN, { input: gb(ref) })).data!._runProcedure.outcome.kind).toBe(
        'SUCCEEDED',
      );
    }
    parlayx.control.setFaults({ hangAfterCommit: 1, hangMs: 800 });
    expect((await h.billing(RUN, { input: gb(lost) })).data!._runProcedure.outcome.kind).toBe(
      'UNKNOWN',
    );
    parlayx.control.setFaults({});

    const day = new Date().toISOString().slice(0, 10);
    const row = (
      merchantReference: string,
      operatorTxnId: string,
      grossAmount: bigint,
    ): SettlementRow => ({
      operatorTxnId,
      merchantReference,
      msisdnOrAcr: '+447700900000',
      operator: '234-30',
      serviceId: 'COINS',
      pricePoint: 'PP500',
      eventTime: new Date(),
      eventType: 'CHARGE',
      status: 'OK',
      grossAmount,
      taxAmount: 0n,
      netAmount: grossAmount,
      currency: 'GBP',
    });
    sftp.control.publishDay(
      day,
      [row(matched, 'OP-1', 500n), row(lost, 'OP-2', 500n), row(wrongAmount, 'OP-3', 499n)],
      {
        faults: { duplicateRows: [0], unknownTransaction: { currency: 'GBP' } },
      },
    );

    const RUN_SETTLEMENT = `mutation($c: ID!, $d: String!) { runSettlement(channelId: $c, date: $d) { date files { name alreadyProcessed rows matched mismatches resolved } } }`;
    const first = await h.admin(RUN_SETTLEMENT, { c: ids.parlayx, d: day });
    expect(first.errors).toBeUndefined();
    expect(first.data!.runSettlement.files).toEqual([
      expect.objectContaining({ alreadyProcessed: false, matched: 1, resolved: 1, mismatches: 4 }),
    ]);
    const mismatches = await h.admin(
      `query($c: ID) { settlementMismatches(channelId: $c) { kind reason reference fileName ourAmount { amountMinor } theirAmount { amountMinor } } }`,
      { c: ids.parlayx },
    );
    const found = mismatches.data!.settlementMismatches.map(
      (m: { kind: string; reason: string | null; reference: string | null }) => [
        m.kind,
        m.reason,
        m.reference,
      ],
    );
    expect(found).toEqual(
      expect.arrayContaining([
        ['amount_mismatch', null, wrongAmount],
        ['missing_on_their_side', 'absent', absent],
        ['missing_on_our_side', 'unknown-reference', expect.stringMatching(/^NOT-OURS/)],
        ['duplicate_row', 'identical', matched],
      ]),
    );
    expect(found).toHaveLength(4);
    const resolved = await h.billing(
      `query($r: String!) { _procedureRun(reference: $r) { outcome { kind final providerRef } } }`,
      { r: lost },
    );
    expect(resolved.data!._procedureRun.outcome).toEqual({
      kind: 'SUCCEEDED',
      final: true,
      providerRef: expect.any(String),
    });
    expect(parlayx.control.chargeCount(lost)).toBe(1);

    const second = await h.admin(RUN_SETTLEMENT, { c: ids.parlayx, d: day });
    expect(second.data!.runSettlement.files).toEqual([
      expect.objectContaining({ alreadyProcessed: true }),
    ]);
    const again = await h.admin(`query($c: ID) { settlementMismatches(channelId: $c) { id } }`, {
      c: ids.parlayx,
    });
    expect(again.data!.settlementMismatches).toHaveLength(4);
  });
});
