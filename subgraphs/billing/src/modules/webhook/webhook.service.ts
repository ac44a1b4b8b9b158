/**
 * Signed webhooks to a merchant's game server: item deliveries and payment/refund notifications.
 *
 * - One endpoint per merchant; its signing secret is generated here, shown once, and stored
 *   sealed with AES-256-GCM (WEBHOOK_KEY, the endpoint id as AAD).
 * - An event becomes a webhook_delivery row in the same transaction as the fact it reports
 *   (unique event_key: a replayed job never sends a second event), then a job sends it.
 * - Body: JSON `{id, type, createdAt, data}`; headers `Coinslot-Signature: t=<unix>,v1=<hex
 *   HMAC-SHA256(secret, t + "." + body)>`, `Coinslot-Event-Id`, `Coinslot-Event-Type`. The
 *   receiver dedupes by the event id.
 * - A non-2xx answer, a timeout or a connection error is retried with exponential backoff and
 *   equal jitter, up to WEBHOOK_MAX_ATTEMPTS; every attempt updates the log. Admins replay a
 *   delivery with replayWebhookDelivery.
 */
import { randomBytes } from 'node:crypto';
import {
  addJob,
  badInput,
  isUuid,
  newId,
  notFound,
  query,
  recordAudit,
  type EntityManager,
  type MikroORM,
  type Principal,
} from '@coinslot/kernel';
import type { Logger } from '@coinslot/kernel';
import type { BillingKeys, Config } from '../../config';
import { open, seal, signatureHeader } from '../../crypto';
import { SCHEMA, pgDate, pgJson } from '../../database';
import { JOB } from '../../jobs/names';
import { WebhookDelivery, WebhookEndpoint } from '../../types';

export interface EndpointRow {
  id: string;
  merchant_id: string;
  url: string;
  secret_sealed: string;
  secret_prefix: string;
  enabled: boolean;
  created_at: Date | string;
  updated_at: Date | string;
}

export interface DeliveryRow {
  id: string;
  merchant_id: string;
  endpoint_id: string | null;
  event_type: string;
  event_key: string;
  payment_id: string | null;
  refund_id: string | null;
  payload: Record<string, unknown> | string;
  status: 'PENDING' | 'SUCCEEDED' | 'FAILED' | 'SKIPPED';
  attempts: number;
  next_attempt_at: Date | string | null;
  last_response_code: number | null;
  last_error: string | null;
  created_at: Date | string;
  updated_at: Date | string;
  delivered_at: Date | string | null;
}

export interface WebhookEvent {
  merchantId: string;
  type: string;
  /** Unique per fact: the same key again adds nothing. */
  key: string;
  paymentId?: string | null;
  refundId?: string | null;
  data: Record<string, unknown>;
}

export const toEndpoint = (r: EndpointRow) =>
  Object.assign(new WebhookEndpoint(), {
    id: r.id,
    merchantId: r.merchant_id,
    url: r.url,
    secretPrefix: r.secret_prefix,
    createdAt: pgDate(r.created_at),
    updatedAt: pgDate(r.updated_at),
  });

export const toDelivery = (r: DeliveryRow) =>
  Object.assign(new WebhookDelivery(), {
    id: r.id,
    merchantId: r.merchant_id,
    eventType: r.event_type,
    paymentId: r.payment_id,
    status: r.status,
    attempts: r.attempts,
    nextAttemptAt: pgDate(r.next_attempt_at),
    lastResponseCode: r.last_response_code,
    lastError: r.last_error,
    payload: JSON.stringify(pgJson(r.payload)),
    createdAt: pgDate(r.created_at),
    deliveredAt: pgDate(r.delivered_at),
  });

export class WebhookService {
  constructor(
    private readonly config: Config,
    private readonly orm: MikroORM,
    private readonly keys: BillingKeys,
    private readonly log: Logger,
  ) {}

