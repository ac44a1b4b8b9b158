/**
 * The channels job queue (graphile-worker, schema `channels_jobs`):
 *
 * - channels.resolve_run        status queries for an unknown/pending run, with backoff, until
 *                               known; never a second charge. Queued with the run's insert.
 * - channels.deliver_outcome    hand-off of a changed outcome to billing (at least once).
 * - channels.maintain           interaction log partitions ahead, old ones dropped; hourly.
 * - channels.settlement_daily   queues yesterday's settlement run of every settling channel.
 * - channels.run_settlement     one channel, one day (also the admin mutation runSettlement).
 */
import { addJob, query, type EntityManager, type TaskList } from '@coinslot/kernel';
import { SCHEMA } from '../database';
import type { ChannelsRuntime } from '../runtime/runtime';
import {
  DELIVER_TASK,
  RESOLVE_TASK,
  needsResolver,
  resolverDelay,
} from '../modules/procedure/runs';

export const MAINTAIN_TASK = 'channels.maintain';
export const SETTLEMENT_DAILY_TASK = 'channels.settlement_daily';
export const RUN_SETTLEMENT_TASK = 'channels.run_settlement';

const HOUR = 3_600_000;

/** A recurring job: keyed, and a restart keeps the pending run time instead of moving it. */
export async function ensureRecurring(
  em: EntityManager,
  identifier: string,
  runAt: Date,
): Promise<void> {
  await query(
    em,
    `select "${SCHEMA}_jobs".add_job(?::text, '{}'::json, run_at => ?::timestamptz, job_key => ?::text, job_key_mode => 'preserve_run_at')`,
    [identifier, runAt.toISOString(), identifier],
  );
}

function nextDailyRun(now = new Date()): Date {
  const next = new Date(
    Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), 6, 0, 0),
  );
  if (next <= now) next.setUTCDate(next.getUTCDate() + 1);
  return next;
}

export function buildTasks(rt: ChannelsRuntime): TaskList {
  return {
    [RESOLVE_TASK]: async (payload) => {
      const { runId } = payload as { runId: string };
      await rt.resolveRun(runId);
    },

    [DELIVER_TASK]: async (payload) => {
      const { runId } = payload as { runId: string; version: number };
      const run = await rt.runs.byId(rt.orm.em.fork(), runId);
      if (!run) return;
      await rt.delivery.deliver(run);
    },

    [MAINTAIN_TASK]: async () => {
      const em = rt.orm.em.fork();
      await rt.maintainPartitions(em);
      await addJob(
        em,
        SCHEMA,
        MAINTAIN_TASK,
        {},
        { jobKey: MAINTAIN_TASK, runAt: new Date(Date.now() + HOUR) },
      );
    },

    [SETTLEMENT_DAILY_TASK]: async () => {
      const em = rt.orm.em.fork();
      const yesterday = new Date(Date.now() - 24 * HOUR).toISOString().slice(0, 10);
      for (const channelId of await rt.settlement.settlingChannels(em)) {
        await addJob(
          em,
          SCHEMA,
          RUN_SETTLEMENT_TASK,
          { channelId, date: yesterday },
          { jobKey: `settlement:${channelId}:${yesterday}`, maxAttempts: 10 },
        );
      }
      await addJob(
        em,
        SCHEMA,
        SETTLEMENT_DAILY_TASK,
        {},
        { jobKey: SETTLEMENT_DAILY_TASK, runAt: nextDailyRun() },
      );
    },

    [RUN_SETTLEMENT_TASK]: async (payload) => {
      const { channelId, date } = payload as { channelId: string; date: string };
      await rt.settlement.run(channelId, date);
    },
  };
}

export { needsResolver, resolverDelay, nextDailyRun };
