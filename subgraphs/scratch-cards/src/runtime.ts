import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { query, startJobRunner, type MikroORM, type Runner } from '@coinslot/kernel';
import { cardKeys, type Config } from './config';
import { CodeHasher, Vault } from './codes/crypto';
import { Clients } from './clients';
import { SCHEMA } from './database';
import { CodecCache } from './modules/format/format.service';
import { FailureLimiter } from './modules/activation/limiter';
import { Delivery, markDelivered, owedBy, type OwedRow } from './modules/activation/delivery';
import { ActivationService } from './modules/activation/activation.service';
import { VirtualCardService } from './modules/virtual/virtual.service';
import { generateBatch, type GenerationDeps } from './modules/batch/generation';
import { batches } from './modules/batch/batch.service';

/** Everything the resolvers, routes and jobs of one service instance share. */
export class ScratchCardsRuntime {
  readonly hasher: CodeHasher;
  readonly vault: Vault;
  readonly clients: Clients;
  readonly codecs = new CodecCache();
  readonly limiter: FailureLimiter;
  readonly delivery: Delivery;
  readonly activation: ActivationService;
  readonly virtual: VirtualCardService;
  private readonly redis: Redis | null;
  private runner: Runner | null = null;

  constructor(
    readonly config: Config,
    readonly orm: MikroORM,
    readonly log: Logger,
    /** Tests replace the code source to force collisions. */
    readonly generation: Partial<Pick<GenerationDeps, 'codes'>> = {},
  ) {
    const keys = cardKeys(config);
    this.hasher = new CodeHasher(keys.codeKey);
    this.vault = new Vault(keys.vaultKey);
    this.clients = new Clients(config);
    this.redis = config.REDIS_URL
      ? new Redis(config.REDIS_URL, {
          enableOfflineQueue: false,
          maxRetriesPerRequest: 1,
          lazyConnect: false,
        })
      : null;
    this.limiter = new FailureLimiter(
      this.redis ? { kind: 'redis', client: this.redis } : { kind: 'postgres', orm },
      {
        windowSeconds: config.ACTIVATION_FAILURE_WINDOW_SECONDS,
        lockoutSeconds: config.ACTIVATION_LOCKOUT_SECONDS,
        perPlayer: { maxFailures: config.ACTIVATION_MAX_FAILURES_PER_PLAYER },
        perAddress: { maxFailures: config.ACTIVATION_MAX_FAILURES_PER_IP },
        perPortalAddress: { maxFailures: config.ACTIVATION_MAX_FAILURES_PER_PORTAL_IP },
      },
    );
    this.delivery = new Delivery(this.clients.accounts, this.clients.billing);
    this.activation = new ActivationService({
      orm,
      batchConcurrency: config.ACTIVATION_BATCH_CONCURRENCY,
      batchMax: config.ACTIVATION_BATCH_MAX,
      hasher: this.hasher,
      codecs: this.codecs,
      limiter: this.limiter,
      clients: this.clients,
      delivery: this.delivery,
      log,
    });
    this.virtual = new VirtualCardService(this.vault);
  }

  generationDeps(): GenerationDeps {
    return {
      orm: this.orm,
      hasher: this.hasher,
      vault: this.vault,
      chunkSize: this.config.GENERATION_CHUNK_SIZE,
      log: this.log,
      ...this.generation,
    };
  }

  /**
   * The delivery sweep (every minute, and on demand): every card redeemed more than
   * `olderThanSeconds` ago whose value was not delivered (the ledger or billing was down, or the
   * process died between redemption and delivery) gets it now, in batches. Idempotent: a card's
   * transfer is keyed by its activation id and its grant by the same key, so a card delivered
   * meanwhile moves nothing twice. A card that fails again waits for the next sweep.
   */
  async deliverPending(
    olderThanSeconds = this.config.DELIVERY_RETRY_DELAY_SECONDS,
  ): Promise<{ delivered: number; failed: number }> {
    const em = this.orm.em.fork();
    let delivered = 0;
    let failed = 0;
    let after: [string, string] = ['-infinity', '00000000-0000-0000-0000-000000000000'];
    for (;;) {
      const rows = await query<OwedRow & { due_since_text: string }>(
        em,
        `select c.*, d.due_since::text as due_since_text,
                b.credit_amount, b.credit_currency, b.service_id, b.access_days
           from scratch_cards.card_delivery_due d
           join scratch_cards.card c on c.id = d.card_id
           join scratch_cards.batch b on b.id = c.batch_id
          where d.due_since < now() - ?::interval
            and (d.due_since, d.card_id) > (?::timestamptz, ?::uuid)
          order by d.due_since, d.card_id
          limit 500`,
        [`${olderThanSeconds} seconds`, ...after],
      );
      if (rows.length === 0) break;
      const outcome = await this.delivery.deliverMany(rows.map(owedBy));
      await markDelivered(em, outcome);
      for (const [cardId, d] of outcome) {
        if (!(d instanceof Error)) {
          delivered += 1;
          continue;
        }
        failed += 1;
        this.log.warn({ err: d, cardId }, 'scratch-card delivery failed again');
      }
      const last = rows[rows.length - 1]!;
      after = [last.due_since_text, last.id];
    }
    if (delivered > 0 || failed > 0)
      this.log.info({ delivered, failed }, 'scratch-card delivery sweep');
    return { delivered, failed };
  }

  /** Delivery jobs of one card, queued by earlier versions: a redeemed card not yet delivered gets its value. */
  async deliverCard(cardId: string): Promise<void> {
    const em = this.orm.em.fork();
    const [row] = await query<OwedRow>(
      em,
      `select c.*, b.credit_amount, b.credit_currency, b.service_id, b.access_days
         from scratch_cards.card c join scratch_cards.batch b on b.id = c.batch_id where c.id = ?`,
      [cardId],
    );
    if (!row || row.status !== 'REDEEMED' || row.delivered_at) return;
    const value = owedBy(row);
    const delivered = await this.delivery.deliver(value);
    await markDelivered(em, new Map([[value.cardId, delivered]]));
    this.log.info({ cardId }, 'scratch-card value delivered by the retry job');
  }

  async startJobs(): Promise<void> {
    if (this.runner) return;
    this.runner = await startJobRunner({
      connectionString: this.config.DATABASE_URL,
      subgraphSchema: SCHEMA,
      concurrency: this.config.JOB_CONCURRENCY,
      log: this.log,
      crontab: '* * * * * deliver_pending_cards',
      tasks: {
        generate_batch: async (payload) => {
          const { batchId } = payload as { batchId: string };
          const outcome = await generateBatch(this.generationDeps(), batchId);
          this.log.info({ batchId, outcome }, 'scratch-card batch generation ended');
        },
        deliver_card: async (payload) => {
          await this.deliverCard((payload as { cardId: string }).cardId);
        },
        deliver_pending_cards: async () => {
          await this.deliverPending();
        },
        expire_batch: async (payload) => {
          const n = await batches.expire(
            this.orm.em.fork(),
            (payload as { batchId: string }).batchId,
          );
          this.log.info(
            { batchId: (payload as { batchId: string }).batchId, expired: n },
            'scratch-card batch expired',
          );
        },
      },
    });
  }

  async close(): Promise<void> {
    await this.runner?.stop();
    this.runner = null;
    await this.clients.close();
    this.redis?.disconnect();
  }
}
