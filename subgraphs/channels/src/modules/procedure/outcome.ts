/**
 * Forward-only outcome transitions of a procedure run, in one table. A run starts `running`
 * (persisted before the provider is called); the adapter's answer, callbacks, status queries
 * and settlement files may only move it forward:
 *
 *   running → unknown | pending | succeeded | declined
 *   unknown → pending | succeeded | declined
 *   pending → pending (new action / provider ref) | succeeded | declined
 *   succeeded, declined: final. The same final again is a duplicate; the other final is a
 *   conflict, recorded for review and never applied.
 *
 * So a late, duplicated or reordered callback can neither move a final run back nor make a
 * second hand-off. Adapters report outcomes; billing owns the payment state machine.
 */
import { assertNever, type Outcome, type UserAction } from '../../adapters/types';

export type OutcomeKind = Outcome['kind'];
export type RunState = 'running' | 'open' | 'final';

export const RANK = {
  running: 0,
  unknown: 1,
  pending: 2,
  succeeded: 3,
  declined: 3,
} as const satisfies Record<'running' | OutcomeKind, number>;

export interface StoredOutcome {
  kind: OutcomeKind | null;
  code: string | null;
  completion: string | null;
  providerRef: string | null;
  action: UserAction | null;
}

export type Decision =
  | { apply: true; state: RunState; kindChanged: boolean; final: boolean }
  | { apply: false; reason: 'duplicate' | 'backward' | 'no-news' }
  | { apply: false; reason: 'conflict'; detail: string };

export function isFinal(kind: OutcomeKind | null): boolean {
  return kind === 'succeeded' || kind === 'declined';
}

export function stateOf(kind: OutcomeKind | null): RunState {
  return kind === null ? 'running' : isFinal(kind) ? 'final' : 'open';
}

function sameAction(a: UserAction | null | undefined, b: UserAction | null | undefined): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

export function decide(current: StoredOutcome, next: Outcome): Decision {
  const from = current.kind ?? 'running';
  if (isFinal(current.kind)) {
    if (!isFinal(next.kind)) return { apply: false, reason: 'backward' };
    const nextCode = next.kind === 'declined' ? next.code : null;
    if (next.kind === current.kind && (next.kind !== 'declined' || nextCode === current.code)) {
      return { apply: false, reason: 'duplicate' };
    }
    return {
      apply: false,
      reason: 'conflict',
      detail: `run is ${current.kind}${current.code ? ` (${current.code})` : ''}; the provider now says ${next.kind}${nextCode ? ` (${nextCode})` : ''}`,
    };
  }
  if (RANK[next.kind] < RANK[from]) return { apply: false, reason: 'backward' };
  switch (next.kind) {
    case 'unknown':
      // Only a running run learns anything from "unknown"; an open one keeps what it knows.
      return from === 'running'
        ? { apply: true, state: 'open', kindChanged: true, final: false }
        : { apply: false, reason: 'no-news' };
    case 'pending': {
      if (from !== 'pending')
        return { apply: true, state: 'open', kindChanged: true, final: false };
      const changed =
        !sameAction(current.action, next.action) ||
        (next.completion ?? null) !== current.completion ||
        (next.providerRef !== undefined && next.providerRef !== current.providerRef);
      return changed
        ? { apply: true, state: 'open', kindChanged: false, final: false }
        : { apply: false, reason: 'no-news' };
    }
    case 'succeeded':
    case 'declined':
      return { apply: true, state: 'final', kindChanged: true, final: true };
    default:
      return assertNever(next);
  }
}
