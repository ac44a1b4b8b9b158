/**
 * Reconciliation of one settlement file against our own procedure runs (PROTOCOLS.md §6, steps
 * 3–5). Pure: no I/O, no clock. Every row of the file ends up in exactly one bucket (or in
 * `duplicates`), and every run we think succeeded is either matched or reported.
 *
 * Rules:
 * - Rows are matched to runs by `merchant_reference` (our reference); a row without one is
 *   matched by `operator_txn_id` = the run's `providerRef`. `event_type` must equal the run's
 *   procedure. A `REVERSAL` row always goes to review (we run no reversal procedure).
 * - The same `operator_txn_id` twice is a duplicate row: reported once in `duplicates` and
 *   reconciled once.
 * - Status: `OK` = succeeded; `REJECTED`, `ERROR`, `CANCELLED` = failed; `FUNDS_RESERVED` is not
 *   final and goes to `unsettled`. Several OK rows (distinct operator ids) for one reference are
 *   a double charge: the extra ones go to `missingOnOurSide` ('duplicate-charge').
 * - Amounts: the row's gross amount (magnitude; operators differ on the sign of refunds) and
 *   currency must equal the run's. A difference is an `amountMismatch`, even when our run was
 *   unknown/pending: such a run is **not** resolved, a person decides (never accepted silently).
 * - `resolved` turns our `unknown`/`pending` runs into AsyncOutcome events for billing. The
 *   eventId is `<prefix>:<operator_txn_id>` (stable when the operator re-delivers a row in another
 *   file), or `<prefix>:<fileName>#<row index>` for a row without an operator id.
 */
import { DECLINE_CODES, type AsyncOutcome, type DeclineCode } from '../adapters/types';
import type { SettlementRow } from './format';

export type RunProcedure = 'CHARGE' | 'REFUND';
export type RunOutcome = 'succeeded' | 'declined' | 'unknown' | 'pending';

/** One of our procedure runs, as billing recorded it. */
export interface OurRun {
  reference: string;
  procedure: RunProcedure;
  /** Minor units. */
  amount: bigint;
  currency: string;
  outcome: RunOutcome;
  providerRef?: string;
}

/** A file row; `index` (1-based position among detail rows) comes from parseSettlementFile. */
export type ReconcileRow = SettlementRow & { index?: number };
type Row = SettlementRow & { index: number };

export interface ReconcileOptions {
  /** The settlement file's name, for event ids of rows without an operator id. */
  fileName: string;
  /** Event id prefix, e.g. the channel account; default 'settlement'. */
  eventIdPrefix?: string;
}

export interface MatchedEntry {
  reference: string;
  /** Both sides agree: money moved, or it did not. */
  agreed: 'succeeded' | 'failed';
  run: OurRun;
  row: Row;
}

export interface AmountMismatchEntry {
  reference: string;
  ours: { amount: bigint; currency: string; outcome: RunOutcome };
  theirs: { amount: bigint; currency: string; status: SettlementRow['status'] };
  run: OurRun;
  row: Row;
}

export type MissingOnOurSideReason =
  /** No run of ours has this reference (or provider id). */
  | 'unknown-reference'
  /** The operator took money; our run says declined. */
  | 'not-succeeded-on-our-side'
  /** The row's event type is not our run's procedure. */
  | 'procedure-mismatch'
  /** A second successful row for one reference: a double charge. */
  | 'duplicate-charge'
  /** The operator reversed a transaction; we have no such procedure. */
  | 'reversal';

export interface MissingOnOurSideEntry {
  reason: MissingOnOurSideReason;
  row: Row;
  /** Our run with that reference, when there is one. */
  run?: OurRun;
}

export interface MissingOnTheirSideEntry {
  /** 'absent': the file has no row for it; 'failed-on-their-side': only failed rows. */
  reason: 'absent' | 'failed-on-their-side';
  run: OurRun;
  row?: Row;
}

export type ResolvedEvent = AsyncOutcome & {
  /** What our run was before the file resolved it. */
  previous: 'unknown' | 'pending';
  run: OurRun;
  row: Row;
};

export interface DuplicateRowEntry {
  operatorTxnId: string;
  first: Row;
  duplicate: Row;
  /** False when the repeated row differs from the first: review it. */
  identical: boolean;
}

