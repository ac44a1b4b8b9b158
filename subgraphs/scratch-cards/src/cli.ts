/**
 * `npm run cards -- export <batchId> [--out file]`: writes the printing CSV of an approved
 * physical batch (serialNumber,activationCode) with a progress bar, marks the batch exported
 * and erases its clear codes — the same effect as downloading its export link. Reads the
 * service's environment (DATABASE_URL, CARD_VAULT_KEY, INTERNAL_CONTEXT_SECRET).
 */
import fs from 'node:fs';
import os from 'node:os';
import { SingleBar, Presets } from 'cli-progress';
import { query } from '@coinslot/kernel';
import { cardKeys, loadServiceConfig } from './config';
import { Vault } from './codes/crypto';
import { openServiceDatabase } from './database';
import { assertExportable, writeBatchCsv } from './modules/export/export.service';
import type { BatchRow } from './rows';

const USAGE = 'usage: npm run cards -- export <batchId> [--out file.csv]';

async function exportCommand(args: string[]): Promise<void> {
  const batchId = args[0];
  if (!batchId || batchId.startsWith('-')) throw new Error(USAGE);
  const outIndex = args.indexOf('--out');
  const outFile = outIndex >= 0 ? args[outIndex + 1] : `scratch-cards-${batchId}.csv`;
  if (!outFile) throw new Error(USAGE);

  // The service's own environment: DATABASE_URL, CARD_VAULT_KEY (INTERNAL_CONTEXT_SECRET for the dev fallback).
  const config = loadServiceConfig();
  const vault = new Vault(cardKeys(config).vaultKey);
  const orm = await openServiceDatabase(config.DATABASE_URL, 2);
  let tmp: string | null = null;
  try {
    const [batch] = await query<BatchRow>(
      orm.em.fork(),
      `select * from scratch_cards.batch where id = ?`,
      [batchId],
    );
    assertExportable(batch ?? null);
    // Written next to the target and renamed at the end, so a half-written file never looks complete.
    tmp = `${outFile}.partial`;
    const out = fs.createWriteStream(tmp, { flags: 'wx', mode: 0o600 });
    await new Promise<void>((resolve, reject) =>
      out.once('open', () => resolve()).once('error', reject),
    );
    const bar = new SingleBar(
      { format: 'exporting [{bar}] {percentage}% | {value}/{total} cards | ETA {eta}s' },
      Presets.shades_classic,
    );
    bar.start(batch!.count, 0);
    const partial = tmp;
    const written = await writeBatchCsv({
      orm,
      vault,
      batch: batch!,
      out,
      principal: { kind: 'service', service: `scratch-cards-cli:${os.userInfo().username}` },
      onProgress: (n) => bar.update(n),
      via: 'cli',
      // The file is complete and on disk before the codes are erased from the database.
      beforeErase: async () => {
        await new Promise<void>((resolve, reject) =>
          out.end((err?: Error | null) => (err ? reject(err) : resolve())),
        );
        const fd = fs.openSync(partial, 'r');
        try {
          fs.fsyncSync(fd);
        } finally {
          fs.closeSync(fd);
        }
        fs.renameSync(partial, outFile);
        tmp = null;
      },
    });
    bar.update(written);
    bar.stop();
    console.log(
      `${written} cards written to ${outFile}; the batch is marked exported and its clear codes are erased.`,
    );
  } finally {
    if (tmp) fs.rmSync(tmp, { force: true });
    await orm.close(true);
  }
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'export':
      return exportCommand(rest);
    default:
      throw new Error(USAGE);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
