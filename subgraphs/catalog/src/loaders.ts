import { isUuid, loader, oneByKey, pgArray, query, type RequestContext } from '@coinslot/kernel';

export type CatalogTable = 'service' | 'product' | 'variant' | 'plan' | 'price';

/**
 * Rows of one table by id, batched per request: however many parents or references ask,
 * one query. Visibility is the caller's to check (every row carries merchant_id).
 */
export function byIdLoader<R extends { id: string }>(ctx: RequestContext, table: CatalogTable) {
  return loader<string, R | null>(ctx, `${table}:id`, async (ids) => {
    const valid = ids.filter(isUuid);
    const rows = valid.length
      ? await query<R>(ctx.em, `select * from catalog.${table} where id = any(?::uuid[])`, [
          pgArray(valid),
        ])
      : [];
    return oneByKey(ids, rows, (r) => r.id);
  });
}
