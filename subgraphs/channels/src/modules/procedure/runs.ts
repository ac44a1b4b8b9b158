/**
 * Procedure runs in the database: the one place that changes a run's outcome, always under a
 * row lock, always through decide() (forward only), and that queues the follow-up jobs in the
 * same transaction: the resolver while the outcome is open, the hand-off to billing when an
 * outcome billing did not get as the answer of its own call appears.
 */
import { addJob, newId, query, type EntityManager } from '@coinslot/kernel';
import type { Logger } from 'pino';
import type { BalanceResult, Outcome, UserAction } from '../../adapters/types';
import { SCHEMA } from '../../database';
import { decide, type Decision, type OutcomeKind, type StoredOutcome } from './outcome';

export interface RunRow {
  id: string;
  reference: string;
  serial: string;
  request_hash: string;
  hash_key_id: string;
  procedure: string;
  merchant_id: string;
  channel_id: string;
  account_id: string;
  parent_id: string | null;
  adapter_reference: string;
  amount: string;
  currency: string;
  country: string | null;
  msisdn_masked: string | null;
  msisdn_hash: string | null;
  msisdn_sealed: string | null;
  state: 'running' | 'open' | 'final';
  outcome_kind: OutcomeKind | null;
  outcome_code: string | null;
  completion: string | null;
  provider_code: string | null;
  outcome_message: string | null;
  provider_ref: string | null;
  action: UserAction | null;
  balance_amount: string | null;
  balance_currency: string | null;
  attempts: number;
  resolve_attempts: number;
  routing: RoutingStep[];
  version: number;
  lease_until: Date | null;
  created_at: Date;
  updated_at: Date;
  final_at: Date | null;
  channel_code: string;
  channel_kind: string;
  channel_protocol: string;
}

export interface RoutingStep {
  channelId: string;
  channelCode: string;
  accountId: string;
  result: 'called' | 'unavailable' | 'circuit-open' | 'not-started';
  at: string;
}

export const RESOLVE_TASK = 'channels.resolve_run';
export const DELIVER_TASK = 'channels.deliver_outcome';

export const SELECT_RUN = `select r.*, c.code as channel_code, c.kind as channel_kind, c.protocol as channel_protocol
  from channels.procedure_run r join channels.channel c on c.id = r.channel_id`;

/** CONSENT and STATUS act on the run they name: their outcome is that run's outcome too. */
export function appliesToParent(procedure: string): boolean {
  return procedure === 'CONSENT' || procedure === 'STATUS';
}

export interface ResolverTiming {
  baseDelayMs: number;
  maxDelayMs: number;
}

export function resolverDelay(
  timing: ResolverTiming,
  attempts: number,
  run: Pick<RunRow, 'outcome_kind' | 'completion' | 'action'>,
): number {
  // A callback, report or the player is expected: poll only as a fallback, later.
  const slow = run.outcome_kind === 'pending' && (run.completion !== 'poll' || run.action !== null);
  const base = slow ? timing.baseDelayMs * 8 : timing.baseDelayMs;
  return Math.min(timing.maxDelayMs, base * 2 ** Math.min(attempts, 20));
}

export function needsResolver(run: Pick<RunRow, 'state' | 'outcome_kind' | 'action'>): boolean {
  if (run.state === 'final') return false;
  // An OTP waits for the player (CONSENT), not for the provider.
  return !(run.outcome_kind === 'pending' && run.action?.kind === 'OTP');
}

/** The run's stored outcome as an adapter outcome (null while running). */
export function outcomeOf(run: RunRow): Outcome | null {
  const providerRef = run.provider_ref ?? undefined;
  switch (run.outcome_kind) {
    case null:
      return null;
    case 'succeeded':
      return { kind: 'succeeded', providerRef };
    case 'declined':
      return {
        kind: 'declined',
        code: run.outcome_code as never,
        providerRef,
        providerCode: run.provider_code ?? undefined,
      };
    case 'pending':
      return {
        kind: 'pending',
        completion: (run.completion ?? 'poll') as never,
        providerRef,
        action: run.action ?? undefined,
      };
    case 'unknown':
      return { kind: 'unknown', reason: run.outcome_message ?? 'unknown', providerRef };
  }
}

function stored(run: RunRow): StoredOutcome {
  return {
    kind: run.outcome_kind,
    code: run.outcome_code,
    completion: run.completion,
    providerRef: run.provider_ref,
    action: run.action,
  };
}

export class RunStore {
  constructor(
    private readonly log: Logger,
    private readonly timing: ResolverTiming,
  ) {}

