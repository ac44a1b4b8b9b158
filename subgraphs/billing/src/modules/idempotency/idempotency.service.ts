/**
 * Idempotency of money-moving mutations (ARCHITECTURE.md §5, CONTRACT.md):
 *
 * - same key, same parameters ⇒ the first result again (however often, however concurrently);
 * - same key, other parameters (or another operation) ⇒ IDEMPOTENCY_KEY_REUSED;
 * - same key while the first request still runs ⇒ wait for it (polling the key row), and only
 *   after a bounded wait answer IDEMPOTENCY_KEY_IN_USE.
 *
 * The key row is inserted in the same transaction as the effect's first write (the payment or
 * refund row) and completed, with the answer, in the same transaction as the status change that
 * produced the answer. A request refused by validation stores nothing (like Stripe): the same key
 * may be used again once the input is fixed. Concurrent requests in one process share the first
 * one's promise; across processes the primary key decides and the others poll.
 */
import { AppError, ErrorCode, badInput, query, type EntityManager } from '@coinslot/kernel';
import { pgDate, pgJson } from '../../database';

export interface IdempotentRequest {
  merchantId: string;
  key: string;
  operation: string;
  hash: string;
}

export interface KeyRow {
  merchant_id: string;
  key: string;
  request_hash: string;
  operation: string;
  state: 'running' | 'completed';
  payment_id: string | null;
  refund_id: string | null;
  subscription_id: string | null;
  response: unknown;
  created_at: Date | string;
  updated_at: Date | string;
}

/** Thrown inside the effect's first transaction when another request holds the key. */
export class KeyTaken extends Error {
  constructor() {
    super('idempotency key taken by a concurrent request');
    this.name = 'KeyTaken';
  }
}

const KEY = /^[\x21-\x7e]{1,255}$/;

