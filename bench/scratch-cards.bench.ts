/**
 * `npx tsx bench/scratch-cards.bench.ts`: scratch cards at scale, on the real processes of
 * `npm start` (production mode, embedded PostgreSQL, throw-away state).
 *
 * 1. Generation: an operator orders a batch of BENCH_CARDS (default 1,000,000) through the
 *    gateway; the scratch-cards service generates it in its job runner. Reports the time to
 *    PENDING_APPROVAL and the peak RSS of the scratch-cards process (goal: < 60 s, < 300 MB).
 * 2. Approval (all cards INACTIVE → ACTIVE) and the export download (the fresh codes).
 * 3. Activations through the gateway with the portal key, each request a fresh code (goal:
 *    ≥ 1,000/s, p99 < 100 ms), then straight to the subgraph for comparison.
 * Prints the figures and appends them to docs/benchmarks.md (BENCH_WRITE=0 to skip).
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  signInternalContext,
  INTERNAL_CONTEXT_HEADER,
  query,
  type MikroORM,
} from '@coinslot/kernel';
import { openServiceDatabase } from '../subgraphs/scratch-cards/src/database';
import { DEFAULT_CHUNK_SIZE } from '../subgraphs/scratch-cards/src/config';
import { launch } from './lib/launch';
import { drive, machine, table, type LoadResult } from './lib/load';
import { cpuPercent, cpuTicks, pidOf, profileDuring, summarise } from './lib/procs';

const CARDS = Number(process.env.BENCH_CARDS ?? 1_000_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const PLAYERS = Number(process.env.BENCH_PLAYERS ?? 500);

const CREATE = `mutation ($input: CreateScratchCardBatchInput!) { createScratchCardBatch(input: $input) { batch { id status } } }`;
const BATCH = `query ($id: ID!) { scratchCardBatch(id: $id) { status generatedCount } }`;
const APPROVE = `mutation ($id: ID!) { approveScratchCardBatch(id: $id) { batch { status } } }`;
const EXPORT = `mutation ($id: ID!) { exportScratchCardBatch(id: $id) { url count } }`;
const REGISTER = `mutation ($input: RegisterPlayerInput!) { registerPlayer(input: $input) { player { id } } }`;
const ACTIVATE = `mutation ($input: ActivateScratchCardInput!) { activateScratchCard(input: $input) { card { serialNumber status } walletCredit { amountMinor currency } delivered } }`;

async function gql<T>(
  url: string,
  query: string,
  variables: Record<string, unknown>,
  key: string,
): Promise<T> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: T; errors?: { message: string }[] };
  if (body.errors?.length) throw new Error(`${query.slice(0, 40)}…: ${body.errors[0]!.message}`);
  return body.data!;
}

/** The scratch-cards process of this launch: its pid, found by entry point and port. */
function scratchCardsPid(port: number): number {
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (!cmd.includes('subgraphs/scratch-cards/src/main.ts')) continue;
      const env = fs.readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (env.includes(`PORT=${port}`)) return Number(entry);
    } catch {
      // gone or not ours
    }
  }
  throw new Error('scratch-cards process not found');
}

function memoryOf(pid: number): { rssMb: number; hwmMb: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rssMb: Math.round(kb('VmRSS') / 1024), hwmMb: Math.round(kb('VmHWM') / 1024) };
}

