/**
 * One adapter instance per channel account, created on first use with the account's decrypted
 * credentials, and closed when the account is disabled, its credentials rotate, or the service
 * stops. A cached instance is re-validated against the account's revision at most every
 * REVALIDATE_MS, so a rotation made by another instance of the service is picked up too.
 *
 * Each account also has a circuit breaker (cockatiel): consecutive unavailable or unknown
 * answers open it, and routing then skips the account until a half-open trial succeeds.
 */
import {
  BrokenCircuitError,
  ConsecutiveBreaker,
  IsolatedCircuitError,
  circuitBreaker,
  handleAll,
  type CircuitBreakerPolicy,
} from 'cockatiel';
import { query, type MikroORM } from '@coinslot/kernel';
import type { Logger } from 'pino';
import type { AdapterConfig, AsyncOutcome, ChannelAdapter, Outcome } from '../adapters/types';
import type { AccountRow, AccountService } from '../modules/account/account.service';
import { factoryOf, type ChannelRow } from '../modules/channel/channel.service';
import type { InteractionRecorder } from '../modules/interaction/recorder';

export interface AdapterInstance {
  adapter: ChannelAdapter;
  channel: ChannelRow;
  account: AccountRow;
}

interface Entry {
  promise: Promise<AdapterInstance>;
  revision?: number;
  checkedAt: number;
}

/** The adapter could not be created (bad credentials, bind refused…): nothing was sent. */
export class AdapterUnavailable extends Error {
  constructor(
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = 'AdapterUnavailable';
  }
}

export function isCircuitOpen(err: unknown): boolean {
  return err instanceof BrokenCircuitError || err instanceof IsolatedCircuitError;
}

const REVALIDATE_MS = 5_000;
/** Settings and credentials whose names start with this are ours (settlement SFTP), not the adapter's. */
const SETTLEMENT_PREFIX = 'settlement';
const RESERVED_SETTINGS = new Set(['baseUrl', 'timeoutMs']);

export interface AdapterPoolOptions {
  orm: MikroORM;
  accounts: AccountService;
  recorder: InteractionRecorder;
  log: Logger;
  defaultTimeoutMs: number;
  breakerThreshold: number;
  breakerHalfOpenMs: number;
  callbackBase(): string | undefined;
  /** Where adapters push outcomes (SMPP receipts, CAMARA polling). */
  onEmit(channel: ChannelRow, account: AccountRow, event: AsyncOutcome): void;
}

export function adapterConfigOf(
  channel: ChannelRow,
  account: AccountRow,
  credentials: Record<string, string>,
  defaultTimeoutMs: number,
): AdapterConfig {
  const merged: Record<string, unknown> = { ...channel.settings, ...account.settings };
  const settings: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(merged)) {
    if (RESERVED_SETTINGS.has(k) || k.startsWith(SETTLEMENT_PREFIX)) continue;
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') settings[k] = v;
  }
  const adapterCredentials: Record<string, string> = {};
  for (const [k, v] of Object.entries(credentials))
    if (!k.startsWith(SETTLEMENT_PREFIX)) adapterCredentials[k] = v;
  const timeout = Number(merged.timeoutMs);
  return {
    baseUrl: typeof merged.baseUrl === 'string' ? merged.baseUrl : '',
    credentials: adapterCredentials,
    timeoutMs: Number.isFinite(timeout) && timeout > 0 ? timeout : defaultTimeoutMs,
    settings,
  };
}

export class AdapterPool {
  private readonly entries = new Map<string, Entry>();
  private readonly breakers = new Map<string, CircuitBreakerPolicy>();
  private closed = false;

  constructor(private readonly options: AdapterPoolOptions) {}

