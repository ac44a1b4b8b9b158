import type { Knex } from '@mikro-orm/postgresql';
import { newId, query, type EntityManager, type MikroORM } from '@coinslot/kernel';
import type { Logger } from 'pino';
import { CodeCodec, serialNumber } from '../../codes/format';
import type { CodeHasher, Vault } from '../../codes/crypto';
import { batchFormat, type BatchRow } from '../../rows';

export interface GenerationDeps {
  orm: MikroORM;
  hasher: CodeHasher;
  vault: Vault;
  chunkSize: number;
  log?: Logger;
  /** Replaces the CSPRNG (tests force collisions with it). */
  codes?: (codec: CodeCodec, count: number) => string[];
}

interface Chunk {
  start: number;
  ids: string[];
  runnings: number[];
  serials: string[];
  codes: string[];
  hashes: string[];
}

const yieldToIo = () => new Promise<void>((resolve) => setImmediate(resolve));
const SLICE = 2_000;

/**
 * Generates a batch's cards in chunks, resumably: each chunk is one transaction (a multi-row
 * insert from unnest arrays, one sealed vault entry, the batch's generatedCount), so a crash
 * loses at most the chunk in flight and the job picks up at generatedCount. The next chunk is
 * built while PostgreSQL writes the current one.
 */
export async function generateBatch(
  deps: GenerationDeps,
  batchId: string,
): Promise<'done' | 'stopped'> {
  const [batch] = await query<BatchRow>(
    deps.orm.em.fork(),
    `select * from scratch_cards.batch where id = ?`,
    [batchId],
  );
  if (!batch || batch.status !== 'GENERATING') return 'stopped';
  const codec = new CodeCodec(batchFormat(batch));
  const make = deps.codes ?? ((c: CodeCodec, n: number) => c.generate(n));
  const build = async (start: number): Promise<Chunk> => {
    const n = Math.min(deps.chunkSize, batch.count - start);
    const chunk: Chunk = { start, ids: [], runnings: [], serials: [], codes: [], hashes: [] };
    const number = Number(batch.number);
    for (let s = 0; s < n; s += SLICE) {
      const m = Math.min(SLICE, n - s);
      const codes = make(codec, m);
      for (let i = 0; i < m; i += 1) {
        const running = start + s + i + 1;
        chunk.ids.push(newId());
        chunk.runnings.push(running);
        chunk.serials.push(serialNumber(batch.serial_prefix, number, running, batch.running_width));
        chunk.codes.push(codes[i]!);
        chunk.hashes.push(deps.hasher.hashHex(codes[i]!));
      }
      await yieldToIo();
    }
    return chunk;
  };

  let start = batch.generated_count;
  let current = start < batch.count ? await build(start) : null;
  if (!current) return (await finish(deps, batch)) ? 'done' : 'stopped';
  while (current) {
    const end: number = current.start + current.runnings.length;
    // Both settle before anything is decided: a failed build never leaves a write running.
    const [w, b] = await Promise.allSettled([
      writeChunk(deps, batch, codec, make, current),
      end < batch.count ? build(end) : Promise.resolve(null),
    ]);
    if (w.status === 'rejected') throw w.reason;
    if (b.status === 'rejected') throw b.reason;
    const written = w.value;
    const next = b.value;
    if (written === 'stopped') return 'stopped';
    if (written === 'moved') {
      // Another runner got there first (a retried job): continue from the stored progress.
      const [now] = await query<BatchRow>(
        deps.orm.em.fork(),
        `select * from scratch_cards.batch where id = ?`,
        [batchId],
      );
      if (!now || now.status !== 'GENERATING') return 'stopped';
      start = now.generated_count;
      current = start < batch.count ? await build(start) : null;
      continue;
    }
    deps.log?.debug(
      { batchId, generated: end, count: batch.count },
      'scratch-card chunk generated',
    );
    current = next;
  }
  return 'done';
}

async function finish(deps: GenerationDeps, batch: BatchRow): Promise<boolean> {
  const rows = await query(
    deps.orm.em.fork(),
    `update scratch_cards.batch set status = 'PENDING_APPROVAL', generated_at = now()
      where id = ? and status = 'GENERATING' and generated_count = count returning id`,
    [batch.id],
  );
  return rows.length === 1;
}

/**
 * The bulk statements go to the driver with bind parameters (the kernel's query() inlines values
 * into the SQL text, which for a 10,000-row chunk means megabytes of string copies per statement).
 */
