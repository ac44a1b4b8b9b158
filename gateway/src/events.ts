import { EventEmitter } from 'node:events';
import Redis from 'ioredis';
import { Client } from 'pg';
import type { Logger } from 'pino';
import { EVENTS_CHANNEL } from '@coinslot/kernel';

/** Where status events from subgraphs reach the gateway. */
export interface EventBus {
  subscribe(topic: string, handler: (payload: unknown) => void): () => void;
  close(): Promise<void>;
}

export { EVENTS_CHANNEL };

class LocalTopics {
  private readonly emitter = new EventEmitter().setMaxListeners(0);
  subscribe(topic: string, handler: (payload: unknown) => void): () => void {
    this.emitter.on(topic, handler);
    return () => this.emitter.off(topic, handler);
  }
  publish(topic: string, payload: unknown): void {
    this.emitter.emit(topic, payload);
  }
  count(topic: string): number {
    return this.emitter.listenerCount(topic);
  }
}

/** In-process only: for tests of the mechanism and single-process demos. */
export class MemoryEventBus implements EventBus {
  private readonly topics = new LocalTopics();
  subscribe(topic: string, handler: (payload: unknown) => void) {
    return this.topics.subscribe(topic, handler);
  }
  publish(topic: string, payload: unknown): void {
    this.topics.publish(topic, payload);
  }
  async close(): Promise<void> {}
}

/**
 * One LISTEN connection per gateway process; events fan out to local subscribers. Reconnects
 * with backoff if the connection drops (events during the gap are re-read by clients from
 * the query side; the final status is always re-fetched on subscribe).
 */
export class PgEventBus implements EventBus {
  private readonly topics = new LocalTopics();
  private client: Client | null = null;
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(attempt = 0): Promise<void> {
    if (this.closed) return;
    const client = new Client({ connectionString: this.url });
    client.on('notification', (msg) => {
      if (msg.channel !== EVENTS_CHANNEL || !msg.payload) return;
      try {
        const { topic, payload } = JSON.parse(msg.payload) as { topic: string; payload: unknown };
        this.topics.publish(topic, payload);
      } catch (err) {
        this.log.warn({ err }, 'unreadable event notification');
      }
    });
    client.on('error', (err) => {
      if (this.closed) return;
      this.log.warn({ err }, 'event connection lost; reconnecting');
      this.client = null;
      void client.end().catch(() => undefined);
      setTimeout(
        () => void this.connect(attempt + 1),
        Math.min(30_000, 250 * 2 ** attempt),
      ).unref();
    });
    try {
      await client.connect();
      await client.query(`listen ${EVENTS_CHANNEL}`);
      this.client = client;
    } catch (err) {
      this.log.warn({ err }, 'event connection failed; retrying');
      setTimeout(
        () => void this.connect(attempt + 1),
        Math.min(30_000, 250 * 2 ** attempt),
      ).unref();
    }
  }

  subscribe(topic: string, handler: (payload: unknown) => void) {
    return this.topics.subscribe(topic, handler);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.client?.end().catch(() => undefined);
  }
}

/**
 * Redis pub/sub: every gateway instance subscribes to the one events channel, so a client
 * connected to any instance sees every event, wherever the subgraph published it.
 */
export class RedisEventBus implements EventBus {
  private readonly topics = new LocalTopics();
  private readonly redis: Redis;

  constructor(url: string, log: Logger) {
    this.redis = new Redis(url, { maxRetriesPerRequest: null });
    this.redis.on('error', (err) => log.warn({ err }, 'redis event connection error'));
    this.redis.on('message', (channel: string, message: string) => {
      if (channel !== EVENTS_CHANNEL) return;
      try {
        const { topic, payload } = JSON.parse(message) as { topic: string; payload: unknown };
        this.topics.publish(topic, payload);
      } catch (err) {
        log.warn({ err }, 'unreadable event message');
      }
    });
  }

  async start(): Promise<void> {
    await this.redis.subscribe(EVENTS_CHANNEL);
  }

  subscribe(topic: string, handler: (payload: unknown) => void) {
    return this.topics.subscribe(topic, handler);
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => undefined);
  }
}

/** Both: events published to PostgreSQL (one machine) or Redis (many) reach subscribers. */
export class CombinedEventBus implements EventBus {
  constructor(private readonly buses: EventBus[]) {}
  subscribe(topic: string, handler: (payload: unknown) => void) {
    const offs = this.buses.map((b) => b.subscribe(topic, handler));
    return () => offs.forEach((off) => off());
  }
  async close(): Promise<void> {
    await Promise.all(this.buses.map((b) => b.close()));
  }
}
