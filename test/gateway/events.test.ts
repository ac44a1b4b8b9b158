import { createTestDatabase } from '@coinslot/testing';
import {
  RedisEventPublisher,
  createLogger,
  openDatabase,
  notifyInTransaction,
  AuditLogEntity,
  type MikroORM,
} from '@coinslot/kernel';
import { PgEventBus, RedisEventBus, type EventBus } from '../../gateway/src/events';

const log = createLogger('test', 'silent');

function next(bus: EventBus, topic: string, timeoutMs = 3000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no event on ${topic}`)), timeoutMs);
    const off = bus.subscribe(topic, (payload) => {
      clearTimeout(t);
      off();
      resolve(payload);
    });
  });
}

describe('status events reach gateways', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let orm: MikroORM;
  beforeAll(async () => {
    db = await createTestDatabase();
    orm = await openDatabase({
      url: db.url,
      schema: 'billing',
      entities: [AuditLogEntity],
      migrations: [],
    });
  });
  afterAll(async () => {
    await orm?.close();
    await db?.drop();
  });

  it('PostgreSQL NOTIFY: delivered to every listening gateway on commit, never on rollback', async () => {
    const [a, b] = [new PgEventBus(db.url, log), new PgEventBus(db.url, log)];
    await Promise.all([a.start(), b.start()]);
    try {
      const lost = next(a, 'payment:rolled-back', 500);
      await orm.em
        .fork()
        .transactional(async (em) => {
          await notifyInTransaction(em, {
            topic: 'payment:rolled-back',
            payload: { status: 'SUCCEEDED' },
          });
          throw new Error('rollback');
        })
        .catch(() => undefined);
      await expect(lost).rejects.toThrow(/no event/);

      const both = Promise.all([next(a, 'payment:p1'), next(b, 'payment:p1')]);
      await orm.em
        .fork()
        .transactional((em) =>
          notifyInTransaction(em, { topic: 'payment:p1', payload: { status: 'SUCCEEDED' } }),
        );
      expect(await both).toEqual([{ status: 'SUCCEEDED' }, { status: 'SUCCEEDED' }]);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  const redisUrl = process.env.REDIS_URL;
  if (!redisUrl) {
    it('Redis pub/sub (REDIS_URL not set on this machine: skipped the Redis fan-out test)', () => {
      console.log('REDIS_URL is not set: the Redis fan-out test did not run');
      expect(redisUrl).toBeUndefined();
    });
  } else {
    it('Redis pub/sub: one publish reaches every gateway instance', async () => {
      const [a, b] = [new RedisEventBus(redisUrl, log), new RedisEventBus(redisUrl, log)];
      await Promise.all([a.start(), b.start()]);
      const publisher = new RedisEventPublisher(redisUrl);
      try {
        const topic = `payment:${Date.now()}`;
        const both = Promise.all([next(a, topic), next(b, topic)]);
        await publisher.publish({ topic, payload: { status: 'FAILED' } });
        expect(await both).toEqual([{ status: 'FAILED' }, { status: 'FAILED' }]);
      } finally {
        await Promise.all([a.close(), b.close(), publisher.close()]);
      }
    });
  }
});
