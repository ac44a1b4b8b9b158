import {
  assertCountry,
  assertCurrency,
  badInput,
  conflict,
  isUuid,
  newId,
  notFound,
  pgArray,
  query,
  type EntityManager,
} from '@coinslot/kernel';
import { ADAPTERS } from '../../adapters/registry';
import type { AdapterFactory } from '../../adapters/types';
import {
  Channel,
  ChannelCapabilities,
  ChannelExecutor,
  type ChannelKind,
  type ChannelProtocol,
  type ConsentMethod,
  type InteractionPatternEnum,
  type ProcedureEnum,
  type RefundSupport,
  type CreateChannelInput,
  type UpdateChannelInput,
} from '../../types';

export interface ChannelRow {
  id: string;
  code: string;
  name: string;
  kind: string;
  protocol: string;
  adapter: string;
  countries: string[];
  operators: string[];
  currencies: string[];
  settings: Record<string, unknown>;
  enabled: boolean;
  created_at: Date;
  updated_at: Date;
}

export function factoryOf(row: Pick<ChannelRow, 'adapter' | 'code'>): AdapterFactory {
  const f = ADAPTERS[row.adapter];
  if (!f)
    throw new Error(`channel ${row.code} names adapter "${row.adapter}", which is not registered`);
  return f;
}

export function capabilitiesOf(row: ChannelRow): ChannelCapabilities {
  const caps = factoryOf(row).capabilities;
  return Object.assign(new ChannelCapabilities(), {
    procedures: caps.procedures.map((p) => p as ProcedureEnum),
    interactionPatterns: caps.patterns.map((p) => p as InteractionPatternEnum),
    consent: caps.consent.map((c) => c as ConsentMethod),
    currencies:
      row.currencies.length > 0
        ? row.currencies
        : caps.currencies === '*'
          ? ['*']
          : [...caps.currencies],
    refunds: caps.refunds.toUpperCase() as RefundSupport,
    executedBy: caps.executedBy === 'billing' ? ChannelExecutor.BILLING : ChannelExecutor.CHANNELS,
  });
}

export function toChannel(row: ChannelRow): Channel {
  return Object.assign(new Channel(), {
    id: row.id,
    code: row.code,
    name: row.name,
    kind: row.kind as ChannelKind,
    protocol: row.protocol as ChannelProtocol,
    countries: row.countries,
    operators: row.operators,
    currencies: row.currencies,
    capabilities: capabilitiesOf(row),
    enabled: row.enabled,
    adapter: row.adapter,
  });
}

const CODE = /^[a-z0-9][a-z0-9-]{1,62}$/;
const OPERATOR = /^\d{3}-\d{2,3}$/;

/** Settings are data, never secrets: a flat JSON object of strings, numbers and booleans. */
export function parseSettings(
  text: string | null | undefined,
  field = 'settings',
): Record<string, string | number | boolean> {
  if (text == null || text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw badInput(
      `${field} must be a JSON object, e.g. {"baseUrl":"https://…","timeoutMs":5000}.`,
      field,
    );
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
    throw badInput(`${field} must be a JSON object.`, field);
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      throw badInput(`${field}.${k} must be a string, a number or a boolean.`, field);
    }
    out[k] = v;
  }
  return out;
}

function countries(list: readonly string[]): string[] {
  if (list.length === 0) throw badInput('A channel serves at least one country.', 'countries');
  return [...new Set(list.map((c) => assertCountry(c.toUpperCase(), 'countries')))].sort();
}
function operators(list: readonly string[] | null | undefined): string[] {
  for (const o of list ?? [])
    if (!OPERATOR.test(o))
      throw badInput(`"${o}" is not an MCC-MNC operator code (e.g. "208-01").`, 'operators');
  return [...new Set(list ?? [])].sort();
}
function currencies(list: readonly string[] | null | undefined): string[] {
  return [
    ...new Set((list ?? []).map((c) => assertCurrency(c.toUpperCase(), 'currencies'))),
  ].sort();
}

