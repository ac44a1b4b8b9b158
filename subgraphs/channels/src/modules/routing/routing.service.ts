/**
 * Routing: which of the merchant's channel accounts may run a procedure, in which order.
 *
 * 1. An MSISDN is placed by the longest matching prefix in `number_range` (country and, where
 *    the block is known, operator). For carrier kinds the number decides the country: a GB
 *    number cannot be billed by a French carrier, so a different `country` is refused.
 * 2. Candidates: the merchant's active accounts whose enabled channel has the kind, serves the
 *    country (and the operator when the channel lists operators), accepts the currency, and
 *    whose adapter offers the procedure; ordered by account priority (lower first), then code.
 * 3. An explicit channelId must be one of them (else BAD_USER_INPUT) and is then the only one:
 *    a payment that names a channel is never moved to another.
 */
import { assertCountry, badInput, query, type EntityManager } from '@coinslot/kernel';
import type { Procedure } from '../../adapters/types';
import { factoryOf, type ChannelRow } from '../channel/channel.service';

export interface NumberPlacement {
  prefix: string;
  country: string;
  operator: string | null;
}

export interface Candidate {
  channel: ChannelRow;
  accountId: string;
  priority: number;
}

export interface RouteRequest {
  merchantId: string;
  kind: string;
  country: string;
  currency: string;
  procedure: Procedure;
  msisdn?: string | null;
  channelId?: string | null;
  /** Include channels executed by billing (the wallet). Procedures never are. */
  includeInternal?: boolean;
}

const CARRIER_KINDS = new Set(['CARRIER_BILLING', 'PREMIUM_SMS']);

export class RoutingService {
  async place(em: EntityManager, msisdn: string): Promise<NumberPlacement | null> {
    const [row] = await query<{ prefix: string; country: string; operator_code: string | null }>(
      em,
      `select prefix, country, operator_code from channels.number_range
        where starts_with(?, prefix) order by length(prefix) desc limit 1`,
      [msisdn],
    );
    return row ? { prefix: row.prefix, country: row.country, operator: row.operator_code } : null;
  }

  async route(
    em: EntityManager,
    req: RouteRequest,
  ): Promise<{ candidates: Candidate[]; placement: NumberPlacement | null }> {
    let country = assertCountry(req.country.toUpperCase());
    let placement: NumberPlacement | null = null;
    if (req.msisdn) {
      placement = await this.place(em, req.msisdn);
      if (CARRIER_KINDS.has(req.kind)) {
        if (!placement)
          throw badInput(
            `No carrier is known for ${maskedPrefix(req.msisdn)}: the number is outside every configured range.`,
            'msisdn',
          );
        if (placement.country !== country) {
          throw badInput(
            `The MSISDN is a ${placement.country} number; ${req.kind} for ${country} needs a ${country} number (carrier billing charges the player's own carrier).`,
            'msisdn',
          );
        }
        country = placement.country;
      }
    } else if (CARRIER_KINDS.has(req.kind)) {
      throw badInput(`${req.kind} needs the player's msisdn (E.164).`, 'msisdn');
    }
    const operator = placement?.operator ?? null;

    const rows = await query<ChannelRow & { account_id: string; priority: number }>(
      em,
      `select c.*, a.id as account_id, a.priority
         from channels.channel_account a
         join channels.channel c on c.id = a.channel_id
        where a.merchant_id = ? and a.status = 'active' and c.enabled
          and c.kind = ? and ? = any(c.countries)
          and (cardinality(c.operators) = 0 or c.operators @> array[?]::text[])
          and (cardinality(c.currencies) = 0 or ? = any(c.currencies))
        order by a.priority, c.code`,
      [req.merchantId, req.kind, country, operator ?? '', req.currency],
    );
    let candidates = rows
      .filter((r) => {
        const caps = factoryOf(r).capabilities;
        if (!caps.procedures.includes(req.procedure)) return false;
        if (caps.currencies !== '*' && !caps.currencies.includes(req.currency)) return false;
        return req.includeInternal || caps.executedBy !== 'billing';
      })
      .map(({ account_id, priority, ...channel }) => ({
        channel: channel as ChannelRow,
        accountId: account_id,
        priority,
      }));

    if (req.channelId) {
      const chosen = candidates.filter((c) => c.channel.id === req.channelId);
      if (chosen.length === 0) {
        throw badInput(
          `Channel ${req.channelId} cannot run ${req.procedure} here: it must be an enabled ${req.kind} channel serving ${country}` +
            `${operator ? ` (operator ${operator})` : ''} in ${req.currency}, on which this merchant has an active account.`,
          'channelId',
        );
      }
      candidates = chosen;
    }
    if (candidates.length === 0) {
      throw badInput(
        `No ${req.kind} channel can run ${req.procedure} for country ${country}${operator ? `, operator ${operator}` : ''} in ${req.currency}: ` +
          'provision a channel account for this merchant (provisionChannelAccount) or pick another kind.',
        'channelKind',
      );
    }
    return { candidates, placement };
  }
}

function maskedPrefix(msisdn: string): string {
  return msisdn.slice(0, 4) + '…';
}

export const routing = new RoutingService();