export interface UnsettledEntry {
  /** FUNDS_RESERVED: neither succeeded nor failed yet. */
  row: Row;
  run?: OurRun;
}

export interface ReconcileResult {
  matched: MatchedEntry[];
  amountMismatch: AmountMismatchEntry[];
  missingOnOurSide: MissingOnOurSideEntry[];
  missingOnTheirSide: MissingOnTheirSideEntry[];
  resolved: ResolvedEvent[];
  duplicates: DuplicateRowEntry[];
  unsettled: UnsettledEntry[];
  /** Our unknown/pending runs the file says nothing about: still to resolve. */
  unresolved: OurRun[];
}

/**
 * The idempotency key of one settlement file: the same name with the same bytes is the same
 * file. A caller stores it when a file has been processed and skips a file whose key it has.
 * (The same name with other bytes is a re-delivery: process it, and review the differences.)
 */
export function settlementFileKey(name: string, sha256: string): string {
  if (!/^[0-9a-f]{64}$/i.test(sha256)) throw new RangeError('sha256 must be 64 hex digits');
  return `${name}@sha256:${sha256.toLowerCase()}`;
}

const FAILED_STATUSES = new Set<SettlementRow['status']>(['REJECTED', 'ERROR', 'CANCELLED']);

function abs(v: bigint): bigint {
  return v < 0n ? -v : v;
}

function sameRow(a: SettlementRow, b: SettlementRow): boolean {
  const time = (t: Date | string): string => (t instanceof Date ? t.toISOString() : t);
  return (
    a.operatorTxnId === b.operatorTxnId &&
    a.merchantReference === b.merchantReference &&
    (a.originalOperatorTxnId ?? '') === (b.originalOperatorTxnId ?? '') &&
    a.msisdnOrAcr === b.msisdnOrAcr &&
    a.operator === b.operator &&
    a.serviceId === b.serviceId &&
    a.pricePoint === b.pricePoint &&
    time(a.eventTime) === time(b.eventTime) &&
    a.eventType === b.eventType &&
    a.status === b.status &&
    a.grossAmount === b.grossAmount &&
    a.taxAmount === b.taxAmount &&
    a.netAmount === b.netAmount &&
    a.currency === b.currency &&
    (a.errorCode ?? '') === (b.errorCode ?? '')
  );
}

function declineCode(row: SettlementRow): DeclineCode {
  const code = row.errorCode ?? '';
  return (DECLINE_CODES as readonly string[]).includes(code) ? (code as DeclineCode) : 'DENIED';
}

