import type { EntityManager } from '@coinslot/kernel';
import {
  assertCountry,
  assertLocale,
  assertMsisdn,
  assertTimezone,
  badInput,
  isUuid,
  newId,
  notFound,
  pgArray,
  query as run,
} from '@coinslot/kernel';
import { AccountKind, ledger } from '../ledger/ledger.service';
import { Player, type RegisterPlayerInput } from '../../types';

export interface PlayerRow {
  id: string;
  merchant_id: string;
  external_ref: string;
  country: string;
  locale: string | null;
  timezone: string | null;
  msisdn: string | null;
  email: string | null;
  referrer_id: string | null;
  created_at: Date;
}

export function toPlayer(row: PlayerRow): Player {
  return Object.assign(new Player(), {
    id: row.id,
    merchantId: row.merchant_id,
    externalRef: row.external_ref,
    country: row.country,
    locale: row.locale,
    timezone: row.timezone,
    msisdn: row.msisdn,
    email: row.email,
    referrerId: row.referrer_id,
    createdAt: row.created_at,
  });
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export class PlayerService {
  /**
   * Registers a player, or returns the one already registered with this externalRef for the
   * merchant. One insert, race-free: concurrent registrations of one ref get the same player.
   */
  async register(
    em: EntityManager,
    merchantId: string,
    input: RegisterPlayerInput,
  ): Promise<{ player: Player; created: boolean }> {
    const externalRef = input.externalRef.trim();
    if (!externalRef || externalRef.length > 200) {
      throw badInput('externalRef must be 1 to 200 characters.', 'externalRef');
    }
    const country = assertCountry(input.country);
    const locale = input.locale != null ? assertLocale(input.locale) : null;
    const timezone = input.timezone != null ? assertTimezone(input.timezone) : null;
    const msisdn = input.msisdn != null ? assertMsisdn(input.msisdn).e164 : null;
    if (input.email != null && (!EMAIL.test(input.email) || input.email.length > 320)) {
      throw badInput(`"${input.email}" is not an e-mail address.`, 'email');
    }
    if (input.referrerId != null && !isUuid(input.referrerId)) throw notFound('Referrer');

    return em.transactional(async (tx) => {
      const [inserted] = await run<PlayerRow>(
        tx,
        `insert into accounts.player (id, merchant_id, external_ref, country, locale, timezone, msisdn, email, referrer_id)
         select ?, ?, ?, ?, ?, ?, ?, ?, r.id
           from (select ?::uuid as ref) x
           left join accounts.player r on r.id = x.ref and r.merchant_id = ?
          where x.ref is null or r.id is not null
         on conflict (merchant_id, external_ref) do nothing
         returning *`,
        [
          newId(),
          merchantId,
          externalRef,
          country,
          locale,
          timezone,
          msisdn,
          input.email ?? null,
          input.referrerId ?? null,
          merchantId,
        ],
      );
      if (!inserted) {
        const [existing] = await run<PlayerRow>(
          tx,
          `select * from accounts.player where merchant_id = ? and external_ref = ?`,
          [merchantId, externalRef],
        );
        // No row and no conflict: the referrer is not one of this merchant's players.
        if (!existing) throw notFound('Referrer');
        return { player: toPlayer(existing), created: false };
      }
      if (inserted.referrer_id) {
        await run(
          tx,
          `insert into accounts.referral (ancestor_id, descendant_id, depth)
           select ?, ?, 1
           union all
           select ancestor_id, ?, depth + 1 from accounts.referral where descendant_id = ?`,
          [inserted.referrer_id, inserted.id, inserted.id, inserted.referrer_id],
        );
      }
      const [merchant] = await run<{ virtual_currency: string | null }>(
        tx,
        `select virtual_currency from accounts.merchant where id = ?`,
        [merchantId],
      );
      if (merchant?.virtual_currency) {
        await ledger.account(tx, {
          kind: AccountKind.PLAYER_WALLET,
          currency: merchant.virtual_currency,
          merchantId,
          playerId: inserted.id,
        });
      }
      return { player: toPlayer(inserted), created: true };
    });
  }

  async byIds(em: EntityManager, ids: readonly string[]): Promise<PlayerRow[]> {
    const valid = ids.filter(isUuid);
    if (valid.length === 0) return [];
    return run<PlayerRow>(em, `select * from accounts.player where id = any(?::uuid[])`, [
      pgArray(valid),
    ]);
  }

  async referrals(
    em: EntityManager,
    ancestorId: string,
    maxDepth: number,
  ): Promise<(PlayerRow & { depth: number })[]> {
    return run(
      em,
      `select p.*, r.depth from accounts.referral r join accounts.player p on p.id = r.descendant_id
        where r.ancestor_id = ? and r.depth <= ? order by r.depth, p.created_at limit 1000`,
      [ancestorId, maxDepth],
    );
  }
}

export const players = new PlayerService();
