import { Arg, Ctx, ID, Mutation, Query, Resolver } from 'type-graphql';
import { recordAudit, requireAdmin, type RequestContext } from '@coinslot/kernel';
import { SCHEMA } from '../../database';
import { merchantScope } from '../../scope';
import { CreateServiceInput, Service } from './service.type';
import { services, toService } from './service.service';

@Resolver(() => Service)
export class ServiceResolver {
  @Query(() => [Service], { description: "The merchant's services (admins pass merchantId)." })
  async services(
    @Arg('merchantId', () => ID, { nullable: true }) merchantId: string | null | undefined,
    @Ctx() ctx: RequestContext,
  ): Promise<Service[]> {
    const scope = merchantScope(ctx.principal, merchantId);
    const rows = await services.list(ctx.em, scope);
    return rows.filter((r) => r.active || ctx.principal.kind === 'admin').map(toService);
  }

  @Mutation(() => Service, { description: 'Admin: adds a service to a merchant.' })
  async createService(
    @Arg('input', () => CreateServiceInput) input: CreateServiceInput,
    @Ctx() ctx: RequestContext,
  ): Promise<Service> {
    requireAdmin(ctx.principal);
    return ctx.em.transactional(async (em) => {
      const row = await services.create(em, input);
      await recordAudit(em, SCHEMA, ctx.principal, {
        action: 'service.create',
        targetType: 'Service',
        targetId: row.id,
        outcome: 'succeeded',
        details: { merchantId: row.merchant_id, code: row.code },
      });
      return toService(row);
    });
  }
}
