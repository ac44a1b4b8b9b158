import type { Logger } from '@coinslot/kernel';
import { query, startJobRunner, type MikroORM, type Runner } from '@coinslot/kernel';
import { Clients } from './clients';
import { billingKeys, type BillingKeys, type Config } from './config';
import { SCHEMA } from './database';
import { StatusEvents } from './events';
import { JOB } from './jobs/names';
import { EntitlementService } from './modules/entitlement/entitlement.service';
import { IdempotencyService } from './modules/idempotency/idempotency.service';
import { FulfilmentService } from './modules/payment/fulfilment.service';
import { PaymentService } from './modules/payment/payment.service';
import { RefundService } from './modules/refund/refund.service';
import { SubscriptionService } from './modules/subscription/subscription.service';
import { WebhookService } from './modules/webhook/webhook.service';

const HOUR = 3_600_000;

/** Everything the resolvers and jobs of one billing instance share. */
export class BillingRuntime {
  readonly keys: BillingKeys;
  readonly clients: Clients;
  readonly events: StatusEvents;
  readonly idempotency: IdempotencyService;
  readonly webhooks: WebhookService;
  readonly entitlements = new EntitlementService();
  readonly payments: PaymentService;
  readonly refunds: RefundService;
  readonly fulfilment: FulfilmentService;
  readonly subscriptions: SubscriptionService;
  private runner: Runner | null = null;

  constructor(
    readonly config: Config,
    readonly orm: MikroORM,
    readonly log: Logger,
  ) {
    this.keys = billingKeys(config);
    this.clients = new Clients(config);
    this.events = new StatusEvents(config.REDIS_URL, log);
    this.idempotency = new IdempotencyService({
      waitMs: config.IDEMPOTENCY_WAIT_MS,
      staleMs: 120_000,
    });
    this.webhooks = new WebhookService(config, orm, this.keys, log);
    const shared = {
      config,
      orm,
      log,
      clients: this.clients,
      events: this.events,
      idempotency: this.idempotency,
      webhooks: this.webhooks,
    };
    this.payments = new PaymentService({ ...shared, keys: this.keys });
    this.refunds = new RefundService(shared);
    this.fulfilment = new FulfilmentService({
      orm,
      log,
      clients: this.clients,
      entitlements: this.entitlements,
      webhooks: this.webhooks,
      refunds: this.refunds,
    });
    this.subscriptions = new SubscriptionService({
      orm,
      log,
      clients: this.clients,
      keys: this.keys,
      idempotency: this.idempotency,
      payments: this.payments,
      entitlements: this.entitlements,
    });
    // A subscription moves in the transaction of its payment's final status.
    this.payments.subscriptionHook = this.subscriptions;
  }

  async startJobs(): Promise<void> {
    if (this.runner) return;
    // Hourly cleanup, kept across restarts (the pending run time is preserved).
    await query(
      this.orm.em.fork(),
      `select "${SCHEMA}_jobs".add_job(?::text, '{}'::json, run_at => ?::timestamptz, job_key => ?::text, job_key_mode => 'preserve_run_at')`,
      [JOB.CLEANUP, new Date(Date.now() + HOUR).toISOString(), JOB.CLEANUP],
    );
    this.runner = await startJobRunner({
      connectionString: this.config.DATABASE_URL,
      subgraphSchema: SCHEMA,
      concurrency: this.config.JOB_CONCURRENCY,
      pollInterval: this.config.JOB_POLL_INTERVAL_MS,
      log: this.log,
      tasks: {
        [JOB.FULFIL]: async (payload, helpers) => {
          const last = helpers.job.attempts >= helpers.job.max_attempts;
          await this.fulfilment.fulfil((payload as { paymentId: string }).paymentId, last);
        },
        [JOB.RELEASE_HOLD]: async (payload) => {
          await this.fulfilment.releaseFailed((payload as { paymentId: string }).paymentId);
        },
        [JOB.RESOLVE_PAYMENT]: async (payload) => {
          const { paymentId, attempt } = payload as { paymentId: string; attempt?: number };
          await this.payments.resolve(paymentId, attempt ?? 0);
        },
        [JOB.RESOLVE_REFUND]: async (payload) => {
          const { refundId, attempt } = payload as { refundId: string; attempt?: number };
          await this.refunds.resolve(refundId, attempt ?? 0);
        },
        [JOB.SETTLE_REFUND]: async (payload) => {
          await this.fulfilment.settleRefund((payload as { refundId: string }).refundId);
        },
        [JOB.RENEW_SUBSCRIPTION]: async (payload) => {
          const { subscriptionId, period } = payload as { subscriptionId: string; period: number };
          await this.subscriptions.renew(subscriptionId, period);
        },
        [JOB.SEND_WEBHOOK]: async (payload) => {
          await this.webhooks.send((payload as { deliveryId: string }).deliveryId);
        },
        [JOB.CLEANUP]: async () => {
          const em = this.orm.em.fork();
          const removed = await this.idempotency.cleanup(em, this.config.IDEMPOTENCY_TTL_HOURS);
          if (removed) this.log.info({ removed }, 'idempotency keys past retention removed');
          await query(
            em,
            `select "${SCHEMA}_jobs".add_job(?::text, '{}'::json, run_at => ?::timestamptz, job_key => ?::text)`,
            [JOB.CLEANUP, new Date(Date.now() + HOUR).toISOString(), JOB.CLEANUP],
          );
        },
      },
    });
  }

  async close(): Promise<void> {
    await this.runner?.stop();
    this.runner = null;
    await this.clients.close();
    await this.events.close();
  }
}
