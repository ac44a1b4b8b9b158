import {
  badInput,
  conflict,
  newId,
  notFound,
  query,
  type EntityManager,
  type RequestContext,
} from '@coinslot/kernel';
import type { LocalizedNames, PlanIntervalValue } from '../../entities';
import { ChannelKind, type PlanInterval } from '../../enums';
import { byIdLoader } from '../../loaders';
import { namesFromInput } from '../../localized';
import { assertCode, assertUuid } from '../../scope';
import type { PriceRow } from '../price/price.service';
import { Plan, type CreatePlanInput } from './plan.type';

export interface PlanRow {
  id: string;
  merchant_id: string;
  service_id: string;
  code: string;
  names: LocalizedNames;
  interval: PlanIntervalValue;
  interval_count: number;
  active: boolean;
}

export const toPlan = (r: PlanRow, country: string | null = null): Plan =>
  Object.assign(new Plan(), {
    id: r.id,
    merchantId: r.merchant_id,
    serviceId: r.service_id,
    code: r.code,
    localizedNames: r.names,
    interval: r.interval as PlanInterval,
    intervalCount: r.interval_count,
    active: r.active,
    country,
  });

export const planLoader = (ctx: RequestContext) => byIdLoader<PlanRow>(ctx, 'plan');

/** Which price a plan shows when the caller does not name a channel kind: recurring-friendly first. */
const CHANNEL_PREFERENCE: readonly ChannelKind[] = [
  ChannelKind.CARRIER_BILLING,
  ChannelKind.CARD,
  ChannelKind.PREMIUM_SMS,
  ChannelKind.WALLET,
];

export function preferredPrice(
  rows: readonly PriceRow[],
  channelKind: ChannelKind | null | undefined,
): PriceRow | null {
  if (channelKind != null) return rows.find((r) => r.channel_kind === channelKind) ?? null;
  for (const kind of CHANNEL_PREFERENCE) {
    const row = rows.find((r) => r.channel_kind === kind);
    if (row) return row;
  }
  return null;
}

export class PlanService {
  /** The merchant's active plans of active services with an active price in the country. */
  offered(em: EntityManager, merchantId: string, country: string): Promise<PlanRow[]> {
    return query<PlanRow>(
      em,
      `select pl.* from catalog.plan pl
         join catalog.service s on s.id = pl.service_id and s.active
        where pl.merchant_id = ? and pl.active
          and exists (select 1 from catalog.price pr where pr.plan_id = pl.id and pr.country = ? and pr.active)
        order by s.code, case pl.interval when 'DAY' then 1 when 'WEEK' then 7 else 30 end * pl.interval_count, pl.code
        limit 1000`,
      [merchantId, country],
    );
  }

  async create(em: EntityManager, input: CreatePlanInput): Promise<PlanRow> {
    const serviceId = assertUuid(input.serviceId, 'serviceId');
    const code = assertCode(input.code);
    const names = namesFromInput(input.names);
    if (
      !Number.isInteger(input.intervalCount) ||
      input.intervalCount < 1 ||
      input.intervalCount > 366
    ) {
      throw badInput('intervalCount must be between 1 and 366.', 'intervalCount');
    }
    const [service] = await query<{ merchant_id: string }>(
      em,
      `select merchant_id from catalog.service where id = ?`,
      [serviceId],
    );
    if (!service) throw notFound('Service');
    const [row] = await query<PlanRow>(
      em,
      `insert into catalog.plan (id, merchant_id, service_id, code, names, interval, interval_count)
       values (?, ?, ?, ?, ?::jsonb, ?, ?)
       on conflict (service_id, code) do nothing returning *`,
      [
        newId(),
        service.merchant_id,
        serviceId,
        code,
        JSON.stringify(names),
        input.interval,
        input.intervalCount,
      ],
    );
    if (!row) throw conflict(`The service already has a plan "${code}".`);
    return row;
  }
}

export const plans = new PlanService();
