import { Arg, Ctx, ID, Int, Mutation, Query, Resolver } from 'type-graphql';
import {
  MoneyType,
  badInput,
  isUuid,
  query,
  recordAudit,
  requireAdmin,
  type RequestContext,
} from '@coinslot/kernel';
import { SCHEMA } from '../../database';
import type { ChannelsRuntime } from '../../runtime/runtime';
import { SettlementMismatch, SettlementRunResult } from '../../types';
import { pgDate } from '../../util';

interface MismatchRow {
  id: string;
  channel_id: string;
  file_name: string | null;
  kind: string;
  reason: string | null;
  reference: string | null;
  operator_txn_id: string | null;
  our_amount: string | null;
  our_currency: string | null;
  our_outcome: string | null;
  their_amount: string | null;
  their_currency: string | null;
  their_status: string | null;
  status: string;
  created_at: Date;
}

export function createSettlementResolver(rt: () => ChannelsRuntime) {
  @Resolver()
  class SettlementResolver {
    @Mutation(() => SettlementRunResult, {
      description:
        "Admin: fetches the channel's settlement files of one day over SFTP and reconciles them (a file already processed is skipped).",
    })
    async runSettlement(
      @Arg('channelId', () => ID) channelId: string,
      @Arg('date', () => String, { description: 'YYYY-MM-DD' }) date: string,
      @Ctx() ctx: RequestContext,
    ): Promise<SettlementRunResult> {
      const admin = requireAdmin(ctx.principal);
      if (!isUuid(channelId)) throw badInput('channelId must be a channel id.', 'channelId');
      const result = await rt().settlement.run(channelId, date);
      await recordAudit(ctx.em, SCHEMA, admin, {
        action: 'settlement.run',
        targetType: 'channel',
        targetId: channelId,
        outcome: 'succeeded',
        details: {
          date: result.date,
          files: result.files.map((f) => ({
            name: f.name,
            alreadyProcessed: f.alreadyProcessed,
            mismatches: f.mismatches,
          })),
        },
      });
      return result;
    }

    @Query(() => [SettlementMismatch], {
      description: 'Admin: settlement and outcome differences recorded for review, newest first.',
    })
    async settlementMismatches(
      @Ctx() ctx: RequestContext,
      @Arg('channelId', () => ID, { nullable: true }) channelId?: string | null,
      @Arg('first', () => Int, { nullable: true, defaultValue: 100 }) first?: number | null,
    ): Promise<SettlementMismatch[]> {
      requireAdmin(ctx.principal);
      const limit = Math.min(Math.max(first ?? 100, 1), 1000);
      if (channelId != null && !isUuid(channelId)) return [];
      const rows = await query<MismatchRow>(
        ctx.em,
        `select m.*, f.name as file_name from channels.settlement_mismatch m
           left join channels.settlement_file f on f.id = m.file_id
          where (?::uuid is null or m.channel_id = ?::uuid)
          order by m.created_at desc, m.id limit ?`,
        [channelId ?? null, channelId ?? null, limit],
      );
      return rows.map((r) =>
        Object.assign(new SettlementMismatch(), {
          id: r.id,
          channelId: r.channel_id,
          fileName: r.file_name,
          kind: r.kind,
          reason: r.reason,
          reference: r.reference,
          operatorTxnId: r.operator_txn_id,
          ourAmount:
            r.our_amount !== null && r.our_currency
              ? MoneyType.from(BigInt(r.our_amount), r.our_currency)
              : null,
          ourOutcome: r.our_outcome,
          theirAmount:
            r.their_amount !== null && r.their_currency
              ? MoneyType.from(BigInt(r.their_amount), r.their_currency)
              : null,
          theirStatus: r.their_status,
          status: r.status,
          createdAt: pgDate(r.created_at),
        }),
      );
    }
  }
  return SettlementResolver;
}
