import { hashApiKey, newId, query, type MikroORM } from '@coinslot/kernel';
import { issueKey } from './modules/admin/admin.resolver';

export interface DemoKeys {
  portalApiKey: string;
  adminApiKey: string;
  ownerApiKey: string;
}

export interface AccountsSeed extends DemoKeys {
  merchantId: string;
  portalId: string;
  virtualCurrency: string;
}

const DEMO = { slug: 'demo-games', name: 'Demo Games', virtualCurrency: 'GEMS' };

async function ensure<T extends { id: string }>(
  orm: MikroORM,
  select: string,
  params: unknown[],
  insert: string,
  insertParams: unknown[],
): Promise<string> {
  const em = orm.em.fork();
  await query(em, insert, insertParams);
  const [row] = await query<T>(em, select, params);
  return row!.id;
}

/**
 * The demo merchant, its portal and two admins (operator, owner). Idempotent: safe on every
 * start. Keys are stored hashed, so the clear keys of an earlier start are reused only when the
 * caller still has them (demo.json) and they are still valid; otherwise new ones are issued.
 */
export async function seedAccounts(
  orm: MikroORM,
  previous?: Partial<DemoKeys>,
): Promise<AccountsSeed> {
  const merchantId = await ensure(
    orm,
    `select id from accounts.merchant where slug = ?`,
    [DEMO.slug],
    `insert into accounts.merchant (id, slug, name, virtual_currency) values (?, ?, ?, ?) on conflict (slug) do nothing`,
    [newId(), DEMO.slug, DEMO.name, DEMO.virtualCurrency],
  );
  const em = orm.em.fork();
  let [portal] = await query<{ id: string }>(
    em,
    `select id from accounts.portal where merchant_id = ? and name = 'Demo portal'`,
    [merchantId],
  );
  if (!portal) {
    [portal] = await query<{ id: string }>(
      em,
      `insert into accounts.portal (id, merchant_id, name) values (?, ?, 'Demo portal') returning id`,
      [newId(), merchantId],
    );
  }
  const admins: Record<'operator' | 'owner', string> = { operator: '', owner: '' };
  for (const role of ['operator', 'owner'] as const) {
    admins[role] = await ensure(
      orm,
      `select id from accounts.admin_user where email = ?`,
      [`${role}@demo.coinslot.test`],
      `insert into accounts.admin_user (id, email, name, role) values (?, ?, ?, ?) on conflict (email) do nothing`,
      [newId(), `${role}@demo.coinslot.test`, `Demo ${role}`, role],
    );
  }
  const valid = async (key: string | undefined, kind: 'portal' | 'admin', ownerId: string) => {
    if (!key) return false;
    const rows = await query(
      em,
      `select 1 from accounts.api_key where key_hash = ? and revoked_at is null and ${kind === 'portal' ? 'portal_id' : 'admin_user_id'} = ?`,
      [hashApiKey(key), ownerId],
    );
    return rows.length === 1;
  };
  const portalApiKey = (await valid(previous?.portalApiKey, 'portal', portal!.id))
    ? previous!.portalApiKey!
    : (await issueKey({ em }, { kind: 'portal', portalId: portal!.id })).apiKey;
  const adminApiKey = (await valid(previous?.adminApiKey, 'admin', admins.operator))
    ? previous!.adminApiKey!
    : (await issueKey({ em }, { kind: 'admin', adminUserId: admins.operator })).apiKey;
  const ownerApiKey = (await valid(previous?.ownerApiKey, 'admin', admins.owner))
    ? previous!.ownerApiKey!
    : (await issueKey({ em }, { kind: 'admin', adminUserId: admins.owner })).apiKey;
  return {
    merchantId,
    portalId: portal!.id,
    virtualCurrency: DEMO.virtualCurrency,
    portalApiKey,
    adminApiKey,
    ownerApiKey,
  };
}
