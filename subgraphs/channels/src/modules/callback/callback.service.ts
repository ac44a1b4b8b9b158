/**
 * Asynchronous outcomes: carrier callbacks (one URL per channel, `/callbacks/:channelCode`,
 * optionally `/:accountId/…`), outcomes adapters push on their own connections (SMPP
 * receipts, CAMARA polling) and settlement files all go through applyEvent():
 *
 *   dedupe by (channel, provider event id) in callback_event → find the run (our reference,
 *   else the provider's) → check the amount → forward-only transition + hand-off job,
 *   all in one transaction.
 *
 * Verification is the adapter's (signature, credentials, bearer token). A callback no account
 * of the channel verifies is answered with the adapter's status, logged and changes nothing.
 */
import type { Request, Response } from 'express';
import { isUuid, newId, query, type EntityManager, type MikroORM } from '@coinslot/kernel';
import type { Logger } from 'pino';
import { CallbackRejected, type AsyncOutcome, type InboundRequest } from '../../adapters/types';
import type { AdapterPool } from '../../runtime/adapters';
import type { AccountRow } from '../account/account.service';
import type { ChannelRow } from '../channel/channel.service';
import type { InteractionRecorder } from '../interaction/recorder';
import { redactValue } from '../interaction/redact';
import { SELECT_RUN, type RunRow, type RunStore } from '../procedure/runs';

export type EventSource = 'callback' | 'push' | 'settlement';

export interface ApplyResult {
  duplicate: boolean;
  applied: boolean;
  runId: string | null;
  note: string | null;
}

export interface CallbackServiceOptions {
  orm: MikroORM;
  log: Logger;
  pool: AdapterPool;
  runs: RunStore;
  recorder: InteractionRecorder;
}

function eventSummary(e: AsyncOutcome): Record<string, unknown> {
  return redactValue({
    eventId: e.eventId,
    procedure: e.procedure,
    reference: e.reference,
    providerRef: e.providerRef,
    outcome: e.outcome,
    amount: e.amount,
    currency: e.currency,
    occurredAt: e.occurredAt,
  }) as Record<string, unknown>;
}

export class CallbackService {
  private readonly pending = new Set<Promise<unknown>>();

  constructor(private readonly o: CallbackServiceOptions) {}

  /** deps.emit: fire-and-forget for the adapter, tracked so close() waits for it. */
  applyPushed(channel: ChannelRow, account: AccountRow, event: AsyncOutcome): void {
    const p = this.applyEvent(channel.id, account.id, event, 'push')
      .catch((err: unknown) =>
        this.o.log.error(
          { err, channel: channel.code, reference: event.reference },
          'pushed outcome not applied',
        ),
      )
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  applyEvent(
    channelId: string,
    accountId: string | null,
    event: AsyncOutcome,
    source: EventSource,
  ): Promise<ApplyResult> {
    return this.o.orm.em
      .fork()
      .transactional((tx) => this.applyEventIn(tx, channelId, accountId, event, source));
  }

  /** The one path for asynchronous outcomes; `tx` must be a transaction. */
  async applyEventIn(
    tx: EntityManager,
    channelId: string,
    accountId: string | null,
    event: AsyncOutcome,
    source: EventSource,
  ): Promise<ApplyResult> {
    const eventRowId = newId();
    const [inserted] = await query<{ id: string }>(
      tx,
      `insert into channels.callback_event (id, channel_id, account_id, event_id, source, reference, procedure, outcome_kind, verified, raw)
       values (?, ?, ?, ?, ?, ?, ?, ?, true, ?::jsonb)
       on conflict (channel_id, event_id) do nothing returning id`,
      [
        eventRowId,
        channelId,
        accountId,
        event.eventId.slice(0, 300),
        source,
        event.reference ?? null,
        event.procedure,
        event.outcome.kind,
        JSON.stringify(eventSummary(event)),
      ],
    );
    if (!inserted) return { duplicate: true, applied: false, runId: null, note: 'duplicate event' };

    const run = await this.findRun(tx, channelId, accountId, event);
    let note: string | null = null;
    let applied = false;
    if (!run) {
      note = 'no run with this reference';
      this.o.log.warn(
        { channelId, reference: event.reference, source },
        'outcome for an unknown reference',
      );
    } else if (
      event.outcome.kind === 'succeeded' &&
      event.amount !== undefined &&
      event.currency !== undefined &&
      (event.amount !== BigInt(run.amount) || event.currency !== run.currency)
    ) {
      note = 'amount conflict';
      this.o.log.warn(
        { runId: run.id, reference: run.reference, source },
        'provider reports another amount: not applied, recorded for review',
      );
      await query(
        tx,
        `insert into channels.settlement_mismatch (id, channel_id, account_id, kind, reason, reference, run_id,
           our_amount, our_currency, our_outcome, their_amount, their_currency, their_status, detail)
         values (?, ?, ?, 'amount_mismatch', ?, ?, ?, ?, ?, ?, ?, ?, 'succeeded', ?::jsonb)`,
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
          event.amount.toString(),
          event.currency,
          JSON.stringify({ eventId: event.eventId }),
        ],
      );
    } else {
      const result = await this.o.runs.apply(tx, run, event.outcome, { handOff: true, source });
      applied = result.changed;
      if (!result.changed) note = result.decision.apply ? null : result.decision.reason;
    }
    await query(
      tx,
      `update channels.callback_event set run_id = ?, applied = ?, note = ? where id = ?`,
      [run?.id ?? null, applied, note, eventRowId],
    );
    return { duplicate: false, applied, runId: run?.id ?? null, note };
  }

