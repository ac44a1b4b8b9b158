import { Arg, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import {
  PageInfo,
  assertCountry,
  recordAudit,
  requireAdmin,
  type RequestContext,
} from '@coinslot/kernel';
import { SCHEMA } from '../../database';
import { assertCatalogVisible, merchantScope } from '../../scope';
import { Service } from '../service/service.type';
import { serviceLoader, toService } from '../service/service.service';
import {
  ProductVariant,
  ProductVariantConnection,
  ProductVariantEdge,
} from '../variant/variant.type';
import { toVariant, variantCursor, variantPage } from '../variant/variant.service';
import { CreateProductInput, Product } from './product.type';
import { productLoader, products, toProduct } from './product.service';

@Resolver(() => Product)
export class ProductResolver {
  @Query(() => [Product], {
    description:
      "The merchant's active products that have an active price in the country. Admins pass merchantId.",
  })
  async products(
    @Arg('country', () => String, { description: 'ISO 3166-1 alpha-2.' }) country: string,
    @Arg('merchantId', () => ID, { nullable: true }) merchantId: string | null | undefined,
    @Ctx() ctx: RequestContext,
  ): Promise<Product[]> {
    const code = assertCountry(country);
    const scope = merchantScope(ctx.principal, merchantId);
    return (await products.offered(ctx.em, scope, code)).map(toProduct);
  }

  @Query(() => Product, { description: "A product of the caller's merchant." })
  async product(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext): Promise<Product> {
    const row = await productLoader(ctx).load(id);
    return toProduct(assertCatalogVisible(ctx.principal, 'Product', row));
  }

  @FieldResolver(() => [ProductVariant], {
    description:
      'Variants by sku, one page (default 100, at most 200); use variantsConnection to page through more.',
  })
  async variants(
    @Root() product: Product,
    @Arg('first', () => Int, { nullable: true }) first: number | null | undefined,
    @Arg('after', () => String, {
      nullable: true,
      description: 'An endCursor of variantsConnection.',
    })
    after: string | null | undefined,
    @Ctx() ctx: RequestContext,
  ): Promise<ProductVariant[]> {
    const page = await variantPage(ctx, product.id, { first, after });
    return page.rows.map(toVariant);
  }

  @FieldResolver(() => ProductVariantConnection, {
    description: 'Variants by sku, page by page (cursor pagination).',
  })
  async variantsConnection(
    @Root() product: Product,
    @Arg('first', () => Int, { nullable: true, description: 'Page size, 1 to 200 (default 100).' })
    first: number | null | undefined,
    @Arg('after', () => String, { nullable: true }) after: string | null | undefined,
    @Ctx() ctx: RequestContext,
  ): Promise<ProductVariantConnection> {
    const page = await variantPage(ctx, product.id, { first, after });
    const edges = page.rows.map((row) =>
      Object.assign(new ProductVariantEdge(), { cursor: variantCursor(row), node: toVariant(row) }),
    );
    const pageInfo = Object.assign(new PageInfo(), {
      hasNextPage: page.hasNextPage,
      endCursor: edges.length ? edges[edges.length - 1]!.cursor : null,
    });
    return Object.assign(new ProductVariantConnection(), { edges, pageInfo });
  }

  @FieldResolver(() => Service, {
    nullable: true,
    description: 'The service a SERVICE_ACCESS product grants.',
  })
  async service(@Root() product: Product, @Ctx() ctx: RequestContext): Promise<Service | null> {
    if (!product.serviceId) return null;
    const row = await serviceLoader(ctx).load(product.serviceId);
    return row && toService(row);
  }

  @Mutation(() => Product, { description: 'Admin: adds a product to a merchant.' })
  async createProduct(
    @Arg('input', () => CreateProductInput) input: CreateProductInput,
    @Ctx() ctx: RequestContext,
  ): Promise<Product> {
    requireAdmin(ctx.principal);
    return ctx.em.transactional(async (em) => {
      const row = await products.create(em, input);
      await recordAudit(em, SCHEMA, ctx.principal, {
        action: 'product.create',
        targetType: 'Product',
        targetId: row.id,
        outcome: 'succeeded',
        details: {
          merchantId: row.merchant_id,
          sku: row.sku,
          kind: row.kind,
          serviceId: row.service_id,
        },
      });
      return toProduct(row);
    });
  }
}
