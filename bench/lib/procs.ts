/**
 * What the benches measure besides throughput: CPU time per process of a launched stack (from
 * /proc/<pid>/stat, every process under `npm start` labelled by service, PostgreSQL's backends
 * together) and a CPU profile of one Node process through its inspector.
 */
import { execSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------------------ CPU per process

const CLK_TCK = (() => {
  try {
    return Number(execSync('getconf CLK_TCK').toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

interface ProcInfo {
  pid: number;
  ppid: number;
  comm: string;
  ticks: number;
  childTicks: number;
}

function readProc(pid: number): ProcInfo | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const f = stat.slice(close + 2).split(' '); // f[0] = field 3 (state)
    return {
      pid,
      ppid: Number(f[1]),
      comm,
      ticks: Number(f[11]) + Number(f[12]),
      childTicks: Number(f[13]) + Number(f[14]),
    };
  } catch {
    return null;
  }
}

function cmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

const LABELS: [RegExp, string][] = [
  [/gateway\/src\/main\.ts/, 'gateway'],
  [/subgraphs\/billing\/src\/main\.ts/, 'billing'],
  [/subgraphs\/channels\/src\/main\.ts/, 'channels'],
  [/subgraphs\/accounts\/src\/main\.ts/, 'accounts'],
  [/subgraphs\/catalog\/src\/main\.ts/, 'catalog'],
  [/subgraphs\/scratch-cards\/src\/main\.ts/, 'scratch-cards'],
  [/simulators-main\.ts/, 'simulators'],
  [/scripts\/start\.ts/, 'start.ts'],
];

/** Every process under `root`, labelled by service (PostgreSQL's backends count as postgres). */
export function processTree(root: number): Map<number, { label: string; info: ProcInfo }> {
  const all = new Map<number, ProcInfo>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const p = readProc(Number(name));
    if (p) all.set(p.pid, p);
  }
  const children = new Map<number, number[]>();
  for (const p of all.values()) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p.pid]);
  const out = new Map<number, { label: string; info: ProcInfo }>();
  const walk = (pid: number, inherited: string) => {
    const info = all.get(pid);
    if (!info) return;
    let label = inherited;
    const cmd = cmdline(pid);
    const hit = LABELS.find(([re]) => re.test(cmd));
    if (hit) label = hit[1];
    else if (info.comm === 'postgres' || info.comm.startsWith('postgres')) label = 'postgres';
    out.set(pid, { label, info });
    for (const c of children.get(pid) ?? []) walk(c, label);
  };
  walk(root, 'start.ts');
  return out;
}

/** CPU ticks per label; PostgreSQL's exited backends are in the postmaster's child ticks. */
export function cpuTicks(root: number): Map<string, number> {
  const sums = new Map<string, number>();
  for (const { label, info } of processTree(root).values()) {
    const extra = label === 'postgres' && info.comm === 'postgres' ? info.childTicks : 0;
    sums.set(label, (sums.get(label) ?? 0) + info.ticks + extra);
  }
  const self = process.cpuUsage();
  sums.set('load generator', ((self.user + self.system) / 1e6) * CLK_TCK);
  return sums;
}

/** % of one core per label over the interval between two samples. */
export function cpuPercent(
  before: Map<string, number>,
  after: Map<string, number>,
  seconds: number,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [label, t] of after)
    out[label] = Math.round((100 * (t - (before.get(label) ?? 0))) / CLK_TCK / seconds);
  return out;
}

export function pidOf(root: number, label: string): number | undefined {
  for (const [pid, p] of processTree(root))
    if (p.label === label && /node/.test(p.info.comm)) return pid;
  return undefined;
}

// ------------------------------------------------------------------------------ profiling

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/** Opens the inspector of a running Node process (SIGUSR1) and returns a CDP session. */
export async function inspect(pid: number): Promise<{
  send: (method: string, params?: Record<string, unknown>) => Promise<any>;
  closeInspector: () => Promise<void>;
}> {
  process.kill(pid, 'SIGUSR1');
  let wsUrl: string | undefined;
  for (let i = 0; i < 50 && !wsUrl; i += 1) {
    await sleep(100);
    try {
      const list = (await (await fetch('http://127.0.0.1:9229/json/list')).json()) as {
        webSocketDebuggerUrl: string;
      }[];
      wsUrl = list[0]?.webSocketDebuggerUrl;
    } catch {
      // not yet
    }
  }
  if (!wsUrl) throw new Error(`the inspector of pid ${pid} did not open on 127.0.0.1:9229`);
  const ws = new WebSocket(wsUrl);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let seq = 0;
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  ws.on('message', (data) => {
    const msg = JSON.parse(data.toString()) as {
      id?: number;
      result?: unknown;
      error?: { message: string };
    };
    if (msg.id === undefined) return;
    const w = waiting.get(msg.id);
    waiting.delete(msg.id);
    if (msg.error) w?.reject(new Error(msg.error.message));
    else w?.resolve(msg.result);
  });
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
  return {
    send: (method, params = {}) =>
      new Promise((resolve, reject) => {
        const id = ++seq;
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error(`${method}: no answer from the inspector`));
        }, 30_000);
        waiting.set(id, {
          resolve: (v) => {
            clearTimeout(timer);
            resolve(v);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        });
        ws.send(JSON.stringify({ id, method, params }));
      }),
    // Closes the inspector inside the process (freeing the port for the next one); it hangs up
    // on us before it could answer.
    closeInspector: async () => {
      ws.send(
        JSON.stringify({
          id: ++seq,
          method: 'Runtime.evaluate',
          params: { expression: `require('node:inspector').close()`, includeCommandLineAPI: true },
        }),
      );
      await Promise.race([closed, sleep(2_000)]);
      ws.close();
    },
  };
}

export async function profileDuring(
  pid: number,
  load: () => Promise<unknown>,
): Promise<CpuProfile> {
  const s = await inspect(pid);
  try {
    await s.send('Profiler.enable');
    await s.send('Profiler.setSamplingInterval', { interval: 500 });
    await s.send('Profiler.start');
    await load();
    const { profile } = (await s.send('Profiler.stop')) as { profile: CpuProfile };
    return profile;
  } finally {
    await s.closeInspector();
  }
}

/** Where a frame's code lives: a package, the project's own code, or V8/Node internals. */
function owner(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) return 'node (core)';
  const m = /\/(packages\/[^/]+|subgraphs\/[^/]+|gateway)\//.exec(url);
  return m ? m[1]! : url.replace(/^file:\/\//, '');
}

export function summarise(profile: CpuProfile): {
  total: number;
  frames: [string, number][];
  owners: [string, number][];
} {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i += 1)
    self.set(samples[i]!, (self.get(samples[i]!) ?? 0) + (deltas[i] ?? 0));
  const frames = new Map<string, number>();
  const owners = new Map<string, number>();
  let total = 0;
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const { functionName, url, lineNumber } = n.callFrame;
    if (functionName === '(idle)') continue;
    total += us;
    const where = url ? `${owner(url, functionName)}:${path.basename(url)}:${lineNumber + 1}` : '';
    const key = `${functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
    frames.set(key, (frames.get(key) ?? 0) + us);
    const o = owner(url, functionName);
    owners.set(o, (owners.get(o) ?? 0) + us);
  }
  const top = (m: Map<string, number>, n: number) =>
    [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n);
  return { total, frames: top(frames, 15), owners: top(owners, 12) };
}
