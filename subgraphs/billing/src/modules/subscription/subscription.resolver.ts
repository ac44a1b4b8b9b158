import { Arg, Ctx, Mutation, Resolver } from 'type-graphql';
import { canSee, requirePortal, type RequestContext } from '@coinslot/kernel';
import type { BillingRuntime } from '../../runtime';
import {
  CancelSubscriptionInput,
  CancelSubscriptionPayload,
  PlanSubscription,
  SubscribeInput,
  SubscribePayload,
} from '../../types';
import { toPayment } from '../payment/payment.rows';
import { subscriptionLoader, subscriptionSnapshot, toPlanSubscription } from './subscription.rows';

/** Federation: PlanSubscription references; another merchant's (or player's) resolve to null. */
export async function resolveSubscriptionReference(
  ref: { id: string },
  ctx: RequestContext,
): Promise<PlanSubscription | null> {
  const row = await subscriptionLoader(ctx).load(ref.id);
  if (!row || !canSee(ctx.principal, { merchantId: row.merchant_id, playerId: row.player_id }))
    return null;
  return toPlanSubscription(subscriptionSnapshot(row));
}

export function createSubscriptionResolver(rt: () => BillingRuntime) {
  @Resolver(() => PlanSubscription)
  class SubscriptionResolver {
    @Mutation(() => SubscribePayload, {
      description:
        "Subscribes a player to a plan (portal keys) at the plan's price in the player's country, charging the first period now; ACTIVE once that payment succeeded, then renewed every period. Idempotent like createPayment.",
    })
    async subscribe(
      @Arg('input', () => SubscribeInput) input: SubscribeInput,
      @Ctx() ctx: RequestContext,
    ): Promise<SubscribePayload> {
      const portal = requirePortal(ctx.principal);
      const answer = await rt().subscriptions.subscribe(ctx.em, {
        merchantId: portal.merchantId,
        portalId: portal.portalId,
        idempotencyKey: input.idempotencyKey,
        playerId: input.playerId,
        planId: input.planId,
        channelId: input.channelId ?? null,
        msisdn: input.msisdn ?? null,
      });
      return Object.assign(new SubscribePayload(), {
        subscription: toPlanSubscription(answer.subscription),
        payment: toPayment(answer.payment),
      });
    }

    @Mutation(() => CancelSubscriptionPayload, {
      description:
        'Cancels a subscription now, or at the end of the paid period (atPeriodEnd). Portal keys, the player itself, admins; repeating it changes nothing.',
    })
    async cancelSubscription(
      @Arg('input', () => CancelSubscriptionInput) input: CancelSubscriptionInput,
      @Ctx() ctx: RequestContext,
    ): Promise<CancelSubscriptionPayload> {
      const snapshot = await rt().subscriptions.cancel(
        ctx.principal,
        input.subscriptionId,
        input.atPeriodEnd ?? false,
      );
      return Object.assign(new CancelSubscriptionPayload(), {
        subscription: toPlanSubscription(snapshot),
      });
    }
  }
  return SubscriptionResolver;
}
