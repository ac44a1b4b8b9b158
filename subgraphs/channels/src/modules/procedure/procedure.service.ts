/**
 * The internal procedure API billing calls (`_runProcedure`). Guarantees:
 *
 * - Idempotent on `reference`: the run (reference + request hash) is committed BEFORE the
 *   provider is called. The same reference with the same parameters returns the stored run;
 *   while its outcome is unknown or pending it re-queries the provider's status, never
 *   charging again. Other parameters ⇒ IDEMPOTENCY_KEY_REUSED.
 * - One provider call per reference: the unique insert decides who calls; concurrent calls in
 *   this process share the caller's promise, calls from other processes wait for the row to
 *   leave `running` (IDEMPOTENCY_KEY_IN_USE if it does not in time).
 * - Failover only before anything can have moved: CHANNEL_UNAVAILABLE (or an open circuit, or
 *   an adapter that cannot start) moves a routed procedure to the next candidate; `unknown`
 *   never does.
 * - A crash between the insert and the answer is covered: the resolver job is queued with the
 *   insert, due when the run's lease ends.
 */
import {
  AppError,
  ErrorCode,
  MoneyType,
  assertCountry,
  assertCurrency,
  assertMsisdn,
  badInput,
  isUuid,
  maskMsisdn,
  newId,
  notFound,
  parseMinorUnits,
  query,
  type EntityManager,
  type MikroORM,
} from '@coinslot/kernel';
import type { Logger } from 'pino';
import {
  ProcedureNotSupported,
  type BalanceResult,
  type ChannelAdapter,
  type ChargeRequest,
  type Outcome,
  type Procedure,
} from '../../adapters/types';
import { AdapterUnavailable, isCircuitOpen, type AdapterPool } from '../../runtime/adapters';
import type { CredentialsKeyring } from '../../security/keyring';
import {
  type ChannelKind,
  type ProcedureActionKind,
  type ProcedureCompletion,
  type ProcedureEnum,
  ProcedureOutcome,
  ProcedureOutcomeKind,
  ProcedureRun,
  type RunProcedureInput,
} from '../../types';
import { factoryOf, type ChannelRow } from '../channel/channel.service';
import { serialOf } from '../interaction/recorder';
import { routing, type Candidate } from '../routing/routing.service';
import { isFinal } from './outcome';
import { appliesToParent, outcomeOf, type RoutingStep, type RunRow, type RunStore } from './runs';
import { pgDate } from '../../util';

const REFERENCE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}(:[A-Za-z0-9._:-]{1,99})?$/;
const ROUTED: ReadonlySet<Procedure> = new Set(['CHARGE', 'RESERVE', 'BALANCE']);
const NEEDS_AMOUNT: ReadonlySet<Procedure> = new Set(['CHARGE', 'RESERVE', 'REFUND', 'CAPTURE']);
const PARENTS: Partial<Record<Procedure, readonly string[]>> = {
  REFUND: ['CHARGE', 'RESERVE'],
  CAPTURE: ['RESERVE'],
  RELEASE: ['RESERVE'],
  CONSENT: ['CHARGE', 'RESERVE'],
  STATUS: ['CHARGE', 'RESERVE', 'REFUND', 'CAPTURE', 'RELEASE'],
};

interface Prepared {
  reference: string;
  procedure: Procedure;
  merchantId: string;
  kind: string | null;
  channelId: string | null;
  country: string | null;
  msisdn: string | null;
  cardToken: string | null;
  amount: bigint;
  currency: string;
  description: string;
  returnUrl: string | null;
  otp: string | null;
  chargeReference: string | null;
  chargeProviderRef: string | null;
  full: boolean;
}

interface Plan {
  candidates: Candidate[];
  parent: RunRow | null;
  /** The MSISDN the provider needs (from the input, or the parent run's sealed copy). */
  msisdn: string | null;
  country: string | null;
}

interface Executed {
  outcome: Outcome;
  balance?: BalanceResult;
}

export interface ProcedureServiceOptions {
  orm: MikroORM;
  log: Logger;
  keyring: CredentialsKeyring;
  pool: AdapterPool;
  runs: RunStore;
  leaseMs: number;
  /** How long a caller waits for a run another process is executing. */
  waitForRunningMs: number;
}