export function assertIdempotencyKey(key: string): string {
  if (!KEY.test(key)) {
    throw badInput(
      'idempotencyKey must be 1 to 255 printable ASCII characters without spaces (a UUID is a good choice).',
      'idempotencyKey',
    );
  }
  return key;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface IdempotencyOptions {
  /** How long a request waits for a concurrent one with the same key. */
  waitMs: number;
  /** A `running` key this old belongs to a request that died: its effect is recovered. */
  staleMs: number;
}

export class IdempotencyService {
  private readonly inflight = new Map<string, { hash: string; promise: Promise<unknown> }>();

  constructor(private readonly options: IdempotencyOptions) {}

  /**
   * Runs `fresh` once per key. `fresh` must claim the key with claim() in its first
   * transaction and complete() it with the answer; `replay` turns a stored answer back into a
   * result; `recover` builds the answer of a request that died after its first transaction.
   */
  async execute<R>(
    em: EntityManager,
    req: IdempotentRequest,
    handlers: {
      fresh: () => Promise<R>;
      replay: (response: unknown) => R;
      recover: (row: KeyRow) => Promise<R>;
    },
  ): Promise<R> {
    const slot = `${req.merchantId}:${req.key}`;
    const running = this.inflight.get(slot);
    if (running) {
      if (running.hash !== req.hash) throw reused(req);
      return running.promise as Promise<R>;
    }
    const stored = await this.find(em, req);
    if (stored) return this.fromStored(em, req, stored, handlers);
    const promise = handlers.fresh().catch(async (err: unknown) => {
      if (!(err instanceof KeyTaken)) throw err;
      const row = await this.find(em, req);
      if (!row)
        throw new AppError(
          ErrorCode.IDEMPOTENCY_KEY_IN_USE,
          'The idempotency key is in use by a request that is still running; retry shortly.',
        );
      return this.fromStored(em, req, row, handlers);
    });
    this.inflight.set(slot, { hash: req.hash, promise });
    try {
      return await promise;
    } finally {
      this.inflight.delete(slot);
    }
  }

  private async fromStored<R>(
    em: EntityManager,
    req: IdempotentRequest,
    first: KeyRow,
    handlers: { replay: (response: unknown) => R; recover: (row: KeyRow) => Promise<R> },
  ): Promise<R> {
    let row = first;
    const deadline = Date.now() + this.options.waitMs;
    let pause = 25;
    for (;;) {
      if (row.request_hash !== req.hash || row.operation !== req.operation) throw reused(req);
      if (row.state === 'completed') return handlers.replay(pgJson(row.response));
      if (Date.now() - pgDate(row.updated_at).getTime() > this.options.staleMs)
        return handlers.recover(row);
      // The first request died but its effect already ended (e.g. billing was killed and the
      // payment was finished by the resolver): nothing can change any more, answer from it now.
      if (await this.effectIsFinal(em, row)) return handlers.recover(row);
      if (Date.now() > deadline) {
        throw new AppError(
          ErrorCode.IDEMPOTENCY_KEY_IN_USE,
          'The first request with this idempotency key is still running; retry shortly to get its result.',
        );
      }
      await sleep(pause);
      pause = Math.min(pause * 2, 200);
      const next = await this.find(em, req);
      if (!next)
        throw new AppError(
          ErrorCode.IDEMPOTENCY_KEY_IN_USE,
          'The idempotency key is in use; retry shortly.',
        );
      row = next;
    }
  }

  private async effectIsFinal(em: EntityManager, row: KeyRow): Promise<boolean> {
    if (row.refund_id) {
      const [r] = await query<{ status: string }>(
        em.fork(),
        `select status from billing.refund where id = ?`,
        [row.refund_id],
      );
      return r?.status === 'SUCCEEDED' || r?.status === 'FAILED';
    }
    if (row.payment_id && !row.subscription_id) {
      const [p] = await query<{ status: string }>(
        em.fork(),
        `select status from billing.payment where id = ?`,
        [row.payment_id],
      );
      return p?.status === 'SUCCEEDED' || p?.status === 'FAILED' || p?.status === 'CANCELED';
    }
    return false;
  }

  private async find(em: EntityManager, req: IdempotentRequest): Promise<KeyRow | null> {
    const [row] = await query<KeyRow>(
      em.fork(),
      `select * from billing.idempotency_key where merchant_id = ? and key = ?`,
      [req.merchantId, req.key],
    );
    return row ?? null;
  }

  /** In the effect's first transaction: takes the key, or throws KeyTaken (rolling it back). */
  async claim(
    tx: EntityManager,
    req: IdempotentRequest,
    owner: { paymentId?: string | null; refundId?: string | null; subscriptionId?: string | null },
  ): Promise<void> {
    const rows = await query(
      tx,
      `insert into billing.idempotency_key (merchant_id, key, request_hash, operation, state, payment_id, refund_id, subscription_id)
       values (?, ?, ?, ?, 'running', ?, ?, ?) on conflict (merchant_id, key) do nothing returning key`,
      [
        req.merchantId,
        req.key,
        req.hash,
        req.operation,
        owner.paymentId ?? null,
        owner.refundId ?? null,
        owner.subscriptionId ?? null,
      ],
    );
    if (rows.length === 0) throw new KeyTaken();
  }

  /** In the transaction that produced the answer: stores it. */
  async complete(
    tx: EntityManager,
    req: Pick<IdempotentRequest, 'merchantId' | 'key'>,
    response: unknown,
  ): Promise<void> {
    await query(
      tx,
      `update billing.idempotency_key set state = 'completed', response = ?::jsonb, updated_at = now()
        where merchant_id = ? and key = ? and state = 'running'`,
      [JSON.stringify(response), req.merchantId, req.key],
    );
  }

  /** Keys are kept at least `ttlHours`; older ones are deleted (the cleanup job). */
  async cleanup(em: EntityManager, ttlHours: number): Promise<number> {
    const rows = await query(
      em,
      `delete from billing.idempotency_key where created_at < now() - (? * interval '1 hour') returning key`,
      [ttlHours],
    );
    return rows.length;
  }
}

function reused(req: IdempotentRequest): AppError {
  return new AppError(
    ErrorCode.IDEMPOTENCY_KEY_REUSED,
    `The idempotency key "${req.key}" was already used with other parameters; use a new key for a new request.`,
  );
}
