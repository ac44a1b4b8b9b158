/**
 * The interaction log writer. Adapters call deps.record() on the hot path; rows are buffered
 * and written in multi-row INSERTs (500 rows each) by a timer, so a charge never waits for its
 * log line. Readers of the log (channelInteractions) flush first. The table is partitioned by day; rows for a day without
 * a partition land in the default partition and are moved when the partition is created.
 */
import { query, type MikroORM } from '@coinslot/kernel';
import type { Logger } from 'pino';
import type { Interaction } from '../../adapters/types';
import { redactValue, maskPhones } from './redact';

export interface InteractionContext {
  protocol: string;
  channelId: string | null;
  accountId: string | null;
}

interface Row {
  at: Date;
  channelId: string | null;
  accountId: string | null;
  direction: string;
  protocol: string;
  operation: string;
  reference: string | null;
  serial: string | null;
  status: string | null;
  outcome: string | null;
  durationMs: number;
  request: string | null;
  response: string | null;
}

const BATCH = 500;
/** Past this many buffered rows everything is written at once (memory bound). */
const MAX_BUFFERED = 5_000;

/** Billing's references are `<serialNumber>` or `<serialNumber>:<suffix>`. */
export function serialOf(reference: string | null | undefined): string | null {
  if (!reference) return null;
  const i = reference.indexOf(':');
  return i < 0 ? reference : reference.slice(0, i);
}

function toRow(i: Interaction, ctx: InteractionContext): Row {
  const reference = i.reference ?? null;
  return {
    at: i.at instanceof Date && !Number.isNaN(i.at.getTime()) ? i.at : new Date(),
    channelId: ctx.channelId,
    accountId: ctx.accountId,
    direction: i.direction,
    protocol: ctx.protocol,
    operation: maskPhones(String(i.operation ?? 'unknown')).slice(0, 200),
    reference,
    serial: serialOf(reference),
    status:
      i.status === undefined || i.status === null
        ? null
        : maskPhones(String(i.status)).slice(0, 100),
    outcome: i.outcome ?? null,
    durationMs: Math.max(0, Math.round(Number(i.durationMs) || 0)),
    request: i.request === undefined ? null : JSON.stringify(redactValue(i.request)),
    response: i.response === undefined ? null : JSON.stringify(redactValue(i.response)),
  };
}

export class InteractionRecorder {
  private buffer: { i: Interaction; ctx: InteractionContext; queuedAt: number }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  /**
   * Adapters may note the outcome on an exchange after recording it, once a follow-up
   * exchange has classified it: a timed flush leaves rows this young in the buffer.
   */
  private readonly holdMs: number;

  constructor(
    private readonly orm: MikroORM,
    private readonly log: Logger,
    private readonly flushMs: number,
  ) {
    this.holdMs = Math.max(flushMs, 1_000);
  }

  record(i: Interaction, ctx: InteractionContext): void {
    if (this.closed) return;
    // Kept as given and read when written (see holdMs).
    this.buffer.push({ i, ctx, queuedAt: Date.now() });
    if (this.buffer.length >= MAX_BUFFERED) void this.flush();
    else this.schedule();
  }

  private schedule(): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flushOlderThan(this.holdMs);
    }, this.flushMs).unref();
  }

  /** Writes everything buffered so far; resolves when it is in the table. */
  flush(): Promise<void> {
    return this.flushOlderThan(0);
  }

  private flushOlderThan(ageMs: number): Promise<void> {
    const cutoff = Date.now() - ageMs;
    const ready = ageMs === 0 ? this.buffer.splice(0) : this.takeWhile((e) => e.queuedAt <= cutoff);
    if (this.buffer.length > 0 && !this.closed) this.schedule();
    if (ready.length === 0) return this.chain;
    const rows = ready.map(({ i, ctx }) => toRow(i, ctx));
    this.chain = this.chain.then(() => this.write(rows));
    return this.chain;
  }

  private takeWhile(
    pred: (e: { queuedAt: number }) => boolean,
  ): { i: Interaction; ctx: InteractionContext }[] {
    let n = 0;
    while (n < this.buffer.length && pred(this.buffer[n]!)) n += 1;
    return this.buffer.splice(0, n);
  }

  private async write(rows: Row[]): Promise<void> {
    for (let i = 0; i < rows.length; i += BATCH) {
      const batch = rows.slice(i, i + BATCH);
      const params: unknown[] = [];
      const values = batch.map((r) => {
        params.push(
          r.at,
          r.channelId,
          r.accountId,
          r.direction,
          r.protocol,
          r.operation,
          r.reference,
          r.serial,
          r.status,
          r.outcome,
          r.durationMs,
          r.request,
          r.response,
        );
        return '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?::jsonb)';
      });
      try {
        await query(
          this.orm.em.fork(),
          `insert into channels.interaction (at, channel_id, account_id, direction, protocol, operation, reference, serial, status, outcome, duration_ms, request, response)
           values ${values.join(', ')}`,
          params,
        );
      } catch (err) {
        // The log must never break a payment; losing lines is reported, not thrown.
        this.log.error({ err, lost: batch.length }, 'interaction log write failed');
      }
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
    this.closed = true;
  }
}