async function bulk<T>(em: EntityManager, sql: string, params: unknown[]): Promise<T[]> {
  const knex =
    (em.getTransactionContext() as Knex.Transaction | undefined) ?? em.getConnection().getKnex();
  const result = (await knex.raw(sql, params as Knex.RawBinding[])) as { rows: T[] };
  return result.rows;
}

/**
 * A PostgreSQL array literal of tokens that need no quoting (uuids, numbers, serial numbers, hex):
 * one string per column and chunk, without per-element copies.
 */
function arrayLiteral(values: readonly (string | number)[]): string {
  return `{${values.join(',')}}`;
}

async function insertCards(
  em: EntityManager,
  batch: BatchRow,
  chunk: Chunk,
  only?: Set<number>,
): Promise<number> {
  const pick = <T>(xs: T[]) => (only ? xs.filter((_, i) => only.has(i)) : xs);
  const [row] = await bulk<{ n: number }>(
    em,
    `with ins as (
       insert into scratch_cards.card (id, batch_id, merchant_id, running, serial_number, code_hash, for_sale)
       select u.id, ?::uuid, ?::uuid, u.running, u.serial, decode(u.hash, 'hex'), ?::boolean
         from unnest(?::uuid[], ?::int[], ?::text[], ?::text[]) as u(id, running, serial, hash)
       on conflict do nothing
       returning 1)
     select count(*)::int as n from ins`,
    [
      batch.id,
      batch.merchant_id,
      batch.kind === 'VIRTUAL',
      arrayLiteral(pick(chunk.ids)),
      arrayLiteral(pick(chunk.runnings)),
      arrayLiteral(pick(chunk.serials)),
      arrayLiteral(pick(chunk.hashes)),
    ],
  );
  return row!.n;
}

async function writeChunk(
  deps: GenerationDeps,
  batch: BatchRow,
  codec: CodeCodec,
  make: (codec: CodeCodec, n: number) => string[],
  chunk: Chunk,
): Promise<'written' | 'stopped' | 'moved'> {
  const n = chunk.runnings.length;
  const end = chunk.start + n;
  return deps.orm.em.fork().transactional(async (em) => {
    const [locked] = await query<{ status: string; generated_count: number }>(
      em,
      `select status, generated_count from scratch_cards.batch where id = ? for update`,
      [batch.id],
    );
    if (!locked || locked.status !== 'GENERATING') return 'stopped';
    if (locked.generated_count !== chunk.start) return 'moved';
    let inserted = await insertCards(em, batch, chunk);
    // A code whose hash is already taken (system-wide) was skipped: draw new ones for those.
    for (let round = 0; inserted < n; round += 1) {
      if (round >= 10)
        throw new Error(`could not place ${n - inserted} unique codes in batch ${batch.id}`);
      const present = await query<{ running: number }>(
        em,
        `select running from scratch_cards.card where batch_id = ? and running between ? and ?`,
        [batch.id, chunk.start + 1, end],
      );
      const have = new Set(present.map((r) => r.running));
      const missing = new Set<number>();
      chunk.runnings.forEach((running, i) => {
        if (!have.has(running)) missing.add(i);
      });
      const fresh = make(codec, missing.size);
      let k = 0;
      for (const i of missing) {
        chunk.codes[i] = fresh[k]!;
        chunk.hashes[i] = deps.hasher.hashHex(fresh[k]!);
        k += 1;
      }
      deps.log?.info(
        { batchId: batch.id, collisions: missing.size },
        'activation-code collisions regenerated',
      );
      inserted += await insertCards(em, batch, chunk, missing);
    }
    const sealed = deps.vault.seal(batch.id, chunk.start + 1, chunk.codes);
    await bulk(
      em,
      `insert into scratch_cards.card_vault (batch_id, first_running, card_count, iv, tag, ciphertext) values (?, ?, ?, ?, ?, ?)`,
      [batch.id, chunk.start + 1, n, sealed.iv, sealed.tag, sealed.ciphertext],
    );
    await query(
      em,
      `update scratch_cards.batch
          set generated_count = ?,
              status = case when ? = count then 'PENDING_APPROVAL' else status end,
              generated_at = case when ? = count then now() else generated_at end
        where id = ?`,
      [end, end, end, batch.id],
    );
    // Drop the clear codes from memory as soon as they are sealed.
    chunk.codes.length = 0;
    return 'written';
  });
}