export class ChannelService {
  async list(em: EntityManager, opts: { merchantId?: string } = {}): Promise<ChannelRow[]> {
    if (opts.merchantId) {
      return query<ChannelRow>(
        em,
        `select c.* from channels.channel c
          where exists (select 1 from channels.channel_account a
                         where a.channel_id = c.id and a.merchant_id = ? and a.status = 'active')
          order by c.code`,
        [opts.merchantId],
      );
    }
    return query<ChannelRow>(em, `select * from channels.channel order by code`);
  }

  async byIds(em: EntityManager, ids: readonly string[]): Promise<ChannelRow[]> {
    const valid = ids.filter(isUuid);
    if (valid.length === 0) return [];
    return query<ChannelRow>(em, `select * from channels.channel where id = any(?::uuid[])`, [
      pgArray(valid),
    ]);
  }

  async byId(em: EntityManager, id: string): Promise<ChannelRow | null> {
    return (await this.byIds(em, [id]))[0] ?? null;
  }

  async byCode(em: EntityManager, code: string): Promise<ChannelRow | null> {
    const [row] = await query<ChannelRow>(em, `select * from channels.channel where code = ?`, [
      code,
    ]);
    return row ?? null;
  }

  async create(em: EntityManager, input: CreateChannelInput): Promise<ChannelRow> {
    if (!CODE.test(input.code))
      throw badInput(
        'code must be 2–63 lower-case letters, digits or dashes (e.g. "camara-fr").',
        'code',
      );
    const name = input.name.trim();
    if (!name || name.length > 200) throw badInput('name must be 1 to 200 characters.', 'name');
    const factory = ADAPTERS[input.adapter];
    if (!factory)
      throw badInput(
        `Unknown adapter "${input.adapter}"; registered: ${Object.keys(ADAPTERS).join(', ')}.`,
        'adapter',
      );
    if (
      factory.capabilities.protocol !== input.protocol ||
      factory.capabilities.kind !== input.kind
    ) {
      throw badInput(
        `Adapter "${input.adapter}" speaks ${factory.capabilities.protocol} for ${factory.capabilities.kind} channels, not ${input.protocol} for ${input.kind}.`,
        'adapter',
      );
    }
    const [row] = await query<ChannelRow>(
      em,
      `insert into channels.channel (id, code, name, kind, protocol, adapter, countries, operators, currencies, settings, enabled)
       values (?, ?, ?, ?, ?, ?, ?::text[], ?::text[], ?::text[], ?::jsonb, ?)
       on conflict (code) do nothing returning *`,
      [
        newId(),
        input.code,
        name,
        input.kind,
        input.protocol,
        input.adapter,
        pgArray(countries(input.countries)),
        pgArray(operators(input.operators)),
        pgArray(currencies(input.currencies)),
        JSON.stringify(parseSettings(input.settings)),
        input.enabled ?? true,
      ],
    );
    if (!row) throw conflict(`A channel with code "${input.code}" already exists.`);
    return row;
  }

  async update(em: EntityManager, input: UpdateChannelInput): Promise<ChannelRow> {
    const current = await this.byId(em, input.id);
    if (!current) throw notFound('Channel');
    const name = input.name != null ? input.name.trim() : current.name;
    if (!name || name.length > 200) throw badInput('name must be 1 to 200 characters.', 'name');
    const [row] = await query<ChannelRow>(
      em,
      `update channels.channel set name = ?, enabled = ?, countries = ?::text[], operators = ?::text[],
              currencies = ?::text[], settings = ?::jsonb, updated_at = now()
        where id = ? returning *`,
      [
        name,
        input.enabled ?? current.enabled,
        pgArray(input.countries != null ? countries(input.countries) : current.countries),
        pgArray(input.operators != null ? operators(input.operators) : current.operators),
        pgArray(input.currencies != null ? currencies(input.currencies) : current.currencies),
        JSON.stringify(input.settings != null ? parseSettings(input.settings) : current.settings),
        current.id,
      ],
    );
    return row!;
  }
}

export const channelService = new ChannelService();
