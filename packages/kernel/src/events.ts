import Redis from 'ioredis';
import type { EntityManager } from '@mikro-orm/postgresql';
import { query } from './database';

/**
 * Status events from subgraphs to gateways (e.g. a payment's status changed). One channel,
 * `{topic, payload}` messages; payloads stay small (ids and statuses): the gateway re-reads
 * the object itself.
 */
export const EVENTS_CHANNEL = 'coinslot_events';

export interface StatusEvent {
  topic: string;
  payload: Record<string, unknown>;
}

/**
 * PostgreSQL NOTIFY inside the caller's transaction: delivered to every listening gateway
 * exactly when (and only if) the state change commits.
 */
export async function notifyInTransaction(em: EntityManager, event: StatusEvent): Promise<void> {
  await query(em, 'select pg_notify(?, ?)', [EVENTS_CHANNEL, JSON.stringify(event)]);
}

/** Redis pub/sub for gateways on several machines; publish after the state change committed. */
export class RedisEventPublisher {
  private readonly redis: Redis;
  constructor(url: string) {
    this.redis = new Redis(url, {
      lazyConnect: false,
      maxRetriesPerRequest: 2,
      enableOfflineQueue: true,
    });
  }
  async publish(event: StatusEvent): Promise<void> {
    await this.redis.publish(EVENTS_CHANNEL, JSON.stringify(event));
  }
  async close(): Promise<void> {
    await this.redis.quit().catch(() => undefined);
  }
}