  /** The account's breaker; it executes calls that resolve to `{ outcome }`. */
  breaker(accountId: string): CircuitBreakerPolicy {
    let b = this.breakers.get(accountId);
    if (!b) {
      b = circuitBreaker(
        handleAll.orWhenResult((r) => {
          const o = (r as { outcome?: Outcome } | undefined)?.outcome;
          return (
            o?.kind === 'unknown' || (o?.kind === 'declined' && o.code === 'CHANNEL_UNAVAILABLE')
          );
        }),
        {
          halfOpenAfter: this.options.breakerHalfOpenMs,
          breaker: new ConsecutiveBreaker(this.options.breakerThreshold),
        },
      );
      b.onBreak(() => this.options.log.warn({ accountId }, 'channel account circuit opened'));
      b.onReset(() => this.options.log.info({ accountId }, 'channel account circuit closed'));
      this.breakers.set(accountId, b);
    }
    return b;
  }

  async get(accountId: string): Promise<AdapterInstance> {
    if (this.closed) throw new AdapterUnavailable('the service is stopping');
    const entry = this.entries.get(accountId);
    if (entry && Date.now() - entry.checkedAt < REVALIDATE_MS) return entry.promise;
    if (entry) {
      const [row] = await query<{ revision: number; status: string }>(
        this.options.orm.em.fork(),
        `select revision, status from channels.channel_account where id = ?`,
        [accountId],
      );
      // Every credential, settings or status change bumps the revision. A disabled account
      // still serves the follow-ups (status, refunds, callbacks) of its runs.
      if (row && row.revision === entry.revision) {
        entry.checkedAt = Date.now();
        return entry.promise;
      }
      await this.invalidate(accountId);
    }
    const fresh: Entry = { promise: this.create(accountId), checkedAt: Date.now() };
    this.entries.set(accountId, fresh);
    fresh.promise.then(
      (i) => (fresh.revision = i.account.revision),
      () => {
        if (this.entries.get(accountId) === fresh) this.entries.delete(accountId);
      },
    );
    return fresh.promise;
  }

  private async create(accountId: string): Promise<AdapterInstance> {
    const em = this.options.orm.em.fork();
    const [account] = await query<AccountRow>(
      em,
      `select * from channels.channel_account where id = ?`,
      [accountId],
    );
    if (!account) throw new AdapterUnavailable(`channel account ${accountId} does not exist`);
    const [channel] = await query<ChannelRow>(em, `select * from channels.channel where id = ?`, [
      account.channel_id,
    ]);
    if (!channel) throw new AdapterUnavailable(`channel ${account.channel_id} does not exist`);
    let credentials: Record<string, string>;
    try {
      credentials = this.options.accounts.decrypt(account);
    } catch (err) {
      throw new AdapterUnavailable(
        `credentials of channel account ${accountId} cannot be decrypted`,
        err,
      );
    }
    const factory = factoryOf(channel);
    const config = adapterConfigOf(channel, account, credentials, this.options.defaultTimeoutMs);
    const base = this.options.callbackBase();
    const ctx = { protocol: channel.protocol, channelId: channel.id, accountId: account.id };
    try {
      const adapter = await factory.create(config, {
        record: (i) => this.options.recorder.record(i, ctx),
        emit: (e) => this.options.onEmit(channel, account, e),
        callbackUrl: base
          ? `${base.replace(/\/+$/, '')}/callbacks/${channel.code}/${account.id}`
          : undefined,
      });
      return { adapter, channel, account };
    } catch (err) {
      this.options.log.warn(
        { channel: channel.code, accountId, err: (err as Error).message },
        'adapter could not start',
      );
      throw new AdapterUnavailable(
        `the ${channel.code} adapter could not start: ${(err as Error).message}`,
        err,
      );
    }
  }

  /** Closes and forgets the account's adapter (next use creates a new one). */
  async invalidate(accountId: string): Promise<void> {
    const entry = this.entries.get(accountId);
    if (!entry) return;
    this.entries.delete(accountId);
    const instance = await entry.promise.catch(() => undefined);
    await instance?.adapter
      .close()
      .catch((err: unknown) => this.options.log.warn({ err, accountId }, 'adapter close failed'));
  }

  async invalidateAll(): Promise<void> {
    await Promise.all([...this.entries.keys()].map((id) => this.invalidate(id)));
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.invalidateAll();
  }
}