async function main(): Promise<void> {
  const stack = await launch(Number(process.env.BENCH_BASE_PORT ?? 4700));
  let orm: MikroORM | undefined;
  try {
    const gw = `http://127.0.0.1:${stack.ports.gateway}/graphql`;
    const { adminApiKey, ownerApiKey, portalApiKey } = stack.demo;
    const pid = scratchCardsPid(stack.ports.scratch_cards!);
    const baseline = memoryOf(pid);
    orm = await openServiceDatabase(
      `postgres://coinslot:coinslot@127.0.0.1:${stack.ports.embedded_pg}/coinslot`,
      2,
    );

    // 1. Generation in the service's job runner.
    console.log(`generating ${CARDS.toLocaleString('en')} cards…`);
    let peakRss = baseline.rssMb;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, memoryOf(pid).rssMb);
    }, 100);
    const t0 = performance.now();
    const created = await gql<{ createScratchCardBatch: { batch: { id: string } } }>(
      gw,
      CREATE,
      {
        input: {
          count: CARDS,
          kind: 'PHYSICAL',
          walletCredit: { amountMinor: '100', currency: 'GEMS' },
        },
      },
      adminApiKey,
    );
    const batchId = created.createScratchCardBatch.batch.id;
    for (;;) {
      const b = await gql<{ scratchCardBatch: { status: string; generatedCount: number } }>(
        gw,
        BATCH,
        { id: batchId },
        adminApiKey,
      );
      if (b.scratchCardBatch.status === 'PENDING_APPROVAL') break;
      if (performance.now() - t0 > 600_000)
        throw new Error(`generation too slow: ${b.scratchCardBatch.generatedCount}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const generationS = (performance.now() - t0) / 1000;
    clearInterval(sampler);
    const generationMem = memoryOf(pid);
    console.log(
      `generated in ${generationS.toFixed(1)} s; scratch-cards RSS ${baseline.rssMb} MB before, peak ${Math.max(peakRss, generationMem.hwmMb)} MB (VmHWM)`,
    );

    // 2. Approval and export.
    let t = performance.now();
    await gql(gw, APPROVE, { id: batchId }, ownerApiKey);
    const approveS = (performance.now() - t) / 1000;
    t = performance.now();
    const exp = await gql<{ exportScratchCardBatch: { url: string; count: number } }>(
      gw,
      EXPORT,
      { id: batchId },
      adminApiKey,
    );
    const csv = await (
      await fetch(
        `http://127.0.0.1:${stack.ports.gateway}${new URL(exp.exportScratchCardBatch.url).pathname}`,
      )
    ).text();
    const exportS = (performance.now() - t) / 1000;
    const codes = csv
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.slice(l.indexOf(',') + 1));
    if (codes.length !== CARDS) throw new Error(`export returned ${codes.length} codes`);
    console.log(
      `approved in ${approveS.toFixed(1)} s; exported ${codes.length.toLocaleString('en')} codes in ${exportS.toFixed(1)} s`,
    );

    // 3. Activations.
    const players: string[] = [];
    const run = Date.now().toString(36);
    for (let i = 0; i < PLAYERS; i += 1) {
      const r = await gql<{ registerPlayer: { player: { id: string } } }>(
        gw,
        REGISTER,
        { input: { externalRef: `bench-${run}-${i}`, country: 'FR' } },
        portalApiKey,
      );
      players.push(r.registerPlayer.player.id);
    }
    const merchantId = (
      await gql<{ myMerchant: { id: string } }>(gw, '{ myMerchant { id } }', {}, portalApiKey)
    ).myMerchant.id;
    let next = 0;
    const body = () => {
      const i = next++;
      return JSON.stringify({
        query: ACTIVATE,
        variables: { input: { playerId: players[i % players.length], activationCode: codes[i] } },
      });
    };
    const portal = { authorization: `Bearer ${portalApiKey}` };
    const signed = {
      [INTERNAL_CONTEXT_HEADER]: await signInternalContext(
        { kind: 'portal', merchantId, portalId: merchantId },
        stack.secrets.INTERNAL_CONTEXT_SECRET!,
        3600,
        { clientIp: '127.0.0.1' },
      ),
    };
    const redeemed = async () =>
      (
        await query<{ n: number; d: number }>(
          orm!.em.fork(),
          `select count(*)::int as n, count(delivered_at)::int as d from scratch_cards.card where batch_id = ? and status = 'REDEEMED'`,
          [batchId],
        )
      )[0]!;

    await drive({
      name: 'warm-up',
      target: 'gateway',
      url: gw,
      headers: portal,
      body,
      connections: CONNECTIONS,
      seconds: 3,
    });
    const results: LoadResult[] = [];
    const cpuRows: string[] = [];
    const SERVICES = ['gateway', 'scratch-cards', 'accounts', 'postgres', 'load generator'];
    /** Drives one row, with the CPU each process spent on it (and a profile when asked). */
    const measured = async (options: Parameters<typeof drive>[0]): Promise<void> => {
      const t0 = cpuTicks(stack.pid);
      const started = performance.now();
      const profiled = process.env.BENCH_PROFILE
        ? pidOf(stack.pid, process.env.BENCH_PROFILE)
        : undefined;
      let r: LoadResult | undefined;
      if (
        profiled !== undefined &&
        options.target === 'gateway' &&
        options.name === 'ActivateScratchCard'
      ) {
        const profile = await profileDuring(profiled, async () => {
          r = await drive(options);
        });
        const { total, frames, owners } = summarise(profile);
        console.log(`\nprofile of ${process.env.BENCH_PROFILE} (${Math.round(total / 1000)} ms):`);
        for (const [k, us] of owners) console.log(`  ${((100 * us) / total).toFixed(1)}% ${k}`);
        for (const [k, us] of frames) console.log(`  ${((100 * us) / total).toFixed(1)}% ${k}`);
      } else {
        r = await drive(options);
      }
      const seconds = (performance.now() - started) / 1000;
      const pct = cpuPercent(t0, cpuTicks(stack.pid), seconds);
      const all = Object.values(pct).reduce((a, b) => a + b, 0);
      const perRequest = (label: string) => ((pct[label] ?? 0) * 10 * seconds) / r!.requests;
      results.push(r!);
      cpuRows.push(
        `| ${r!.name} | ${r!.target} | ${SERVICES.map((l) => pct[l] ?? 0).join(' / ')} | ${all} | ${((all * 10 * seconds) / r!.requests).toFixed(2)} (${SERVICES.map((l) => perRequest(l).toFixed(2)).join(' / ')}) |`,
      );
    };
    const before = next;
    await measured({
      name: 'ActivateScratchCard',
      target: 'gateway',
      url: gw,
      headers: portal,
      body,
      connections: CONNECTIONS,
      seconds: SECONDS,
    });
    const gatewaySent = next - before;
    await measured({
      name: 'ActivateScratchCard',
      target: 'scratch-cards (direct)',
      url: `http://127.0.0.1:${stack.ports.scratch_cards}/graphql`,
      headers: signed,
      body,
      connections: CONNECTIONS,
      seconds: SECONDS,
    });
    // The ceiling of any one-hop operation here: a one-row read through the gateway (the same
    // portal key, the same 2 cores) and straight to its subgraph. An activation does more.
    const floor = () => JSON.stringify({ query: '{ myMerchant { id } }' });
    await measured({
      name: 'floor: `{ myMerchant { id } }`',
      target: 'gateway',
      url: gw,
      headers: portal,
      body: floor,
      connections: CONNECTIONS,
      seconds: SECONDS,
    });
    await measured({
      name: 'floor: `{ myMerchant { id } }`',
      target: 'accounts (direct)',
      url: `http://127.0.0.1:${stack.ports.accounts}/graphql`,
      headers: signed,
      body: floor,
      connections: CONNECTIONS,
      seconds: SECONDS,
    });
    // The ledger on its own: the same transfer (merchant coins_issued → a player's wallet) straight
    // to accounts, to tell the activation path's cost from the ledger's.
    const service = {
      [INTERNAL_CONTEXT_HEADER]: await signInternalContext(
        { kind: 'service', service: 'bench' },
        stack.secrets.INTERNAL_CONTEXT_SECRET!,
        3600,
      ),
    };
    const accountsUrl = `http://127.0.0.1:${stack.ports.accounts}/graphql`;
    const accountIds = await fetch(accountsUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...service },
      body: JSON.stringify({
        query: `mutation ($a: LedgerAccountInput!, $b: LedgerAccountInput!) { a: _ledgerAccount(input: $a) { id } b: _ledgerAccount(input: $b) { id } }`,
        variables: {
          a: { kind: 'coins_issued', currency: 'GEMS', merchantId },
          b: { kind: 'player_wallet', currency: 'GEMS', merchantId, playerId: players[0] },
        },
      }),
    }).then(
      async (r) => ((await r.json()) as { data: { a: { id: string }; b: { id: string } } }).data,
    );
    const transfer = () =>
      JSON.stringify({
        query: `mutation ($input: LedgerTransferInput!) { _ledgerTransfer(input: $input) { id } }`,
        variables: {
          input: {
            id: randomUUID(),
            debitAccountId: accountIds.a.id,
            creditAccountId: accountIds.b.id,
            amountMinor: '1',
            currency: 'GEMS',
            kind: 'bench',
            pending: false,
          },
        },
      });
    await measured({
      name: '_ledgerTransfer (same hot account)',
      target: 'accounts (direct)',
      url: accountsUrl,
      headers: service,
      body: transfer,
      connections: CONNECTIONS,
      seconds: SECONDS,
    });
    const done = await redeemed();
    console.log(
      `requests sent ${next} (gateway run ${gatewaySent}); cards redeemed ${done.n}, delivered inline or by job ${done.d}`,
    );

    const gen = `| generate ${CARDS.toLocaleString('en')} cards (job runner, chunks of ${DEFAULT_CHUNK_SIZE.toLocaleString('en')}) | ${generationS.toFixed(1)} s | scratch-cards RSS ${baseline.rssMb} MB idle → peak ${Math.max(peakRss, generationMem.hwmMb)} MB |`;
    const report = [
      `### Scratch cards — ${new Date().toISOString().slice(0, 10)}`,
      '',
      `Machine: ${machine()}. Command: \`npx tsx bench/scratch-cards.bench.ts\` (services as separate processes of \`npm start\`, production mode, embedded PostgreSQL, LOG_LEVEL=error; ${CONNECTIONS} connections, ${SECONDS} s per activation row after a 3 s warm-up, ${PLAYERS} players, every request a fresh code).`,
      '',
      '| step | time | memory |',
      '|---|---|---|',
      gen,
      `| approve (all cards INACTIVE → ACTIVE) | ${approveS.toFixed(1)} s | |`,
      `| export link + CSV download through the gateway | ${exportS.toFixed(1)} s | |`,
      '',
      table(results),
      '',
      `| operation | target | CPU % of one core: ${SERVICES.join(' / ')} | all | CPU ms per request (same order) |`,
      '|---|---|---|---|---|',
      ...cpuRows,
      '',
      `Cards redeemed: ${done.n} of ${next} requests (warm-up included), ${done.d} delivered.`,
      '',
    ].join('\n');
    console.log('\n' + report);
    if (process.env.BENCH_WRITE !== '0') {
      const file = path.join(__dirname, '..', 'docs', 'benchmarks.md');
      if (!fs.existsSync(file))
        fs.writeFileSync(
          file,
          '# Benchmarks\n\nFigures from `bench/`, newest last. Never asserted in tests.\n\n',
        );
      fs.appendFileSync(file, report + '\n');
    }
  } finally {
    await orm?.close(true);
    await stack.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
