import {
  Arg,
  Ctx,
  Directive,
  FieldResolver,
  ID,
  Int,
  Mutation,
  Query,
  Resolver,
  Root,
} from 'type-graphql';
import { SignJWT } from 'jose';
import {
  MoneyType,
  assertVisible,
  badInput,
  byKey,
  canSee,
  loader,
  notFound,
  pgArray,
  query,
  requirePortal,
  requireService,
  type RequestContext,
} from '@coinslot/kernel';
import {
  InternalPlayer,
  Player,
  PlayerToken,
  ReferralEdge,
  RegisterPlayerInput,
  RegisterPlayerPayload,
  Wallet,
} from '../../types';
import { AccountKind, availableBalance, type LedgerAccountRow } from '../ledger/ledger.service';
import { players, toPlayer, type PlayerRow } from './player.service';

export interface PlayerTokenSettings {
  secret: Uint8Array;
  ttlSeconds: number;
}

export function playerLoader(ctx: RequestContext) {
  return loader<string, PlayerRow | null>(ctx, 'player', async (ids) => {
    const rows = await players.byIds(ctx.em, ids);
    const map = new Map(rows.map((r) => [r.id, r]));
    return ids.map((id) => map.get(id) ?? null);
  });
}

/** Resolves Player references from other subgraphs: one query per request, however many. */
export async function resolvePlayerReference(
  ref: { id: string },
  ctx: RequestContext,
): Promise<Player | null> {
  const row = await playerLoader(ctx).load(ref.id);
  if (!row || !canSee(ctx.principal, { merchantId: row.merchant_id, playerId: row.id }))
    return null;
  return toPlayer(row);
}

export function createPlayerResolver(tokens: PlayerTokenSettings) {
  @Resolver(() => Player)
  class PlayerResolver {
    @Query(() => Player, {
      description: "A player of the caller's merchant (a player token: itself only).",
    })
    async player(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext): Promise<Player> {
      const row = await playerLoader(ctx).load(id);
      assertVisible(
        ctx.principal,
        'Player',
        row && { merchantId: row.merchant_id, playerId: row.id },
      );
      return toPlayer(row!);
    }

    @Directive('@inaccessible')
    @Query(() => InternalPlayer, {
      nullable: true,
      description: 'Internal (services): a player with its merchant, for charging.',
    })
    async _player(
      @Arg('id', () => ID) id: string,
      @Ctx() ctx: RequestContext,
    ): Promise<InternalPlayer | null> {
      requireService(ctx.principal);
      const row = await playerLoader(ctx).load(id);
      if (!row) return null;
      return Object.assign(new InternalPlayer(), {
        id: row.id,
        merchantId: row.merchant_id,
        externalRef: row.external_ref,
        country: row.country,
        msisdn: row.msisdn,
        timezone: row.timezone,
        locale: row.locale,
      });
    }

    @Mutation(() => RegisterPlayerPayload, {
      description:
        "Registers a player of the portal's merchant; the same externalRef again returns the same player.",
    })
    async registerPlayer(
      @Arg('input', () => RegisterPlayerInput) input: RegisterPlayerInput,
      @Ctx() ctx: RequestContext,
    ): Promise<RegisterPlayerPayload> {
      const portal = requirePortal(ctx.principal);
      const result = await players.register(ctx.em, portal.merchantId, input);
      return Object.assign(new RegisterPlayerPayload(), result);
    }

    @Mutation(() => PlayerToken, {
      description: "A short-lived token for the player's own frontend.",
    })
    async issuePlayerToken(
      @Arg('playerId', () => ID) playerId: string,
      @Ctx() ctx: RequestContext,
    ): Promise<PlayerToken> {
      const portal = requirePortal(ctx.principal);
      const row = await playerLoader(ctx).load(playerId);
      assertVisible(
        ctx.principal,
        'Player',
        row && { merchantId: row.merchant_id, playerId: row.id },
      );
      const expiresAt = new Date(Math.floor(Date.now() / 1000 + tokens.ttlSeconds) * 1000);
      const token = await new SignJWT({ mid: portal.merchantId, typ: 'player' })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(playerId)
        .setIssuer('coinslot-accounts')
        .setIssuedAt()
        .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
        .sign(tokens.secret);
      return Object.assign(new PlayerToken(), { token, expiresAt });
    }

    @FieldResolver(() => [Wallet], { description: 'One wallet per currency the player holds.' })
    async wallets(@Root() player: Player, @Ctx() ctx: RequestContext): Promise<Wallet[]> {
      const rows = await loader<string, LedgerAccountRow[]>(ctx, 'wallets', async (ids) => {
        const found = await query<LedgerAccountRow>(
          ctx.em,
          `select * from accounts.ledger_account where player_id = any(?::uuid[]) and kind = ? order by currency`,
          [pgArray(ids), AccountKind.PLAYER_WALLET],
        );
        return byKey(ids, found, (r) => r.player_id!);
      }).load(player.id);
      return rows.map((r) =>
        Object.assign(new Wallet(), {
          id: r.id,
          currency: r.currency,
          balance: MoneyType.from(availableBalance(r), r.currency),
          playerId: player.id,
          merchantId: player.merchantId,
        }),
      );
    }

    @FieldResolver(() => Player, { nullable: true })
    async referrer(@Root() player: Player, @Ctx() ctx: RequestContext): Promise<Player | null> {
      if (!player.referrerId) return null;
      const row = await playerLoader(ctx).load(player.referrerId);
      return row && canSee(ctx.principal, { merchantId: row.merchant_id, playerId: row.id })
        ? toPlayer(row)
        : null;
    }

    @FieldResolver(() => [ReferralEdge], {
      description: 'Players this player referred, down to maxDepth levels.',
    })
    async referrals(
      @Root() player: Player,
      @Arg('maxDepth', () => Int, { defaultValue: 1 }) maxDepth: number,
      @Ctx() ctx: RequestContext,
    ): Promise<ReferralEdge[]> {
      if (maxDepth < 1 || maxDepth > 10)
        throw badInput('maxDepth must be between 1 and 10.', 'maxDepth');
      if (ctx.principal.kind === 'player') throw notFound('Referrals');
      const rows = await players.referrals(ctx.em, player.id, maxDepth);
      return rows.map((r) =>
        Object.assign(new ReferralEdge(), { player: toPlayer(r), depth: r.depth }),
      );
    }
  }
  return PlayerResolver;
}
