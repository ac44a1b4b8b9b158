/**
 * TEST-ONLY crash points (test/e2e/crash-safety.test.ts). Compiled in, inert unless the
 * billing process was started with `COINSLOT_CRASH_AT=<point>` in its environment (and
 * NODE_ENV is not production): then the first payment that reaches that point kills the process
 * with SIGKILL — no cleanup, no rollback beyond what PostgreSQL does for an open transaction —
 * exactly like a power cut. The variable is read once at start; nothing in the API can arm or
 * fire it.
 *
 * - after-charge-sent   createPayment: channels answered the CHARGE (or the wallet hold was
 *                       made), billing has not saved the outcome (before transaction 2);
 * - after-result-saved  createPayment: transaction 2 committed (status, fulfilment/release
 *                       job, webhook, idempotency answer), before any job ran and before the
 *                       answer reached the client;
 * - after-revenue-posted the fulfil job of a real-money payment: accounts made the revenue
 *                       transfer, billing has not marked it done (the job is locked by this
 *                       process, so it exercises the dead-runner lock recovery too).
 */
export const CRASH_POINTS = [
  'after-charge-sent',
  'after-result-saved',
  'after-revenue-posted',
] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];

function armedPoint(env: NodeJS.ProcessEnv): CrashPoint | null {
  const value = env.COINSLOT_CRASH_AT;
  if (!value || env.NODE_ENV === 'production') return null;
  return (CRASH_POINTS as readonly string[]).includes(value) ? (value as CrashPoint) : null;
}

const ARMED = armedPoint(process.env);

/** The armed crash point, if any (logged at start so an armed process is never a surprise). */
export const armedCrashPoint = (): CrashPoint | null => ARMED;

/** Kills this process at `point` when (and only when) the environment armed it. */
export function crashPoint(point: CrashPoint): void {
  if (ARMED === point) process.kill(process.pid, 'SIGKILL');
}
