import {
  Arg,
  Ctx,
  Directive,
  FieldResolver,
  ID,
  Int,
  Mutation,
  Query,
  Resolver,
  Root,
  Subscription,
} from 'type-graphql';
import {
  AppError,
  ErrorCode,
  PageInfo,
  assertVisible,
  badInput,
  canSee,
  decodeCursor,
  encodeCursor,
  isUuid,
  loader,
  notFound,
  oneByKey,
  pageSize,
  pgArray,
  query,
  requireAdmin,
  requirePortal,
  requireService,
  type RequestContext,
} from '@coinslot/kernel';
import type { BillingRuntime } from '../../runtime';
import {
  ChannelRef,
  ConfirmPaymentInput,
  ConfirmPaymentPayload,
  CreatePaymentInput,
  CreatePaymentPayload,
  Payment,
  PaymentConnection,
  PaymentEdge,
  PaymentStatusEnum,
  PlayerRef,
  PriceRef,
  Refund,
  RefundPaymentInput,
  RefundPaymentPayload,
} from '../../types';
import { refundSnapshot, refundsLoader, toRefund } from '../refund/refund.service';
import { snapshotOf, toPayment, type PaymentRow } from './payment.rows';

export function paymentLoader(ctx: RequestContext) {
  return loader<string, PaymentRow | null>(ctx, 'payment:id', async (ids) => {
    const valid = ids.filter(isUuid);
    const rows = valid.length
      ? await query<PaymentRow>(ctx.em, `select * from billing.payment where id = any(?::uuid[])`, [
          pgArray(valid),
        ])
      : [];
    return oneByKey(ids, rows, (r) => r.id);
  });
}

/** Federation: Payment references from other subgraphs; another merchant's resolve to null. */
export async function resolvePaymentReference(
  ref: { id: string },
  ctx: RequestContext,
): Promise<Payment | null> {
  const row = await paymentLoader(ctx).load(ref.id);
  if (!row || !canSee(ctx.principal, { merchantId: row.merchant_id, playerId: row.player_id }))
    return null;
  return toPayment(snapshotOf(row));
}

/** One page of payments, newest first; `where` is already authorised. */
export async function paymentPage(
  ctx: RequestContext,
  where: { sql: string; params: unknown[] },
  args: { first?: number | null; after?: string | null },
): Promise<PaymentConnection> {
  const limit = pageSize(args.first, 20);
  let cursorSql = '';
  const params = [...where.params];
  if (args.after != null) {
    const [at, id] = decodeCursor(args.after);
    if (
      typeof at !== 'string' ||
      typeof id !== 'string' ||
      !isUuid(id) ||
      Number.isNaN(Date.parse(at))
    ) {
      throw badInput('Invalid cursor: pass an endCursor you received.', 'after');
    }
    cursorSql = ` and (created_at, id) < (?::timestamptz, ?::uuid)`;
    params.push(at, id);
  }
  const rows = await query<PaymentRow>(
    ctx.em,
    `select * from billing.payment where ${where.sql}${cursorSql} order by created_at desc, id desc limit ?`,
    [...params, limit + 1],
  );
  const page = rows.slice(0, limit);
  const edges = page.map((r) => {
    const s = snapshotOf(r);
    return Object.assign(new PaymentEdge(), {
      cursor: encodeCursor([s.createdAt, s.id]),
      node: toPayment(s),
    });
  });
  return Object.assign(new PaymentConnection(), {
    edges,
    pageInfo: Object.assign(new PageInfo(), {
      hasNextPage: rows.length > limit,
      endCursor: edges.at(-1)?.cursor ?? null,
    }),
  });
}

const STATUSES = new Set(Object.values(PaymentStatusEnum));

