import type { Redis } from 'ioredis';
import {
  RateLimiterPostgres,
  RateLimiterRedis,
  type RateLimiterAbstract,
  type RateLimiterRes,
} from 'rate-limiter-flexible';
import { rateLimited, type MikroORM } from '@coinslot/kernel';
import { SCHEMA } from '../../database';

type Knex = ReturnType<ReturnType<MikroORM['em']['getConnection']>['getKnex']>;

export interface LimitRule {
  /** Failures allowed in any window of `windowSeconds` before the key is locked out. */
  maxFailures: number;
}

export interface FailureLimiterOptions {
  windowSeconds: number;
  lockoutSeconds: number;
  perPlayer: LimitRule;
  /** A player's own address (player-token calls from a frontend). */
  perAddress: LimitRule;
  /**
   * A portal server's address (portal-key calls): every player of the merchant comes from it, so
   * it gets a higher limit than one player's address — still bounded, to stop a stolen portal key.
   */
  perPortalAddress?: LimitRule;
}

/** Whose failures count together. */
export interface LimiterKeys {
  player: string;
  address: string | null;
  /** Whether `address` is a portal server's (higher limit) rather than a player's. */
  portal?: boolean;
}

export type LimiterStore = { kind: 'postgres'; orm: MikroORM } | { kind: 'redis'; client: Redis };

const TABLE = 'activation_limiter';

/**
 * Failed activations (mistyped or unknown codes), per player and per client address.
 *
 * rate-limiter-flexible counts in fixed windows; the sliding window is built on top of it the
 * usual way: one counter per fixed window, and the estimate for the last `window` seconds is
 * `current + previous × (share of the previous window still inside the sliding one)`. Crossing
 * the limit locks the key out for `lockoutSeconds` (a separate limiter's `block`), and every
 * activation first checks the lockouts — a locked-out player or address is refused before any
 * code is looked at, valid or not.
 */
export class FailureLimiter {
  private readonly counters: RateLimiterAbstract;
  private readonly lockouts: RateLimiterAbstract;
  private readonly knex: Knex | null = null;

  constructor(
    store: LimiterStore,
    private readonly options: FailureLimiterOptions,
  ) {
    const window = options.windowSeconds;
    // Counters live two windows so the previous window is still readable.
    const counterOpts = { keyPrefix: 'scf', points: 1_000_000_000, duration: 2 * window };
    const lockoutOpts = { keyPrefix: 'scl', points: 1, duration: options.lockoutSeconds };
    if (store.kind === 'redis') {
      this.counters = new RateLimiterRedis({ storeClient: store.client, ...counterOpts });
      this.lockouts = new RateLimiterRedis({ storeClient: store.client, ...lockoutOpts });
    } else {
      const knex = store.orm.em.getConnection().getKnex();
      this.knex = knex;
      const pg = {
        storeClient: knex,
        storeType: 'knex',
        tableName: TABLE,
        schemaName: SCHEMA,
        tableCreated: true,
      };
      this.counters = new RateLimiterPostgres({ ...pg, ...counterOpts });
      this.lockouts = new RateLimiterPostgres({ ...pg, ...lockoutOpts });
    }
  }

  static keys(
    playerId: string,
    clientIp: string | null,
    via: 'player' | 'portal' = 'player',
  ): LimiterKeys {
    return {
      player: `p:${playerId}`,
      address: clientIp ? `ip:${clientIp}` : null,
      portal: via === 'portal',
    };
  }

  /** Throws RATE_LIMITED (with retryAfterSeconds) when the player or the address is locked out. */
  async assertAllowed(keys: LimiterKeys): Promise<void> {
    const [waitMs] = await this.lockedOutMany([keys]);
    if (waitMs! > 0) throw lockedOut(waitMs!);
  }

  /**
   * For each caller, how long it stays locked out (0 = allowed), read for all of them at once: one
   * query on the PostgreSQL store (the table rate-limiter-flexible keeps: key, points, expire in
   * epoch ms), parallel reads on Redis.
   */
  async lockedOutMany(callers: readonly LimiterKeys[]): Promise<number[]> {
    const keysOf = (k: LimiterKeys) => [k.player, ...(k.address ? [k.address] : [])];
    const unique = [...new Set(callers.flatMap(keysOf))];
    const waits = new Map<string, number>();
    if (this.knex) {
      const now = Date.now();
      const rows = await this.knex
        .withSchema(SCHEMA)
        .select('key', 'points', 'expire')
        .from(TABLE)
        .whereIn(
          'key',
          unique.map((k) => this.lockouts.getKey(k)),
        )
        .andWhere((w) => w.where('expire', '>', now).orWhereNull('expire'));
      for (const r of rows as { key: string; points: number; expire: string | null }[]) {
        if (r.points > 1)
          waits.set(
            this.lockouts.parseKey(r.key),
            r.expire === null ? this.options.lockoutSeconds * 1000 : Number(r.expire) - now,
          );
      }
    } else {
      const states = await Promise.all(unique.map((k) => this.lockouts.get(k)));
      unique.forEach((k, i) => {
        const s = states[i];
        if (s && s.consumedPoints > 1) waits.set(k, s.msBeforeNext);
      });
    }
    return callers.map((c) => Math.max(0, ...keysOf(c).map((k) => waits.get(k) ?? 0)));
  }

  /** Records one failure for both keys; locks out a key whose sliding-window count reaches its limit. */
  async recordFailure(keys: LimiterKeys): Promise<void> {
    const work = [this.count(keys.player, this.options.perPlayer)];
    const addressRule = keys.portal
      ? (this.options.perPortalAddress ?? this.options.perAddress)
      : this.options.perAddress;
    if (keys.address) work.push(this.count(keys.address, addressRule));
    await Promise.all(work);
  }

  private async count(key: string, rule: LimitRule): Promise<void> {
    const windowMs = this.options.windowSeconds * 1000;
    const now = Date.now();
    const slot = Math.floor(now / windowMs);
    const [current, previous] = await Promise.all([
      this.counters.penalty(`${key}:${slot}`, 1),
      this.counters.get(`${key}:${slot - 1}`),
    ]);
    const overlap = 1 - (now - slot * windowMs) / windowMs;
    const estimate = current.consumedPoints + (previous?.consumedPoints ?? 0) * overlap;
    if (estimate >= rule.maxFailures) {
      await this.lockouts.block(key, this.options.lockoutSeconds);
    }
  }

  /** For tests and customer care: lift a lockout. */
  async reset(key: string): Promise<void> {
    await this.lockouts.delete(key);
  }
}

export const lockedOut = (waitMs: number) =>
  rateLimited(
    'Too many failed activation attempts. Wait before trying again, and check the code on the card.',
    Math.max(1, Math.ceil(waitMs / 1000)),
  );

export type { RateLimiterRes };
