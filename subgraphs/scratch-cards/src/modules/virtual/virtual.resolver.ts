import { Arg, Ctx, Directive, Mutation, Resolver } from 'type-graphql';
import { requireService, type RequestContext } from '@coinslot/kernel';
import type { ScratchCardsRuntime } from '../../runtime';
import { IssueVirtualCardInput, IssuedVirtualCard } from '../../types';
import { asDate } from '../../rows';

export function createVirtualResolver(rt: () => ScratchCardsRuntime) {
  @Resolver()
  class VirtualResolver {
    @Directive('@inaccessible')
    @Mutation(() => IssuedVirtualCard, {
      description:
        'Internal (billing, on delivery): sells the next card of a virtual batch; idempotent on paymentId.',
    })
    async _issueVirtualCard(
      @Arg('input', () => IssueVirtualCardInput) input: IssueVirtualCardInput,
      @Ctx() ctx: RequestContext,
    ): Promise<IssuedVirtualCard> {
      requireService(ctx.principal);
      const issued = await rt().virtual.issue(ctx.em, ctx.principal, input);
      return Object.assign(new IssuedVirtualCard(), {
        cardId: issued.card.id,
        serialNumber: issued.card.serial_number,
        activationCode: issued.activationCode,
        expiresAt: asDate(issued.batch.expires_at),
      });
    }
  }
  return VirtualResolver;
}
