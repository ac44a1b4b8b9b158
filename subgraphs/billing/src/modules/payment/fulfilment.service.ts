/**
 * What happens after a payment succeeded, run by jobs (at least once) with exactly-once
 * effects: each step is marked in billing.payment_effect once done, and each remote write is
 * idempotent on an id derived from the payment (ledger transfer ids, the entitlement grant key,
 * the scratch card's payment id, the webhook's event key).
 *
 * 1. ledger.revenue   real money: channel_clearing → revenue, in the price's currency;
 * 2. deliver          coin pack: coins_issued → player_wallet (the variant's walletCredit);
 *                     service access: the entitlement extended by accessDays;
 *                     item: a signed `item.deliver` webhook to the game server;
 *                     a variant sold as a virtual scratch card: one card issued;
 * 3. wallet.capture   wallet payments: the hold (player_wallet → coin_sales) is posted once
 *                     the purchase is delivered; if delivery fails for good it is voided.
 */
import { AppError, ErrorCode, query, recordAudit, type MikroORM } from '@coinslot/kernel';
import type { Logger } from '@coinslot/kernel';
import type { Clients } from '../../clients';
import { crashPoint } from '../../crash';
import { SCHEMA } from '../../database';
import { derivedUuid } from '../../domain/serial';
import type { EntitlementService } from '../entitlement/entitlement.service';
import type { RefundService } from '../refund/refund.service';
import type { WebhookService } from '../webhook/webhook.service';
import { fulfilmentOf, paymentById, type PaymentRow } from './payment.rows';
import { walletHoldId } from './payment.service';

type Effect = 'ledger.revenue' | 'deliver' | 'wallet.capture' | 'wallet.release';

/** A delivery failure no retry can fix (the other side refused). */
function permanent(err: unknown): boolean {
  return (
    err instanceof AppError &&
    (err.code === ErrorCode.NOT_FOUND ||
      err.code === ErrorCode.CONFLICT ||
      err.code === ErrorCode.BAD_USER_INPUT ||
      err.code === ErrorCode.FORBIDDEN ||
      err.code === ErrorCode.IDEMPOTENCY_KEY_REUSED)
  );
}

export interface FulfilmentDeps {
  orm: MikroORM;
  log: Logger;
  clients: Clients;
  entitlements: EntitlementService;
  webhooks: WebhookService;
  refunds: RefundService;
}

export class FulfilmentService {
  constructor(private readonly d: FulfilmentDeps) {}

  private async mark(paymentId: string, effect: string): Promise<'DONE' | 'FAILED' | null> {
    const [row] = await query<{ state: 'DONE' | 'FAILED' }>(
      this.d.orm.em.fork(),
      `select state from billing.payment_effect where payment_id = ? and effect = ?`,
      [paymentId, effect],
    );
    return row?.state ?? null;
  }

  private async setMark(
    paymentId: string,
    effect: string,
    state: 'DONE' | 'FAILED',
    result: Record<string, unknown>,
  ): Promise<void> {
    await query(
      this.d.orm.em.fork(),
      `insert into billing.payment_effect (payment_id, effect, state, result) values (?, ?, ?, ?::jsonb) on conflict do nothing`,
      [paymentId, effect, state, JSON.stringify(result)],
    );
  }

  /** Runs `fn` unless the effect is marked; marks it done. */
  private async once(
    payment: PaymentRow,
    effect: Effect | string,
    fn: () => Promise<Record<string, unknown>>,
  ): Promise<'DONE' | 'FAILED'> {
    const state = await this.mark(payment.id, effect);
    if (state) return state;
    const result = await fn();
    await this.setMark(payment.id, effect, 'DONE', result);
    return 'DONE';
  }

  /** The fulfil job. `lastAttempt`: the job will not run again, so a failure is final. */
  async fulfil(paymentId: string, lastAttempt: boolean): Promise<void> {
    const payment = await paymentById(this.d.orm.em.fork(), paymentId);
    if (!payment || payment.status !== 'SUCCEEDED') return;
    if (payment.channel_kind !== 'WALLET') {
      await this.once(payment, 'ledger.revenue', async () => {
        const posted = await this.postRevenue(payment);
        crashPoint('after-revenue-posted'); // test-only (src/crash.ts): inert unless armed by env
        return posted;
      });
    }
    let delivered: 'DONE' | 'FAILED';
    try {
      delivered = await this.once(payment, 'deliver', () => this.deliver(payment));
    } catch (err) {
      if (!permanent(err) && !lastAttempt) throw err;
      await this.deliveryFailed(payment, err as Error);
      return;
    }
    if (payment.channel_kind === 'WALLET' && delivered === 'DONE') {
      await this.once(payment, 'wallet.capture', async () => {
        const t = await this.d.clients.postTransfer(walletHoldId(payment.id));
        return { transferId: t.id, state: t.state };
      });
    }
  }

