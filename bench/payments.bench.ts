/**
 * `npm run bench:payments`: CreatePayment end to end on the real processes of `npm start`
 * (bench/lib/launch.ts), through the gateway and straight to billing (signed internal context,
 * as the gateway would send it), at rising concurrency for a fixed time per row.
 *
 * The payment: the demo coin pack coins-100 (1.99 EUR, 100 coins) by CARRIER_BILLING in FR,
 * CAMARA simulator, test number 00 (charged synchronously): the shortest real carrier charge
 * (BENCH_METHOD=card: the same pack by CARD with tok_ok, which skips the country rules and caps).
 * Every request has its own idempotencyKey and orderRef and a pre-registered player (a pool
 * sized so no player reaches the country's daily cap).
 *
 * Reports payments/s, p50/p99, CPU per process (from /proc/<pid>/stat of every process under
 * the launched start.ts), then checks nothing was lost (payments in billing = charges sent to the
 * carrier by channels = ledger postings), profiles billing and the gateway (V8 CPU profile
 * through the inspector, SIGUSR1) and appends everything to docs/benchmarks.md.
 *
 * Env: BENCH_CONNECTIONS (8,32,64), BENCH_SECONDS (20), BENCH_WARMUP_SECONDS (5),
 * BENCH_DIRECT (1), BENCH_METHOD (carrier|card), BENCH_PROFILE (billing,channels,accounts,gateway; "" = none),
 * BENCH_PROFILE_SECONDS (10), BENCH_BASE_PORT (4700), BENCH_WRITE (1).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { INTERNAL_CONTEXT_HEADER, signInternalContext, withClient } from '@coinslot/kernel';
import { launch, type Launched } from './lib/launch';
import { machine } from './lib/load';
import { cpuPercent, cpuTicks, pidOf, profileDuring, summarise } from './lib/procs';

const CONNECTIONS = (process.env.BENCH_CONNECTIONS ?? '8,32,64')
  .split(',')
  .map(Number)
  .filter((n) => n > 0);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 5);
const DIRECT = process.env.BENCH_DIRECT !== '0';
const METHOD = (process.env.BENCH_METHOD ?? 'carrier') === 'card' ? 'card' : 'carrier';
const PROFILE = (process.env.BENCH_PROFILE ?? 'billing,channels,accounts,gateway')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const PROFILE_SECONDS = Number(process.env.BENCH_PROFILE_SECONDS ?? 10);
const BASE_PORT = Number(process.env.BENCH_BASE_PORT ?? 4700);
/** FR carrier billing: 100.00 EUR a day per player, 1.99 a payment; keep well under 50. */
const PAYMENTS_PER_PLAYER = 40;
const MSISDN = '+33612345600';

const CREATE_PAYMENT = `mutation CreatePayment($input: CreatePaymentInput!) {
  createPayment(input: $input) { payment { id serialNumber orderRef status failureCode amount { amountMinor currency } nextAction { kind url } } }
}`;
const REGISTER = `mutation RegisterPlayer($input: RegisterPlayerInput!) { registerPlayer(input: $input) { player { id } } }`;
const OFFERS = `query Offers($country: String!) { products(country: $country) { variants { sku prices(country: $country) { id channelKind } } } }`;

// ------------------------------------------------------------------------------ helpers

async function post<T>(
  url: string,
  headers: Record<string, string>,
  query: string,
  variables: Record<string, unknown>,
): Promise<T> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: T; errors?: unknown[] };
  if (!body.data || body.errors) throw new Error(`${url}: ${JSON.stringify(body.errors ?? body)}`);
  return body.data;
}

