import { createHash, randomBytes } from 'node:crypto';
import type { Writable } from 'node:stream';
import { stringify } from 'csv-stringify';
import {
  conflict,
  isUuid,
  notFound,
  query,
  recordAudit,
  type EntityManager,
  type MikroORM,
  type Principal,
} from '@coinslot/kernel';
import { CodeCodec, serialNumber } from '../../codes/format';
import type { Vault } from '../../codes/crypto';
import { SCHEMA } from '../../database';
import { batchFormat, type BatchRow } from '../../rows';

export const CSV_HEADER = ['serialNumber', 'activationCode'] as const;

const hashToken = (token: string) => createHash('sha256').update(token).digest();

/** Why an approved physical batch cannot be exported now (or null when it can). */
function exportBlocker(b: BatchRow): string | null {
  if (b.kind !== 'PHYSICAL')
    return 'Only physical batches are exported; virtual cards are issued one by one on payment.';
  if (b.status !== 'APPROVED')
    return `Only an approved batch can be exported; this one is ${b.status}.`;
  if (b.exported_at || b.vault_erased_at)
    return 'The batch has already been exported: its activation codes are erased and cannot be exported again.';
  return null;
}

export class ExportService {
  /** A single-use download link; an earlier unused link of the batch stops working. */
  async mint(
    em: EntityManager,
    principal: Principal,
    batchId: string,
    ttlSeconds: number,
  ): Promise<{ token: string; expiresAt: Date; count: number }> {
    if (!isUuid(batchId)) throw notFound('Scratch card batch');
    return em.transactional(async (tx) => {
      const [b] = await query<BatchRow>(
        tx,
        `select * from scratch_cards.batch where id = ? for update`,
        [batchId],
      );
      if (!b) throw notFound('Scratch card batch');
      const blocked = exportBlocker(b);
      if (blocked) throw conflict(blocked);
      const token = randomBytes(32).toString('base64url');
      const expiresAt = new Date(Date.now() + ttlSeconds * 1000);
      await query(
        tx,
        `update scratch_cards.export_token set revoked_at = now() where batch_id = ? and used_at is null and revoked_at is null`,
        [batchId],
      );
      await query(
        tx,
        `insert into scratch_cards.export_token (token_hash, batch_id, created_by, expires_at) values (?, ?, ?, ?)`,
        [
          hashToken(token),
          batchId,
          principal.kind === 'admin' ? principal.adminId : principal.kind,
          expiresAt.toISOString(),
        ],
      );
      const [printable] = await query<{ n: number }>(
        tx,
        `select count(*)::int as n from scratch_cards.card where batch_id = ? and status not in ('VOIDED', 'EXPIRED')`,
        [batchId],
      );
      await recordAudit(tx, SCHEMA, principal, {
        action: 'batch.export.link',
        targetType: 'ScratchCardBatch',
        targetId: batchId,
        outcome: 'succeeded',
        details: { expiresAt: expiresAt.toISOString() },
      });
      return { token, expiresAt, count: printable!.n };
    });
  }

  /**
   * Redeems a download token: marks it used (single use) and returns its batch, or why not:
   * 'unknown' (never issued) or 'gone' (used, expired, revoked, or the batch moved on).
   */
  async redeemToken(
    em: EntityManager,
    token: string,
  ): Promise<{ batch: BatchRow } | { error: 'unknown' | 'gone' }> {
    if (!/^[A-Za-z0-9_-]{20,100}$/.test(token)) return { error: 'unknown' };
    const hash = hashToken(token);
    const [used] = await query<{ batch_id: string }>(
      em,
      `update scratch_cards.export_token set used_at = now()
        where token_hash = ? and used_at is null and revoked_at is null and expires_at > now()
        returning batch_id`,
      [hash],
    );
    if (!used) {
      const [exists] = await query(
        em,
        `select 1 from scratch_cards.export_token where token_hash = ?`,
        [hash],
      );
      return { error: exists ? 'gone' : 'unknown' };
    }
    const [b] = await query<BatchRow>(em, `select * from scratch_cards.batch where id = ?`, [
      used.batch_id,
    ]);
    if (!b || exportBlocker(b)) return { error: 'gone' };
    return { batch: b };
  }
}

export const exportsService = new ExportService();

