/**
 * Everything the channels service runs besides GraphQL: the keyring, the adapter pool, the
 * interaction recorder, the procedure, callback and settlement services and the job runner.
 * Built by createService(); resolvers, the callback route and the jobs share one instance.
 */
import {
  query,
  startJobRunner,
  type EntityManager,
  type MikroORM,
  type Runner,
} from '@coinslot/kernel';
import type { Logger } from 'pino';
import type { Config } from '../config';
import { SCHEMA } from '../database';
import { OutcomeDelivery } from '../jobs/handoff';
import {
  buildTasks,
  ensureRecurring,
  MAINTAIN_TASK,
  nextDailyRun,
  SETTLEMENT_DAILY_TASK,
} from '../jobs/tasks';
import { AccountService } from '../modules/account/account.service';
import { CallbackService } from '../modules/callback/callback.service';
import { InteractionRecorder } from '../modules/interaction/recorder';
import { ProcedureService } from '../modules/procedure/procedure.service';
import {
  RunStore,
  appliesToParent,
  needsResolver,
  resolverDelay,
  type ResolverTiming,
} from '../modules/procedure/runs';
import { SettlementService } from '../modules/settlement/settlement.service';
import { CredentialsKeyring } from '../security/keyring';
import { AdapterPool } from './adapters';
import { pgDate } from '../util';

export class ChannelsRuntime {
  readonly keyring: CredentialsKeyring;
  readonly recorder: InteractionRecorder;
  readonly accounts: AccountService;
  readonly pool: AdapterPool;
  readonly runs: RunStore;
  readonly procedures: ProcedureService;
  readonly callbacks: CallbackService;
  readonly settlement: SettlementService;
  readonly delivery: OutcomeDelivery;
  private readonly timing: ResolverTiming;
  private runner: Runner | undefined;
  private baseUrl: () => string | undefined = () => undefined;
  private closed = false;

  constructor(
    readonly config: Config,
    readonly orm: MikroORM,
    readonly log: Logger,
  ) {
    this.keyring = CredentialsKeyring.parse(config.CREDENTIALS_KEYS);
    this.timing = {
      baseDelayMs: config.RESOLVER_BASE_DELAY_MS,
      maxDelayMs: config.RESOLVER_MAX_DELAY_MS,
    };
    this.recorder = new InteractionRecorder(orm, log, config.INTERACTION_FLUSH_MS);
    this.accounts = new AccountService(this.keyring);
    this.runs = new RunStore(log, this.timing);
    this.pool = new AdapterPool({
      orm,
      accounts: this.accounts,
      recorder: this.recorder,
      log,
      defaultTimeoutMs: config.ADAPTER_TIMEOUT_MS,
      breakerThreshold: config.BREAKER_THRESHOLD,
      breakerHalfOpenMs: config.BREAKER_HALF_OPEN_MS,
      callbackBase: () => config.CALLBACK_BASE_URL ?? this.baseUrl(),
      onEmit: (channel, account, event) => this.callbacks.applyPushed(channel, account, event),
    });
    this.callbacks = new CallbackService({
      orm,
      log,
      pool: this.pool,
      runs: this.runs,
      recorder: this.recorder,
    });
    this.procedures = new ProcedureService({
      orm,
      log,
      keyring: this.keyring,
      pool: this.pool,
      runs: this.runs,
      leaseMs: config.RUN_LEASE_MS,
      waitForRunningMs: Math.max(10_000, config.ADAPTER_TIMEOUT_MS * 3),
    });
    this.settlement = new SettlementService({
      orm,
      log,
      accounts: this.accounts,
      callbacks: this.callbacks,
    });
    this.delivery = new OutcomeDelivery(
      config.OUTCOME_WEBHOOK_URL,
      config.INTERNAL_CONTEXT_SECRET,
      log,
    );
  }

  /** The URL the service listens on, for callback URLs when CALLBACK_BASE_URL is not set. */
  setBaseUrl(get: () => string | undefined): void {
    this.baseUrl = get;
  }

  /** The resolver job: one status query, applied forward only; rescheduled while still open. */
  async resolveRun(runId: string): Promise<void> {
    const em = this.orm.em.fork();
    const run = await this.runs.byId(em, runId);
    if (!run || !needsResolver(run)) return;
    if (
      run.state === 'running' &&
      run.lease_until &&
      pgDate(run.lease_until).getTime() > Date.now()
    ) {
      await this.runs.scheduleResolve(em, run.id, pgDate(run.lease_until).getTime() - Date.now());
      return;
    }
    if (run.resolve_attempts >= this.config.RESOLVER_MAX_ATTEMPTS) {
      this.log.warn(
        { runId, reference: run.reference },
        'resolver gave up: the settlement file will settle this run',
      );
      return;
    }
    const outcome = await this.procedures.queryStatus(run);
    await em.transactional(async (tx) => {
      const locked = await this.runs.byId(tx, runId, true);
      if (!locked || !needsResolver(locked)) return;
      await query(
        tx,
        `update channels.procedure_run set resolve_attempts = resolve_attempts + 1, attempts = attempts + 1 where id = ?`,
        [runId],
      );
      locked.resolve_attempts += 1;
      const child = appliesToParent(locked.procedure);
      const result = await this.runs.apply(tx, locked, outcome, {
        handOff: !child,
        source: 'resolver',
      });
      if (child && locked.parent_id) {
        const parent = await this.runs.byId(tx, locked.parent_id, true);
        if (parent)
          await this.runs.apply(tx, parent, outcome, { handOff: true, source: 'resolver' });
      }
      if (!result.changed && needsResolver(locked)) {
        await this.runs.scheduleResolve(
          tx,
          runId,
          resolverDelay(this.timing, locked.resolve_attempts, locked),
        );
      }
    });
  }

  /** Interaction partitions for yesterday … AHEAD days on; partitions past retention dropped. */
  async maintainPartitions(em: EntityManager = this.orm.em.fork()): Promise<void> {
    await query(
      em,
      `select channels.ensure_interaction_partitions((now() at time zone 'UTC')::date - 1, ?)`,
      [this.config.INTERACTION_PARTITIONS_AHEAD + 2],
    );
    await query(
      em,
      `select channels.drop_interaction_partitions_before((now() at time zone 'UTC')::date - ?::int)`,
      [this.config.INTERACTION_RETENTION_DAYS],
    );
  }

  async startJobs(): Promise<void> {
    if (this.runner || this.closed) return;
    const em = this.orm.em.fork();
    await this.maintainPartitions(em);
    this.runner = await startJobRunner({
      connectionString: this.config.DATABASE_URL,
      subgraphSchema: SCHEMA,
      tasks: buildTasks(this),
      concurrency: this.config.JOB_CONCURRENCY,
      pollInterval: this.config.JOB_POLL_INTERVAL_MS,
      log: this.log,
    });
    await ensureRecurring(em, MAINTAIN_TASK, new Date(Date.now() + 3_600_000));
    await ensureRecurring(em, SETTLEMENT_DAILY_TASK, nextDailyRun());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.runner?.stop();
    this.runner = undefined;
    await this.callbacks.drain();
    await this.pool.close();
    await this.callbacks.drain();
    await this.recorder.close();
    await this.delivery.close();
  }
}
