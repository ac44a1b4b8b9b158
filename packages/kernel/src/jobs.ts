import { Logger as WorkerLogger, run, runMigrations, type Runner, type TaskList } from 'graphile-worker';
import type { EntityManager } from '@mikro-orm/postgresql';
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
  await runMigrations({ connectionString, schema: jobSchema(subgraphSchema), logger: quietLogger() });
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
}

export async function startJobRunner(options: JobRunnerOptions): Promise<Runner> {
  return run({
    connectionString: options.connectionString,
    schema: jobSchema(options.subgraphSchema),
    taskList: options.tasks,
    concurrency: options.concurrency ?? 4,
    pollInterval: options.pollInterval ?? 1000,
    noHandleSignals: true,
    logger: quietLogger(options.log),
  });
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
    [identifier, JSON.stringify(payload), options.queueName ?? null, options.runAt?.toISOString() ?? null, options.maxAttempts ?? null, options.jobKey ?? null],
  );
}

export type { Runner, TaskList };
