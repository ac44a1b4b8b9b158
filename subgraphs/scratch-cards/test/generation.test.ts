import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createTestDatabase } from '@coinslot/testing';
import { newId, query, type MikroORM } from '@coinslot/kernel';
import { openServiceDatabase } from '../src/database';
import { CodeHasher, Vault } from '../src/codes/crypto';
import { CodeCodec, DEFAULT_FORMAT } from '../src/codes/format';
import { batches } from '../src/modules/batch/batch.service';
import { generateBatch, type GenerationDeps } from '../src/modules/batch/generation';
import { ScratchCardKind } from '../src/types';
import type { BatchRow } from '../src/rows';

describe('scratch-cards: batch generation (real PostgreSQL)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let orm: MikroORM;
  const codeKey = randomBytes(32);
  const vaultKey = randomBytes(32);
  const hasher = new CodeHasher(codeKey);
  const vault = new Vault(vaultKey);
  const admin = { kind: 'admin' as const, adminId: newId(), role: 'operator' as const };
  const merchantId = newId();

  beforeAll(async () => {
    db = await createTestDatabase();
    orm = await openServiceDatabase(db.url, 6);
  });
  afterAll(async () => {
    await orm?.close(true);
    await db?.drop();
  });

  const create = (count: number, kind = ScratchCardKind.PHYSICAL) =>
    batches.create(
      orm.em.fork(),
      admin,
      {
        merchantId,
        kind,
        count,
        value: { kind: 'wallet', amount: 100n, currency: 'GEMS' },
        expiresAt: null,
      },
      DEFAULT_FORMAT,
    );
  const deps = (extra: Partial<GenerationDeps> = {}): GenerationDeps => ({
    orm,
    hasher,
    vault,
    chunkSize: 2_500,
    ...extra,
  });
  const load = async (id: string) =>
    (
      await query<BatchRow>(orm.em.fork(), `select * from scratch_cards.batch where id = ?`, [id])
    )[0]!;

  it('generates 20,000 cards in chunks, reporting progress, all serials and code hashes unique', async () => {
    const batch = await create(20_000);
    expect(batch.status).toBe('GENERATING');
    const seen = new Set<number>();
    let polling = true;
    const poll = (async () => {
      while (polling) {
        seen.add((await load(batch.id)).generated_count);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await expect(generateBatch(deps(), batch.id)).resolves.toBe('done');
    polling = false;
    await poll;
    const after = await load(batch.id);
    expect(after).toMatchObject({ status: 'PENDING_APPROVAL', generated_count: 20_000 });
    expect(after.generated_at).not.toBeNull();
    // Progress moved through intermediate chunk boundaries, never past the count.
    const intermediate = [...seen].filter((n) => n > 0 && n < 20_000);
    expect(intermediate.length).toBeGreaterThan(0);
    for (const n of intermediate) expect(n % 2_500).toBe(0);

    const [stats] = await query<{
      n: number;
      serials: number;
      hashes: number;
      inactive: number;
      min: number;
      max: number;
    }>(
      orm.em.fork(),
      `select count(*)::int as n, count(distinct serial_number)::int as serials, count(distinct code_hash)::int as hashes,
              count(*) filter (where status = 'INACTIVE')::int as inactive, min(running) as min, max(running) as max
         from scratch_cards.card where batch_id = ?`,
      [batch.id],
    );
    expect(stats).toEqual({
      n: 20_000,
      serials: 20_000,
      hashes: 20_000,
      inactive: 20_000,
      min: 1,
      max: 20_000,
    });

    // The vault holds exactly the codes whose hashes are stored, one sealed entry per chunk.
    const chunks = await query<{
      first_running: number;
      card_count: number;
      iv: Buffer;
      tag: Buffer;
      ciphertext: Buffer;
    }>(
      orm.em.fork(),
      `select * from scratch_cards.card_vault where batch_id = ? order by first_running`,
      [batch.id],
    );
    expect(chunks.map((c) => c.first_running)).toEqual([
      1, 2501, 5001, 7501, 10001, 12501, 15001, 17501,
    ]);
    const codes = chunks.flatMap((c) => vault.open(batch.id, c.first_running, 16, c));
    expect(codes).toHaveLength(20_000);
    const codec = new CodeCodec(DEFAULT_FORMAT);
    expect(codes.every((c) => codec.isWellFormed(c))).toBe(true);
    const sample = codes.slice(0, 50).map((c) => hasher.hash(c));
    const found = await query<{ running: number; code_hash: Buffer }>(
      orm.em.fork(),
      `select running, code_hash from scratch_cards.card where batch_id = ? and running <= 50 order by running`,
      [batch.id],
    );
    expect(found.map((f) => f.code_hash.toString('hex'))).toEqual(
      sample.map((h) => h.toString('hex')),
    );
  });

  it('draws new codes when a code is already taken anywhere in the system', async () => {
    const first = await create(10);
    await generateBatch(deps(), first.id);
    const [chunk] = await query<{ iv: Buffer; tag: Buffer; ciphertext: Buffer }>(
      orm.em.fork(),
      `select * from scratch_cards.card_vault where batch_id = ?`,
      [first.id],
    );
    const taken = vault.open(first.id, 1, 16, chunk!);
    // A code source that first repeats codes of the other batch (and itself), then behaves.
    let calls = 0;
    const codes = (codec: CodeCodec, n: number) => {
      calls += 1;
      if (calls === 1)
        return Array.from({ length: n }, (_, i) =>
          i < 3 ? taken[i]! : i < 6 ? taken[0]! : codec.generate(1)[0]!,
        );
      return codec.generate(n);
    };
    const second = await create(10);
    await expect(generateBatch(deps({ codes }), second.id)).resolves.toBe('done');
    expect(calls).toBeGreaterThan(1);
    const [stats] = await query<{ n: number; dup: number }>(
      orm.em.fork(),
      `select count(*)::int as n,
              (select count(*)::int from scratch_cards.card c2 where c2.batch_id = ? and c2.code_hash in
                 (select code_hash from scratch_cards.card where batch_id = ?)) as dup
         from scratch_cards.card where batch_id = ?`,
      [second.id, first.id, second.id],
    );
    expect(stats).toEqual({ n: 10, dup: 0 });
    const [sealed] = await query<{ iv: Buffer; tag: Buffer; ciphertext: Buffer }>(
      orm.em.fork(),
      `select * from scratch_cards.card_vault where batch_id = ?`,
      [second.id],
    );
    const stored = await query<{ code_hash: Buffer }>(
      orm.em.fork(),
      `select code_hash from scratch_cards.card where batch_id = ? order by running`,
      [second.id],
    );
    // The vault has the replacement codes, not the colliding ones.
    expect(
      vault.open(second.id, 1, 16, sealed!).map((c) => hasher.hash(c).toString('hex')),
    ).toEqual(stored.map((s) => s.code_hash.toString('hex')));
  });

  it('resumes from generatedCount after a crash, and stops when the batch is voided', async () => {
    const batch = await create(5_000);
    // A first run that "dies" after one chunk: a code source that throws on its second call.
    let calls = 0;
    const dying = (codec: CodeCodec, n: number) => {
      calls += 1;
      if (calls > 2) throw new Error('process died');
      return codec.generate(n);
    };
    await expect(generateBatch(deps({ codes: dying }), batch.id)).rejects.toThrow('process died');
    const partial = await load(batch.id);
    expect(partial.status).toBe('GENERATING');
    expect(partial.generated_count % 2_500).toBe(0);
    await expect(generateBatch(deps(), batch.id)).resolves.toBe('done');
    expect(await load(batch.id)).toMatchObject({
      status: 'PENDING_APPROVAL',
      generated_count: 5_000,
    });

    const voided = await create(5_000);
    await batches.void(orm.em.fork(), admin, voided.id);
    await expect(generateBatch(deps(), voided.id)).resolves.toBe('stopped');
    expect((await load(voided.id)).generated_count).toBe(0);
  });

  it('exports with the CLI: the CSV with its header, the batch marked exported, the clear codes erased', async () => {
    const batch = await create(1_200);
    await generateBatch(deps({ chunkSize: 500 }), batch.id);
    const expected = (
      await query<{ first_running: number; iv: Buffer; tag: Buffer; ciphertext: Buffer }>(
        orm.em.fork(),
        `select * from scratch_cards.card_vault where batch_id = ? order by first_running`,
        [batch.id],
      )
    ).flatMap((c) => vault.open(batch.id, c.first_running, 16, c));
    await query(
      orm.em.fork(),
      `update scratch_cards.batch set status = 'APPROVED', approved_by = ?, approved_at = now() where id = ?`,
      [newId(), batch.id],
    );
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cards-cli-'));
    const out = path.join(dir, 'batch.csv');
    const run = (args: string[]) =>
      promisify(execFile)(
        process.execPath,
        ['--import', 'tsx', 'subgraphs/scratch-cards/src/cli.ts', ...args],
        {
          cwd: path.join(__dirname, '..', '..', '..'),
          env: {
            PATH: process.env.PATH,
            DATABASE_URL: db.url,
            INTERNAL_CONTEXT_SECRET: 'cli-test-internal-context-secret-0123456789',
            CARD_VAULT_KEY: vaultKey.toString('base64'),
            CARD_CODE_KEY: codeKey.toString('base64'),
            LOG_LEVEL: 'silent',
          },
        },
      );
    try {
      const { stdout } = await run(['export', batch.id, '--out', out]);
      expect(stdout).toMatch(/1200 cards written/);
      const lines = fs.readFileSync(out, 'utf8').trim().split('\n');
      expect(lines[0]).toBe('serialNumber,activationCode');
      expect(lines).toHaveLength(1_201);
      const codec = new CodeCodec(DEFAULT_FORMAT);
      expect(lines.slice(1).map((l) => codec.normalise(l.split(',')[1]!))).toEqual(expected);
      const after = await load(batch.id);
      expect(after.exported_at).not.toBeNull();
      const [left] = await query<{ n: number }>(
        orm.em.fork(),
        `select count(*)::int as n from scratch_cards.card_vault where batch_id = ?`,
        [batch.id],
      );
      expect(left!.n).toBe(0);
      await expect(
        run(['export', batch.id, '--out', path.join(dir, 'again.csv')]),
      ).rejects.toMatchObject({ stderr: expect.stringMatching(/already been exported/) });
      await expect(run(['export'])).rejects.toMatchObject({
        stderr: expect.stringMatching(/usage/),
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
