import {
  canSee,
  isUuid,
  loader,
  oneByKey,
  pgArray,
  query,
  type RequestContext,
} from '@coinslot/kernel';
import { AdminUser, Portal } from './types';
import { resolvePlayerReference } from './modules/player/player.resolver';
import { toMerchant } from './modules/admin/admin.resolver';

function byIdLoader<R extends { id: string }>(ctx: RequestContext, table: string) {
  return loader<string, R | null>(ctx, `ref:${table}`, async (ids) => {
    const rows = await query<R>(
      ctx.em,
      `select * from accounts.${table} where id = any(?::uuid[])`,
      [pgArray(ids.filter(isUuid))],
    );
    return oneByKey(ids, rows, (r) => r.id);
  });
}

/** __resolveReference for every entity other subgraphs may point at; all batched. */
export const references = {
  Player: { __resolveReference: resolvePlayerReference },
  Merchant: {
    async __resolveReference(ref: { id: string }, ctx: RequestContext) {
      const row = await byIdLoader<{
        id: string;
        slug: string;
        name: string;
        virtual_currency: string | null;
        created_at: Date;
      }>(ctx, 'merchant').load(ref.id);
      return row && canSee(ctx.principal, { merchantId: row.id }) ? toMerchant(row) : null;
    },
  },
  Portal: {
    async __resolveReference(ref: { id: string }, ctx: RequestContext) {
      const row = await byIdLoader<{
        id: string;
        merchant_id: string;
        name: string;
        created_at: Date;
      }>(ctx, 'portal').load(ref.id);
      if (!row || !canSee(ctx.principal, { merchantId: row.merchant_id })) return null;
      return Object.assign(new Portal(), {
        id: row.id,
        merchantId: row.merchant_id,
        name: row.name,
        createdAt: row.created_at,
      });
    },
  },
  AdminUser: {
    async __resolveReference(ref: { id: string }, ctx: RequestContext) {
      if (ctx.principal.kind !== 'admin' && ctx.principal.kind !== 'service') return null;
      const row = await byIdLoader<{ id: string; email: string; name: string; role: string }>(
        ctx,
        'admin_user',
      ).load(ref.id);
      return row && Object.assign(new AdminUser(), row);
    },
  },
};