function occurredAt(row: SettlementRow): Date | undefined {
  const d = row.eventTime instanceof Date ? row.eventTime : new Date(row.eventTime);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

export function reconcile(
  fileRows: readonly ReconcileRow[],
  ourRuns: readonly OurRun[],
  options: ReconcileOptions,
): ReconcileResult {
  const prefix = options.eventIdPrefix ?? 'settlement';
  const result: ReconcileResult = {
    matched: [],
    amountMismatch: [],
    missingOnOurSide: [],
    missingOnTheirSide: [],
    resolved: [],
    duplicates: [],
    unsettled: [],
    unresolved: [],
  };

  const runs = new Map<string, OurRun>();
  const runsByProviderRef = new Map<string, OurRun>();
  for (const run of ourRuns) {
    if (typeof run.amount !== 'bigint') throw new TypeError('run amounts are bigint minor units');
    if (runs.has(run.reference)) throw new RangeError(`two runs with reference "${run.reference}"`);
    runs.set(run.reference, run);
    if (run.providerRef) runsByProviderRef.set(run.providerRef, run);
  }

  // 1. Duplicate rows: the same operator transaction id is reconciled once.
  const firstById = new Map<string, Row>();
  const rows: Row[] = [];
  fileRows.forEach((r, i) => {
    const row: Row = { ...r, index: r.index ?? i + 1 };
    if (row.operatorTxnId) {
      const first = firstById.get(row.operatorTxnId);
      if (first) {
        result.duplicates.push({
          operatorTxnId: row.operatorTxnId,
          first,
          duplicate: row,
          identical: sameRow(first, row),
        });
        return;
      }
      firstById.set(row.operatorTxnId, row);
    }
    rows.push(row);
  });

  // 2. Rows to runs.
  const groups = new Map<string, { run: OurRun; rows: Row[] }>();
  for (const row of rows) {
    const run = row.merchantReference
      ? runs.get(row.merchantReference)
      : runsByProviderRef.get(row.operatorTxnId);
    if (row.eventType === 'REVERSAL') {
      const original = row.originalOperatorTxnId
        ? runsByProviderRef.get(row.originalOperatorTxnId)
        : undefined;
      result.missingOnOurSide.push({ reason: 'reversal', row, run: run ?? original });
      continue;
    }
    if (!run) {
      if (row.status === 'FUNDS_RESERVED') result.unsettled.push({ row });
      else result.missingOnOurSide.push({ reason: 'unknown-reference', row });
      continue;
    }
    if (run.procedure !== row.eventType) {
      result.missingOnOurSide.push({ reason: 'procedure-mismatch', row, run });
      continue;
    }
    const group = groups.get(run.reference) ?? { run, rows: [] };
    group.rows.push(row);
    groups.set(run.reference, group);
  }

  const eventId = (row: Row): string =>
    row.operatorTxnId
      ? `${prefix}:${row.operatorTxnId}`
      : `${prefix}:${options.fileName}#${row.index}`;

  // 3. Each run with its rows.
  for (const { run, rows: group } of groups.values()) {
    const oks = group.filter((r) => r.status === 'OK');
    const failures = group.filter((r) => FAILED_STATUSES.has(r.status));
    const pendingRun = run.outcome === 'unknown' || run.outcome === 'pending';

    if (oks.length > 0) {
      const [row, ...extra] = oks as [Row, ...Row[]];
      for (const r of extra)
        result.missingOnOurSide.push({ reason: 'duplicate-charge', row: r, run });
      const amountOk = abs(row.grossAmount) === run.amount && row.currency === run.currency;
      if (!amountOk && run.outcome !== 'declined') {
        result.amountMismatch.push({
          reference: run.reference,
          ours: { amount: run.amount, currency: run.currency, outcome: run.outcome },
          theirs: { amount: abs(row.grossAmount), currency: row.currency, status: row.status },
          run,
          row,
        });
      } else if (run.outcome === 'succeeded') {
        result.matched.push({ reference: run.reference, agreed: 'succeeded', run, row });
      } else if (run.outcome === 'declined') {
        result.missingOnOurSide.push({ reason: 'not-succeeded-on-our-side', row, run });
      } else {
        result.resolved.push({
          eventId: eventId(row),
          procedure: run.procedure,
          reference: run.reference,
          providerRef: row.operatorTxnId,
          outcome: {
            kind: 'succeeded',
            providerRef: row.operatorTxnId,
            amount: run.amount,
            currency: run.currency,
          },
          amount: abs(row.grossAmount),
          currency: row.currency,
          occurredAt: occurredAt(row),
          previous: run.outcome as 'unknown' | 'pending',
          run,
          row,
        });
      }
      continue;
    }

    if (failures.length > 0) {
      const row = failures[failures.length - 1]!;
      if (run.outcome === 'succeeded') {
        result.missingOnTheirSide.push({ reason: 'failed-on-their-side', run, row });
      } else if (run.outcome === 'declined') {
        result.matched.push({ reference: run.reference, agreed: 'failed', run, row });
      } else if (pendingRun) {
        result.resolved.push({
          eventId: eventId(row),
          procedure: run.procedure,
          reference: run.reference,
          providerRef: row.operatorTxnId,
          outcome: {
            kind: 'declined',
            code: declineCode(row),
            providerRef: row.operatorTxnId,
            providerCode: row.errorCode ?? row.status,
            message: `settlement status ${row.status}`,
          },
          amount: abs(row.grossAmount),
          currency: row.currency,
          occurredAt: occurredAt(row),
          previous: run.outcome as 'unknown' | 'pending',
          run,
          row,
        });
      }
      continue;
    }

    // Only FUNDS_RESERVED rows: not final on their side.
    for (const row of group) result.unsettled.push({ row, run });
  }

  // 4. Runs the file does not settle.
  for (const run of ourRuns) {
    if (groups.has(run.reference)) continue;
    if (run.outcome === 'succeeded') result.missingOnTheirSide.push({ reason: 'absent', run });
    else if (run.outcome === 'unknown' || run.outcome === 'pending') result.unresolved.push(run);
  }

  return result;
}
