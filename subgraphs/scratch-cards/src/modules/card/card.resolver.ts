import { Arg, Ctx, FieldResolver, Mutation, Query, Resolver, Root } from 'type-graphql';
import {
  MoneyType,
  isUuid,
  loader,
  notFound,
  query,
  requireAdmin,
  pgArray,
  type RequestContext,
} from '@coinslot/kernel';
import type { ScratchCardsRuntime } from '../../runtime';
import { toBatch, toCard, type BatchRow, type CardRow, type Ts } from '../../rows';
import {
  ActivateScratchCardInput,
  ActivateScratchCardPayload,
  EntitlementRef,
  ScratchCard,
  ScratchCardBatch,
  ScratchCardPayload,
} from '../../types';
import { batchLoader } from '../batch/batch.resolver';
import { cards } from './card.service';

/** Cards are resolved for admins and services only (customer care, billing). */
export async function resolveCardReference(
  ref: { id: string },
  ctx: RequestContext,
): Promise<ScratchCard | null> {
  if (ctx.principal.kind !== 'admin' && ctx.principal.kind !== 'service') return null;
  const row = await loader<string, (CardRow & { batch_expires_at: Ts | null }) | null>(
    ctx,
    'card',
    async (ids) => {
      const valid = ids.filter(isUuid);
      const rows = valid.length
        ? await query<CardRow & { batch_expires_at: Ts | null }>(
            ctx.em,
            `select c.*, b.expires_at as batch_expires_at from scratch_cards.card c join scratch_cards.batch b on b.id = c.batch_id
            where c.id = any(?::uuid[])`,
            [pgArray(valid)],
          )
        : [];
      const map = new Map(rows.map((r) => [r.id, r]));
      return ids.map((id) => map.get(id) ?? null);
    },
  ).load(ref.id);
  return row ? toCard(row, { expires_at: row.batch_expires_at }) : null;
}

export function createCardResolver(rt: () => ScratchCardsRuntime) {
  @Resolver(() => ScratchCard)
  class CardResolver {
    @Query(() => ScratchCard, {
      description: 'Admin (customer care): a card by its serial number. Never its code.',
    })
    async scratchCard(
      @Arg('serialNumber', () => String) serialNumber: string,
      @Ctx() ctx: RequestContext,
    ): Promise<ScratchCard> {
      requireAdmin(ctx.principal);
      const row = await cards.bySerial(ctx.em, serialNumber);
      if (!row) throw notFound('Scratch card');
      return toCard(row, { expires_at: row.batch_expires_at });
    }

    @FieldResolver(() => ScratchCardBatch, { nullable: true, description: 'Admins only.' })
    async batch(
      @Root() card: ScratchCard,
      @Ctx() ctx: RequestContext,
    ): Promise<ScratchCardBatch | null> {
      if (ctx.principal.kind !== 'admin' && ctx.principal.kind !== 'service') return null;
      const row: BatchRow | null = await batchLoader(ctx).load(card.batchId);
      return row ? toBatch(row) : null;
    }

    @Mutation(() => ScratchCardPayload, {
      description: 'Admin: voids one card (lost, stolen, misprinted).',
    })
    async voidScratchCard(
      @Arg('serialNumber', () => String) serialNumber: string,
      @Ctx() ctx: RequestContext,
    ): Promise<ScratchCardPayload> {
      requireAdmin(ctx.principal);
      const row = await cards.void(ctx.em, ctx.principal, serialNumber);
      return Object.assign(new ScratchCardPayload(), {
        card: toCard(row, { expires_at: row.batch_expires_at }),
      });
    }

    @Mutation(() => ActivateScratchCardPayload, {
      description:
        "A player activates a card (the portal's key or the player's token). Typos are caught by the code's check character; repeated failures are rate limited.",
    })
    async activateScratchCard(
      @Arg('input', () => ActivateScratchCardInput) input: ActivateScratchCardInput,
      @Ctx() ctx: RequestContext,
    ): Promise<ActivateScratchCardPayload> {
      const result = await rt().activation.activate(ctx, input);
      const { value } = result;
      return Object.assign(new ActivateScratchCardPayload(), {
        card: toCard(result.card, result.batch),
        walletCredit:
          value.creditAmount !== null
            ? MoneyType.from(value.creditAmount, value.creditCurrency!)
            : null,
        entitlement: result.delivered?.entitlementId
          ? Object.assign(new EntitlementRef(), { id: result.delivered.entitlementId })
          : null,
        delivered: result.delivered !== null,
      });
    }
  }
  return CardResolver;
}
