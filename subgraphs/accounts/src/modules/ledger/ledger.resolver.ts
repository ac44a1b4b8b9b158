import { Arg, Ctx, Directive, ID, Mutation, Query, Resolver } from 'type-graphql';
import {
  MoneyType,
  actorOf,
  isUuid,
  notFound,
  parseMinorUnits,
  query,
  recordAudit,
  requireAdmin,
  requireService,
  badInput,
  type RequestContext,
} from '@coinslot/kernel';
import {
  LedgerAccount,
  LedgerAccountInput,
  LedgerCurrencyTotal,
  LedgerTransferInput,
  Transfer,
} from '../../types';
import { SCHEMA } from '../../database';
import {
  ledger,
  type LedgerAccountRow,
  type TransferInput,
  type TransferRow,
} from './ledger.service';

export const toLedgerAccount = (r: LedgerAccountRow) =>
  Object.assign(new LedgerAccount(), {
    id: r.id,
    kind: r.kind,
    currency: r.currency,
    merchantId: r.merchant_id,
    playerId: r.player_id,
    debitsPosted: MoneyType.from(BigInt(r.debits_posted), r.currency),
    creditsPosted: MoneyType.from(BigInt(r.credits_posted), r.currency),
    debitsPending: MoneyType.from(BigInt(r.debits_pending), r.currency),
    creditsPending: MoneyType.from(BigInt(r.credits_pending), r.currency),
  });

const MAX_TRANSFERS_PER_CALL = 1000;

function toTransferInput(input: LedgerTransferInput): TransferInput {
  if (!isUuid(input.id)) throw badInput('Transfer ids are UUIDs.', 'id');
  if (!isUuid(input.debitAccountId) || !isUuid(input.creditAccountId))
    throw notFound('Ledger account');
  return {
    id: input.id,
    debitAccountId: input.debitAccountId,
    creditAccountId: input.creditAccountId,
    amount: parseMinorUnits(input.amountMinor),
    currency: input.currency,
    kind: input.kind,
    reference: input.reference ?? null,
    pending: input.pending ?? false,
  };
}

export const toTransfer = (t: TransferRow) =>
  Object.assign(new Transfer(), {
    id: t.id,
    debitAccountId: t.debit_account_id,
    creditAccountId: t.credit_account_id,
    amount: MoneyType.from(BigInt(t.amount), t.currency),
    state: t.state,
    kind: t.kind,
    reference: t.reference,
    createdAt: t.created_at,
  });

@Resolver()
export class LedgerResolver {
  @Query(() => [LedgerCurrencyTotal], {
    description: 'Admin: per currency, the sum of all balances (always zero).',
  })
  async ledgerTotals(@Ctx() ctx: RequestContext): Promise<LedgerCurrencyTotal[]> {
    requireAdmin(ctx.principal);
    const totals = await ledger.totals(ctx.em);
    return totals.map((t) =>
      Object.assign(new LedgerCurrencyTotal(), {
        currency: t.currency,
        postedNet: t.net.toString(),
        pendingNet: t.pendingNet.toString(),
      }),
    );
  }

  @Query(() => [LedgerAccount], {
    description: "Admin: a merchant's ledger accounts (revenue, coins issued, …).",
  })
  async ledgerAccounts(
    @Arg('merchantId', () => ID) merchantId: string,
    @Ctx() ctx: RequestContext,
  ): Promise<LedgerAccount[]> {
    requireAdmin(ctx.principal);
    if (!isUuid(merchantId)) throw notFound('Merchant');
    const rows = await query<LedgerAccountRow>(
      ctx.em,
      `select * from accounts.ledger_account where merchant_id = ? and player_id is null order by kind, currency`,
      [merchantId],
    );
    return rows.map(toLedgerAccount);
  }

  @Directive('@inaccessible')
  @Mutation(() => LedgerAccount, { description: 'Internal: find or open a ledger account.' })
  async _ledgerAccount(
    @Arg('input', () => LedgerAccountInput) input: LedgerAccountInput,
    @Ctx() ctx: RequestContext,
  ): Promise<LedgerAccount> {
    requireService(ctx.principal);
    return toLedgerAccount(await ledger.account(ctx.em, input));
  }

  @Directive('@inaccessible')
  @Mutation(() => Transfer, { description: 'Internal: a transfer, idempotent on its id.' })
  async _ledgerTransfer(
    @Arg('input', () => LedgerTransferInput) input: LedgerTransferInput,
    @Ctx() ctx: RequestContext,
  ): Promise<Transfer> {
    requireService(ctx.principal);
    const [t] = await ledger.transferMany(ctx.em, [toTransferInput(input)], actorOf(ctx.principal));
    return toTransfer(t!);
  }

  @Directive('@inaccessible')
  @Mutation(() => [Transfer], {
    description:
      'Internal: several transfers at once, all or none, each idempotent on its id; the answer is in the order of the input.',
  })
  async _ledgerTransfers(
    @Arg('inputs', () => [LedgerTransferInput]) inputs: LedgerTransferInput[],
    @Ctx() ctx: RequestContext,
  ): Promise<Transfer[]> {
    requireService(ctx.principal);
    if (inputs.length > MAX_TRANSFERS_PER_CALL)
      throw badInput(`At most ${MAX_TRANSFERS_PER_CALL} transfers per call.`, 'inputs');
    const rows = await ledger.transferMany(
      ctx.em,
      inputs.map(toTransferInput),
      actorOf(ctx.principal),
    );
    return rows.map(toTransfer);
  }

  @Directive('@inaccessible')
  @Mutation(() => Transfer, { description: 'Internal: posts a pending transfer.' })
  async _ledgerPost(
    @Arg('id', () => ID) id: string,
    @Ctx() ctx: RequestContext,
  ): Promise<Transfer> {
    requireService(ctx.principal);
    return ctx.em.transactional(async (em) => {
      const t = await ledger.post(em, id);
      await recordAudit(em, SCHEMA, ctx.principal, {
        action: 'transfer.post',
        targetType: 'Transfer',
        targetId: id,
        outcome: 'succeeded',
      });
      return toTransfer(t);
    });
  }

  @Directive('@inaccessible')
  @Mutation(() => Transfer, { description: 'Internal: voids a pending transfer.' })
  async _ledgerVoid(
    @Arg('id', () => ID) id: string,
    @Ctx() ctx: RequestContext,
  ): Promise<Transfer> {
    requireService(ctx.principal);
    return ctx.em.transactional(async (em) => {
      const t = await ledger.void(em, id);
      await recordAudit(em, SCHEMA, ctx.principal, {
        action: 'transfer.void',
        targetType: 'Transfer',
        targetId: id,
        outcome: 'succeeded',
      });
      return toTransfer(t);
    });
  }
}
