import {
  MoneyType,
  badInput,
  byKey,
  conflict,
  decodeCursor,
  encodeCursor,
  isVirtualCurrency,
  loader,
  newId,
  notFound,
  pageSize,
  pgArray,
  query,
  type EntityManager,
  type RequestContext,
} from '@coinslot/kernel';
import type { LocalizedNames } from '../../entities';
import { ProductKind } from '../../enums';
import { byIdLoader } from '../../loaders';
import { namesFromInput } from '../../localized';
import { positiveAmount, toBigInt } from '../../money';
import { assertSku, assertUuid } from '../../scope';
import type { ProductRow } from '../product/product.service';
import { ProductVariant, type VariantInput } from './variant.type';

export interface VariantRow {
  id: string;
  merchant_id: string;
  product_id: string;
  sku: string;
  names: LocalizedNames;
  wallet_credit: string | null;
  wallet_currency: string | null;
  access_days: number | null;
  active: boolean;
}

export const toVariant = (r: VariantRow): ProductVariant =>
  Object.assign(new ProductVariant(), {
    id: r.id,
    merchantId: r.merchant_id,
    productId: r.product_id,
    sku: r.sku,
    localizedNames: r.names,
    walletCredit:
      r.wallet_credit != null && r.wallet_currency != null
        ? MoneyType.from(toBigInt(r.wallet_credit), r.wallet_currency)
        : null,
    accessDays: r.access_days,
    active: r.active,
  });

export const variantLoader = (ctx: RequestContext) => byIdLoader<VariantRow>(ctx, 'variant');

/** Default page of `Product.variants`: enough for a storefront, bounded for big products. */
export const DEFAULT_VARIANT_PAGE = 100;
/** Most variants one createVariants call takes (the request body limit is 1 MB anyway). */
export const MAX_BULK_VARIANTS = 5000;

export interface VariantPage {
  rows: VariantRow[];
  hasNextPage: boolean;
}

/**
 * One page of variants (by sku) for each product asking, in one query for all of them: a
 * lateral join walks the (product_id, sku) index once per product.
 */
export async function variantPage(
  ctx: RequestContext,
  productId: string,
  args: { first?: number | null; after?: string | null },
): Promise<VariantPage> {
  const limit = pageSize(args.first, DEFAULT_VARIANT_PAGE);
  let after: string | null = null;
  if (args.after != null) {
    const [sku] = decodeCursor(args.after);
    if (typeof sku !== 'string')
      throw badInput('Invalid cursor: pass an endCursor you received.', 'after');
    after = sku;
  }
  const includeInactive = ctx.principal.kind === 'admin';
  const rows = await loader<string, VariantRow[]>(
    ctx,
    `variant:page:${limit}:${includeInactive}:${after ?? ''}`,
    async (productIds) => {
      const found = await query<VariantRow>(
        ctx.em,
        `select v.* from unnest(?::uuid[]) as k (product_id)
           cross join lateral (
             select * from catalog.variant v
              where v.product_id = k.product_id and (v.active or ?) and (?::text is null or v.sku > ?)
              order by v.sku
              limit ?) v`,
        [pgArray(productIds), includeInactive, after, after, limit + 1],
      );
      return byKey(productIds, found, (r) => r.product_id);
    },
  ).load(productId);
  return { rows: rows.slice(0, limit), hasNextPage: rows.length > limit };
}

export const variantCursor = (row: { sku: string }) => encodeCursor([row.sku]);

interface NewVariant {
  id: string;
  sku: string;
  names: LocalizedNames;
  wallet_credit: string | null;
  wallet_currency: string | null;
  access_days: number | null;
}

