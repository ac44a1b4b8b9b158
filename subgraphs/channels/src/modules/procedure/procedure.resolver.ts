import { Arg, Ctx, Directive, Mutation, Query, Resolver } from 'type-graphql';
import { requireService, type RequestContext } from '@coinslot/kernel';
import type { ChannelsRuntime } from '../../runtime/runtime';
import { Channel, ProcedureRun, RouteChannelsInput, RunProcedureInput } from '../../types';
import { toChannel } from '../channel/channel.service';
import { routing } from '../routing/routing.service';
import type { Procedure } from '../../adapters/types';

export function createProcedureResolver(rt: () => ChannelsRuntime) {
  @Resolver(() => ProcedureRun)
  class ProcedureResolver {
    @Directive('@inaccessible')
    @Mutation(() => ProcedureRun, {
      description:
        'Internal (billing): runs a procedure on a channel. Idempotent on reference: the same reference and parameters return the same run and never charge twice; other parameters answer IDEMPOTENCY_KEY_REUSED.',
    })
    async _runProcedure(
      @Arg('input', () => RunProcedureInput) input: RunProcedureInput,
      @Ctx() ctx: RequestContext,
    ): Promise<ProcedureRun> {
      requireService(ctx.principal);
      return rt().procedures.run(ctx.em, input);
    }

    @Directive('@inaccessible')
    @Query(() => ProcedureRun, {
      nullable: true,
      description: 'Internal (billing): the stored run of a reference.',
    })
    async _procedureRun(
      @Arg('reference', () => String) reference: string,
      @Ctx() ctx: RequestContext,
    ): Promise<ProcedureRun | null> {
      requireService(ctx.principal);
      return rt().procedures.get(ctx.em, reference);
    }

    @Directive('@inaccessible')
    @Query(() => [Channel], {
      description:
        'Internal (billing): the channels routing would try, in order, without running anything. Includes the WALLET channel, which billing executes itself.',
    })
    async _routeChannels(
      @Arg('input', () => RouteChannelsInput) input: RouteChannelsInput,
      @Ctx() ctx: RequestContext,
    ): Promise<Channel[]> {
      requireService(ctx.principal);
      const { candidates } = await routing.route(ctx.em, {
        merchantId: input.merchantId,
        kind: input.channelKind,
        country: input.country,
        currency: input.currency,
        msisdn: input.msisdn,
        channelId: input.channelId,
        procedure: (input.procedure ?? 'CHARGE') as Procedure,
        includeInternal: true,
      });
      return candidates.map((c) => toChannel(c.channel));
    }
  }
  return ProcedureResolver;
}
