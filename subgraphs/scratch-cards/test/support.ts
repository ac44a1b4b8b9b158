import {
  signInternalContext,
  INTERNAL_CONTEXT_HEADER,
  query,
  type MikroORM,
  type Principal,
} from '@coinslot/kernel';
import { gql, TEST_SECRET } from '@coinslot/testing';
import { Vault } from '../src/codes/crypto';
import { openServiceDatabase } from '../src/database';

/** The keys test/support/stack.ts gives scratch-cards. */
export const TEST_CARD_CODE_KEY = Buffer.alloc(32, 11);
export const TEST_CARD_VAULT_KEY = Buffer.alloc(32, 13);

/** Headers of a direct subgraph call as the gateway would sign it, client address included. */
export async function signed(
  principal: Principal,
  clientIp?: string,
): Promise<Record<string, string>> {
  return {
    [INTERNAL_CONTEXT_HEADER]: await signInternalContext(
      principal,
      TEST_SECRET,
      120,
      clientIp ? { clientIp } : {},
    ),
  };
}

/** A direct call to a subgraph's /graphql with a signed principal. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- test assertions read the wire data freely
export async function direct<T = Record<string, any>>(
  url: string,
  principal: Principal,
  q: string,
  variables: Record<string, unknown> = {},
  clientIp?: string,
) {
  return gql<T>(url, q, variables, await signed(principal, clientIp));
}

/**
 * Reads a batch's clear codes from its vault, the way only the service can (tests need codes of
 * batches that are not exported: pending approval, virtual).
 */
export async function withOrm<T>(url: string, fn: (orm: MikroORM) => Promise<T>): Promise<T> {
  const orm = await openServiceDatabase(url, 2);
  try {
    return await fn(orm);
  } finally {
    await orm.close(true);
  }
}

export async function vaultCodes(
  orm: MikroORM,
  batchId: string,
  codeLength = 16,
): Promise<{ running: number; code: string }[]> {
  const vault = new Vault(TEST_CARD_VAULT_KEY);
  const chunks = await query<{
    first_running: number;
    iv: Buffer;
    tag: Buffer;
    ciphertext: Buffer;
  }>(
    orm.em.fork(),
    `select first_running, iv, tag, ciphertext from scratch_cards.card_vault where batch_id = ? order by first_running`,
    [batchId],
  );
  return chunks.flatMap((c) =>
    vault
      .open(batchId, c.first_running, codeLength, c)
      .map((code, i) => ({ running: c.first_running + i, code })),
  );
}

/** Polls until `check` returns a value (not undefined), or fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  timeoutMs = 15_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every text-like value of every table in the given schemas, for "no clear code is stored" checks. */
export async function allStoredText(orm: MikroORM, schemas: string[]): Promise<string[]> {
  const em = orm.em.fork();
  const columns = await query<{
    table_schema: string;
    table_name: string;
    column_name: string;
    data_type: string;
  }>(
    em,
    `select c.table_schema, c.table_name, c.column_name, c.data_type
       from information_schema.columns c
       join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name and t.table_type = 'BASE TABLE'
      where c.table_schema = any(?::text[])
        and c.data_type in ('text', 'character varying', 'character', 'bytea', 'json', 'jsonb', 'ARRAY', 'USER-DEFINED')`,
    [`{${schemas.join(',')}}`],
  );
  const values: string[] = [];
  for (const col of columns) {
    const expr =
      col.data_type === 'bytea'
        ? `encode("${col.column_name}", 'escape')`
        : `"${col.column_name}"::text`;
    const rows = await query<{ v: string | null }>(
      em,
      `select ${expr} as v from "${col.table_schema}"."${col.table_name}"`,
    );
    for (const r of rows) if (r.v) values.push(r.v);
  }
  return values;
}

export type { Principal };
