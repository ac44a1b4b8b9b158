import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Launched {
  /** The launched `scripts/start.ts`; every service process descends from it. */
  pid: number;
  stateDir: string;
  demo: { gatewayUrl: string; portalApiKey: string; adminApiKey: string; ownerApiKey: string };
  secrets: Record<string, string>;
  ports: Record<string, number>;
  stop(): Promise<void>;
}

/**
 * Runs the real `npm start` (separate processes, production-like) on shifted ports with a
 * throw-away state directory, and waits for demo.json.
 */
export async function launch(basePort = 4600): Promise<Launched> {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'coinslot-bench-'));
  const ports = {
    GATEWAY_PORT: basePort,
    ACCOUNTS_PORT: basePort + 1,
    CATALOG_PORT: basePort + 2,
    BILLING_PORT: basePort + 3,
    SCRATCH_CARDS_PORT: basePort + 4,
    CHANNELS_PORT: basePort + 5,
    EMBEDDED_PG_PORT: basePort + 90,
  };
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(__dirname, '..', '..', 'scripts', 'start.ts')],
    {
      env: {
        ...process.env,
        ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
        COINSLOT_STATE_DIR: stateDir,
        LOG_LEVEL: 'error',
        NODE_ENV: 'production',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  const demoFile = path.join(stateDir, 'demo.json');
  const deadline = Date.now() + 60_000;
  while (!fs.existsSync(demoFile)) {
    if (child.exitCode !== null) throw new Error('npm start exited early');
    if (Date.now() > deadline) throw new Error('npm start did not become ready');
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    pid: child.pid!,
    stateDir,
    demo: JSON.parse(fs.readFileSync(demoFile, 'utf8')),
    secrets: JSON.parse(fs.readFileSync(path.join(stateDir, 'secrets.json'), 'utf8')),
    ports: Object.fromEntries(
      Object.entries(ports).map(([k, v]) => [k.replace('_PORT', '').toLowerCase(), v]),
    ),
    async stop() {
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
      fs.rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