  async byReference(em: EntityManager, reference: string, lock = false): Promise<RunRow | null> {
    const [row] = await query<RunRow>(
      em,
      `${SELECT_RUN} where r.reference = ?${lock ? ' for update of r' : ''}`,
      [reference],
    );
    return row ?? null;
  }

  async byId(em: EntityManager, id: string, lock = false): Promise<RunRow | null> {
    const [row] = await query<RunRow>(
      em,
      `${SELECT_RUN} where r.id = ?${lock ? ' for update of r' : ''}`,
      [id],
    );
    return row ?? null;
  }

  async scheduleResolve(em: EntityManager, runId: string, delayMs: number): Promise<void> {
    await addJob(
      em,
      SCHEMA,
      RESOLVE_TASK,
      { runId },
      { jobKey: `resolve:${runId}`, runAt: new Date(Date.now() + delayMs), maxAttempts: 5 },
    );
  }

  async cancelResolve(em: EntityManager, runId: string): Promise<void> {
    await query(em, `select "${SCHEMA}_jobs".remove_job(?)`, [`resolve:${runId}`]);
  }

  /**
   * Applies an outcome to a run the caller has locked (select … for update) in `em`'s
   * transaction. `handOff`: billing did not receive this outcome as the answer of its own call
   * (callback, receipt, resolver, settlement), so a delivery job is queued with the run's new
   * version when the kind changed or became final.
   */
  async apply(
    em: EntityManager,
    run: RunRow,
    outcome: Outcome,
    opts: { handOff: boolean; source: string; balance?: BalanceResult },
  ): Promise<{ run: RunRow; changed: boolean; decision: Decision }> {
    const decision = decide(stored(run), outcome);
    if (!decision.apply) {
      if (decision.reason === 'conflict')
        await this.recordConflict(em, run, decision.detail, opts.source);
      return { run, changed: false, decision };
    }
    const providerRef = outcome.providerRef ?? null;
    const [updated] = await query<RunRow>(
      em,
      `update channels.procedure_run set
         state = ?, outcome_kind = ?, outcome_code = ?, completion = ?, provider_code = ?, outcome_message = ?,
         provider_ref = coalesce(provider_ref, ?), action = ?::jsonb,
         balance_amount = coalesce(?, balance_amount), balance_currency = coalesce(?, balance_currency),
         version = version + 1, lease_until = null, updated_at = now(),
         final_at = case when ? then now() else final_at end
       where id = ? returning id`,
      [
        decision.state,
        outcome.kind,
        outcome.kind === 'declined' ? outcome.code : null,
        outcome.kind === 'pending' ? outcome.completion : null,
        outcome.kind === 'declined' ? (outcome.providerCode ?? null) : null,
        outcome.kind === 'declined'
          ? (outcome.message?.slice(0, 500) ?? null)
          : outcome.kind === 'unknown'
            ? outcome.reason.slice(0, 500)
            : null,
        providerRef,
        outcome.kind === 'pending' && outcome.action ? JSON.stringify(outcome.action) : null,
        opts.balance ? opts.balance.amount.toString() : null,
        opts.balance ? opts.balance.currency : null,
        decision.final,
        run.id,
      ],
    );
    if (!updated) throw new Error(`procedure run ${run.id} vanished`);
    const after = (await this.byId(em, run.id))!;
    if (!needsResolver(after)) await this.cancelResolve(em, run.id);
    else
      await this.scheduleResolve(
        em,
        run.id,
        resolverDelay(this.timing, after.resolve_attempts, after),
      );
    if (opts.handOff && (decision.kindChanged || decision.final)) {
      await addJob(
        em,
        SCHEMA,
        DELIVER_TASK,
        { runId: run.id, version: after.version },
        { jobKey: `deliver:${run.id}`, maxAttempts: 25 },
      );
    }
    return { run: after, changed: true, decision };
  }

  private async recordConflict(
    em: EntityManager,
    run: RunRow,
    detail: string,
    source: string,
  ): Promise<void> {
    this.log.warn(
      { runId: run.id, reference: run.reference, source, detail },
      'outcome conflict on a final run: not applied, recorded for review',
    );
    await query(
      em,
      `insert into channels.settlement_mismatch (id, channel_id, account_id, kind, reason, reference, run_id,
         our_amount, our_currency, our_outcome, detail)
       values (?, ?, ?, 'outcome_conflict', ?, ?, ?, ?, ?, ?, ?::jsonb)`,
      [
        newId(),
        run.channel_id,
        run.account_id,
        source,
        run.reference,
        run.id,
        run.amount,
        run.currency,
        run.outcome_kind,
        JSON.stringify({ detail }),
      ],
    );
  }
}
