import { AppError, ErrorCode } from '@coinslot/kernel';
import {
  assertNever,
  toFailureCode,
  type ActionKind,
  type Outcome,
} from '../../domain/state-machine';

/** What channels reports about a run (the `_runProcedure` answer or a hand-off). */
export interface ReportedOutcome {
  kind: string;
  declineCode?: string | null;
  actionKind?: string | null;
  actionUrl?: string | null;
  attemptsLeft?: number | null;
}

type ReportedKind = 'SUCCEEDED' | 'PENDING' | 'DECLINED' | 'UNKNOWN';
const KINDS: readonly ReportedKind[] = ['SUCCEEDED', 'PENDING', 'DECLINED', 'UNKNOWN'];

export function isReportedKind(kind: string): kind is ReportedKind {
  return (KINDS as readonly string[]).includes(kind);
}

/** Channels' outcome kinds → the state machine's outcomes (exhaustive). */
export function toOutcome(o: ReportedOutcome): Outcome {
  const kind = o.kind.toUpperCase();
  if (!isReportedKind(kind)) return { kind: 'unknown' };
  switch (kind) {
    case 'SUCCEEDED':
      return { kind: 'succeeded' };
    case 'DECLINED':
      return { kind: 'declined', code: toFailureCode(o.declineCode) };
    case 'PENDING': {
      const action =
        o.actionKind === 'OTP' || o.actionKind === 'REDIRECT' ? (o.actionKind as ActionKind) : null;
      return {
        kind: 'pending',
        action: action
          ? {
              kind: action,
              url: action === 'REDIRECT' ? (o.actionUrl ?? null) : null,
              attemptsLeft: o.attemptsLeft ?? null,
            }
          : null,
      };
    }
    case 'UNKNOWN':
      return { kind: 'unknown' };
    default:
      return assertNever(kind);
  }
}

/**
 * A failed internal call: did the other side refuse before anything could move (a contract
 * error: bad input, not found, conflict), or is the outcome unknown (timeout, crash, 5xx)?
 */
export function refusedBeforeMoving(err: unknown): err is AppError {
  if (!(err instanceof AppError)) return false;
  switch (err.code) {
    case ErrorCode.BAD_USER_INPUT:
    case ErrorCode.NOT_FOUND:
    case ErrorCode.CONFLICT:
    case ErrorCode.FORBIDDEN:
    case ErrorCode.IDEMPOTENCY_KEY_REUSED:
      return true;
    case ErrorCode.UNAUTHENTICATED:
    case ErrorCode.IDEMPOTENCY_KEY_IN_USE:
    case ErrorCode.RATE_LIMITED:
    case ErrorCode.INTERNAL:
      return false;
    default:
      return assertNever(err.code);
  }
}
