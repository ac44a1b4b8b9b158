import type { RequestContext } from '@coinslot/kernel';
import { canSeeCatalog } from './scope';
import { countryLoader, toCountry } from './modules/country/country.service';
import { planLoader, toPlan } from './modules/plan/plan.service';
import { priceLoader, toPrice } from './modules/price/price.service';
import { productLoader, toProduct } from './modules/product/product.service';
import { serviceLoader, toService } from './modules/service/service.service';
import { toVariant, variantLoader } from './modules/variant/variant.service';

/**
 * __resolveReference for every entity other subgraphs point at: each goes through the same
 * per-request loader as the catalog's own fields, so N references of a type cost one query.
 * Another merchant's object resolves to null, never its data.
 */
export const references = {
  Product: {
    async __resolveReference(ref: { id: string }, ctx: RequestContext) {
      const row = await productLoader(ctx).load(ref.id);
      return row && canSeeCatalog(ctx.principal, row.merchant_id) ? toProduct(row) : null;
    },
  },
  ProductVariant: {
    async __resolveReference(ref: { id: string }, ctx: RequestContext) {
      const row = await variantLoader(ctx).load(ref.id);
      return row && canSeeCatalog(ctx.principal, row.merchant_id) ? toVariant(row) : null;
    },
  },
  Price: {
    async __resolveReference(ref: { id: string }, ctx: RequestContext) {
      const row = await priceLoader(ctx).load(ref.id);
      return row && canSeeCatalog(ctx.principal, row.merchant_id) ? toPrice(row) : null;
    },
  },
  Service: {
    async __resolveReference(ref: { id: string }, ctx: RequestContext) {
      const row = await serviceLoader(ctx).load(ref.id);
      return row && canSeeCatalog(ctx.principal, row.merchant_id) ? toService(row) : null;
    },
  },
  Plan: {
    async __resolveReference(ref: { id: string }, ctx: RequestContext) {
      const row = await planLoader(ctx).load(ref.id);
      return row && canSeeCatalog(ctx.principal, row.merchant_id) ? toPlan(row) : null;
    },
  },
  Country: {
    async __resolveReference(ref: { code: string }, ctx: RequestContext) {
      const row = await countryLoader(ctx).load(ref.code);
      return row && toCountry(row);
    },
  },
};
