import { Arg, Ctx, Directive, Query, Resolver } from 'type-graphql';
import { query, requireService, type RequestContext } from '@coinslot/kernel';
import { Credential } from '../../types';

interface CredentialRow {
  kind: 'portal' | 'admin';
  portal_id: string | null;
  merchant_id: string | null;
  admin_user_id: string | null;
  role: string | null;
}

@Resolver()
export class CredentialResolver {
  @Directive('@inaccessible')
  @Query(() => Credential, {
    nullable: true,
    description: 'Internal: the owner of an API key, by its SHA-256 hash.',
  })
  async _credential(
    @Arg('keyHash', () => String) keyHash: string,
    @Ctx() ctx: RequestContext,
  ): Promise<Credential | null> {
    requireService(ctx.principal);
    const [row] = await query<CredentialRow>(
      ctx.em,
      `select k.kind, k.portal_id, p.merchant_id, k.admin_user_id, a.role
         from accounts.api_key k
         left join accounts.portal p on p.id = k.portal_id
         left join accounts.admin_user a on a.id = k.admin_user_id
        where k.key_hash = ? and k.revoked_at is null`,
      [keyHash],
    );
    if (!row) return null;
    return Object.assign(new Credential(), {
      kind: row.kind,
      merchantId: row.merchant_id,
      portalId: row.portal_id,
      adminId: row.admin_user_id,
      role: row.role,
    });
  }
}
