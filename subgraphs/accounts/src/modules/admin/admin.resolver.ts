import { Arg, Ctx, ID, Mutation, Query, Resolver } from 'type-graphql';
import {
  assertCurrency,
  badInput,
  conflict,
  generateApiKey,
  hashApiKey,
  isUuid,
  isVirtualCurrency,
  newId,
  notFound,
  query,
  recordAudit,
  requireAdmin,
  type RequestContext,
} from '@coinslot/kernel';
import {
  type AdminRoleEnum,
  AdminUser,
  CreateAdminUserInput,
  CreateAdminUserPayload,
  CreateMerchantInput,
  CreatePortalInput,
  CreatePortalPayload,
  IssuedApiKey,
  Merchant,
  Portal,
} from '../../types';
import { SCHEMA } from '../../database';

interface MerchantRow {
  id: string;
  slug: string;
  name: string;
  virtual_currency: string | null;
  created_at: Date;
}
interface PortalRow {
  id: string;
  merchant_id: string;
  name: string;
  created_at: Date;
}
interface AdminRow {
  id: string;
  email: string;
  name: string;
  role: AdminRoleEnum;
}

export const toMerchant = (r: MerchantRow) =>
  Object.assign(new Merchant(), {
    id: r.id,
    slug: r.slug,
    name: r.name,
    virtualCurrency: r.virtual_currency,
    createdAt: r.created_at,
  });
const toPortal = (r: PortalRow) =>
  Object.assign(new Portal(), {
    id: r.id,
    merchantId: r.merchant_id,
    name: r.name,
    createdAt: r.created_at,
  });
const toAdmin = (r: AdminRow) => Object.assign(new AdminUser(), r);

const SLUG = /^[a-z0-9][a-z0-9-]{1,62}$/;

/** Issues a key of a kind for a portal or an admin and stores only its hash. */
export async function issueKey(
  ctx: Pick<RequestContext, 'em'>,
  owner: { kind: 'portal'; portalId: string } | { kind: 'admin'; adminUserId: string },
): Promise<IssuedApiKey> {
  const { key, prefix } = generateApiKey(owner.kind);
  const id = newId();
  await query(
    ctx.em,
    `insert into accounts.api_key (id, key_hash, prefix, kind, portal_id, admin_user_id) values (?, ?, ?, ?, ?, ?)`,
    [
      id,
      hashApiKey(key),
      prefix,
      owner.kind,
      owner.kind === 'portal' ? owner.portalId : null,
      owner.kind === 'admin' ? owner.adminUserId : null,
    ],
  );
  return Object.assign(new IssuedApiKey(), { id, apiKey: key, prefix });
}

@Resolver()
export class AdminResolver {
  @Query(() => Merchant, {
    description: "The caller's own merchant (portal keys and player tokens).",
  })
  async myMerchant(@Ctx() ctx: RequestContext): Promise<Merchant> {
    const p = ctx.principal;
    if (p.kind !== 'portal' && p.kind !== 'player') throw notFound('Merchant');
    const [row] = await query<MerchantRow>(ctx.em, `select * from accounts.merchant where id = ?`, [
      p.merchantId,
    ]);
    if (!row) throw notFound('Merchant');
    return toMerchant(row);
  }

  @Query(() => [Merchant], { description: 'Admin: every merchant.' })
  async merchants(@Ctx() ctx: RequestContext): Promise<Merchant[]> {
    requireAdmin(ctx.principal);
    const rows = await query<MerchantRow>(
      ctx.em,
      `select * from accounts.merchant order by created_at limit 1000`,
    );
    return rows.map(toMerchant);
  }

  @Query(() => [Portal], { description: "Admin: a merchant's portals." })
  async portals(
    @Arg('merchantId', () => ID) merchantId: string,
    @Ctx() ctx: RequestContext,
  ): Promise<Portal[]> {
    requireAdmin(ctx.principal);
    if (!isUuid(merchantId)) throw notFound('Merchant');
    const rows = await query<PortalRow>(
      ctx.em,
      `select * from accounts.portal where merchant_id = ? order by created_at`,
      [merchantId],
    );
    return rows.map(toPortal);
  }

  @Mutation(() => Merchant, { description: 'Owner: onboards a merchant.' })
  async createMerchant(
    @Arg('input', () => CreateMerchantInput) input: CreateMerchantInput,
    @Ctx() ctx: RequestContext,
  ): Promise<Merchant> {
    requireAdmin(ctx.principal, 'owner');
    if (!SLUG.test(input.slug))
      throw badInput('slug must be 2–63 lower-case letters, digits or dashes.', 'slug');
    if (!input.name.trim()) throw badInput('name must not be empty.', 'name');
    if (input.virtualCurrency != null) {
      assertCurrency(input.virtualCurrency, 'virtualCurrency');
      if (!isVirtualCurrency(input.virtualCurrency)) {
        throw badInput(
          'virtualCurrency must be 4–12 upper-case letters or digits (e.g. "GEMS").',
          'virtualCurrency',
        );
      }
    }
    return ctx.em.transactional(async (em) => {
      const rows = await query<MerchantRow>(
        em,
        `insert into accounts.merchant (id, slug, name, virtual_currency) values (?, ?, ?, ?)
         on conflict (slug) do nothing returning *`,
        [newId(), input.slug, input.name.trim(), input.virtualCurrency ?? null],
      );
      if (!rows[0]) throw conflict(`A merchant with slug "${input.slug}" exists.`);
      await recordAudit(em, SCHEMA, ctx.principal, {
        action: 'merchant.create',
        targetType: 'Merchant',
        targetId: rows[0].id,
        outcome: 'succeeded',
        details: { slug: input.slug },
      });
      return toMerchant(rows[0]);
    });
  }

