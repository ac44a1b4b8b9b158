import { Arg, Ctx, ID, Int, Mutation, Query, Resolver } from 'type-graphql';
import { badInput, requireAdmin, type RequestContext } from '@coinslot/kernel';
import type { BillingRuntime } from '../../runtime';
import { SetWebhookEndpointPayload, WebhookDelivery } from '../../types';

export function createWebhookResolver(rt: () => BillingRuntime) {
  @Resolver()
  class WebhookResolver {
    @Mutation(() => SetWebhookEndpointPayload, {
      description:
        "Owner: sets a merchant's webhook endpoint and issues a new signing secret, shown once.",
    })
    async setWebhookEndpoint(
      @Arg('merchantId', () => ID) merchantId: string,
      @Arg('url', () => String) url: string,
      @Ctx() ctx: RequestContext,
    ): Promise<SetWebhookEndpointPayload> {
      requireAdmin(ctx.principal, 'owner');
      const { endpoint, secret } = await rt().webhooks.setEndpoint(
        ctx.em,
        ctx.principal,
        merchantId,
        url,
      );
      return Object.assign(new SetWebhookEndpointPayload(), { endpoint, secret });
    }

    @Mutation(() => WebhookDelivery, {
      description: 'Admin: sends a webhook delivery again now, with the same event id.',
    })
    async replayWebhookDelivery(
      @Arg('id', () => ID) id: string,
      @Ctx() ctx: RequestContext,
    ): Promise<WebhookDelivery> {
      requireAdmin(ctx.principal);
      return rt().webhooks.replay(ctx.em, ctx.principal, id);
    }

    @Query(() => [WebhookDelivery], {
      description: "Admin: a merchant's webhook log, newest first.",
    })
    async webhookDeliveries(
      @Arg('merchantId', () => ID) merchantId: string,
      @Arg('first', () => Int, { nullable: true }) first: number | null,
      @Ctx() ctx: RequestContext,
    ): Promise<WebhookDelivery[]> {
      requireAdmin(ctx.principal);
      const n = first ?? 50;
      if (!Number.isInteger(n) || n < 1 || n > 500)
        throw badInput('first must be between 1 and 500.', 'first');
      return rt().webhooks.list(ctx.em, merchantId, n);
    }
  }
  return WebhookResolver;
}