  private async postRevenue(p: PaymentRow): Promise<Record<string, unknown>> {
    const { clients } = this.d;
    const [clearing, revenue] = await Promise.all([
      clients.ledgerAccount({
        kind: 'channel_clearing',
        currency: p.currency,
        merchantId: p.merchant_id,
      }),
      clients.ledgerAccount({ kind: 'revenue', currency: p.currency, merchantId: p.merchant_id }),
    ]);
    const t = await clients.transfer({
      id: derivedUuid('revenue', p.id),
      debitAccountId: clearing,
      creditAccountId: revenue,
      amount: BigInt(p.amount),
      currency: p.currency,
      kind: 'payment.revenue',
      reference: p.serial_number,
    });
    return { transferId: t.id };
  }

  private async deliver(p: PaymentRow): Promise<Record<string, unknown>> {
    const f = fulfilmentOf(p);
    const result: Record<string, unknown> = {};
    const { clients } = this.d;
    switch (f.productKind) {
      case 'COIN_PACK': {
        if (!f.walletCredit)
          throw new AppError(ErrorCode.CONFLICT, 'coin pack without walletCredit');
        const currency = f.walletCredit.currency;
        const [issued, wallet] = await Promise.all([
          clients.ledgerAccount({ kind: 'coins_issued', currency, merchantId: p.merchant_id }),
          clients.ledgerAccount({
            kind: 'player_wallet',
            currency,
            merchantId: p.merchant_id,
            playerId: p.player_id,
          }),
        ]);
        const t = await clients.transfer({
          id: derivedUuid('coins', p.id),
          debitAccountId: issued,
          creditAccountId: wallet,
          amount: BigInt(f.walletCredit.amountMinor),
          currency,
          kind: 'payment.coins',
          reference: p.serial_number,
        });
        result.coinsTransferId = t.id;
        break;
      }
      case 'SERVICE_ACCESS': {
        if (!f.serviceId || !f.accessDays)
          throw new AppError(ErrorCode.CONFLICT, 'service access without service or days');
        const e = await this.d.entitlements.grant(
          this.d.orm.em.fork(),
          { kind: 'service', service: 'billing' },
          {
            idempotencyKey: `payment:${p.id}`,
            merchantId: p.merchant_id,
            playerId: p.player_id,
            serviceId: f.serviceId,
            days: f.accessDays,
            source: 'payment',
            sourceRef: p.id,
          },
        );
        result.entitlementId = e.id;
        break;
      }
      case 'ITEM': {
        const id = await this.d.orm.em.fork().transactional((tx) =>
          this.d.webhooks.enqueue(
            tx,
            {
              merchantId: p.merchant_id,
              type: 'item.deliver',
              key: `item.deliver:${p.id}`,
              paymentId: p.id,
              data: {
                paymentId: p.id,
                serialNumber: p.serial_number,
                orderRef: p.order_ref,
                playerId: p.player_id,
                productId: f.productId,
                variantId: f.variantId,
                sku: f.variantSku,
              },
            },
            { keepWithoutEndpoint: true },
          ),
        );
        result.webhookDeliveryId = id;
        break;
      }
      case null:
        // A plan price: the recurring subscriptions extend access per period (not a one-off delivery).
        break;
    }
    if (f.scratchCardBatchId) {
      const card = await clients.issueVirtualCard({
        paymentId: p.id,
        merchantId: p.merchant_id,
        playerId: p.player_id,
        batchId: f.scratchCardBatchId,
      });
      result.scratchCard = { cardId: card.cardId, serialNumber: card.serialNumber };
      // The code reaches the player through the merchant's game (signed, like every delivery).
      await this.d.orm.em.fork().transactional((tx) =>
        this.d.webhooks.enqueue(
          tx,
          {
            merchantId: p.merchant_id,
            type: 'scratch_card.issued',
            key: `scratch_card.issued:${p.id}`,
            paymentId: p.id,
            data: {
              paymentId: p.id,
              orderRef: p.order_ref,
              playerId: p.player_id,
              serialNumber: card.serialNumber,
              activationCode: card.activationCode,
              expiresAt: card.expiresAt,
            },
          },
          { keepWithoutEndpoint: true },
        ),
      );
    }
    return result;
  }

