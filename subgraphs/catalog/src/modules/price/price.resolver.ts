import {
  Arg,
  Ctx,
  Directive,
  FieldResolver,
  ID,
  Mutation,
  Query,
  Resolver,
  Root,
} from 'type-graphql';
import { recordAudit, requireAdmin, requireService, type RequestContext } from '@coinslot/kernel';
import { SCHEMA } from '../../database';
import { assertCatalogVisible } from '../../scope';
import { Plan } from '../plan/plan.type';
import { planLoader, toPlan } from '../plan/plan.service';
import { ProductVariant } from '../variant/variant.type';
import { toVariant, variantLoader } from '../variant/variant.service';
import { CreatePriceInput, InternalPrice, Price } from './price.type';
import { priceLoader, prices, toPrice } from './price.service';

@Resolver(() => Price)
export class PriceResolver {
  @Query(() => Price, { description: "A price point of the caller's merchant." })
  async price(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext): Promise<Price> {
    const row = await priceLoader(ctx).load(id);
    return toPrice(assertCatalogVisible(ctx.principal, 'Price', row));
  }

  @FieldResolver(() => ProductVariant, {
    nullable: true,
    description: 'The variant this price sells (null for a plan price).',
  })
  async variant(@Root() price: Price, @Ctx() ctx: RequestContext): Promise<ProductVariant | null> {
    if (!price.variantId) return null;
    const row = await variantLoader(ctx).load(price.variantId);
    return row && toVariant(row);
  }

  @FieldResolver(() => Plan, {
    nullable: true,
    description: 'The plan this price renews (null for a variant price).',
  })
  async plan(@Root() price: Price, @Ctx() ctx: RequestContext): Promise<Plan | null> {
    if (!price.planId) return null;
    const row = await planLoader(ctx).load(price.planId);
    return row && toPlan(row, price.country);
  }

  @Directive('@inaccessible')
  @Query(() => InternalPrice, {
    nullable: true,
    description:
      'Internal (services only): a price with what billing needs to charge and deliver it.',
  })
  async _price(
    @Arg('id', () => ID) id: string,
    @Ctx() ctx: RequestContext,
  ): Promise<InternalPrice | null> {
    requireService(ctx.principal);
    return prices.internal(ctx.em, id);
  }

  @Mutation(() => Price, { description: 'Admin: adds a price point to a variant or a plan.' })
  async createPrice(
    @Arg('input', () => CreatePriceInput) input: CreatePriceInput,
    @Ctx() ctx: RequestContext,
  ): Promise<Price> {
    requireAdmin(ctx.principal);
    return ctx.em.transactional(async (em) => {
      const row = await prices.create(em, input);
      await recordAudit(em, SCHEMA, ctx.principal, {
        action: 'price.create',
        targetType: 'Price',
        targetId: row.id,
        outcome: 'succeeded',
        details: {
          merchantId: row.merchant_id,
          variantId: row.variant_id,
          planId: row.plan_id,
          country: row.country,
          channelKind: row.channel_kind,
          amountMinor: row.amount,
          currency: row.currency,
        },
      });
      return toPrice(row);
    });
  }

  @Mutation(() => Price, {
    description: 'Admin: activates or deactivates a price point (prices are never deleted).',
  })
  async setPriceActive(
    @Arg('id', () => ID) id: string,
    @Arg('active', () => Boolean) active: boolean,
    @Ctx() ctx: RequestContext,
  ): Promise<Price> {
    requireAdmin(ctx.principal);
    return ctx.em.transactional(async (em) => {
      const row = await prices.setActive(em, id, active);
      await recordAudit(em, SCHEMA, ctx.principal, {
        action: active ? 'price.activate' : 'price.deactivate',
        targetType: 'Price',
        targetId: row.id,
        outcome: 'succeeded',
      });
      return toPrice(row);
    });
  }
}
