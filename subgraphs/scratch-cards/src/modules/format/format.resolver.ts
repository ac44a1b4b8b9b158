import { Arg, Ctx, ID, Mutation, Query, Resolver } from 'type-graphql';
import { badInput, isUuid, recordAudit, requireAdmin, type RequestContext } from '@coinslot/kernel';
import { SCHEMA } from '../../database';
import { ScratchCardFormat, SetScratchCardFormatInput } from '../../types';
import { formats, toFormat } from './format.service';

@Resolver(() => ScratchCardFormat)
export class FormatResolver {
  @Query(() => ScratchCardFormat, {
    description: "Admin: the format the merchant's next batches will use.",
  })
  async scratchCardFormat(
    @Arg('merchantId', () => ID) merchantId: string,
    @Ctx() ctx: RequestContext,
  ): Promise<ScratchCardFormat> {
    requireAdmin(ctx.principal);
    if (!isUuid(merchantId)) throw badInput('merchantId must be a UUID.', 'merchantId');
    const { id, format } = await formats.current(ctx.em, merchantId);
    return toFormat(merchantId, format, id);
  }

  @Mutation(() => ScratchCardFormat, {
    description:
      'Admin: sets the card format for later batches (codes need ≥ 64 random bits; existing batches keep theirs).',
  })
  async setScratchCardFormat(
    @Arg('input', () => SetScratchCardFormatInput) input: SetScratchCardFormatInput,
    @Ctx() ctx: RequestContext,
  ): Promise<ScratchCardFormat> {
    const admin = requireAdmin(ctx.principal);
    return ctx.em.transactional(async (em) => {
      const { id, format } = await formats.set(em, input, admin.adminId);
      await recordAudit(em, SCHEMA, ctx.principal, {
        action: 'format.set',
        targetType: 'ScratchCardFormat',
        targetId: id,
        outcome: 'succeeded',
        details: { merchantId: input.merchantId, ...format },
      });
      return toFormat(input.merchantId, format, id);
    });
  }
}
