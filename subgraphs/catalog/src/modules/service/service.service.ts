import { conflict, newId, query, type EntityManager, type RequestContext } from '@coinslot/kernel';
import type { LocalizedNames } from '../../entities';
import { byIdLoader } from '../../loaders';
import { namesFromInput } from '../../localized';
import { assertCode, assertUuid } from '../../scope';
import { Service, type CreateServiceInput } from './service.type';

export interface ServiceRow {
  id: string;
  merchant_id: string;
  code: string;
  names: LocalizedNames;
  active: boolean;
}

export const toService = (r: ServiceRow): Service =>
  Object.assign(new Service(), {
    id: r.id,
    merchantId: r.merchant_id,
    code: r.code,
    localizedNames: r.names,
    active: r.active,
  });

export const serviceLoader = (ctx: RequestContext) => byIdLoader<ServiceRow>(ctx, 'service');

export class ServiceService {
  list(em: EntityManager, merchantId: string): Promise<ServiceRow[]> {
    return query<ServiceRow>(
      em,
      `select * from catalog.service where merchant_id = ? order by code`,
      [merchantId],
    );
  }

  async create(em: EntityManager, input: CreateServiceInput): Promise<ServiceRow> {
    const merchantId = assertUuid(input.merchantId, 'merchantId');
    const code = assertCode(input.code);
    const names = namesFromInput(input.names);
    const [row] = await query<ServiceRow>(
      em,
      `insert into catalog.service (id, merchant_id, code, names) values (?, ?, ?, ?::jsonb)
       on conflict (merchant_id, code) do nothing returning *`,
      [newId(), merchantId, code, JSON.stringify(names)],
    );
    if (!row) throw conflict(`The merchant already has a service "${code}".`);
    return row;
  }
}

export const services = new ServiceService();