/** A whole-hour zone where the local time is between `from` and `to` (carrier charging hours). */
function zoneWithLocalHour(from: number, to: number): string {
  for (let offset = -12; offset <= 14; offset += 1) {
    const zone = offset === 0 ? 'Etc/UTC' : `Etc/GMT${offset > 0 ? '-' : '+'}${Math.abs(offset)}`;
    const h =
      Number(
        new Intl.DateTimeFormat('en-GB', {
          timeZone: zone,
          hour: '2-digit',
          hourCycle: 'h23',
        }).format(new Date()),
      ) % 24;
    if (h >= from && h < to) return zone;
  }
  return 'Etc/UTC';
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------------------ load

interface Row {
  target: string;
  connections: number;
  seconds: number;
  requests: number;
  rps: number;
  succeededPerSecond: number;
  p50: number;
  p99: number;
  succeeded: number;
  otherStatus: number;
  graphqlErrors: number;
  transportErrors: number;
  cpu: Record<string, number>;
  /** PostgreSQL work per SUCCEEDED payment in this row (pg_stat_database, all sessions). */
  pg?: { commits: number; rowsWritten: number; rowsRead: number };
  sampleError?: string;
}

interface PgStats {
  commits: number;
  rowsWritten: number;
  rowsRead: number;
}

class Players {
  private readonly ids: string[] = [];
  private next = 0;
  issued = 0;

  constructor(
    private readonly accountsUrl: string,
    private readonly signed: Record<string, string>,
    private readonly run: string,
    private readonly timezone: string,
  ) {}

  get size(): number {
    return this.ids.length;
  }

  /** Registers players until `payments` more fit under the per-player budget. */
  async ensure(payments: number): Promise<void> {
    const needed = Math.ceil((this.issued + payments) / PAYMENTS_PER_PLAYER) - this.ids.length;
    if (needed <= 0) return;
    const started = Date.now();
    let made = 0;
    const worker = async () => {
      while (made < needed) {
        const n = made++;
        const data = await post<{ registerPlayer: { player: { id: string } } }>(
          this.accountsUrl,
          this.signed,
          REGISTER,
          {
            input: {
              externalRef: `bench-${this.run}-${this.ids.length + n}-${randomBytes(3).toString('hex')}`,
              country: 'FR',
              msisdn: MSISDN,
              timezone: this.timezone,
            },
          },
        );
        this.ids.push(data.registerPlayer.player.id);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    console.log(
      `  registered ${needed} players (${this.ids.length} in the pool) in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  }

  take(): string {
    this.issued += 1;
    const id = this.ids[this.next % this.ids.length]!;
    this.next += 1;
    return id;
  }
}

async function drive(options: {
  target: string;
  url: string;
  headers: Record<string, string>;
  connections: number;
  seconds: number;
  body: () => string;
  root: number;
  pgStats?: () => Promise<PgStats>;
}): Promise<Row> {
  const pgBefore = await options.pgStats?.();
  let succeeded = 0;
  let otherStatus = 0;
  let graphqlErrors = 0;
  let sampleError: string | undefined;
  const before = cpuTicks(options.root);
  const t0 = Date.now();
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.seconds,
    method: 'POST',
    headers: { 'content-type': 'application/json', ...options.headers },
    requests: [
      {
        setupRequest: (req: autocannon.Request) => ({ ...req, body: options.body() }),
        onResponse: (status: number, body: string) => {
          if (status === 200 && body.includes('"status":"SUCCEEDED"')) succeeded += 1;
          else if (status === 200 && !body.includes('"errors"')) otherStatus += 1;
          else {
            graphqlErrors += 1;
            sampleError ??= body.slice(0, 300);
          }
        },
      },
    ],
  });
  const elapsed = (Date.now() - t0) / 1000;
  const cpu = cpuPercent(before, cpuTicks(options.root), elapsed);
  let pg: Row['pg'];
  if (pgBefore && succeeded > 0) {
    await sleep(1_100); // PostgreSQL flushes session statistics at most once a second
    const after = await options.pgStats!();
    const per = (k: keyof PgStats) => Math.round((10 * (after[k] - pgBefore[k])) / succeeded) / 10;
    pg = { commits: per('commits'), rowsWritten: per('rowsWritten'), rowsRead: per('rowsRead') };
  }
  return {
    pg,
    target: options.target,
    connections: options.connections,
    seconds: options.seconds,
    requests: result.requests.total,
    rps: Math.round(result.requests.average),
    succeededPerSecond: Math.round(succeeded / options.seconds),
    p50: result.latency.p50,
    p99: result.latency.p99,
    succeeded,
    otherStatus,
    graphqlErrors,
    transportErrors: result.errors + result.timeouts + result.non2xx,
    cpu,
    sampleError,
  };
}

// ------------------------------------------------------------------------------ main

async function main(): Promise<void> {
  // billing requires WEBHOOK_KEY in production mode (launch.ts runs NODE_ENV=production), and the
  // simulators get ports next to the stack's, so a running `npm start` is left alone.
  process.env.WEBHOOK_KEY ??= randomBytes(32).toString('base64');
  const sims = [
    'SIM_CAMARA_PORT',
    'SIM_PARLAYX_GB_PORT',
    'SIM_PARLAYX_DE_PORT',
    'SIM_ONEAPI_PORT',
    'SIM_SMPP_PORT',
    'SIM_CARD_PORT',
    'SIM_SETTLEMENT_PORT',
  ];
  sims.forEach((name, i) => (process.env[name] ??= String(BASE_PORT + 10 + i)));
  const started = new Date();
  const loadBefore = os.loadavg();
  const stack: Launched = await launch(BASE_PORT);
  const databaseUrl = `postgres://coinslot:coinslot@127.0.0.1:${stack.ports.embedded_pg}/coinslot`;
  const sql = <T = Record<string, any>>(text: string, params: unknown[] = []) =>
    withClient(databaseUrl, async (c) => (await c.query(text, params)).rows as T[]);
  try {
    const gw = `http://127.0.0.1:${stack.ports.gateway}/graphql`;
    const billingUrl = `http://127.0.0.1:${stack.ports.billing}/graphql`;
    const accountsUrl = `http://127.0.0.1:${stack.ports.accounts}/graphql`;
    const portal = { authorization: `Bearer ${stack.demo.portalApiKey}` };
    const merchantId = (
      await post<{ myMerchant: { id: string } }>(gw, portal, '{ myMerchant { id } }', {})
    ).myMerchant.id;
    const [portalRow] = await sql<{ id: string }>(
      `select id from accounts.portal where merchant_id = $1 order by created_at limit 1`,
      [merchantId],
    );
    // Straight to billing: the principal the gateway signs for this portal key.
    const signed = {
      [INTERNAL_CONTEXT_HEADER]: await signInternalContext(
        { kind: 'portal', merchantId, portalId: portalRow?.id ?? merchantId },
        stack.secrets.INTERNAL_CONTEXT_SECRET!,
        3600,
      ),
    };
    const offers = await post<{
      products: { variants: { sku: string; prices: { id: string; channelKind: string }[] }[] }[];
    }>(gw, portal, OFFERS, { country: 'FR' });
    const kind = METHOD === 'card' ? 'CARD' : 'CARRIER_BILLING';
    const priceId = offers.products
      .flatMap((p) => p.variants)
      .find((v) => v.sku === 'coins-100')
      ?.prices.find((p) => p.channelKind === kind)?.id;
    if (!priceId) throw new Error(`no coins-100 ${kind} price in FR`);

    const pgStats = async (): Promise<PgStats> => {
      const [r] = await sql<{ commits: string; written: string; read: string }>(
        `select xact_commit::text as commits, (tup_inserted + tup_updated + tup_deleted)::text as written, (tup_returned + tup_fetched)::text as read
           from pg_stat_database where datname = current_database()`,
      );
      return {
        commits: Number(r!.commits),
        rowsWritten: Number(r!.written),
        rowsRead: Number(r!.read),
      };
    };
    const run = Date.now().toString(36);
    const orderPrefix = `bench-${run}-`;
    const players = new Players(accountsUrl, signed, run, zoneWithLocalHour(10, 19));
    let seq = 0;
    const body = (target: string) => () => {
      const i = seq++;
      const input: Record<string, unknown> = {
        idempotencyKey: `bk-${run}-${target}-${i}`,
        orderRef: `${orderPrefix}${target}-${i}`,
        playerId: players.take(),
        priceId,
      };
      if (METHOD === 'card') input.cardToken = 'tok_ok';
      return JSON.stringify({ query: CREATE_PAYMENT, variables: { input } });
    };
    const targets = [
      { name: 'gateway', url: gw, headers: portal },
      ...(DIRECT ? [{ name: 'billing (direct)', url: billingUrl, headers: signed }] : []),
    ];
    // A generous guess of the next row's payments (1.5 × the best rate so far, at least 300/s).
    let best = 300;
    const planned = (seconds: number) => Math.ceil(Math.max(300, best * 1.5) * seconds);

    console.log(
      `\nbench:payments — ${METHOD}, rows ${CONNECTIONS.join('/')} connections × ${SECONDS} s, direct ${DIRECT}`,
    );
    // What the stack burns with no load at all (job runners polling, timers).
    const idleBefore = cpuTicks(stack.pid);
    await sleep(5_000);
    const idle = cpuPercent(idleBefore, cpuTicks(stack.pid), 5);
    console.log(`  idle CPU: ${JSON.stringify(idle)}`);
    await players.ensure(planned(WARMUP_SECONDS));
    await drive({
      target: 'warm-up',
      url: gw,
      headers: portal,
      connections: 16,
      seconds: WARMUP_SECONDS,
      body: body('w'),
      root: stack.pid,
    });
    const rows: Row[] = [];
    for (const connections of CONNECTIONS) {
      for (const t of targets) {
        await players.ensure(planned(SECONDS));
        await sleep(1_000); // let the fulfilment jobs of the previous row drain a little
        const row = await drive({
          target: t.name,
          url: t.url,
          headers: t.headers,
          connections,
          seconds: SECONDS,
          body: body(t.name === 'gateway' ? 'g' : 'd'),
          root: stack.pid,
          pgStats,
        });
        best = Math.max(best, row.rps);
        rows.push(row);
        console.log(
          `  ${t.name.padEnd(17)} ${String(connections).padStart(3)} conns: ${row.succeededPerSecond} payments/s (${row.rps} req/s), p50 ${row.p50} ms, p99 ${row.p99} ms, errors ${row.graphqlErrors + row.transportErrors}, not succeeded ${row.otherStatus}; CPU ${JSON.stringify(row.cpu)}; PostgreSQL per payment ${JSON.stringify(row.pg)}`,
        );
        if (row.sampleError) console.log(`    first error: ${row.sampleError}`);
      }
    }

    // Profiles: billing, then the gateway, each under the same load (a separate short run).
    const profiles: {
      service: string;
      file: string;
      summary: ReturnType<typeof summarise>;
      row: Row;
    }[] = [];
    const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), `coinslot-bench-profiles-`));
    for (const service of PROFILE_SECONDS > 0 ? PROFILE : []) {
      const pid = pidOf(stack.pid, service);
      if (!pid) {
        console.log(`  no ${service} process to profile`);
        continue;
      }
      await players.ensure(planned(PROFILE_SECONDS));
      let row: Row | undefined;
      try {
        const profile = await profileDuring(pid, async () => {
          row = await drive({
            target: `gateway (profiling ${service})`,
            url: gw,
            headers: portal,
            connections: 32,
            seconds: PROFILE_SECONDS,
            body: body('p'),
            root: stack.pid,
          });
        });
        const file = path.join(profileDir, `${service}.cpuprofile`);
        fs.writeFileSync(file, JSON.stringify(profile));
        profiles.push({ service, file, summary: summarise(profile), row: row! });
        console.log(`  profiled ${service}: ${file}`);
      } catch (err) {
        console.log(`  profiling ${service} failed: ${(err as Error).message}`);
      }
    }

    // Nothing lost: wait for the fulfilment jobs, then count every fact of this run's payments.
    const drainStart = Date.now();
    for (;;) {
      const [q] = await sql<{ n: number }>(
        `select count(*)::int as n from billing_jobs.jobs where task_identifier = 'billing.fulfil'`,
      );
      if (q!.n === 0 || Date.now() - drainStart > 180_000) break;
      await sleep(500);
    }
    const drainSeconds = (Date.now() - drainStart) / 1000;
    await sleep(1_000); // channels flushes its interaction log every 200 ms
    const statuses = await sql<{ status: string; n: number }>(
      `select status, count(*)::int as n from billing.payment where order_ref like $1 group by status order by status`,
      [`${orderPrefix}%`],
    );
    const [counts] = await sql<Record<string, number>>(
      `with p as (select id, serial_number, status from billing.payment where order_ref like $1)
       select (select count(*) from p)::int as payments,
              (select count(*) from p where status = 'SUCCEEDED')::int as succeeded,
              (select count(*) from channels.procedure_run r join p on r.reference = p.serial_number where r.procedure = 'CHARGE')::int as charge_runs,
              (select count(*) from channels.procedure_run r join p on r.reference = p.serial_number where r.procedure = 'CHARGE' and r.outcome_kind = 'succeeded')::int as charges_succeeded,
              (select count(*) from channels.interaction i join p on i.serial = p.serial_number where i.direction = 'OUTBOUND' and i.operation = 'createPayment')::int as carrier_calls,
              (select count(distinct i.serial) from channels.interaction i join p on i.serial = p.serial_number where i.direction = 'OUTBOUND' and i.operation = 'createPayment')::int as carrier_calls_distinct,
              (select count(*) from accounts.transfer t join p on t.reference = p.serial_number where t.kind = 'payment.revenue')::int as revenue_postings,
              (select count(*) from accounts.transfer t join p on t.reference = p.serial_number where t.kind = 'payment.coins')::int as coin_credits,
              (select count(*) from billing.payment_effect e join p on e.payment_id = p.id where e.effect = 'deliver' and e.state = 'DONE')::int as delivered`,
      [`${orderPrefix}%`],
    );
    const totals = await sql<{ currency: string; net: string }>(
      `select currency, sum(credits_posted - debits_posted)::text as net from accounts.ledger_account group by currency order by currency`,
    );
    const c = counts!;
    const clientSucceeded =
      rows.reduce((n, r) => n + r.succeeded, 0) + profiles.reduce((n, p) => n + p.row.succeeded, 0);
    const consistent =
      c.payments === c.charge_runs &&
      c.succeeded === c.charges_succeeded &&
      c.succeeded === c.revenue_postings &&
      c.succeeded === c.coin_credits &&
      c.succeeded === c.delivered &&
      (METHOD === 'card' ||
        (c.carrier_calls === c.carrier_calls_distinct &&
          c.carrier_calls_distinct === c.charge_runs)) &&
      totals.every((t) => t.net === '0');

    // ------------------------------------------------------------------------ report
    const cpuLabels = [
      'gateway',
      'billing',
      'channels',
      'accounts',
      'catalog',
      'simulators',
      'postgres',
      'load generator',
    ];
    const fmt = (n: number) => n.toLocaleString('en-US');
    // % of a core × 10 = ms of CPU per second; divided by payments per second.
    const cpuPerPayment = (r: Row) => {
      if (!r.succeededPerSecond) return '–';
      const services = Object.entries(r.cpu).filter(
        ([l]) => l !== 'load generator' && l !== 'start.ts',
      );
      const total = services.reduce((n, [, v]) => n + v, 0);
      const of = (l: string) => (((r.cpu[l] ?? 0) * 10) / r.succeededPerSecond).toFixed(1);
      return `${((total * 10) / r.succeededPerSecond).toFixed(0)} (gw ${of('gateway')}, billing ${of('billing')}, channels ${of('channels')}, accounts ${of('accounts')}, catalog ${of('catalog')}, pg ${of('postgres')})`;
    };
    const lines: string[] = [
      `### Payments (CreatePayment end to end) — ${started.toISOString().slice(0, 10)}`,
      '',
      `Machine: ${machine()}; load average before the run ${loadBefore.map((l) => l.toFixed(1)).join(' ')}. Command: \`npm run bench:payments\` (${METHOD === 'card' ? 'coins-100 FR by CARD, tok_ok' : 'coins-100 FR by CARRIER_BILLING, CAMARA simulator, test number 00'}; ${SECONDS} s per row after a ${WARMUP_SECONDS} s warm-up; services as separate processes of \`npm start\`, production mode, embedded PostgreSQL with durable commits, LOG_LEVEL=error; every request a new idempotency key, order and one of ${fmt(players.size)} pre-registered players; load generator autocannon in the same box).`,
      '',
      '| target | conns | payments/s | p50 ms | p99 ms | errors | not SUCCEEDED | CPU % of one core: ' +
        cpuLabels.join(' / ') +
        ' | CPU ms per payment (all services + PostgreSQL) | PostgreSQL per payment: commits / rows written / rows read |',
      '|---|---|---|---|---|---|---|---|---|---|',
      `| (idle, 5 s) | 0 | – | – | – | – | – | ${cpuLabels.map((l) => idle[l] ?? 0).join(' / ')} | – | – |`,
      ...rows.map(
        (r) =>
          `| ${r.target} | ${r.connections} | ${r.succeededPerSecond} | ${r.p50} | ${r.p99} | ${r.graphqlErrors + r.transportErrors} | ${r.otherStatus} | ${cpuLabels.map((l) => r.cpu[l] ?? 0).join(' / ')} | ${cpuPerPayment(r)} | ${r.pg ? `${r.pg.commits} / ${r.pg.rowsWritten} / ${r.pg.rowsRead}` : '–'} |`,
      ),
      '',
      `Nothing lost (${consistent ? 'consistent' : '**INCONSISTENT**'}; fulfilment drained ${drainSeconds.toFixed(1)} s after the load): ${fmt(c.payments)} payments in billing (${statuses.map((s) => `${s.status} ${fmt(s.n)}`).join(', ')}; ${fmt(clientSucceeded)} SUCCEEDED answers reached the load generator, the rest were cut off at the end of a row), ${fmt(c.charge_runs)} CHARGE runs in channels (${fmt(c.charges_succeeded)} succeeded)${METHOD === 'card' ? '' : `, ${fmt(c.carrier_calls)} charge requests to the carrier simulator (interaction log, ${fmt(c.carrier_calls_distinct)} distinct serials)`}, ${fmt(c.revenue_postings)} revenue postings, ${fmt(c.coin_credits)} coin credits, ${fmt(c.delivered)} deliveries; ledger net per currency ${totals.map((t) => `${t.currency} ${t.net}`).join(', ')}.`,
      '',
    ];
    for (const p of profiles) {
      const ms = (us: number) => (us / 1000).toFixed(0);
      const pct = (us: number) => ((100 * us) / p.summary.total).toFixed(1);
      lines.push(
        `Profile of ${p.service} (V8 sampling profiler through the inspector, ${PROFILE_SECONDS} s at 32 connections through the gateway, ${p.row.succeededPerSecond} payments/s while profiling; self time, % of the non-idle samples = ${ms(p.summary.total)} ms; with 2 cores shared by ~10 busy processes, a sample taken while the thread waits for a CPU inside a syscall counts for that syscall's frame, e.g. socket writes \`writeBuffer\`/\`writev\`):`,
        '',
        '| by package | self ms | % |',
        '|---|---|---|',
        ...p.summary.owners.map(([o, us]) => `| ${o} | ${ms(us)} | ${pct(us)} |`),
        '',
        '| top frames | self ms | % |',
        '|---|---|---|',
        ...p.summary.frames.map(
          ([f, us]) => `| \`${f.replace(/\|/g, '\\|')}\` | ${ms(us)} | ${pct(us)} |`,
        ),
        '',
      );
    }
    const report = lines.join('\n');
    console.log('\n' + report);
    if (process.env.BENCH_WRITE !== '0') {
      const file = path.join(__dirname, '..', 'docs', 'benchmarks.md');
      fs.appendFileSync(file, '\n' + report);
    }
    if (!consistent) process.exitCode = 1;
  } finally {
    await stack.stop();
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
