import net from 'node:net';
import { Redis } from 'ioredis';
import { createTestDatabase } from '@coinslot/testing';
import { newId, type MikroORM } from '@coinslot/kernel';
import { openServiceDatabase } from '../src/database';
import { FailureLimiter, type LimiterStore } from '../src/modules/activation/limiter';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Whether a Redis answers at REDIS_URL (the Redis store is tested only then). */
function redisReachable(): Promise<boolean> {
  const u = new URL(REDIS_URL);
  return new Promise((resolve) => {
    const socket = net.connect({ host: u.hostname, port: Number(u.port || 6379) });
    socket.setTimeout(300);
    socket.once('connect', () => {
      socket.end();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

describe('scratch-cards: failed-activation limiter (sliding window + lockout)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let orm: MikroORM;
  let redis: Redis | null = null;

  beforeAll(async () => {
    db = await createTestDatabase();
    orm = await openServiceDatabase(db.url, 4);
    if (await redisReachable()) redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    redis?.disconnect();
    await orm?.close(true);
    await db?.drop();
  });

  const options = {
    windowSeconds: 60,
    lockoutSeconds: 120,
    perPlayer: { maxFailures: 3 },
    perAddress: { maxFailures: 5 },
  };

  const behaves = async (store: LimiterStore) => {
    const limiter = new FailureLimiter(store, options);
    // Fresh addresses per run: a shared Redis keeps lockouts between runs.
    const ip = () => `10.${[0, 0, 0].map(() => Math.floor(Math.random() * 250)).join('.')}`;
    const address = ip();
    const keys = FailureLimiter.keys(newId(), address);
    await limiter.assertAllowed(keys);
    await limiter.recordFailure(keys);
    await limiter.recordFailure(keys);
    await limiter.assertAllowed(keys);
    await limiter.recordFailure(keys);
    // Three failures in the window: the player is locked out, for about the lockout time.
    const err = await limiter.assertAllowed(keys).catch((e: unknown) => e);
    expect(err).toMatchObject({
      extensions: { code: 'RATE_LIMITED', retryAfterSeconds: expect.any(Number) },
    });
    const retry = (err as { extensions: { retryAfterSeconds: number } }).extensions
      .retryAfterSeconds;
    expect(retry).toBeGreaterThan(100);
    expect(retry).toBeLessThanOrEqual(120);
    // Other players from another address are not affected; the same address with another player is
    // (the address is at 3 of its 5), until its own limit.
    const other = FailureLimiter.keys(newId(), address);
    await limiter.assertAllowed(other);
    await limiter.recordFailure(other);
    await limiter.recordFailure(other);
    await expect(
      limiter.assertAllowed(FailureLimiter.keys(newId(), address)),
    ).rejects.toMatchObject({ extensions: { code: 'RATE_LIMITED' } });
    await limiter.assertAllowed(FailureLimiter.keys(newId(), ip()));
    // Customer care can lift a lockout.
    await limiter.reset(keys.player);
    await limiter.reset(keys.address!);
    await limiter.assertAllowed(keys);
  };

  it('locks out a player or an address after repeated failures (PostgreSQL store)', async () => {
    await behaves({ kind: 'postgres', orm });
  });

  it('behaves the same with the Redis store (when a Redis is reachable at REDIS_URL)', async () => {
    if (!redis) {
      console.warn(`no Redis at ${REDIS_URL}: Redis store not exercised`);
      return;
    }
    await behaves({ kind: 'redis', client: redis });
  });

  it("gives a portal server's address (all its players behind it) its own, higher limit", async () => {
    const limiter = new FailureLimiter(
      { kind: 'postgres', orm },
      { ...options, perAddress: { maxFailures: 3 }, perPortalAddress: { maxFailures: 8 } },
    );
    const server = '10.200.0.1';
    for (let i = 0; i < 7; i += 1)
      await limiter.recordFailure(FailureLimiter.keys(newId(), server, 'portal'));
    await limiter.assertAllowed(FailureLimiter.keys(newId(), server, 'portal'));
    await limiter.recordFailure(FailureLimiter.keys(newId(), server, 'portal'));
    await expect(
      limiter.assertAllowed(FailureLimiter.keys(newId(), server, 'portal')),
    ).rejects.toMatchObject({ extensions: { code: 'RATE_LIMITED' } });
    // A player's own address keeps the strict limit.
    const home = '10.200.0.2';
    for (let i = 0; i < 3; i += 1) await limiter.recordFailure(FailureLimiter.keys(newId(), home));
    await expect(limiter.assertAllowed(FailureLimiter.keys(newId(), home))).rejects.toMatchObject({
      extensions: { code: 'RATE_LIMITED' },
    });
  });

  it('counts the previous window in proportion to its overlap (sliding, not fixed, windows)', async () => {
    const limiter = new FailureLimiter(
      { kind: 'postgres', orm },
      { ...options, windowSeconds: 2, perPlayer: { maxFailures: 4 } },
    );
    const keys = FailureLimiter.keys(newId(), null);
    // Fail 3 times early in a fixed window, then twice right after the boundary: a fixed window
    // would restart at 2 (< 4); the sliding estimate is 2 + 3 × ~0.99 ≥ 4.
    const windowMs = 2_000;
    await new Promise((r) => setTimeout(r, windowMs - (Date.now() % windowMs) + 20));
    for (let i = 0; i < 3; i += 1) await limiter.recordFailure(keys);
    await limiter.assertAllowed(keys);
    await new Promise((r) => setTimeout(r, windowMs - (Date.now() % windowMs) + 20));
    await limiter.recordFailure(keys);
    await limiter.assertAllowed(keys);
    await limiter.recordFailure(keys);
    await expect(limiter.assertAllowed(keys)).rejects.toMatchObject({
      extensions: { code: 'RATE_LIMITED' },
    });
  });
});
