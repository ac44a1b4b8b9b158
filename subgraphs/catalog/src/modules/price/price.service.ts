import {
  MoneyType,
  assertCountry,
  badInput,
  byKey,
  conflict,
  isIsoCurrency,
  isUuid,
  isVirtualCurrency,
  loader,
  newId,
  notFound,
  pgArray,
  query,
  type EntityManager,
  type RequestContext,
} from '@coinslot/kernel';
import type { ChannelKindValue, PlanIntervalValue, ProductKindValue } from '../../entities';
import { ChannelKind, type PlanInterval, type ProductKind } from '../../enums';
import { byIdLoader } from '../../loaders';
import { positiveAmount, toBigInt } from '../../money';
import { assertUuid } from '../../scope';
import { countries } from '../country/country.service';
import { InternalPrice, Price, type CreatePriceInput } from './price.type';

export interface PriceRow {
  id: string;
  merchant_id: string;
  variant_id: string | null;
  plan_id: string | null;
  country: string;
  channel_kind: ChannelKindValue;
  currency: string;
  amount: string;
  active: boolean;
}

export const toPrice = (r: PriceRow): Price =>
  Object.assign(new Price(), {
    id: r.id,
    merchantId: r.merchant_id,
    variantId: r.variant_id,
    planId: r.plan_id,
    country: r.country,
    channelKind: r.channel_kind as ChannelKind,
    amount: MoneyType.from(toBigInt(r.amount), r.currency),
    active: r.active,
  });

export const priceLoader = (ctx: RequestContext) => byIdLoader<PriceRow>(ctx, 'price');

/**
 * Active prices in one country of every variant (or plan) asking, in one query; served by
 * the partial unique indexes on (variant_id|plan_id, country, channel_kind, currency).
 */
export function activePricesLoader(
  ctx: RequestContext,
  owner: 'variant' | 'plan',
  country: string,
) {
  const column = owner === 'variant' ? 'variant_id' : 'plan_id';
  return loader<string, PriceRow[]>(ctx, `price:${owner}:${country}`, async (ids) => {
    const rows = await query<PriceRow>(
      ctx.em,
      `select * from catalog.price where ${column} = any(?::uuid[]) and country = ? and active
        order by channel_kind, currency, amount`,
      [pgArray(ids), country],
    );
    return byKey(ids, rows, (r) => (owner === 'variant' ? r.variant_id! : r.plan_id!));
  });
}

interface InternalPriceRow extends PriceRow {
  product_id: string | null;
  variant_sku: string | null;
  wallet_credit: string | null;
  wallet_currency: string | null;
  access_days: number | null;
  product_kind: ProductKindValue | null;
  service_id: string | null;
  plan_interval: PlanIntervalValue | null;
  plan_interval_count: number | null;
  scratch_card_batch_id: string | null;
  purchasable: boolean;
}

export class PriceService {
  async create(em: EntityManager, input: CreatePriceInput): Promise<PriceRow> {
    const variantId = input.variantId ?? null;
    const planId = input.planId ?? null;
    if ((variantId == null) === (planId == null)) {
      throw badInput(
        'Give exactly one of variantId or planId.',
        variantId == null ? 'variantId' : 'planId',
      );
    }
    const country = await countries.get(em, assertCountry(input.country, 'country'));
    if (!country)
      throw badInput(
        `The catalog does not sell in "${input.country}" yet: upsertCountry first.`,
        'country',
      );
    const { amount, currency } = positiveAmount(input.amount, 'amount');
    const kind = input.channelKind;
    if (kind === ChannelKind.WALLET) {
      if (!isVirtualCurrency(currency)) {
        throw badInput("WALLET prices are in the merchant's virtual currency.", 'amount.currency');
      }
    } else if (!isIsoCurrency(currency)) {
      throw badInput(`${kind} prices are in an ISO 4217 currency.`, 'amount.currency');
    }
    if (kind === ChannelKind.CARRIER_BILLING || kind === ChannelKind.PREMIUM_SMS) {
      if (currency !== country.default_currency) {
        throw badInput(
          `Carrier prices in ${country.code} are in ${country.default_currency}.`,
          'amount.currency',
        );
      }
      if (country.max_per_transaction != null && amount > toBigInt(country.max_per_transaction)) {
        throw badInput(
          `${country.code} caps one carrier charge at ${country.max_per_transaction} ${country.rule_currency} minor units.`,
          'amount.amountMinor',
        );
      }
    }
    const ownerId = assertUuid((variantId ?? planId)!, variantId != null ? 'variantId' : 'planId');
    const table = variantId != null ? 'variant' : 'plan';
    const [owner] = await query<{ merchant_id: string }>(
      em,
      `select merchant_id from catalog.${table} where id = ?`,
      [ownerId],
    );
    if (!owner) throw notFound(variantId != null ? 'Product variant' : 'Plan');
    const column = variantId != null ? 'variant_id' : 'plan_id';
    const [row] = await query<PriceRow>(
      em,
      `insert into catalog.price (id, merchant_id, ${column}, country, channel_kind, currency, amount)
       values (?, ?, ?, ?, ?, ?, ?::bigint)
       on conflict (${column}, country, channel_kind, currency) where active and ${column} is not null do nothing
       returning *`,
      [newId(), owner.merchant_id, ownerId, country.code, kind, currency, amount.toString()],
    );
    if (!row) {
      throw conflict(
        `An active ${kind} price in ${currency} for ${country.code} exists: deactivate it first.`,
      );
    }
    return row;
  }

