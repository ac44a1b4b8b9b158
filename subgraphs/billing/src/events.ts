import {
  notifyInTransaction,
  RedisEventPublisher,
  type EntityManager,
  type StatusEvent,
} from '@coinslot/kernel';
import type { Logger } from '@coinslot/kernel';

/**
 * Payment status events for the gateways (`payment:<id>`): PostgreSQL NOTIFY inside the
 * transaction that changed the state (delivered exactly when it commits), and Redis after the
 * commit when several machines run gateways. Payloads stay small: the gateway re-reads the
 * payment with the subscriber's own principal.
 */
export class StatusEvents {
  private readonly redis: RedisEventPublisher | null;

  constructor(
    redisUrl: string | undefined,
    private readonly log: Logger,
  ) {
    this.redis = redisUrl ? new RedisEventPublisher(redisUrl) : null;
  }

  static paymentEvent(paymentId: string, payload: Record<string, unknown>): StatusEvent {
    return { topic: `payment:${paymentId}`, payload: { paymentId, ...payload } };
  }

  async inTransaction(em: EntityManager, event: StatusEvent): Promise<void> {
    await notifyInTransaction(em, event);
  }

  /** Best effort: a gateway that misses one re-reads the payment on its next event or subscribe. */
  afterCommit(events: readonly StatusEvent[]): void {
    if (!this.redis || events.length === 0) return;
    for (const event of events) {
      this.redis
        .publish(event)
        .catch((err: unknown) =>
          this.log.warn({ err, topic: event.topic }, 'redis publish failed'),
        );
    }
  }

  async close(): Promise<void> {
    await this.redis?.close();
  }
}