  /** Sets (or replaces) a merchant's endpoint with a new secret, returned once. */
  async setEndpoint(
    em: EntityManager,
    actor: Principal,
    merchantId: string,
    url: string,
  ): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
    if (!isUuid(merchantId)) throw notFound('Merchant');
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw badInput('url must be an absolute http(s) URL.', 'url');
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')
      throw badInput('url must be an http(s) URL.', 'url');
    if (this.config.NODE_ENV === 'production' && parsed.protocol !== 'https:')
      throw badInput('In production, webhooks go to https URLs only.', 'url');
    const secret = `whsec_${randomBytes(32).toString('base64url')}`;
    return em.transactional(async (tx) => {
      const [existing] = await query<EndpointRow>(
        tx,
        `select * from billing.webhook_endpoint where merchant_id = ? for update`,
        [merchantId],
      );
      const id = existing?.id ?? newId();
      const sealed = seal(this.keys.webhookKey, secret, id);
      const [row] = await query<EndpointRow>(
        tx,
        existing
          ? `update billing.webhook_endpoint set url = ?, secret_sealed = ?, secret_prefix = ?, enabled = true, updated_at = now() where id = ? returning *`
          : `insert into billing.webhook_endpoint (url, secret_sealed, secret_prefix, id, merchant_id) values (?, ?, ?, ?, ?) returning *`,
        existing
          ? [parsed.toString(), sealed, secret.slice(0, 12), id]
          : [parsed.toString(), sealed, secret.slice(0, 12), id, merchantId],
      );
      await recordAudit(tx, SCHEMA, actor, {
        action: existing ? 'webhook_endpoint.replace' : 'webhook_endpoint.create',
        targetType: 'WebhookEndpoint',
        targetId: id,
        outcome: 'succeeded',
        details: { merchantId, url: parsed.toString(), secretPrefix: secret.slice(0, 12) },
      });
      return { endpoint: toEndpoint(row!), secret };
    });
  }

  /**
   * In the caller's transaction: records the event for the merchant's endpoint and queues its
   * sending. Without an endpoint, notifications are dropped and deliveries (which the merchant
   * must not lose) are logged as SKIPPED, so an admin can see and replay them once one is set.
   */
  async enqueue(
    tx: EntityManager,
    event: WebhookEvent,
    options: { keepWithoutEndpoint?: boolean } = {},
  ): Promise<string | null> {
    const [endpoint] = await query<EndpointRow>(
      tx,
      `select * from billing.webhook_endpoint where merchant_id = ? and enabled`,
      [event.merchantId],
    );
    if (!endpoint && !options.keepWithoutEndpoint) return null;
    const id = newId();
    const payload = { id, type: event.type, createdAt: new Date().toISOString(), data: event.data };
    const [row] = await query<{ id: string }>(
      tx,
      `insert into billing.webhook_delivery (id, merchant_id, endpoint_id, event_type, event_key, payment_id, refund_id, payload, status)
       values (?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?) on conflict (event_key) do nothing returning id`,
      [
        id,
        event.merchantId,
        endpoint?.id ?? null,
        event.type,
        event.key,
        event.paymentId ?? null,
        event.refundId ?? null,
        JSON.stringify(payload),
        endpoint ? 'PENDING' : 'SKIPPED',
      ],
    );
    if (!row) return null;
    if (endpoint)
      await addJob(
        tx,
        SCHEMA,
        JOB.SEND_WEBHOOK,
        { deliveryId: id },
        { jobKey: `webhook:${id}`, maxAttempts: 3 },
      );
    return id;
  }

  /** One attempt (the job). Failures schedule the next attempt; nothing here throws for HTTP. */
  async send(deliveryId: string): Promise<void> {
    const em = this.orm.em.fork();
    const [d] = await query<DeliveryRow>(
      em,
      `select * from billing.webhook_delivery where id = ?`,
      [deliveryId],
    );
    if (!d || d.status !== 'PENDING') return;
    const [endpoint] = await query<EndpointRow>(
      em,
      `select * from billing.webhook_endpoint where merchant_id = ? and enabled`,
      [d.merchant_id],
    );
    if (!endpoint) {
      await query(
        em,
        `update billing.webhook_delivery set status = 'SKIPPED', last_error = 'no enabled endpoint', updated_at = now() where id = ?`,
        [d.id],
      );
      return;
    }
    const secret = open(this.keys.webhookKey, endpoint.secret_sealed, endpoint.id);
    const body = JSON.stringify(pgJson(d.payload));
    const t = Math.floor(Date.now() / 1000);
    let code: number | null = null;
    let error: string | null = null;
    try {
      const res = await fetch(endpoint.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Coinslot-Webhooks/1',
          'coinslot-signature': signatureHeader(secret, body, t),
          'coinslot-event-id': d.id,
          'coinslot-event-type': d.event_type,
        },
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(this.config.WEBHOOK_TIMEOUT_MS),
      });
      code = res.status;
      await res.arrayBuffer().catch(() => undefined);
      if (res.status < 200 || res.status >= 300) error = `HTTP ${res.status}`;
    } catch (err) {
      error = (err as Error).message.slice(0, 500);
    }
    const attempts = d.attempts + 1;
    await em.transactional(async (tx) => {
      if (!error) {
        await query(
          tx,
          `update billing.webhook_delivery set status = 'SUCCEEDED', attempts = ?, last_response_code = ?, last_error = null,
             next_attempt_at = null, delivered_at = now(), updated_at = now(), endpoint_id = ? where id = ? and status = 'PENDING'`,
          [attempts, code, endpoint.id, d.id],
        );
        return;
      }
      const exhausted = attempts >= this.config.WEBHOOK_MAX_ATTEMPTS;
      const next = exhausted ? null : new Date(Date.now() + this.backoff(attempts));
      await query(
        tx,
        `update billing.webhook_delivery set status = ?, attempts = ?, last_response_code = ?, last_error = ?,
           next_attempt_at = ?, updated_at = now(), endpoint_id = ? where id = ? and status = 'PENDING'`,
        [
          exhausted ? 'FAILED' : 'PENDING',
          attempts,
          code,
          error,
          next?.toISOString() ?? null,
          endpoint.id,
          d.id,
        ],
      );
      if (next)
        await addJob(
          tx,
          SCHEMA,
          JOB.SEND_WEBHOOK,
          { deliveryId: d.id },
          { jobKey: `webhook:${d.id}`, runAt: next, maxAttempts: 3 },
        );
    });
    if (error) this.log.info({ deliveryId: d.id, attempts, error }, 'webhook attempt failed');
  }

  /** Exponential backoff with equal jitter: half fixed, half random. */
  backoff(attempts: number): number {
    const ceiling = Math.min(
      this.config.WEBHOOK_RETRY_MAX_MS,
      this.config.WEBHOOK_RETRY_BASE_MS * 2 ** Math.min(attempts - 1, 30),
    );
    return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
  }

  /** Admin: sends a delivery again now (whatever its status), keeping its event id. */
  async replay(em: EntityManager, actor: Principal, id: string): Promise<WebhookDelivery> {
    if (!isUuid(id)) throw notFound('Webhook delivery');
    return em.transactional(async (tx) => {
      const [row] = await query<DeliveryRow>(
        tx,
        `update billing.webhook_delivery set status = 'PENDING', next_attempt_at = now(), updated_at = now() where id = ? returning *`,
        [id],
      );
      if (!row) throw notFound('Webhook delivery');
      await addJob(
        tx,
        SCHEMA,
        JOB.SEND_WEBHOOK,
        { deliveryId: id },
        { jobKey: `webhook:${id}`, maxAttempts: 3 },
      );
      await recordAudit(tx, SCHEMA, actor, {
        action: 'webhook_delivery.replay',
        targetType: 'WebhookDelivery',
        targetId: id,
        outcome: 'succeeded',
        details: { eventType: row.event_type, merchantId: row.merchant_id, attempts: row.attempts },
      });
      return toDelivery(row);
    });
  }

  async list(em: EntityManager, merchantId: string, first: number): Promise<WebhookDelivery[]> {
    if (!isUuid(merchantId)) throw notFound('Merchant');
    const rows = await query<DeliveryRow>(
      em,
      `select * from billing.webhook_delivery where merchant_id = ? order by created_at desc, id desc limit ?`,
      [merchantId, first],
    );
    return rows.map(toDelivery);
  }
}
