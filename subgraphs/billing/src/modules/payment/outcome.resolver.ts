import { Arg, Ctx, Directive, Mutation, Resolver } from 'type-graphql';
import { badInput, requireService, type RequestContext } from '@coinslot/kernel';
import type { BillingRuntime } from '../../runtime';
import { ProcedureOutcomeInput } from '../../types';
import { isReportedKind, toOutcome } from './outcomes';

const REFERENCE = /^([A-Z0-9]+)(?::([A-Za-z0-9._:-]+))?$/;

export function createOutcomeResolver(rt: () => BillingRuntime) {
  @Resolver()
  class OutcomeResolver {
    /**
     * channels' hand-off (at least once, possibly late, duplicated or reordered): applied only as
     * a legal forward transition, and a version not newer than the last applied changes nothing.
     * Answers true once the outcome is recorded or known to be stale, so channels stops retrying.
     */
    @Directive('@inaccessible')
    @Mutation(() => Boolean, {
      description: "Internal (channels): a procedure run's outcome changed after billing's call.",
    })
    async _procedureOutcome(
      @Arg('input', () => ProcedureOutcomeInput) input: ProcedureOutcomeInput,
      @Ctx() ctx: RequestContext,
    ): Promise<boolean> {
      requireService(ctx.principal);
      const m = REFERENCE.exec(input.reference);
      if (!m) throw badInput('reference must be <serialNumber>[:<suffix>].', 'reference');
      if (!isReportedKind(input.kind.toUpperCase()))
        throw badInput('kind must be SUCCEEDED, PENDING, DECLINED or UNKNOWN.', 'kind');
      const outcome = toOutcome(input);
      const suffix = m[2] ?? null;
      if (suffix && /^R\d+$/.test(suffix)) {
        await rt().refunds.handOff(input.reference, input.version, outcome);
        return true;
      }
      await rt().payments.handOff({
        reference: input.reference,
        suffix,
        version: input.version,
        channelId: input.channelId,
        amountMinor: input.amountMinor,
        currency: input.currency,
        outcome,
      });
      return true;
    }
  }
  return OutcomeResolver;
}
