import { Arg, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';
import {
  assertCountry,
  isUuid,
  notFound,
  query,
  recordAudit,
  requireAdmin,
  type RequestContext,
} from '@coinslot/kernel';
import { SCHEMA } from '../../database';
import { assertCatalogVisible } from '../../scope';
import { Price } from '../price/price.type';
import { activePricesLoader, toPrice } from '../price/price.service';
import { Product } from '../product/product.type';
import { productLoader, toProduct } from '../product/product.service';
import { CreateVariantInput, CreateVariantsInput, ProductVariant } from './variant.type';
import { toVariant, variantLoader, variants, type VariantRow } from './variant.service';

@Resolver(() => ProductVariant)
export class VariantResolver {
  @Query(() => ProductVariant, {
    description: "A variant of one of the caller's merchant's products.",
  })
  async productVariant(
    @Arg('id', () => ID) id: string,
    @Ctx() ctx: RequestContext,
  ): Promise<ProductVariant> {
    const row = await variantLoader(ctx).load(id);
    return toVariant(assertCatalogVisible(ctx.principal, 'Product variant', row));
  }

  @FieldResolver(() => [Price], {
    description: 'Active prices in the country, one per channel kind and currency.',
  })
  async prices(
    @Root() variant: ProductVariant,
    @Arg('country', () => String, { description: 'ISO 3166-1 alpha-2.' }) country: string,
    @Ctx() ctx: RequestContext,
  ): Promise<Price[]> {
    const rows = await activePricesLoader(ctx, 'variant', assertCountry(country)).load(variant.id);
    return rows.map(toPrice);
  }

  @FieldResolver(() => Product)
  async product(@Root() variant: ProductVariant, @Ctx() ctx: RequestContext): Promise<Product> {
    const row = await productLoader(ctx).load(variant.productId);
    return toProduct(assertCatalogVisible(ctx.principal, 'Product', row));
  }

  @Mutation(() => ProductVariant, { description: 'Admin: adds a variant to a product.' })
  async createVariant(
    @Arg('input', () => CreateVariantInput) input: CreateVariantInput,
    @Ctx() ctx: RequestContext,
  ): Promise<ProductVariant> {
    requireAdmin(ctx.principal);
    return ctx.em.transactional(async (em) => {
      const { rows } = await variants.createMany(em, input.productId, [input], () => '');
      const row = rows[0]!;
      await recordAudit(em, SCHEMA, ctx.principal, {
        action: 'variant.create',
        targetType: 'ProductVariant',
        targetId: row.id,
        outcome: 'succeeded',
        details: { productId: row.product_id, sku: row.sku },
      });
      return toVariant(row);
    });
  }

  @Mutation(() => [ProductVariant], {
    description:
      'Admin: adds up to 5000 variants to a product at once, in input order; all or none.',
  })
  async createVariants(
    @Arg('input', () => CreateVariantsInput) input: CreateVariantsInput,
    @Ctx() ctx: RequestContext,
  ): Promise<ProductVariant[]> {
    requireAdmin(ctx.principal);
    return ctx.em.transactional(async (em) => {
      const { product, rows } = await variants.createMany(
        em,
        input.productId,
        input.variants,
        (i) => `variants[${i}].`,
      );
      await recordAudit(em, SCHEMA, ctx.principal, {
        action: 'variant.create_bulk',
        targetType: 'Product',
        targetId: product.id,
        outcome: 'succeeded',
        details: {
          count: rows.length,
          firstSku: rows[0]?.sku,
          lastSku: rows[rows.length - 1]?.sku,
        },
      });
      return rows.map(toVariant);
    });
  }

  @Mutation(() => ProductVariant, {
    description:
      'Admin: sells the variant as a virtual scratch card of a batch (scratch-cards issues one card per payment); null unlinks.',
  })
  async setVariantScratchCardBatch(
    @Arg('variantId', () => ID) variantId: string,
    @Arg('batchId', () => ID, { nullable: true }) batchId: string | null,
    @Ctx() ctx: RequestContext,
  ): Promise<ProductVariant> {
    requireAdmin(ctx.principal);
    if (!isUuid(variantId)) throw notFound('Product variant');
    if (batchId != null && !isUuid(batchId)) throw notFound('Scratch card batch');
    return ctx.em.transactional(async (em) => {
      const [row] = await query<VariantRow>(
        em,
        `update catalog.variant set scratch_card_batch_id = ? where id = ? returning *`,
        [batchId ?? null, variantId],
      );
      if (!row) throw notFound('Product variant');
      await recordAudit(em, SCHEMA, ctx.principal, {
        action: batchId ? 'variant.scratch_card_batch.link' : 'variant.scratch_card_batch.unlink',
        targetType: 'ProductVariant',
        targetId: row.id,
        outcome: 'succeeded',
        details: { batchId },
      });
      return toVariant(row);
    });
  }
}
