import type { RequestHandler } from 'express';
import type { Logger } from 'pino';

/**
 * How long a stopping service lets the requests it already accepted finish before it cuts them.
 * Whatever stops a service (scripts/start.ts, docker compose's stop_grace_period, an
 * orchestrator) must wait longer than this before SIGKILL.
 */
export const SHUTDOWN_GRACE_MS = 10_000;

/**
 * The shutdown of one HTTP service. A request is in flight from its arrival until its response
 * is done *and* its handler has returned: a caller that hangs up (the gateway or a peer subgraph
 * stopping at the same time) does not end the work its request started, so the database must
 * stay open until that work is done. Apollo's drain plugin waits for connections only, which a
 * hung-up caller has already closed.
 *
 * drain() refuses new requests at once (503; readiness reads `closing`) and waits until nothing
 * is in flight or the grace period has passed. What still runs then is cut: one warning with the
 * count, and their failures (the pool closing under them) are expected, not internal errors.
 */
export class ShutdownDrain {
  private readonly holds = new Map<object, number>();
  private idleWaiters: (() => void)[] = [];
  private state: 'serving' | 'draining' | 'cut' = 'serving';

  constructor(
    private readonly name: string,
    private readonly logger: Logger,
    readonly graceMs: number = SHUTDOWN_GRACE_MS,
  ) {}

  /** From the first moment of close(): readiness false, new requests refused. */
  get closing(): boolean {
    return this.state !== 'serving';
  }

  /** The grace period ended with requests still running; their failures are not news. */
  get cut(): boolean {
    return this.state === 'cut';
  }

  /** Requests in flight now. */
  get inFlight(): number {
    return this.holds.size;
  }

  /** Keeps `request` in flight until the returned release is called (once is enough). */
  hold(request: object): () => void {
    this.holds.set(request, (this.holds.get(request) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.holds.get(request) ?? 1) - 1;
      if (left > 0) {
        this.holds.set(request, left);
        return;
      }
      this.holds.delete(request);
      if (this.holds.size === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    };
  }

  /**
   * Mounted before the service's routes (after the health routes, which answer while draining):
   * refuses requests once closing, holds the others until their response is closed.
   */
  admit(): RequestHandler {
    return (req, res, next) => {
      if (this.closing) {
        res.setHeader('connection', 'close');
        res.setHeader('retry-after', '1');
        res.status(503).json({
          errors: [
            {
              message: `${this.name} is shutting down; retry the request.`,
              extensions: { code: 'INTERNAL', reason: 'SHUTTING_DOWN' },
            },
          ],
        });
        return;
      }
      res.once('close', this.hold(req));
      next();
    };
  }

  /** Wraps an async handler (the GraphQL middleware): its request stays in flight until it returns. */
  track(handler: RequestHandler): RequestHandler {
    return async (req, res, next) => {
      const release = this.hold(req);
      try {
        await handler(req, res, next);
      } finally {
        release();
      }
    };
  }

  /**
   * Refuses new requests from now on (synchronously) and resolves once the requests in flight
   * are done, or after the grace period, logging once how many were cut.
   */
  async drain(): Promise<void> {
    if (this.state === 'serving') this.state = 'draining';
    const idle = await new Promise<boolean>((resolve) => {
      if (this.holds.size === 0) return resolve(true);
      const timer = setTimeout(() => resolve(false), this.graceMs);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    if (idle || this.state === 'cut') return;
    this.state = 'cut';
    this.logger.warn(
      { inFlight: this.holds.size, graceMs: this.graceMs },
      `${this.name}: ${this.holds.size} request(s) still running after the ${this.graceMs} ms shutdown grace period are cut`,
    );
  }
}
