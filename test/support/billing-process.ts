import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { SHUTDOWN_GRACE_MS } from '@coinslot/kernel';

const ROOT = path.join(__dirname, '..', '..');
const ENTRY = 'subgraphs/billing/src/main.ts';

/**
 * Billing as its own OS process (`node --import tsx subgraphs/billing/src/main.ts`), on a fixed
 * port the other services already point at, so a test can SIGKILL it and start it again.
 */
export class BillingProcess {
  private child: ChildProcess | undefined;
  private exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined;
  private output = '';

  constructor(
    private readonly env: NodeJS.ProcessEnv,
    readonly port: number,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The last lines billing wrote (stdout and stderr), for failure messages. */
  log(lines = 40): string {
    return this.output.split('\n').slice(-lines).join('\n');
  }

  /** Starts billing with the stack's environment plus `extra`; resolves once /readyz answers. */
  async start(extra: NodeJS.ProcessEnv = {}, timeoutMs = 30_000): Promise<void> {
    if (this.running) throw new Error('billing is already running');
    this.output = '';
    const child = spawn(process.execPath, ['--import', 'tsx', ENTRY], {
      cwd: ROOT,
      env: { ...process.env, ...this.env, ...extra, PORT: String(this.port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString()).slice(-20_000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    this.exit = new Promise((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running) throw new Error(`billing exited during start:\n${this.log()}`);
      try {
        const res = await fetch(`http://127.0.0.1:${this.port}/readyz`);
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        await this.kill();
        throw new Error(`billing was not ready within ${timeoutMs} ms:\n${this.log()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Resolves when the process has ended (e.g. killed by its own crash point). */
  async exited(
    timeoutMs = 20_000,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.exit) throw new Error('billing was never started');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`billing did not exit within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.exit, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGKILL, and wait for the exit. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child!.kill('SIGKILL');
    await this.exit;
  }

  /** SIGTERM (graceful close), SIGKILL if it has not exited well after the grace period. */
  async stop(): Promise<void> {
    if (!this.running) return;
    const child = this.child!;
    const force = setTimeout(() => child.kill('SIGKILL'), SHUTDOWN_GRACE_MS + 10_000);
    child.kill('SIGTERM');
    await this.exit;
    clearTimeout(force);
  }
}