export function toProcedureRun(row: RunRow): ProcedureRun {
  const kind = row.outcome_kind;
  const action = row.action;
  const outcome = Object.assign(new ProcedureOutcome(), {
    kind:
      kind === null ? ProcedureOutcomeKind.UNKNOWN : (kind.toUpperCase() as ProcedureOutcomeKind),
    final: isFinal(kind),
    completion: row.completion ? (row.completion.toUpperCase() as ProcedureCompletion) : null,
    declineCode: row.outcome_code,
    providerRef: row.provider_ref,
    actionKind: action ? (action.kind as ProcedureActionKind) : null,
    actionUrl: action?.kind === 'REDIRECT' ? action.url : null,
    attemptsLeft: action?.kind === 'OTP' ? (action.attemptsLeft ?? null) : null,
    balance:
      row.balance_amount !== null && row.balance_currency
        ? MoneyType.from(BigInt(row.balance_amount), row.balance_currency)
        : null,
  });
  return Object.assign(new ProcedureRun(), {
    id: row.id,
    reference: row.reference,
    procedure: row.procedure as ProcedureEnum,
    channelId: row.channel_id,
    channelCode: row.channel_code,
    channelKind: row.channel_kind as ChannelKind,
    amount: MoneyType.from(BigInt(row.amount), row.currency),
    outcome,
    version: row.version,
    createdAt: pgDate(row.created_at),
    updatedAt: pgDate(row.updated_at),
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class ProcedureService {
  private readonly inflight = new Map<string, Promise<RunRow | null>>();

  constructor(private readonly o: ProcedureServiceOptions) {}

  // ------------------------------------------------------------------------ input

  private prepare(input: RunProcedureInput): Prepared {
    const reference = input.reference.trim();
    if (!REFERENCE.test(reference)) {
      throw badInput(
        'reference must be `<serialNumber>` or `<serialNumber>:<suffix>` (letters, digits, ".", "_", "-"; at most 200 characters).',
        'reference',
      );
    }
    if (!isUuid(input.merchantId))
      throw badInput('merchantId must be a merchant id (UUID).', 'merchantId');
    const procedure = input.procedure as Procedure;
    const amount = parseMinorUnits(input.amountMinor);
    if (amount < 0n || (NEEDS_AMOUNT.has(procedure) && amount === 0n))
      throw badInput(`${procedure} needs a positive amountMinor.`, 'amountMinor');
    const currency = assertCurrency(input.currency);
    const msisdn =
      input.msisdn != null && input.msisdn !== '' ? assertMsisdn(input.msisdn).e164 : null;
    const country =
      input.country != null && input.country !== ''
        ? assertCountry(input.country.toUpperCase())
        : null;
    const description = (input.description ?? '').trim();
    if (description.length > 200)
      throw badInput('description must be at most 200 characters.', 'description');
    if (input.channelId != null && !isUuid(input.channelId))
      throw badInput('channelId must be a channel id.', 'channelId');
    return {
      reference,
      procedure,
      merchantId: input.merchantId,
      kind: input.channelKind ?? null,
      channelId: input.channelId ?? null,
      country,
      msisdn,
      cardToken: input.cardToken || null,
      amount,
      currency,
      description,
      returnUrl: input.returnUrl || null,
      otp: input.otp || null,
      chargeReference: input.chargeReference || null,
      chargeProviderRef: input.chargeProviderRef || null,
      full: input.full ?? false,
    };
  }

  /** Keyed hash of what makes two calls "the same request" (not the OTP, text or return URL). */
  private requestHash(p: Prepared, keyId: string): string {
    const k = this.o.keyring;
    return k.digest(
      keyId,
      'request',
      JSON.stringify([
        p.procedure,
        p.merchantId,
        p.kind,
        p.channelId,
        p.country,
        p.msisdn ? k.digest(keyId, 'msisdn', p.msisdn) : null,
        p.cardToken ? k.digest(keyId, 'card', p.cardToken) : null,
        p.amount.toString(),
        p.currency,
        p.chargeReference,
        p.chargeProviderRef,
        p.full,
      ]),
    );
  }

  // ------------------------------------------------------------------------ entry points

  async run(em: EntityManager, input: RunProcedureInput): Promise<ProcedureRun> {
    const p = this.prepare(input);
    for (let round = 0; round < 3; round += 1) {
      const existing = await this.o.runs.byReference(em, p.reference);
      if (existing) return toProcedureRun(await this.existing(em, existing, p));
      const mine = this.inflight.get(p.reference);
      if (mine) {
        // Same process, same reference: share the one provider call.
        const row = await mine.catch(() => null);
        const now = row && (await this.o.runs.byReference(em, p.reference));
        if (now) {
          this.assertSameRequest(now, p);
          return toProcedureRun(now);
        }
        continue;
      }
      const plan = await this.plan(em, p);
      if (this.inflight.has(p.reference)) continue;
      const started = this.start(p, plan);
      this.inflight.set(p.reference, started);
      try {
        const row = await started;
        if (row) return toProcedureRun(row);
      } finally {
        this.inflight.delete(p.reference);
      }
    }
    throw new AppError(
      ErrorCode.IDEMPOTENCY_KEY_IN_USE,
      `A call with reference ${p.reference} is still running; retry shortly.`,
    );
  }

  async get(em: EntityManager, reference: string): Promise<ProcedureRun | null> {
    const row = await this.o.runs.byReference(em, reference);
    return row ? toProcedureRun(row) : null;
  }

  private assertSameRequest(row: RunRow, p: Prepared): void {
    let same: boolean;
    try {
      same = this.requestHash(p, row.hash_key_id) === row.request_hash;
    } catch {
      same = false; // the hash key was retired: sameness cannot be proven
    }
    if (!same) {
      throw new AppError(
        ErrorCode.IDEMPOTENCY_KEY_REUSED,
        `Reference ${p.reference} was used for another request; use a new reference for new parameters.`,
      );
    }
  }

  /** The reference exists: same request ⇒ its run (status re-queried while unknown/pending). */
  private async existing(em: EntityManager, row: RunRow, p: Prepared): Promise<RunRow> {
    this.assertSameRequest(row, p);
    let current = row;
    const deadline = Date.now() + this.o.waitForRunningMs;
    while (current.state === 'running') {
      const leaseOver =
        current.lease_until !== null && pgDate(current.lease_until).getTime() < Date.now();
      if (leaseOver) break;
      if (Date.now() > deadline) {
        throw new AppError(
          ErrorCode.IDEMPOTENCY_KEY_IN_USE,
          `The call with reference ${p.reference} is still running; retry shortly.`,
        );
      }
      await sleep(50);
      current = (await this.o.runs.byReference(em, p.reference))!;
    }
    if (current.state === 'final') return current;
    if (current.state === 'open' && current.outcome_kind === 'pending' && current.action !== null)
      return current;
    // Unknown, pending without a player action, or a running run whose lease ended: ask.
    return this.refresh(current, { handOff: false, source: 'retry' });
  }

  /** Asks the provider for the run's status and applies the answer (never charges). */
  async refresh(run: RunRow, opts: { handOff: boolean; source: string }): Promise<RunRow> {
    const outcome = await this.queryStatus(run);
    return this.o.orm.em.fork().transactional(async (tx) => {
      const locked = await this.o.runs.byId(tx, run.id, true);
      if (!locked) throw notFound('Procedure run');
      await query(tx, `update channels.procedure_run set attempts = attempts + 1 where id = ?`, [
        run.id,
      ]);
      const result = await this.o.runs.apply(tx, locked, outcome, opts);
      if (appliesToParent(run.procedure) && run.parent_id) {
        const parent = await this.o.runs.byId(tx, run.parent_id, true);
        if (parent) await this.o.runs.apply(tx, parent, outcome, opts);
      }
      return (await this.o.runs.byId(tx, result.run.id))!;
    });
  }

  async queryStatus(run: RunRow): Promise<Outcome> {
    let parent: RunRow | null = null;
    if (run.parent_id) parent = await this.o.runs.byId(this.o.orm.em.fork(), run.parent_id);
    try {
      const { adapter } = await this.o.pool.get(run.account_id);
      const target = appliesToParent(run.procedure) && parent ? parent : run;
      const procedure = (
        run.procedure === 'CONSENT' || run.procedure === 'STATUS'
          ? (parent?.procedure ?? 'CHARGE')
          : run.procedure
      ) as Procedure;
      return await adapter.status({
        reference: run.adapter_reference,
        providerRef: target.provider_ref ?? undefined,
        msisdn: this.msisdnOf(run) ?? undefined,
        procedure,
      });
    } catch (err) {
      return { kind: 'unknown', reason: `status not available: ${(err as Error).message}` };
    }
  }

  private msisdnOf(run: Pick<RunRow, 'id' | 'msisdn_sealed'>): string | null {
    if (!run.msisdn_sealed) return null;
    try {
      return this.o.keyring.openText(run.msisdn_sealed, run.id);
    } catch (err) {
      this.o.log.warn(
        { runId: run.id, err: (err as Error).message },
        'sealed MSISDN cannot be opened',
      );
      return null;
    }
  }

  // ------------------------------------------------------------------------ planning

  private async plan(em: EntityManager, p: Prepared): Promise<Plan> {
    if (ROUTED.has(p.procedure)) {
      let kind = p.kind;
      if (!kind && p.channelId) {
        const [c] = await query<{ kind: string }>(
          em,
          `select kind from channels.channel where id = ?`,
          [p.channelId],
        );
        kind = c?.kind ?? null;
      }
      if (p.procedure === 'BALANCE') kind ??= 'CARRIER_BILLING';
      if (!kind) throw badInput(`${p.procedure} needs channelKind (or channelId).`, 'channelKind');
      if (kind === 'WALLET') {
        throw badInput(
          'WALLET payments are executed by billing against the accounts ledger, not by a channel adapter.',
          'channelKind',
        );
      }
      if (p.procedure !== 'BALANCE' && !p.description)
        throw badInput(`${p.procedure} needs a description (shown to the payer).`, 'description');
      if (kind === 'CARD' && !p.cardToken)
        throw badInput('A CARD procedure needs a cardToken.', 'cardToken');
      const country = p.country;
      if (!country) throw badInput(`${p.procedure} needs the player's country.`, 'country');
      const { candidates } = await routing.route(em, {
        merchantId: p.merchantId,
        kind,
        country,
        currency: p.currency,
        procedure: p.procedure,
        msisdn: p.msisdn,
        channelId: p.channelId,
      });
      return { candidates, parent: null, msisdn: p.msisdn, country };
    }

    if (!p.chargeReference)
      throw badInput(
        `${p.procedure} needs chargeReference: the reference of the run it applies to.`,
        'chargeReference',
      );
    const parent = await this.o.runs.byReference(em, p.chargeReference);
    if (!parent || parent.merchant_id !== p.merchantId)
      throw notFound(`Procedure run ${p.chargeReference}`);
    const allowed = PARENTS[p.procedure] ?? [];
    if (!allowed.includes(parent.procedure)) {
      throw badInput(
        `${p.procedure} applies to a ${allowed.join(' or ')} run; ${p.chargeReference} is a ${parent.procedure}.`,
        'chargeReference',
      );
    }
    const [channel] = await query<ChannelRow>(em, `select * from channels.channel where id = ?`, [
      parent.channel_id,
    ]);
    const caps = factoryOf(channel!).capabilities;
    if (!caps.procedures.includes(p.procedure)) {
      throw badInput(
        `Channel ${channel!.code} (${caps.protocol}) does not support ${p.procedure}.`,
        'procedure',
      );
    }
    if (p.procedure === 'REFUND' && caps.refunds === 'full' && !p.full) {
      throw badInput(`Channel ${channel!.code} refunds only in full: set full: true.`, 'full');
    }
    if ((p.procedure === 'REFUND' || p.procedure === 'CAPTURE') && p.currency !== parent.currency) {
      throw badInput(
        `The run ${p.chargeReference} is in ${parent.currency}, not ${p.currency}.`,
        'currency',
      );
    }
    if (
      (p.procedure === 'REFUND' || p.procedure === 'CAPTURE') &&
      p.amount > BigInt(parent.amount)
    ) {
      throw badInput(
        `${p.procedure} of ${p.amount} exceeds the ${parent.amount} of ${p.chargeReference}.`,
        'amountMinor',
      );
    }
    if (p.procedure === 'CONSENT' && !p.otp)
      throw badInput('CONSENT needs the otp the player typed.', 'otp');
    return {
      candidates: [{ channel: channel!, accountId: parent.account_id, priority: 0 }],
      parent,
      msisdn: p.msisdn ?? this.msisdnOf(parent),
      country: p.country ?? parent.country,
    };
  }

  // ------------------------------------------------------------------------ execution

  /** Inserts the run (or returns null when another call won the reference), calls, applies. */
  private async start(p: Prepared, plan: Plan): Promise<RunRow | null> {
    const { orm, keyring, runs } = this.o;
    const id = newId();
    const keyId = keyring.currentKeyId;
    const first = plan.candidates[0]!;
    const routingSteps: RoutingStep[] = [];
    const adapterReference =
      plan.parent && p.procedure !== 'REFUND' ? plan.parent.adapter_reference : p.reference;

    const inserted = await orm.em.fork().transactional(async (tx) => {
      const [row] = await query<{ id: string }>(
        tx,
        `insert into channels.procedure_run (id, reference, serial, request_hash, hash_key_id, procedure, merchant_id,
           channel_id, account_id, parent_id, adapter_reference, amount, currency, country,
           msisdn_masked, msisdn_hash, msisdn_sealed, state, lease_until)
         values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', now() + (? * interval '1 millisecond'))
         on conflict (reference) do nothing returning id`,
        [
          id,
          p.reference,
          serialOf(p.reference),
          this.requestHash(p, keyId),
          keyId,
          p.procedure,
          p.merchantId,
          first.channel.id,
          first.accountId,
          plan.parent?.id ?? null,
          adapterReference,
          p.amount.toString(),
          p.currency,
          plan.country,
          plan.msisdn ? maskMsisdn(plan.msisdn) : null,
          plan.msisdn ? keyring.digest(keyId, 'msisdn', plan.msisdn) : null,
          plan.msisdn ? keyring.sealToText(plan.msisdn, id) : null,
          this.o.leaseMs,
        ],
      );
      // Crash safety: if nothing answers before the lease ends, the resolver asks the provider.
      if (row) await runs.scheduleResolve(tx, id, this.o.leaseMs);
      return Boolean(row);
    });
    if (!inserted) return null;

    let executed: Executed | undefined;
    // Consent or status on a run that is already final: its outcome is the answer; asking the
    // provider again could only produce noise (e.g. "no such consent").
    const settledParent =
      plan.parent && appliesToParent(p.procedure) && plan.parent.state === 'final'
        ? outcomeOf(plan.parent)
        : null;
    if (settledParent) executed = { outcome: settledParent };
    for (let i = 0; i < plan.candidates.length && !settledParent; i += 1) {
      const candidate = plan.candidates[i]!;
      const step = (result: RoutingStep['result']): void => {
        routingSteps.push({
          channelId: candidate.channel.id,
          channelCode: candidate.channel.code,
          accountId: candidate.accountId,
          result,
          at: new Date().toISOString(),
        });
      };
      if (i > 0) {
        // Persist the new channel before calling it.
        await query(
          orm.em.fork(),
          `update channels.procedure_run set channel_id = ?, account_id = ?, routing = ?::jsonb, updated_at = now() where id = ? and state = 'running'`,
          [candidate.channel.id, candidate.accountId, JSON.stringify(routingSteps), id],
        );
      }
      const routed = ROUTED.has(p.procedure);
      const attempt = await this.callOne(candidate, p, plan, adapterReference, routed);
      if (attempt.kind === 'skipped') {
        step(attempt.why);
        continue;
      }
      step('called');
      executed = attempt.executed;
      const o = executed.outcome;
      const unavailable = o.kind === 'declined' && o.code === 'CHANNEL_UNAVAILABLE';
      if (!(routed && unavailable && i < plan.candidates.length - 1)) break;
      // Declined as unavailable before anything was committed: the next channel may serve.
    }
    executed ??= {
      outcome: {
        kind: 'declined',
        code: 'CHANNEL_UNAVAILABLE',
        message: 'no channel could take the request (unavailable or circuit open)',
      },
    };
    const final = executed;

    return orm.em.fork().transactional(async (tx) => {
      const locked = (await runs.byId(tx, id, true))!;
      await query(
        tx,
        `update channels.procedure_run set attempts = attempts + ?, routing = ?::jsonb where id = ?`,
        [
          routingSteps.filter((s) => s.result === 'called').length,
          JSON.stringify(routingSteps),
          id,
        ],
      );
      await runs.apply(tx, locked, final.outcome, {
        handOff: false,
        source: 'sync',
        balance: final.balance,
      });
      if (plan.parent && appliesToParent(p.procedure)) {
        const parent = await runs.byId(tx, plan.parent.id, true);
        // Billing learns the consent's effect from this answer: no separate hand-off.
        if (parent)
          await runs.apply(tx, parent, final.outcome, {
            handOff: false,
            source: p.procedure.toLowerCase(),
          });
      }
      return (await runs.byId(tx, id))!;
    });
  }

  private async callOne(
    candidate: Candidate,
    p: Prepared,
    plan: Plan,
    adapterReference: string,
    routed: boolean,
  ): Promise<
    | { kind: 'called'; executed: Executed }
    | { kind: 'skipped'; why: 'unavailable' | 'circuit-open' | 'not-started' }
  > {
    const invoke = async (): Promise<Executed> => {
      const { adapter } = await this.o.pool.get(candidate.accountId);
      return this.invoke(adapter, p, plan, adapterReference);
    };
    try {
      if (!routed) return { kind: 'called', executed: await invoke() };
      const breaker = this.o.pool.breaker(candidate.accountId);
      return { kind: 'called', executed: await breaker.execute(invoke) };
    } catch (err) {
      if (isCircuitOpen(err)) return { kind: 'skipped', why: 'circuit-open' };
      if (err instanceof AdapterUnavailable) return { kind: 'skipped', why: 'not-started' };
      if (err instanceof ProcedureNotSupported) return { kind: 'skipped', why: 'unavailable' };
      // Thrown while the request may have been on the wire: money may have moved.
      this.o.log.error(
        { err, reference: p.reference, channel: candidate.channel.code },
        'adapter threw during a procedure',
      );
      return {
        kind: 'called',
        executed: {
          outcome: { kind: 'unknown', reason: `adapter error: ${(err as Error).message}` },
        },
      };
    }
  }

  private async invoke(
    adapter: ChannelAdapter,
    p: Prepared,
    plan: Plan,
    adapterReference: string,
  ): Promise<Executed> {
    const parent = plan.parent;
    const msisdn = plan.msisdn ?? undefined;
    const charge = (): ChargeRequest => ({
      reference: adapterReference,
      amount: p.amount,
      currency: p.currency,
      description: p.description,
      msisdn,
      cardToken: p.cardToken ?? undefined,
      returnUrl: p.returnUrl ?? undefined,
    });
    const need = <T>(fn: T | undefined): T => {
      if (!fn) throw new ProcedureNotSupported(adapter.capabilities.protocol, p.procedure);
      return fn;
    };
    switch (p.procedure) {
      case 'CHARGE':
        return { outcome: await adapter.charge(charge()) };
      case 'RESERVE':
        return { outcome: await need(adapter.reserve).call(adapter, charge()) };
      case 'BALANCE': {
        try {
          const balance = await need(adapter.balance).call(adapter, {
            msisdn: msisdn ?? '',
            currency: p.currency,
          });
          return { outcome: { kind: 'succeeded' }, balance };
        } catch (err) {
          if (err instanceof ProcedureNotSupported) throw err;
          // Read-only: nothing moved, so another channel may answer.
          return {
            outcome: {
              kind: 'declined',
              code: 'CHANNEL_UNAVAILABLE',
              message: (err as Error).message,
            },
          };
        }
      }
      case 'REFUND':
        return {
          outcome: await need(adapter.refund).call(adapter, {
            reference: p.reference,
            chargeReference: parent!.adapter_reference,
            chargeProviderRef: p.chargeProviderRef ?? parent!.provider_ref ?? undefined,
            msisdn,
            amount: p.amount,
            currency: p.currency,
            full: p.full,
            reason: p.description || undefined,
          }),
        };
      case 'CAPTURE':
        return {
          outcome: await need(adapter.capture).call(adapter, {
            reference: adapterReference,
            providerRef: p.chargeProviderRef ?? parent!.provider_ref ?? undefined,
            msisdn,
            amount: p.amount,
            currency: p.currency,
          }),
        };
      case 'RELEASE':
        return {
          outcome: await need(adapter.release).call(adapter, {
            reference: adapterReference,
            providerRef: p.chargeProviderRef ?? parent!.provider_ref ?? undefined,
            msisdn,
          }),
        };
      case 'STATUS':
        return {
          outcome: await adapter.status({
            reference: adapterReference,
            providerRef: p.chargeProviderRef ?? parent!.provider_ref ?? undefined,
            msisdn,
            procedure: parent!.procedure as Procedure,
          }),
        };
      case 'CONSENT':
        return {
          outcome: await need(adapter.confirmConsent).call(adapter, {
            reference: adapterReference,
            providerRef: parent!.provider_ref ?? undefined,
            msisdn,
            otp: p.otp!,
          }),
        };
    }
  }
}