  private async findRun(
    tx: EntityManager,
    channelId: string,
    accountId: string | null,
    e: AsyncOutcome,
  ): Promise<RunRow | null> {
    const scope = accountId ? `r.account_id = ?` : `r.channel_id = ?`;
    const scopeId = accountId ?? channelId;
    if (e.reference) {
      const [row] = await query<RunRow>(
        tx,
        `${SELECT_RUN} where ${scope} and r.adapter_reference = ?
          order by (r.procedure = ?) desc, (r.parent_id is null) desc, r.created_at desc limit 1 for update of r`,
        [scopeId, e.reference, e.procedure],
      );
      if (row) return row;
    }
    if (e.providerRef) {
      const [row] = await query<RunRow>(
        tx,
        `${SELECT_RUN} where ${scope} and r.provider_ref = ?
          order by (r.procedure = ?) desc, r.created_at desc limit 1 for update of r`,
        [scopeId, e.providerRef, e.procedure],
      );
      if (row) return row;
    }
    if (accountId) return this.findRun(tx, channelId, null, e);
    return null;
  }

  // ------------------------------------------------------------------------ HTTP

  async handleHttp(req: Request, res: Response): Promise<void> {
    const segments = req.path
      .split('/')
      .filter(Boolean)
      .map((s) => decodeURIComponent(s));
    const code = segments[0] ?? '';
    const em = this.o.orm.em.fork();
    const [channel] = await query<ChannelRow>(em, `select * from channels.channel where code = ?`, [
      code,
    ]);
    if (!channel) {
      this.o.recorder.record(
        {
          direction: 'INBOUND',
          operation: 'callback',
          request: { method: req.method, path: req.originalUrl.split('?')[0] },
          status: 404,
          durationMs: 0,
          at: new Date(),
        },
        { protocol: 'UNKNOWN', channelId: null, accountId: null },
      );
      res.status(404).json({ error: 'no such channel' });
      return;
    }
    const accountHint = segments[1] && isUuid(segments[1]) ? segments[1] : null;
    const accounts = await query<AccountRow>(
      em,
      `select * from channels.channel_account where channel_id = ?${accountHint ? ' and id = ?' : ''}
          order by (status = 'active') desc, priority, created_at`,
      accountHint ? [channel.id, accountHint] : [channel.id],
    );
    const rawBody = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const inbound: InboundRequest = {
      method: req.method,
      path: req.originalUrl.split('?')[0]!,
      headers: req.headers,
      rawBody,
      query: Object.fromEntries(
        Object.entries(req.query).map(([k, v]) => [k, Array.isArray(v) ? String(v[0]) : String(v)]),
      ),
      remoteAddress: req.socket.remoteAddress,
    };
    let rejection: CallbackRejected | undefined;
    for (const account of accounts) {
      let adapter;
      try {
        ({ adapter } = await this.o.pool.get(account.id));
      } catch {
        continue;
      }
      if (!adapter.handleCallback) continue;
      try {
        const result = await adapter.handleCallback(inbound);
        for (const event of result.events)
          await this.applyEvent(channel.id, account.id, event, 'callback');
        res.status(result.status);
        if (result.contentType) res.type(result.contentType);
        res.send(result.body ?? '');
        return;
      } catch (err) {
        if (err instanceof CallbackRejected) {
          rejection ??= err;
          continue;
        }
        this.o.log.error({ err, channel: channel.code }, 'callback handling failed');
        res.status(500).json({ error: 'internal error' });
        return;
      }
    }
    if (!rejection) {
      res.status(404).json({ error: 'this channel takes no callbacks' });
      return;
    }
    // Forged, stale or unverifiable: nothing changes. Keep a trace of it, without the body.
    this.o.log.warn(
      { channel: channel.code, status: rejection.status, reason: rejection.message },
      'callback rejected',
    );
    await query(
      em,
      `insert into channels.callback_event (id, channel_id, account_id, event_id, source, verified, applied, note, raw)
       values (?, ?, ?, ?, 'rejected', false, false, ?, ?::jsonb)`,
      [
        newId(),
        channel.id,
        accountHint,
        `rejected:${newId()}`,
        rejection.message.slice(0, 300),
        JSON.stringify({
          method: req.method,
          path: inbound.path,
          status: rejection.status,
          bytes: rawBody.length,
        }),
      ],
    ).catch((err: unknown) => this.o.log.error({ err }, 'could not record a rejected callback'));
    res.status(rejection.status).json({ error: 'callback rejected' });
  }
}