  /** Delivery failed for good: recorded, the merchant told, a wallet's coins given back. */
  private async deliveryFailed(p: PaymentRow, err: Error): Promise<void> {
    this.d.log.error({ paymentId: p.id, err: err.message }, 'delivery failed for good');
    await this.setMark(p.id, 'deliver', 'FAILED', { error: err.message.slice(0, 500) });
    await this.d.orm.em.fork().transactional(async (tx) => {
      await recordAudit(
        tx,
        SCHEMA,
        { kind: 'service', service: 'billing' },
        {
          action: 'payment.deliver',
          targetType: 'Payment',
          targetId: p.id,
          outcome: 'failed',
          details: { error: err.message.slice(0, 500) },
        },
      );
      await this.d.webhooks.enqueue(tx, {
        merchantId: p.merchant_id,
        type: 'payment.delivery_failed',
        key: `payment.delivery_failed:${p.id}`,
        paymentId: p.id,
        data: {
          paymentId: p.id,
          serialNumber: p.serial_number,
          orderRef: p.order_ref,
          error: err.message.slice(0, 500),
        },
      });
    });
    if (p.channel_kind === 'WALLET') {
      const released = await this.release(p);
      if (released) await this.d.refunds.recordAutomaticRefund(p.id, 'delivery_failed');
    }
  }

  /** Voids a wallet hold (failed or canceled payment, failed delivery). True when coins came back. */
  async release(p: PaymentRow): Promise<boolean> {
    try {
      const t = await this.d.clients.voidTransfer(walletHoldId(p.id));
      await this.setMark(p.id, 'wallet.release', 'DONE', { transferId: t.id });
      return t.state === 'voided';
    } catch (err) {
      if (err instanceof AppError && err.code === ErrorCode.NOT_FOUND) return false; // no hold was ever made
      if (err instanceof AppError && err.code === ErrorCode.CONFLICT) {
        this.d.log.error(
          { paymentId: p.id },
          'wallet hold already posted: coins need a refund (review)',
        );
        return false;
      }
      throw err;
    }
  }

  /** The release job of a failed or canceled wallet payment. */
  async releaseFailed(paymentId: string): Promise<void> {
    const p = await paymentById(this.d.orm.em.fork(), paymentId);
    if (!p || (p.status !== 'FAILED' && p.status !== 'CANCELED') || p.channel_kind !== 'WALLET')
      return;
    if (await this.mark(p.id, 'wallet.release')) return;
    await this.release(p);
  }

  /** The settle job of a succeeded refund: the ledger reversal of real money. */
  async settleRefund(refundId: string): Promise<void> {
    const em = this.d.orm.em.fork();
    const [r] = await query<{
      id: string;
      payment_id: string;
      amount: string;
      currency: string;
      reference: string;
      status: string;
    }>(
      em,
      `select id, payment_id, amount, currency, reference, status from billing.refund where id = ?`,
      [refundId],
    );
    if (!r || r.status !== 'SUCCEEDED') return;
    const p = (await paymentById(em, r.payment_id))!;
    if (p.channel_kind === 'WALLET') return; // the coins went back with the refund itself
    await this.once(p, `refund.ledger:${r.id}`, async () => {
      const { clients } = this.d;
      const [clearing, revenue] = await Promise.all([
        clients.ledgerAccount({
          kind: 'channel_clearing',
          currency: r.currency,
          merchantId: p.merchant_id,
        }),
        clients.ledgerAccount({ kind: 'revenue', currency: r.currency, merchantId: p.merchant_id }),
      ]);
      const t = await clients.transfer({
        id: derivedUuid('refund-revenue', r.id),
        debitAccountId: revenue,
        creditAccountId: clearing,
        amount: BigInt(r.amount),
        currency: r.currency,
        kind: 'refund.revenue',
        reference: r.reference,
      });
      return { transferId: t.id };
    });
  }
}
