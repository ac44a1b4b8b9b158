import { Arg, Ctx, Directive, ID, Mutation, Query, Resolver } from 'type-graphql';
import {
  MoneyType,
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
import { ledger, type LedgerAccountRow, type TransferRow } from './ledger.service';

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
    if (!isUuid(input.id)) throw badInput('Transfer ids are UUIDs.', 'id');
    const amount = parseMinorUnits(input.amountMinor);
    return ctx.em.transactional(async (em) => {
      const t = await ledger.transfer(em, { ...input, amount, pending: input.pending ?? false });
      await recordAudit(em, SCHEMA, ctx.principal, {
        action: `transfer.${input.pending ? 'reserve' : 'post'}`,
        targetType: 'Transfer',
        targetId: t.id,
        outcome: 'succeeded',
        details: {
          kind: input.kind,
          amount: amount.toString(),
          currency: input.currency,
          reference: input.reference,
        },
      });
      return toTransfer(t);
    });
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
