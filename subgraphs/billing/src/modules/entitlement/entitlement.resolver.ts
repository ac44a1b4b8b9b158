import { Arg, Ctx, Directive, Mutation, Resolver } from 'type-graphql';
import { canSee, requireService, type RequestContext } from '@coinslot/kernel';
import { Entitlement, GrantEntitlementInput } from '../../types';
import { entitlementLoader, entitlements, toEntitlement } from './entitlement.service';

/** Federation: Entitlement references (e.g. scratch-cards' activation answer). */
export async function resolveEntitlementReference(
  ref: { id: string },
  ctx: RequestContext,
): Promise<Entitlement | null> {
  const row = await entitlementLoader(ctx).load(ref.id);
  if (!row || !canSee(ctx.principal, { merchantId: row.merchant_id, playerId: row.player_id }))
    return null;
  return toEntitlement(row);
}

@Resolver(() => Entitlement)
export class EntitlementResolver {
  @Directive('@inaccessible')
  @Mutation(() => Entitlement, {
    nullable: true,
    description:
      "Internal (services): extends a player's access to a service by `days`, idempotent on idempotencyKey (the same key again grants nothing more).",
  })
  async _grantEntitlement(
    @Arg('input', () => GrantEntitlementInput) input: GrantEntitlementInput,
    @Ctx() ctx: RequestContext,
  ): Promise<Entitlement | null> {
    const service = requireService(ctx.principal);
    const row = await entitlements.grant(ctx.em, ctx.principal, {
      idempotencyKey: input.idempotencyKey,
      merchantId: input.merchantId,
      playerId: input.playerId,
      serviceId: input.serviceId,
      days: input.days,
      source: `service:${service.service}`,
      sourceRef: input.idempotencyKey,
    });
    return toEntitlement(row);
  }
}
