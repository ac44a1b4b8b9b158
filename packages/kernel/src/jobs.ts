import { EventEmitter } from 'node:events';
import {
  Logger as WorkerLogger,
  run,
  runMigrations,
  type Runner,
  type TaskList,
  type WorkerEvents,
} from 'graphile-worker';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Client } from 'pg';
import type { Logger } from 'pino';
import { query } from './database';

/**
 * Jobs are graphile-worker's, one queue schema per subgraph (`<schema>_jobs`), so a subgraph's
 * runner only ever sees its own tasks. Adding a job in the same transaction as a state change
 * is the transactional outbox: both happen or neither.
 */
export function jobSchema(subgraphSchema: string): string {
  return `${subgraphSchema}_jobs`;
}

export async function migrateJobs(connectionString: string, subgraphSchema: string): Promise<void> {
  await runMigrations({
    connectionString,
    schema: jobSchema(subgraphSchema),
    logger: quietLogger(),
  });
}

function quietLogger(log?: Logger): WorkerLogger {
  return new WorkerLogger(() => (level: string, message: string, meta?: unknown) => {
    if (!log) return;
    if (level === 'error') log.error({ meta }, message);
    else if (level === 'warning') log.warn({ meta }, message);
    else log.debug({ meta }, message);
  });
}

export interface JobRunnerOptions {
  connectionString: string;
  subgraphSchema: string;
  tasks: TaskList;
  concurrency?: number;
  pollInterval?: number;
  log?: Logger;
  /**
   * How often this runner looks for jobs locked by a runner whose process died (SIGKILL, OOM,
   * power cut) and unlocks them, so they run again within seconds instead of after
   * graphile-worker's 4-hour lock expiry. 0 disables. Default 5 s.
   */
  deadLockSweepMs?: number;
  /** A lock younger than this is never taken as dead (covers a runner's first instants). Default 5 s. */
  deadLockGraceMs?: number;
  /**
   * Recurring tasks in graphile-worker's crontab format (e.g. `* * * * * sweep`): each fires once
   * per schedule across every runner of the subgraph.
   */
  crontab?: string;
}

/**
 * Liveness of a runner, as PostgreSQL sees it: every runner keeps one connection whose
 * application_name is this prefix + its worker pool id (graphile-worker's `locked_by`). When
 * the process dies its connections close, and the marker vanishes from pg_stat_activity.
 */
export const JOB_RUNNER_LIVENESS_PREFIX = 'gw-live:';

/**
 * A graphile-worker runner whose jobs survive its own crash. graphile-worker locks a job with
 * the pool's id and, should that process die, keeps it locked for 4 hours: a payment's ledger
 * posting and delivery would wait that long. Each runner here therefore holds a liveness
 * marker connection (above) and sweeps, at start and every `deadLockSweepMs`, the locks of
 * pools without a marker (older than `deadLockGraceMs`), via graphile-worker's own
 * force_unlock_workers. The unlocked jobs run again (consumers are idempotent: at least once,
 * exactly-once effect). A live runner that lost its marker connection (database restart) may
 * see a job of its run again; that is the same at-least-once.
 */
export async function startJobRunner(options: JobRunnerOptions): Promise<Runner> {
  const schema = jobSchema(options.subgraphSchema);
  const events = new EventEmitter() as WorkerEvents;
  const liveness = new LivenessMarker(options.connectionString, schema, options.log, {
    sweepMs: options.deadLockSweepMs ?? 5_000,
    graceMs: options.deadLockGraceMs ?? 5_000,
  });
  // Emitted synchronously when the pool is made, before its workers ask for a job.
  events.on('pool:create', ({ workerPool }) => liveness.start(workerPool.id));
  let started: Runner | undefined;
  try {
    started = await run({
      connectionString: options.connectionString,
      schema,
      taskList: options.tasks,
      ...(options.crontab ? { crontab: options.crontab } : {}),
      concurrency: options.concurrency ?? 4,
      pollInterval: options.pollInterval ?? 1000,
      noHandleSignals: true,
      logger: quietLogger(options.log),
      events,
    });
    // Without its marker this runner would look dead to the others: do not run without it.
    await liveness.ready();
  } catch (err) {
    await started?.stop().catch(() => undefined);
    await liveness.close();
    throw err;
  }
  const runner = started;
  return {
    ...runner,
    async stop(reason?: string) {
      try {
        await runner.stop(reason);
      } finally {
        await liveness.close();
      }
    },
    async kill(reason?: string) {
      try {
        await runner.kill(reason);
      } finally {
        await liveness.close();
      }
    },
  };
}