  async setActive(em: EntityManager, id: string, active: boolean): Promise<PriceRow> {
    if (!isUuid(id)) throw notFound('Price');
    const [current] = await query<PriceRow>(
      em,
      `select * from catalog.price where id = ? for update`,
      [id],
    );
    if (!current) throw notFound('Price');
    if (active && !current.active) {
      const column = current.variant_id != null ? 'variant_id' : 'plan_id';
      const [clash] = await query(
        em,
        `select id from catalog.price where ${column} = ? and country = ? and channel_kind = ? and currency = ? and active`,
        [
          current.variant_id ?? current.plan_id,
          current.country,
          current.channel_kind,
          current.currency,
        ],
      );
      if (clash)
        throw conflict(
          'Another active price has the same country, channel kind and currency: deactivate it first.',
        );
    }
    const [row] = await query<PriceRow>(
      em,
      `update catalog.price set active = ? where id = ? returning *`,
      [active, id],
    );
    return row!;
  }

  /** Everything billing needs about one price, in one query. */
  async internal(em: EntityManager, id: string): Promise<InternalPrice | null> {
    if (!isUuid(id)) return null;
    const [r] = await query<InternalPriceRow>(
      em,
      `select pr.*, v.product_id, v.sku as variant_sku, v.wallet_credit, v.wallet_currency, v.access_days,
              v.scratch_card_batch_id, p.kind as product_kind, coalesce(p.service_id, pl.service_id) as service_id,
              pl.interval as plan_interval, pl.interval_count as plan_interval_count,
              pr.active and coalesce(v.active and p.active, pl.active) as purchasable
         from catalog.price pr
         left join catalog.variant v on v.id = pr.variant_id
         left join catalog.product p on p.id = v.product_id
         left join catalog.plan pl on pl.id = pr.plan_id
        where pr.id = ?`,
      [id],
    );
    if (!r) return null;
    return Object.assign(new InternalPrice(), {
      id: r.id,
      merchantId: r.merchant_id,
      country: r.country,
      channelKind: r.channel_kind as ChannelKind,
      currency: r.currency,
      amount: MoneyType.from(toBigInt(r.amount), r.currency),
      purchasable: r.purchasable,
      variantId: r.variant_id,
      variantSku: r.variant_sku,
      productId: r.product_id,
      productKind: (r.product_kind as ProductKind | null) ?? null,
      walletCredit:
        r.wallet_credit != null && r.wallet_currency != null
          ? MoneyType.from(toBigInt(r.wallet_credit), r.wallet_currency)
          : null,
      accessDays: r.access_days,
      serviceId: r.service_id,
      planId: r.plan_id,
      planInterval: (r.plan_interval as PlanInterval | null) ?? null,
      planIntervalCount: r.plan_interval_count,
      scratchCardBatchId: r.scratch_card_batch_id,
    });
  }
}

export const prices = new PriceService();