  @Mutation(() => CreatePortalPayload, {
    description: 'Owner: adds a portal to a merchant and issues its first API key.',
  })
  async createPortal(
    @Arg('input', () => CreatePortalInput) input: CreatePortalInput,
    @Ctx() ctx: RequestContext,
  ): Promise<CreatePortalPayload> {
    requireAdmin(ctx.principal, 'owner');
    if (!isUuid(input.merchantId)) throw notFound('Merchant');
    return ctx.em.transactional(async (em) => {
      const [merchant] = await query(em, `select id from accounts.merchant where id = ?`, [
        input.merchantId,
      ]);
      if (!merchant) throw notFound('Merchant');
      const [portal] = await query<PortalRow>(
        em,
        `insert into accounts.portal (id, merchant_id, name) values (?, ?, ?) returning *`,
        [newId(), input.merchantId, input.name],
      );
      const key = await issueKey({ em }, { kind: 'portal', portalId: portal!.id });
      await recordAudit(em, SCHEMA, ctx.principal, {
        action: 'portal.create',
        targetType: 'Portal',
        targetId: portal!.id,
        outcome: 'succeeded',
        details: { merchantId: input.merchantId, keyPrefix: key.prefix },
      });
      return Object.assign(new CreatePortalPayload(), { portal: toPortal(portal!), key });
    });
  }

  @Mutation(() => IssuedApiKey, {
    description: 'Owner: issues another key for a portal (for rotation).',
  })
  async createPortalApiKey(
    @Arg('portalId', () => ID) portalId: string,
    @Ctx() ctx: RequestContext,
  ): Promise<IssuedApiKey> {
    requireAdmin(ctx.principal, 'owner');
    if (!isUuid(portalId)) throw notFound('Portal');
    return ctx.em.transactional(async (em) => {
      const [portal] = await query(em, `select id from accounts.portal where id = ?`, [portalId]);
      if (!portal) throw notFound('Portal');
      const key = await issueKey({ em }, { kind: 'portal', portalId });
      await recordAudit(em, SCHEMA, ctx.principal, {
        action: 'api_key.create',
        targetType: 'Portal',
        targetId: portalId,
        outcome: 'succeeded',
        details: { keyPrefix: key.prefix },
      });
      return key;
    });
  }

  @Mutation(() => Boolean, {
    description: 'Owner: revokes an API key at once (the gateway forgets it within a minute).',
  })
  async revokeApiKey(
    @Arg('id', () => ID) id: string,
    @Ctx() ctx: RequestContext,
  ): Promise<boolean> {
    requireAdmin(ctx.principal, 'owner');
    if (!isUuid(id)) throw notFound('API key');
    return ctx.em.transactional(async (em) => {
      const rows = await query(
        em,
        `update accounts.api_key set revoked_at = now() where id = ? and revoked_at is null returning id`,
        [id],
      );
      if (!rows[0]) throw notFound('API key');
      await recordAudit(em, SCHEMA, ctx.principal, {
        action: 'api_key.revoke',
        targetType: 'ApiKey',
        targetId: id,
        outcome: 'succeeded',
      });
      return true;
    });
  }

  @Mutation(() => CreateAdminUserPayload, {
    description: 'Owner: adds an admin user with a role and issues its key.',
  })
  async createAdminUser(
    @Arg('input', () => CreateAdminUserInput) input: CreateAdminUserInput,
    @Ctx() ctx: RequestContext,
  ): Promise<CreateAdminUserPayload> {
    requireAdmin(ctx.principal, 'owner');
    return ctx.em.transactional(async (em) => {
      const rows = await query<AdminRow>(
        em,
        `insert into accounts.admin_user (id, email, name, role) values (?, ?, ?, ?) on conflict (email) do nothing returning id, email, name, role`,
        [newId(), input.email.toLowerCase(), input.name, input.role],
      );
      if (!rows[0]) throw conflict(`An admin user ${input.email} exists.`);
      const key = await issueKey({ em }, { kind: 'admin', adminUserId: rows[0].id });
      await recordAudit(em, SCHEMA, ctx.principal, {
        action: 'admin_user.create',
        targetType: 'AdminUser',
        targetId: rows[0].id,
        outcome: 'succeeded',
        details: { role: input.role },
      });
      return Object.assign(new CreateAdminUserPayload(), { adminUser: toAdmin(rows[0]), key });
    });
  }
}
