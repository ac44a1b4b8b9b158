import { Arg, Ctx, ID, Mutation, Query, Resolver } from 'type-graphql';
import {
  forbidden,
  loader,
  notFound,
  oneByKey,
  query,
  recordAudit,
  requireAdmin,
  type RequestContext,
} from '@coinslot/kernel';
import { SCHEMA } from '../../database';
import type { ChannelsRuntime } from '../../runtime/runtime';
import {
  Channel,
  ChannelInteraction,
  ChannelProtocol,
  CreateChannelInput,
  type InteractionDirection,
  type ProcedureOutcomeKind,
  UpdateChannelInput,
} from '../../types';
import { channelService, toChannel, type ChannelRow } from './channel.service';
import { pgDate } from '../../util';

export function channelLoader(ctx: RequestContext) {
  return loader<string, ChannelRow | null>(ctx, 'channel', async (ids) =>
    oneByKey(ids, await channelService.byIds(ctx.em, ids), (r) => r.id),
  );
}

/** Channel references (e.g. Payment.channel in billing): channel data is not merchant-secret. */
export async function resolveChannelReference(
  ref: { id: string },
  ctx: RequestContext,
): Promise<Channel | null> {
  const row = await channelLoader(ctx).load(ref.id);
  return row ? toChannel(row) : null;
}

interface InteractionRow {
  direction: string;
  protocol: string;
  operation: string;
  outcome: string | null;
  duration_ms: number;
  at: Date;
  status: string | null;
  reference: string | null;
  channel_id: string | null;
}

export function createChannelResolver(rt: () => ChannelsRuntime) {
  @Resolver(() => Channel)
  class ChannelResolver {
    @Query(() => [Channel], {
      description:
        'Admins: every channel. Portals: the channels their merchant has an active account on.',
    })
    async channels(@Ctx() ctx: RequestContext): Promise<Channel[]> {
      const p = ctx.principal;
      if (p.kind === 'admin' || p.kind === 'service')
        return (await channelService.list(ctx.em)).map(toChannel);
      if (p.kind === 'portal' || p.kind === 'player')
        return (await channelService.list(ctx.em, { merchantId: p.merchantId })).map(toChannel);
      throw forbidden();
    }

    @Query(() => Channel, {
      description:
        'One channel; a portal sees only channels its merchant has an active account on.',
    })
    async channel(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext): Promise<Channel> {
      const row = await channelLoader(ctx).load(id);
      if (!row) throw notFound('Channel');
      const p = ctx.principal;
      if (p.kind === 'portal' || p.kind === 'player') {
        const visible = await channelService.list(ctx.em, { merchantId: p.merchantId });
        if (!visible.some((c) => c.id === row.id)) throw notFound('Channel');
      }
      return toChannel(row);
    }

    @Query(() => [ChannelInteraction], {
      description:
        "Admin: every request and response exchanged with a channel for one payment, oldest first, redacted. serialNumber is billing's payment serial; billing's procedure references are `<serialNumber>` or `<serialNumber>:<suffix>`.",
    })
    async channelInteractions(
      @Arg('serialNumber', () => String) serialNumber: string,
      @Ctx() ctx: RequestContext,
    ): Promise<ChannelInteraction[]> {
      requireAdmin(ctx.principal);
      const serial = serialNumber.split(':')[0]!.trim();
      if (!serial) return [];
      // Rows recorded a moment ago may still be in the write buffer of this instance.
      await rt().recorder.flush();
      const rows = await query<InteractionRow>(
        ctx.em,
        `select direction, protocol, operation, outcome, duration_ms, at, status, reference, channel_id
           from channels.interaction
          where serial = ?
            and at >= coalesce((select min(created_at) from channels.procedure_run where serial = ?) - interval '10 minutes', now() - interval '3650 days')
          order by at, id
          limit 2000`,
        [serial, serial],
      );
      return rows
        .filter((r) => (Object.values(ChannelProtocol) as string[]).includes(r.protocol))
        .map((r) =>
          Object.assign(new ChannelInteraction(), {
            direction: r.direction as InteractionDirection,
            protocol: r.protocol as ChannelProtocol,
            operation: r.operation,
            outcome: r.outcome ? (r.outcome.toUpperCase() as ProcedureOutcomeKind) : null,
            durationMs: r.duration_ms,
            at: pgDate(r.at),
            status: r.status,
            reference: r.reference,
            channelId: r.channel_id,
          }),
        );
    }

    @Mutation(() => Channel, {
      description:
        'Admin: adds a channel (registry data: adapter, countries, settings without secrets).',
    })
    async createChannel(
      @Arg('input', () => CreateChannelInput) input: CreateChannelInput,
      @Ctx() ctx: RequestContext,
    ): Promise<Channel> {
      const admin = requireAdmin(ctx.principal);
      const row = await ctx.em.transactional(async (tx) => {
        const created = await channelService.create(tx, input);
        await recordAudit(tx, SCHEMA, admin, {
          action: 'channel.create',
          targetType: 'channel',
          targetId: created.id,
          outcome: 'succeeded',
          details: { code: created.code, adapter: created.adapter, countries: created.countries },
        });
        return created;
      });
      return toChannel(row);
    }

    @Mutation(() => Channel, {
      description: 'Admin: enables or disables a channel, or changes its data.',
    })
    async updateChannel(
      @Arg('input', () => UpdateChannelInput) input: UpdateChannelInput,
      @Ctx() ctx: RequestContext,
    ): Promise<Channel> {
      const admin = requireAdmin(ctx.principal);
      const row = await ctx.em.transactional(async (tx) => {
        const updated = await channelService.update(tx, input);
        await recordAudit(tx, SCHEMA, admin, {
          action: 'channel.update',
          targetType: 'channel',
          targetId: updated.id,
          outcome: 'succeeded',
          details: {
            enabled: updated.enabled,
            changed: Object.keys(input).filter(
              (k) => k !== 'id' && (input as unknown as Record<string, unknown>)[k] != null,
            ),
          },
        });
        return updated;
      });
      // Settings may have changed (endpoint, timeouts): adapters of this channel start afresh.
      const accounts = await rt().accounts.forChannel(ctx.em, row.id);
      await Promise.all(accounts.map((a) => rt().pool.invalidate(a.id)));
      return toChannel(row);
    }
  }
  return ChannelResolver;
}
