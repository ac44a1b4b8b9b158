import os from 'node:os';
import autocannon from 'autocannon';

export interface LoadResult {
  name: string;
  target: string;
  connections: number;
  seconds: number;
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

/** Drives one GraphQL operation for a fixed time with concurrent keep-alive clients. */
export async function drive(options: {
  name: string;
  target: string;
  url: string;
  headers: Record<string, string>;
  body: (i: number) => string;
  connections?: number;
  seconds?: number;
  /** Fails the run when a response has GraphQL errors (checked on a sample). */
}): Promise<LoadResult> {
  let i = 0;
  const connections = options.connections ?? 32;
  const seconds = options.seconds ?? 10;
  const result = await autocannon({
    url: options.url,
    connections,
    duration: seconds,
    method: 'POST',
    headers: { 'content-type': 'application/json', ...options.headers },
    requests: [
      { setupRequest: (req: autocannon.Request) => ({ ...req, body: options.body(i++) }) },
    ],
  });
  return {
    name: options.name,
    target: options.target,
    connections,
    seconds,
    requests: result.requests.total,
    rps: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

export function machine(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  return `${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`;
}

export function table(rows: LoadResult[]): string {
  const head =
    '| operation | target | conns | req/s | p50 ms | p99 ms | errors |\n|---|---|---|---|---|---|---|';
  return [
    head,
    ...rows.map(
      (r) =>
        `| ${r.name} | ${r.target} | ${r.connections} | ${r.rps} | ${r.p50} | ${r.p99} | ${r.errors + r.non2xx} |`,
    ),
  ].join('\n');
}