class LivenessMarker {
  private client: Client | undefined;
  private connecting: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private poolId: string | undefined;

  constructor(
    private readonly url: string,
    private readonly schema: string,
    private readonly log: Logger | undefined,
    private readonly opts: { sweepMs: number; graceMs: number },
  ) {}

  start(poolId: string): void {
    if (this.poolId) return;
    this.poolId = poolId;
    this.connecting = this.connect();
    if (this.opts.sweepMs > 0) {
      this.timer = setInterval(() => void this.sweep(), this.opts.sweepMs);
      this.timer.unref();
    }
  }

  async ready(): Promise<void> {
    await this.connecting;
    await this.sweep();
  }

  private async connect(): Promise<void> {
    const client = new Client({
      connectionString: this.url,
      application_name: `${JOB_RUNNER_LIVENESS_PREFIX}${this.poolId}`,
    });
    client.on('error', (err) => {
      this.log?.warn(
        { err: err.message, schema: this.schema },
        'job runner liveness connection lost; reconnecting',
      );
      if (this.client === client) this.client = undefined;
      void client.end().catch(() => undefined);
      this.reconnectLater();
    });
    await client.connect();
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
  }

  private reconnectLater(): void {
    if (this.closed) return;
    setTimeout(() => {
      if (this.closed || this.client) return;
      this.connecting = this.connect().catch(() => this.reconnectLater());
    }, 1_000).unref();
  }

  /** Unlocks the jobs of pools that have no liveness marker any more. */
  private async sweep(): Promise<void> {
    const client = this.client;
    if (!client || this.closed) return;
    const s = `"${this.schema}"`;
    try {
      const { rows } = await client.query<{ dead: string[] }>(
        `with locked as (
           select locked_by from ${s}._private_jobs where locked_by is not null and locked_at < now() - $1 * interval '1 millisecond'
           union
           select locked_by from ${s}._private_job_queues where locked_by is not null and locked_at < now() - $1 * interval '1 millisecond'
         ), dead as (
           select locked_by from locked
            where not exists (select 1 from pg_stat_activity a where a.application_name = $2 || locked.locked_by)
         )
         select array(select locked_by from dead) as dead`,
        [this.opts.graceMs, JOB_RUNNER_LIVENESS_PREFIX],
      );
      const dead = rows[0]?.dead ?? [];
      if (dead.length === 0) return;
      await client.query(`select ${s}.force_unlock_workers($1::text[])`, [dead]);
      this.log?.warn(
        { schema: this.schema, pools: dead },
        'unlocked the jobs of job runners that died',
      );
    } catch (err) {
      this.log?.warn(
        { err: (err as Error).message, schema: this.schema },
        'dead job-lock sweep failed; retrying later',
      );
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.connecting?.catch(() => undefined);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}

export interface AddJobOptions {
  /** Replaces a pending job with the same key (debounce) instead of adding another. */
  jobKey?: string;
  runAt?: Date;
  maxAttempts?: number;
  queueName?: string;
}

/** Adds a job in the EntityManager's current transaction (the outbox pattern). */
export async function addJob(
  em: EntityManager,
  subgraphSchema: string,
  identifier: string,
  payload: Record<string, unknown>,
  options: AddJobOptions = {},
): Promise<void> {
  await query(
    em,
    `select "${jobSchema(subgraphSchema)}".add_job(?::text, ?::json, queue_name => ?::text, run_at => ?::timestamptz, max_attempts => ?::int, job_key => ?::text)`,
    [
      identifier,
      JSON.stringify(payload),
      options.queueName ?? null,
      options.runAt?.toISOString() ?? null,
      options.maxAttempts ?? null,
      options.jobKey ?? null,
    ],
  );
}

export type { Runner, TaskList };