export interface WriteCsvOptions {
  orm: MikroORM;
  vault: Vault;
  batch: BatchRow;
  out: Writable;
  principal: Principal;
  /** Called after each chunk with the number of cards written so far. */
  onProgress?: (written: number) => void;
  via: 'http' | 'cli';
  /** Runs once the whole CSV is in `out` and before the codes are erased (the CLI flushes its file). */
  beforeErase?: () => Promise<void>;
}

/**
 * Writes the printing CSV (`serialNumber,activationCode`, codes grouped as printed) chunk by
 * chunk from the vault, then erases the batch's clear codes and marks it exported — before the
 * stream is ended, so a reader who got the whole file knows the codes are gone. If writing fails
 * half-way, nothing is erased and a new export link can be made. Voided and expired cards are
 * left out. Does not end `out` (unless `beforeErase` does).
 */
export async function writeBatchCsv(options: WriteCsvOptions): Promise<number> {
  const { orm, vault, batch, out } = options;
  const em = orm.em.fork();
  const codec = new CodeCodec(batchFormat(batch));
  const skipped = new Set(
    (
      await query<{ running: number }>(
        em,
        `select running from scratch_cards.card where batch_id = ? and status in ('VOIDED', 'EXPIRED')`,
        [batch.id],
      )
    ).map((r) => r.running),
  );
  const chunks = await query<{ first_running: number }>(
    em,
    `select first_running from scratch_cards.card_vault where batch_id = ? order by first_running`,
    [batch.id],
  );
  const csv = stringify({ header: true, columns: [...CSV_HEADER] });
  let done = false;
  // Rejects when the reader goes away (or the file fails) before the whole CSV is written.
  const aborted = new Promise<never>((_, reject) => {
    csv.on('error', reject);
    out.on('error', reject);
    out.once('close', () => {
      if (!done) reject(new Error('the export stream closed before the end'));
    });
  });
  aborted.catch(() => undefined);
  const finished = Promise.race([new Promise<void>((resolve) => csv.on('end', resolve)), aborted]);
  csv.pipe(out, { end: false });
  const number = Number(batch.number);
  let written = 0;
  const write = (record: [string, string]) =>
    csv.write(record)
      ? Promise.resolve()
      : Promise.race([new Promise<void>((resolve) => csv.once('drain', () => resolve())), aborted]);
  for (const { first_running } of chunks) {
    const [sealed] = await query<{ iv: Buffer; tag: Buffer; ciphertext: Buffer }>(
      em,
      `select iv, tag, ciphertext from scratch_cards.card_vault where batch_id = ? and first_running = ?`,
      [batch.id, first_running],
    );
    if (!sealed)
      throw new Error(`vault chunk ${first_running} of batch ${batch.id} vanished during export`);
    const codes = vault.open(batch.id, first_running, batch.code_length, sealed);
    for (let i = 0; i < codes.length; i += 1) {
      const running = first_running + i;
      if (skipped.has(running)) continue;
      await write([
        serialNumber(batch.serial_prefix, number, running, batch.running_width),
        codec.printable(codes[i]!),
      ]);
      written += 1;
    }
    codes.length = 0;
    options.onProgress?.(written);
  }
  csv.end();
  await finished;
  // Everything is in `out`'s buffer; from here a close is the caller's normal end.
  done = true;
  await options.beforeErase?.();
  await em.fork().transactional(async (tx) => {
    await query(tx, `delete from scratch_cards.card_vault where batch_id = ?`, [batch.id]);
    await query(
      tx,
      `update scratch_cards.batch set exported_at = now(), vault_erased_at = now() where id = ?`,
      [batch.id],
    );
    await query(
      tx,
      `update scratch_cards.export_token set revoked_at = now() where batch_id = ? and used_at is null and revoked_at is null`,
      [batch.id],
    );
    await recordAudit(tx, SCHEMA, options.principal, {
      action: 'batch.export.download',
      targetType: 'ScratchCardBatch',
      targetId: batch.id,
      outcome: 'succeeded',
      details: { cards: written, via: options.via },
    });
  });
  return written;
}

/** For the CLI: the same checks as the export link. */
export function assertExportable(b: BatchRow | null): asserts b is BatchRow {
  if (!b) throw notFound('Scratch card batch');
  const blocked = exportBlocker(b);
  if (blocked) throw conflict(blocked);
}
