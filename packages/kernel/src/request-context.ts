import DataLoader from 'dataloader';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import type { Principal, AdminRole } from './context';
import { forbidden, notFound } from './errors';

/** What every resolver of a subgraph receives. */
export interface RequestContext {
  principal: Principal;
  /** The client's address, as the gateway signed it (null for service calls). */
  clientIp: string | null;
  /** A fork of the subgraph's EntityManager for this request only. */
  em: EntityManager;
  log: Logger;
  loaders: Map<string, DataLoader<unknown, unknown>>;
}

/**
 * A per-request DataLoader, created on first use. Entity references and parent → children
 * fields go through these, so a list of N parents costs one query, not N.
 */
export function loader<K, V>(
  ctx: RequestContext,
  name: string,
  batch: (keys: readonly K[]) => Promise<readonly (V | Error)[]>,
): DataLoader<K, V> {
  let l = ctx.loaders.get(name) as DataLoader<K, V> | undefined;
  if (!l) {
    l = new DataLoader<K, V>(batch, { maxBatchSize: 1000 });
    ctx.loaders.set(name, l as DataLoader<unknown, unknown>);
  }
  return l;
}

/** Groups rows by key in the order of `keys`, for DataLoader batch functions. */
export function byKey<K, R>(keys: readonly K[], rows: readonly R[], keyOf: (row: R) => K): R[][] {
  const map = new Map<K, R[]>();
  for (const row of rows) {
    const k = keyOf(row);
    const list = map.get(k);
    if (list) list.push(row);
    else map.set(k, [row]);
  }
  return keys.map((k) => map.get(k) ?? []);
}

export function oneByKey<K, R>(
  keys: readonly K[],
  rows: readonly R[],
  keyOf: (row: R) => K,
): (R | null)[] {
  const map = new Map<K, R>();
  for (const row of rows) map.set(keyOf(row), row);
  return keys.map((k) => map.get(k) ?? null);
}

/** The merchant the caller acts for; admins and services must name it. */
export function callerMerchantId(principal: Principal): string | null {
  return principal.kind === 'portal' || principal.kind === 'player' ? principal.merchantId : null;
}

export function requirePortal(principal: Principal): Extract<Principal, { kind: 'portal' }> {
  if (principal.kind !== 'portal') throw forbidden('This operation needs a portal API key.');
  return principal;
}

export function requireAdmin(
  principal: Principal,
  role?: AdminRole,
): Extract<Principal, { kind: 'admin' }> {
  if (principal.kind !== 'admin') throw forbidden('This operation needs an admin API key.');
  if (role === 'owner' && principal.role !== 'owner')
    throw forbidden('This operation needs the owner role.');
  return principal;
}

export function requireService(principal: Principal): Extract<Principal, { kind: 'service' }> {
  if (principal.kind !== 'service') throw forbidden('Internal operation.');
  return principal;
}

/**
 * Merchant isolation in one place: may this caller see an object of `merchantId`
 * (and, for a player token, belonging to `playerId`)? Others get NOT_FOUND, never the data.
 */
export function assertVisible(
  principal: Principal,
  what: string,
  owner: { merchantId: string; playerId?: string | null } | null | undefined,
): asserts owner is { merchantId: string; playerId?: string | null } {
  if (!owner) throw notFound(what);
  switch (principal.kind) {
    case 'admin':
    case 'service':
      return;
    case 'portal':
      if (owner.merchantId === principal.merchantId) return;
      throw notFound(what);
    case 'player':
      if (owner.merchantId === principal.merchantId && owner.playerId === principal.playerId)
        return;
      throw notFound(what);
  }
}

/** Whether the caller may see the object; for filtering lists and references quietly. */
export function canSee(
  principal: Principal,
  owner: { merchantId: string; playerId?: string | null },
): boolean {
  try {
    assertVisible(principal, 'object', owner);
    return true;
  } catch {
    return false;
  }
}
