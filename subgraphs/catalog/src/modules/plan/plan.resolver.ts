import { Arg, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';
import { assertCountry, recordAudit, requireAdmin, type RequestContext } from '@coinslot/kernel';
import { SCHEMA } from '../../database';
import { ChannelKind } from '../../enums';
import { assertCatalogVisible, merchantScope } from '../../scope';
import { Price } from '../price/price.type';
import { activePricesLoader, toPrice } from '../price/price.service';
import { Service } from '../service/service.type';
import { serviceLoader, toService } from '../service/service.service';
import { CreatePlanInput, Plan } from './plan.type';
import { planLoader, plans, preferredPrice, toPlan } from './plan.service';

@Resolver(() => Plan)
export class PlanResolver {
  @Query(() => [Plan], {
    description:
      "The merchant's active subscription plans with an active price in the country. Admins pass merchantId.",
  })
  async plans(
    @Arg('country', () => String, { description: 'ISO 3166-1 alpha-2.' }) country: string,
    @Arg('merchantId', () => ID, { nullable: true }) merchantId: string | null | undefined,
    @Ctx() ctx: RequestContext,
  ): Promise<Plan[]> {
    const code = assertCountry(country);
    const scope = merchantScope(ctx.principal, merchantId);
    return (await plans.offered(ctx.em, scope, code)).map((row) => toPlan(row, code));
  }

  @Query(() => Plan, { description: "A plan of the caller's merchant." })
  async plan(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext): Promise<Plan> {
    const row = await planLoader(ctx).load(id);
    return toPlan(assertCatalogVisible(ctx.principal, 'Plan', row));
  }

  @FieldResolver(() => Service)
  async service(@Root() plan: Plan, @Ctx() ctx: RequestContext): Promise<Service> {
    const row = await serviceLoader(ctx).load(plan.serviceId);
    return toService(assertCatalogVisible(ctx.principal, 'Service', row));
  }

  @FieldResolver(() => Price, {
    nullable: true,
    description:
      'The price to subscribe with in `country` (default: the country the plan was listed for), for `channelKind` ' +
      '(default: carrier billing, then card, premium SMS, wallet).',
  })
  async price(
    @Root() plan: Plan,
    @Arg('country', () => String, { nullable: true }) country: string | null | undefined,
    @Arg('channelKind', () => ChannelKind, { nullable: true })
    channelKind: ChannelKind | null | undefined,
    @Ctx() ctx: RequestContext,
  ): Promise<Price | null> {
    const code = country != null ? assertCountry(country) : plan.country;
    if (code == null) return null;
    const row = preferredPrice(
      await activePricesLoader(ctx, 'plan', code).load(plan.id),
      channelKind,
    );
    return row && toPrice(row);
  }

  @FieldResolver(() => [Price], { description: 'Every active price of the plan in the country.' })
  async prices(
    @Root() plan: Plan,
    @Arg('country', () => String, { description: 'ISO 3166-1 alpha-2.' }) country: string,
    @Ctx() ctx: RequestContext,
  ): Promise<Price[]> {
    return (await activePricesLoader(ctx, 'plan', assertCountry(country)).load(plan.id)).map(
      toPrice,
    );
  }

  @Mutation(() => Plan, { description: 'Admin: adds a subscription plan to a service.' })
  async createPlan(
    @Arg('input', () => CreatePlanInput) input: CreatePlanInput,
    @Ctx() ctx: RequestContext,
  ): Promise<Plan> {
    requireAdmin(ctx.principal);
    return ctx.em.transactional(async (em) => {
      const row = await plans.create(em, input);
      await recordAudit(em, SCHEMA, ctx.principal, {
        action: 'plan.create',
        targetType: 'Plan',
        targetId: row.id,
        outcome: 'succeeded',
        details: {
          merchantId: row.merchant_id,
          serviceId: row.service_id,
          code: row.code,
          interval: row.interval,
          intervalCount: row.interval_count,
        },
      });
      return toPlan(row);
    });
  }
}
