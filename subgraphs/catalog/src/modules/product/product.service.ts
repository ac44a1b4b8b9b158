import {
  badInput,
  conflict,
  newId,
  notFound,
  query,
  type EntityManager,
  type RequestContext,
} from '@coinslot/kernel';
import type { LocalizedNames, ProductKindValue } from '../../entities';
import { ProductKind } from '../../enums';
import { byIdLoader } from '../../loaders';
import { namesFromInput } from '../../localized';
import { assertSku, assertUuid } from '../../scope';
import { Product, type CreateProductInput } from './product.type';

export interface ProductRow {
  id: string;
  merchant_id: string;
  sku: string;
  kind: ProductKindValue;
  names: LocalizedNames;
  service_id: string | null;
  active: boolean;
}

export const toProduct = (r: ProductRow): Product =>
  Object.assign(new Product(), {
    id: r.id,
    merchantId: r.merchant_id,
    sku: r.sku,
    kind: r.kind as ProductKind,
    localizedNames: r.names,
    serviceId: r.service_id,
    active: r.active,
  });

export const productLoader = (ctx: RequestContext) => byIdLoader<ProductRow>(ctx, 'product');

/** A storefront lists at most this many products; catalogs grow in variants, not products. */
const MAX_PRODUCTS = 1000;

export class ProductService {
  /** The merchant's active products with at least one active price in the country: one query. */
  offered(em: EntityManager, merchantId: string, country: string): Promise<ProductRow[]> {
    return query<ProductRow>(
      em,
      `select p.* from catalog.product p
        where p.merchant_id = ? and p.active
          and exists (select 1 from catalog.variant v
                        join catalog.price pr on pr.variant_id = v.id and pr.active and pr.country = ?
                       where v.product_id = p.id and v.active)
        order by p.sku
        limit ${MAX_PRODUCTS}`,
      [merchantId, country],
    );
  }

  async create(em: EntityManager, input: CreateProductInput): Promise<ProductRow> {
    const merchantId = assertUuid(input.merchantId, 'merchantId');
    const sku = assertSku(input.sku);
    const names = namesFromInput(input.names);
    const serviceId = input.serviceId ?? null;
    if (input.kind === ProductKind.SERVICE_ACCESS && serviceId == null) {
      throw badInput(
        'SERVICE_ACCESS products need the serviceId they grant access to.',
        'serviceId',
      );
    }
    if (serviceId != null) {
      assertUuid(serviceId, 'serviceId');
      const [service] = await query(
        em,
        `select id from catalog.service where id = ? and merchant_id = ?`,
        [serviceId, merchantId],
      );
      if (!service) throw notFound('Service');
    }
    const [row] = await query<ProductRow>(
      em,
      `insert into catalog.product (id, merchant_id, sku, kind, names, service_id) values (?, ?, ?, ?, ?::jsonb, ?)
       on conflict (merchant_id, sku) do nothing returning *`,
      [newId(), merchantId, sku, input.kind, JSON.stringify(names), serviceId],
    );
    if (!row) throw conflict(`The merchant already has a product with sku "${sku}".`);
    return row;
  }
}

export const products = new ProductService();