/** Checks one variant against its product's kind: coin packs credit coins, access grants days. */
function validateVariant(kind: ProductKind, input: VariantInput, field: string): NewVariant {
  const sku = assertSku(input.sku, `${field}sku`);
  const names = namesFromInput(input.names, `${field}names`, { required: false });
  let credit: { amount: bigint; currency: string } | null = null;
  if (input.walletCredit != null) {
    if (kind !== ProductKind.COIN_PACK)
      throw badInput('Only COIN_PACK variants credit the wallet.', `${field}walletCredit`);
    credit = positiveAmount(input.walletCredit, `${field}walletCredit`);
    if (!isVirtualCurrency(credit.currency)) {
      throw badInput(
        'walletCredit must be in the merchant\'s virtual currency (4–12 characters, e.g. "GEMS").',
        `${field}walletCredit.currency`,
      );
    }
  } else if (kind === ProductKind.COIN_PACK) {
    throw badInput('COIN_PACK variants need walletCredit.', `${field}walletCredit`);
  }
  const accessDays = input.accessDays ?? null;
  if (accessDays != null) {
    if (kind !== ProductKind.SERVICE_ACCESS)
      throw badInput('Only SERVICE_ACCESS variants grant access days.', `${field}accessDays`);
    if (!Number.isInteger(accessDays) || accessDays < 1 || accessDays > 3660) {
      throw badInput('accessDays must be between 1 and 3660.', `${field}accessDays`);
    }
  } else if (kind === ProductKind.SERVICE_ACCESS) {
    throw badInput('SERVICE_ACCESS variants need accessDays.', `${field}accessDays`);
  }
  return {
    id: newId(),
    sku,
    names,
    wallet_credit: credit?.amount.toString() ?? null,
    wallet_currency: credit?.currency ?? null,
    access_days: accessDays,
  };
}

export class VariantService {
  /**
   * Creates many variants of one product in one statement; all or none. A sku the product
   * already has is CONFLICT, a sku given twice is BAD_USER_INPUT.
   */
  async createMany(
    em: EntityManager,
    productId: string,
    inputs: readonly VariantInput[],
    fieldPrefix: (i: number) => string,
  ): Promise<{ product: ProductRow; rows: VariantRow[] }> {
    assertUuid(productId, 'productId');
    if (inputs.length === 0) throw badInput('Give at least one variant.', 'variants');
    if (inputs.length > MAX_BULK_VARIANTS) {
      throw badInput(`Give at most ${MAX_BULK_VARIANTS} variants per call.`, 'variants');
    }
    const [product] = await query<ProductRow>(em, `select * from catalog.product where id = ?`, [
      productId,
    ]);
    if (!product) throw notFound('Product');
    const kind = product.kind as ProductKind;
    const seen = new Set<string>();
    const variants = inputs.map((input, i) => {
      const v = validateVariant(kind, input, fieldPrefix(i));
      if (seen.has(v.sku))
        throw badInput(`The sku "${v.sku}" is given twice.`, `${fieldPrefix(i)}sku`);
      seen.add(v.sku);
      return v;
    });
    const rows = await query<VariantRow>(
      em,
      `insert into catalog.variant (id, merchant_id, product_id, sku, names, wallet_credit, wallet_currency, access_days)
       select x.id, ?, ?, x.sku, x.names, x.wallet_credit, x.wallet_currency, x.access_days
         from jsonb_to_recordset(?::jsonb)
           as x (id uuid, sku text, names jsonb, wallet_credit bigint, wallet_currency text, access_days int)
       on conflict (product_id, sku) do nothing
       returning *`,
      [product.merchant_id, product.id, JSON.stringify(variants)],
    );
    if (rows.length !== variants.length) {
      const created = new Set(rows.map((r) => r.sku));
      const existing = variants.filter((v) => !created.has(v.sku)).map((v) => v.sku);
      throw conflict(
        `The product already has variants with these skus: ${existing.slice(0, 10).join(', ')}${existing.length > 10 ? ', …' : ''}.`,
      );
    }
    const order = new Map(variants.map((v, i) => [v.sku, i]));
    rows.sort((a, b) => order.get(a.sku)! - order.get(b.sku)!);
    return { product, rows };
  }
}

export const variants = new VariantService();
