import { Arg, Ctx, FieldResolver, Int, Resolver, Root } from 'type-graphql';
import { PageInfo, type Principal, type RequestContext } from '@coinslot/kernel';
import { Entitlement, PaymentConnection, PlanSubscription, PlayerRef } from '../../types';
import { playerEntitlementsLoader, toEntitlement } from '../entitlement/entitlement.service';
import { paymentPage } from '../payment/payment.resolver';
import {
  playerSubscriptionsLoader,
  subscriptionSnapshot,
  toPlanSubscription,
} from '../subscription/subscription.rows';

/**
 * Which of a player's billing rows the caller may see. The gateway only reaches these fields
 * through a Player that accounts resolved for the caller, but billing authorises on its own:
 * a portal sees its merchant's rows, a player token only its own, admins everything.
 */
function scope(principal: Principal, playerId: string): { sql: string; params: unknown[] } | null {
  switch (principal.kind) {
    case 'admin':
    case 'service':
      return { sql: 'player_id = ?', params: [playerId] };
    case 'portal':
      return { sql: 'player_id = ? and merchant_id = ?', params: [playerId, principal.merchantId] };
    case 'player':
      return principal.playerId === playerId
        ? { sql: 'player_id = ? and merchant_id = ?', params: [playerId, principal.merchantId] }
        : null;
  }
}

const emptyPage = () =>
  Object.assign(new PaymentConnection(), {
    edges: [],
    pageInfo: Object.assign(new PageInfo(), { hasNextPage: false, endCursor: null }),
  });

@Resolver(() => PlayerRef)
export class PlayerBillingResolver {
  @FieldResolver(() => PaymentConnection, { description: "The player's payments, newest first." })
  async payments(
    @Root() player: PlayerRef,
    @Arg('first', () => Int, { nullable: true }) first: number | null,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Ctx() ctx: RequestContext,
  ): Promise<PaymentConnection> {
    const where = scope(ctx.principal, player.id);
    if (!where) return emptyPage();
    return paymentPage(ctx, where, { first, after });
  }

  @FieldResolver(() => [PlanSubscription], {
    description: "The player's plan subscriptions, newest first (canceled ones too).",
  })
  async subscriptions(
    @Root() player: PlayerRef,
    @Ctx() ctx: RequestContext,
  ): Promise<PlanSubscription[]> {
    if (!scope(ctx.principal, player.id)) return [];
    const rows = await playerSubscriptionsLoader(ctx).load(player.id);
    const own =
      ctx.principal.kind === 'portal' || ctx.principal.kind === 'player'
        ? ctx.principal.merchantId
        : null;
    return rows
      .filter((r) => own === null || r.merchant_id === own)
      .map((r) => toPlanSubscription(subscriptionSnapshot(r)));
  }

  @FieldResolver(() => [Entitlement], {
    description: "The player's access to the merchant's services (expired ones too).",
  })
  async entitlements(
    @Root() player: PlayerRef,
    @Ctx() ctx: RequestContext,
  ): Promise<Entitlement[]> {
    if (!scope(ctx.principal, player.id)) return [];
    const rows = await playerEntitlementsLoader(ctx).load(player.id);
    const own =
      ctx.principal.kind === 'portal' || ctx.principal.kind === 'player'
        ? ctx.principal.merchantId
        : null;
    return rows.filter((r) => own === null || r.merchant_id === own).map((r) => toEntitlement(r));
  }
}
