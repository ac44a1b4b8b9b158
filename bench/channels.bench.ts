/**
 * `npm run bench:channels`: procedures per second through each adapter against its own
 * simulator at 64 in flight (HTTP adapters keep-alive, SMPP with its window), and the latency
 * the adapter layer adds over a raw request of the same protocol to the same simulator.
 * Simulator, adapter and load share one process, as they would share a host.
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  startHarness,
  uniqueReference,
  type ConformanceSpec,
} from '../subgraphs/channels/src/adapters/conformance';
import { spec as camara } from '../subgraphs/channels/src/adapters/camara/conformance';
import { spec as card } from '../subgraphs/channels/src/adapters/card/conformance';
import { spec as oneapi } from '../subgraphs/channels/src/adapters/oneapi/conformance';
import { spec as parlayx } from '../subgraphs/channels/src/adapters/parlayx/conformance';
import { spec as smpp } from '../subgraphs/channels/src/adapters/smpp/conformance';
import { machine } from './lib/load';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 64);

interface Row {
  adapter: string;
  mode: string;
  ops: number;
  perSecond: number;
  p50: number;
  p99: number;
  errors: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Keeps IN_FLIGHT operations running for SECONDS and measures each one. */
async function load(
  name: string,
  mode: string,
  op: () => Promise<boolean>,
  inFlight = IN_FLIGHT,
  seconds = SECONDS,
): Promise<Row> {
  const latencies: number[] = [];
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  const worker = async () => {
    while (performance.now() < end) {
      const t = performance.now();
      const ok = await op().catch(() => false);
      latencies.push(performance.now() - t);
      if (!ok) errors += 1;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: inFlight }, worker));
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    adapter: name,
    mode,
    ops: latencies.length,
    perSecond: Math.round(latencies.length / elapsed),
    p50: +percentile(latencies, 50).toFixed(2),
    p99: +percentile(latencies, 99).toFixed(2),
    errors,
  };
}

async function benchOne(spec: ConformanceSpec): Promise<Row[]> {
  // A generous client timeout for load (the conformance suite's short one is for fault tests).
  const h = await startHarness({
    ...spec,
    adapterConfig: (sim) => ({ ...spec.adapterConfig(sim), timeoutMs: 5_000 }),
  });
  try {
    const payer = spec.payer('00');
    const charge = async () => {
      const o = await h.adapter.charge({
        reference: uniqueReference('BN'),
        amount: 199n,
        currency: spec.currency,
        description: 'bench',
        ...payer,
      });
      return o.kind === 'succeeded' || o.kind === 'pending';
    };
    const raw = async () => {
      await spec.rawCharge!(h.sim, uniqueReference('BR'), payer);
      return true;
    };
    await load(spec.code, 'warm-up', charge);
    const viaAdapter = await load(spec.code, 'adapter', charge);
    const direct = spec.rawCharge ? await load(spec.code, 'raw', raw) : undefined;
    // Added latency is read one request at a time: at 64 in flight queueing dominates p50.
    const seqAdapter = await load(spec.code, 'adapter, 1 in flight', charge, 1, 3);
    const seqRaw = spec.rawCharge
      ? await load(spec.code, 'raw, 1 in flight', raw, 1, 3)
      : undefined;
    return [viaAdapter, direct, seqAdapter, seqRaw].filter((r): r is Row => r !== undefined);
  } finally {
    await h.stop();
  }
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  for (const spec of [camara, parlayx, oneapi, smpp, card]) {
    process.stdout.write(`${spec.code}… `);
    rows.push(...(await benchOne(spec)));
    console.log('done');
  }
  const lines = [
    `### Channel adapters — ${new Date().toISOString().slice(0, 10)}`,
    '',
    `Machine: ${machine()}. Command: \`npm run bench:channels\` (${IN_FLIGHT} in flight, ${SECONDS} s per row after a warm-up; simulator, adapter and load in one process; test number 00, synchronous charges except SMPP where a charge ends at submit_sm_resp and the receipt follows).`,
    '',
    '| adapter | path | charges | per second | p50 ms | p99 ms | errors |',
    '|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.adapter} | ${r.mode} | ${r.ops} | ${r.perSecond} | ${r.p50} | ${r.p99} | ${r.errors} |`,
    ),
    '',
    'Latency the adapter layer adds at p50, one request at a time (adapter − raw): ' +
      [...new Set(rows.map((r) => r.adapter))]
        .map((a) => {
          const [ad, raw] = [
            rows.find((r) => r.adapter === a && r.mode === 'adapter, 1 in flight'),
            rows.find((r) => r.adapter === a && r.mode === 'raw, 1 in flight'),
          ];
          return ad && raw ? `${a} ${(ad.p50 - raw.p50).toFixed(2)} ms` : `${a} n/a`;
        })
        .join(', ') +
      '.',
    '',
  ];
  const report = lines.join('\n');
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
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
