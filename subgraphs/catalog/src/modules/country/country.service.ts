import {
  MoneyType,
  assertCountry,
  assertCurrency,
  assertLocale,
  assertTimezone,
  badInput,
  isIsoCurrency,
  loader,
  notFound,
  oneByKey,
  pgArray,
  query,
  type EntityManager,
  type RequestContext,
} from '@coinslot/kernel';
import type { LocalizedNames } from '../../entities';
import { namesFromInput } from '../../localized';
import { positiveAmount, toBigInt } from '../../money';
import {
  Country,
  CountryRules,
  type UpsertCountryInput,
  type UpsertCountryRulesInput,
} from './country.type';

export interface CountryRow {
  code: string;
  names: LocalizedNames;
  default_currency: string;
  default_locale: string;
  timezones: string[];
  address_format: string;
  rule_currency: string | null;
  max_per_transaction: string | null;
  max_per_day: string | null;
  max_per_month: string | null;
  consent_required: boolean | null;
  charging_hour_from: number | null;
  charging_hour_to: number | null;
}

const SELECT_COUNTRY = `
  select c.code, c.names, c.default_currency, c.default_locale, c.timezones, c.address_format,
         r.currency as rule_currency, r.max_per_transaction, r.max_per_day, r.max_per_month,
         r.consent_required, r.charging_hour_from, r.charging_hour_to
    from catalog.country c
    left join catalog.country_rule r on r.country = c.code`;

const money = (amount: string | null, currency: string) =>
  amount == null ? null : MoneyType.from(toBigInt(amount), currency);

export function toCountry(row: CountryRow): Country {
  const rules =
    row.rule_currency == null
      ? null
      : Object.assign(new CountryRules(), {
          currency: row.rule_currency,
          maxPerTransaction: money(row.max_per_transaction, row.rule_currency),
          maxPerDay: money(row.max_per_day, row.rule_currency),
          maxPerMonth: money(row.max_per_month, row.rule_currency),
          consentRequired: row.consent_required ?? false,
          chargingHourFrom: row.charging_hour_from,
          chargingHourTo: row.charging_hour_to,
        });
  return Object.assign(new Country(), {
    code: row.code,
    localizedNames: row.names,
    defaultCurrency: row.default_currency,
    defaultLocale: row.default_locale,
    timezones: row.timezones,
    addressFormat: row.address_format,
    rules,
  });
}

/** Countries (with their rules) by code, one query per request. */
export function countryLoader(ctx: RequestContext) {
  return loader<string, CountryRow | null>(ctx, 'country:code', async (codes) => {
    const rows = await query<CountryRow>(
      ctx.em,
      `${SELECT_COUNTRY} where c.code = any(?::text[])`,
      [pgArray(codes)],
    );
    return oneByKey(codes, rows, (r) => r.code);
  });
}

export class CountryService {
  list(em: EntityManager): Promise<CountryRow[]> {
    return query<CountryRow>(em, `${SELECT_COUNTRY} order by c.code`);
  }

  async upsert(em: EntityManager, input: UpsertCountryInput): Promise<CountryRow> {
    const code = assertCountry(input.code, 'code');
    const names = namesFromInput(input.names);
    const defaultCurrency = assertCurrency(input.defaultCurrency, 'defaultCurrency');
    if (!isIsoCurrency(defaultCurrency))
      throw badInput('defaultCurrency must be an ISO 4217 code.', 'defaultCurrency');
    const defaultLocale = assertLocale(input.defaultLocale, 'defaultLocale');
    if (input.timezones.length === 0) throw badInput('Give at least one time zone.', 'timezones');
    const timezones = input.timezones.map((z, i) => assertTimezone(z, `timezones[${i}]`));
    const addressFormat = input.addressFormat.trim();
    if (!addressFormat || addressFormat.length > 500) {
      throw badInput('addressFormat must be 1 to 500 characters.', 'addressFormat');
    }
    await query(
      em,
      `insert into catalog.country (code, names, default_currency, default_locale, timezones, address_format)
       values (?, ?::jsonb, ?, ?, ?::text[], ?)
       on conflict (code) do update set names = excluded.names, default_currency = excluded.default_currency,
         default_locale = excluded.default_locale, timezones = excluded.timezones,
         address_format = excluded.address_format, updated_at = now()`,
      [
        code,
        JSON.stringify(names),
        defaultCurrency,
        defaultLocale,
        pgArray(timezones),
        addressFormat,
      ],
    );
    return (await this.get(em, code))!;
  }

  async upsertRules(em: EntityManager, input: UpsertCountryRulesInput): Promise<CountryRow> {
    const code = assertCountry(input.country, 'country');
    const country = await this.get(em, code);
    if (!country) throw notFound('Country');
    const currency = country.default_currency;
    const cap = (field: 'maxPerTransaction' | 'maxPerDay' | 'maxPerMonth'): bigint | null => {
      const value = input[field];
      if (value == null) return null;
      const parsed = positiveAmount(value, field);
      if (parsed.currency !== currency) {
        throw badInput(`${field} must be in ${code}'s currency, ${currency}.`, `${field}.currency`);
      }
      return parsed.amount;
    };
    const [perTransaction, perDay, perMonth] = [
      cap('maxPerTransaction'),
      cap('maxPerDay'),
      cap('maxPerMonth'),
    ];
    const from = input.chargingHourFrom ?? null;
    const to = input.chargingHourTo ?? null;
    if ((from == null) !== (to == null)) {
      throw badInput(
        'Give both chargingHourFrom and chargingHourTo, or neither.',
        from == null ? 'chargingHourFrom' : 'chargingHourTo',
      );
    }
    if (from != null && (!Number.isInteger(from) || from < 0 || from > 23)) {
      throw badInput('chargingHourFrom must be a local hour from 0 to 23.', 'chargingHourFrom');
    }
    if (to != null && (!Number.isInteger(to) || to < 1 || to > 24 || to === from)) {
      throw badInput(
        'chargingHourTo must be a local hour from 1 to 24, other than chargingHourFrom.',
        'chargingHourTo',
      );
    }
    await query(
      em,
      `insert into catalog.country_rule
         (country, currency, max_per_transaction, max_per_day, max_per_month, consent_required, charging_hour_from, charging_hour_to)
       values (?, ?, ?::bigint, ?::bigint, ?::bigint, ?, ?, ?)
       on conflict (country) do update set currency = excluded.currency,
         max_per_transaction = excluded.max_per_transaction, max_per_day = excluded.max_per_day,
         max_per_month = excluded.max_per_month, consent_required = excluded.consent_required,
         charging_hour_from = excluded.charging_hour_from, charging_hour_to = excluded.charging_hour_to,
         updated_at = now()`,
      [
        code,
        currency,
        perTransaction?.toString() ?? null,
        perDay?.toString() ?? null,
        perMonth?.toString() ?? null,
        input.consentRequired,
        from,
        to,
      ],
    );
    return (await this.get(em, code))!;
  }

  async get(em: EntityManager, code: string): Promise<CountryRow | null> {
    const [row] = await query<CountryRow>(em, `${SELECT_COUNTRY} where c.code = ?`, [code]);
    return row ?? null;
  }
}

export const countries = new CountryService();
