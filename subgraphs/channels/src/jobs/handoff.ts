/**
 * Hand-off to the caller: when a run's outcome changes after billing's own call returned
 * (callback, receipt, resolver, settlement), a `channels.deliver_outcome` job (added in the
 * same transaction as the change) POSTs this mutation to billing's GraphQL endpoint
 * (OUTCOME_WEBHOOK_URL), signed as the `channels` service. At least once: any HTTP or GraphQL
 * error fails the job and graphile-worker retries it with backoff. The payload carries the
 * run's version, which only grows, so billing ignores a stale or repeated delivery.
 */
import { InternalClient } from '@coinslot/kernel';
import type { Logger } from 'pino';
import { isFinal } from '../modules/procedure/outcome';
import type { RunRow } from '../modules/procedure/runs';
import { pgDate } from '../util';

export const PROCEDURE_OUTCOME_MUTATION = `mutation ProcedureOutcome($input: ProcedureOutcomeInput!) {
  _procedureOutcome(input: $input)
}`;

/** Variables of PROCEDURE_OUTCOME_MUTATION: what billing's ProcedureOutcomeInput must accept. */
export interface ProcedureOutcomeInput {
  runId: string;
  reference: string;
  version: number;
  procedure: string;
  channelId: string;
  /** SUCCEEDED | PENDING | DECLINED | UNKNOWN */
  kind: string;
  final: boolean;
  /** POLL | CALLBACK | REPORT */
  completion: string | null;
  declineCode: string | null;
  providerRef: string | null;
  /** OTP | REDIRECT */
  actionKind: string | null;
  actionUrl: string | null;
  attemptsLeft: number | null;
  amountMinor: string;
  currency: string;
  occurredAt: string;
}

export function outcomeInput(run: RunRow): ProcedureOutcomeInput {
  return {
    runId: run.id,
    reference: run.reference,
    version: run.version,
    procedure: run.procedure,
    channelId: run.channel_id,
    kind: (run.outcome_kind ?? 'unknown').toUpperCase(),
    final: isFinal(run.outcome_kind),
    completion: run.completion ? run.completion.toUpperCase() : null,
    declineCode: run.outcome_code,
    providerRef: run.provider_ref,
    actionKind: run.action?.kind ?? null,
    actionUrl: run.action?.kind === 'REDIRECT' ? run.action.url : null,
    attemptsLeft: run.action?.kind === 'OTP' ? (run.action.attemptsLeft ?? null) : null,
    amountMinor: run.amount,
    currency: run.currency,
    occurredAt: pgDate(run.updated_at).toISOString(),
  };
}

export class OutcomeDelivery {
  private readonly client: InternalClient | undefined;

  constructor(
    url: string | undefined,
    secret: string,
    private readonly log: Logger,
  ) {
    // Signed as {kind: 'service', service: 'channels'}, straight to billing's endpoint.
    this.client = url
      ? new InternalClient({ url, service: 'channels', secret, timeoutMs: 10_000, connections: 8 })
      : undefined;
  }

  /** Throws on any HTTP or GraphQL error, so the job is retried. */
  async deliver(run: RunRow): Promise<'sent' | 'skipped'> {
    if (!this.client) {
      this.log.debug(
        { runId: run.id, version: run.version },
        'OUTCOME_WEBHOOK_URL is not set: hand-off skipped',
      );
      return 'skipped';
    }
    await this.client.request(PROCEDURE_OUTCOME_MUTATION, { input: outcomeInput(run) });
    return 'sent';
  }

  async close(): Promise<void> {
    await this.client?.close();
  }
}
