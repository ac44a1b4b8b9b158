import type { AdapterFactory } from './types';
import { factory as camara } from './camara/adapter';
import { factory as card } from './card/adapter';
import { factory as oneapi } from './oneapi/adapter';
import { factory as parlayx } from './parlayx/adapter';
import { factory as smpp } from './smpp/adapter';
import { factory as wallet } from './wallet/adapter';

/**
 * Every adapter, by code. Adding a carrier protocol is one folder plus one line here; a test
 * fails when a folder is missing from this list.
 */
export const ADAPTERS: Readonly<Record<string, AdapterFactory>> = {
  camara,
  card,
  oneapi,
  parlayx,
  smpp,
  wallet,
};

export function adapterFactory(code: string): AdapterFactory {
  const f = ADAPTERS[code];
  if (!f) throw new Error(`unknown adapter "${code}"`);
  return f;
}