export function createPaymentResolver(rt: () => BillingRuntime) {
  @Resolver(() => Payment)
  class PaymentResolver {
    @Query(() => Payment, {
      description: "A payment of the caller's merchant (a player token: its own payments only).",
    })
    async payment(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext): Promise<Payment> {
      const row = await paymentLoader(ctx).load(id);
      assertVisible(
        ctx.principal,
        'Payment',
        row && { merchantId: row.merchant_id, playerId: row.player_id },
      );
      return toPayment(snapshotOf(row!));
    }

    @Query(() => PaymentConnection, {
      description: "Admin: a merchant's payments, newest first, optionally of one status.",
    })
    async payments(
      @Arg('merchantId', () => ID) merchantId: string,
      @Arg('status', () => PaymentStatusEnum, { nullable: true }) status: PaymentStatusEnum | null,
      @Arg('first', () => Int, { nullable: true }) first: number | null,
      @Arg('after', () => String, { nullable: true }) after: string | null,
      @Ctx() ctx: RequestContext,
    ): Promise<PaymentConnection> {
      requireAdmin(ctx.principal);
      if (!isUuid(merchantId)) throw notFound('Merchant');
      if (status != null && !STATUSES.has(status)) throw badInput('Unknown status.', 'status');
      return paymentPage(
        ctx,
        status
          ? { sql: 'merchant_id = ? and status = ?', params: [merchantId, status] }
          : { sql: 'merchant_id = ?', params: [merchantId] },
        { first, after },
      );
    }

    @Mutation(() => CreatePaymentPayload, {
      description:
        'Charges a price to a player (portal keys). Idempotent: the same idempotencyKey and parameters return the first result and never charge again.',
    })
    async createPayment(
      @Arg('input', () => CreatePaymentInput) input: CreatePaymentInput,
      @Ctx() ctx: RequestContext,
    ): Promise<CreatePaymentPayload> {
      const portal = requirePortal(ctx.principal);
      const snapshot = await rt().payments.create(ctx.em, {
        merchantId: portal.merchantId,
        portalId: portal.portalId,
        idempotencyKey: input.idempotencyKey,
        playerId: input.playerId,
        priceId: input.priceId,
        orderRef: input.orderRef,
        channelId: input.channelId ?? null,
        msisdn: input.msisdn ?? null,
        cardToken: input.cardToken ?? null,
        returnUrl: input.returnUrl ?? null,
      });
      return Object.assign(new CreatePaymentPayload(), { payment: toPayment(snapshot) });
    }

    @Mutation(() => ConfirmPaymentPayload, {
      description:
        'Sends the one-time password the player received; three wrong ones fail the payment (INVALID_OTP).',
    })
    async confirmPayment(
      @Arg('input', () => ConfirmPaymentInput) input: ConfirmPaymentInput,
      @Ctx() ctx: RequestContext,
    ): Promise<ConfirmPaymentPayload> {
      const snapshot = await rt().payments.confirm(ctx.principal, input.paymentId, input.otp);
      return Object.assign(new ConfirmPaymentPayload(), { payment: toPayment(snapshot) });
    }

    @Mutation(() => RefundPaymentPayload, {
      description:
        'Refunds a succeeded payment, in full (no amountMinor) or in part, never more than remains. Idempotent like createPayment.',
    })
    async refundPayment(
      @Arg('input', () => RefundPaymentInput) input: RefundPaymentInput,
      @Ctx() ctx: RequestContext,
    ): Promise<RefundPaymentPayload> {
      const answer = await rt().refunds.refund(ctx.em, ctx.principal, {
        idempotencyKey: input.idempotencyKey,
        paymentId: input.paymentId,
        amountMinor: input.amountMinor ?? null,
        reason: input.reason ?? null,
      });
      return Object.assign(new RefundPaymentPayload(), {
        refund: toRefund(answer.refund),
        payment: toPayment(answer.payment),
      });
    }

    @FieldResolver(() => PlayerRef)
    player(@Root() payment: Payment): PlayerRef {
      return Object.assign(new PlayerRef(), { id: payment.playerId });
    }

    @FieldResolver(() => PriceRef)
    price(@Root() payment: Payment): PriceRef {
      return Object.assign(new PriceRef(), { id: payment.priceId });
    }

    @FieldResolver(() => ChannelRef, {
      nullable: true,
      description: 'The channel that takes the money (null until one is chosen).',
    })
    channel(@Root() payment: Payment): ChannelRef | null {
      return payment.channelId ? Object.assign(new ChannelRef(), { id: payment.channelId }) : null;
    }

    @FieldResolver(() => [Refund], { description: 'Oldest first.' })
    async refunds(@Root() payment: Payment, @Ctx() ctx: RequestContext): Promise<Refund[]> {
      const rows = await refundsLoader(ctx).load(payment.id);
      return rows.map((r) => toRefund(refundSnapshot(r, payment.playerId)));
    }

    @Directive('@inaccessible')
    @Mutation(() => Payment, {
      description:
        "Internal (the gateway's cash desk, after verifying the cash-desk token): charges the card the player entered for a CARD payment waiting at the cash desk.",
    })
    async _payWithCard(
      @Arg('paymentId', () => ID) paymentId: string,
      @Arg('cardToken', () => String) cardToken: string,
      @Arg('returnUrl', () => String, { nullable: true }) returnUrl: string | null,
      @Ctx() ctx: RequestContext,
    ): Promise<Payment> {
      requireService(ctx.principal);
      if (!isUuid(paymentId)) throw notFound('Payment');
      if (!/^[A-Za-z0-9_]{1,100}$/.test(cardToken))
        throw badInput('cardToken is not a PSP token.', 'cardToken');
      if (returnUrl != null && !/^https?:\/\/\S+$/.test(returnUrl)) {
        throw badInput('returnUrl must be an http(s) URL.', 'returnUrl');
      }
      return toPayment(await rt().payments.chargeCard(paymentId, cardToken, returnUrl ?? null));
    }

    @Subscription(() => Payment, {
      description:
        "The payment's status, now and on every change until it is final. Served by the gateway, which re-reads payment(id) with the subscriber's key or token.",
      subscribe: () => {
        throw new AppError(
          ErrorCode.BAD_USER_INPUT,
          'Subscribe through the gateway (graphql-ws on /graphql).',
        );
      },
    })
    paymentStatusChanged(
      @Arg('paymentId', () => ID) _paymentId: string,
      @Root() payment: Payment,
    ): Payment {
      return payment;
    }
  }
  return PaymentResolver;
}
