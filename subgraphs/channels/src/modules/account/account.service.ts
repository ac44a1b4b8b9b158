/**
 * Channel accounts: a merchant's credentials on one channel, encrypted at rest (AES-256-GCM,
 * the account id as AAD). Credentials leave this module only decrypted in memory, for the
 * adapter pool; nothing here returns, logs or audits their values (names only).
 */
import {
  badInput,
  isUuid,
  newId,
  notFound,
  pgArray,
  query,
  type EntityManager,
} from '@coinslot/kernel';
import type { CredentialsKeyring } from '../../security/keyring';
import { ChannelAccount, ChannelAccountStatus, type CredentialEntryInput } from '../../types';
import {
  channelService,
  parseSettings,
  toChannel,
  type ChannelRow,
} from '../channel/channel.service';
import { pgDate } from '../../util';

export interface AccountRow {
  id: string;
  merchant_id: string;
  channel_id: string;
  status: 'active' | 'disabled';
  priority: number;
  settings: Record<string, string | number | boolean>;
  credential_names: string[];
  credentials_key_id: string;
  credentials_iv: Buffer;
  credentials_tag: Buffer;
  credentials_ciphertext: Buffer;
  revision: number;
  created_at: Date;
  updated_at: Date;
}

export type Credentials = Record<string, string>;

/** Credentials from a JSON object of strings or a key/value list (exactly one of them). */
export function parseCredentials(
  json: string | null | undefined,
  entries: readonly CredentialEntryInput[] | null | undefined,
): Credentials {
  if ((json == null) === (entries == null))
    throw badInput(
      'Give credentials either as a JSON object or as key/value entries.',
      'credentials',
    );
  const out: Credentials = {};
  if (json != null) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch {
      // Never echo the text back: it holds secrets.
      throw badInput(
        'credentials must be a JSON object of strings, e.g. {"username":"…","password":"…"}.',
        'credentials',
      );
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
      throw badInput('credentials must be a JSON object of strings.', 'credentials');
    for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
      if (typeof v !== 'string')
        throw badInput(`credentials.${k} must be a string.`, 'credentials');
      out[k] = v;
    }
  } else {
    for (const e of entries!) {
      if (!e.key) throw badInput('A credential entry needs a key.', 'credentialEntries');
      if (e.key in out)
        throw badInput(`Credential "${e.key}" is given twice.`, 'credentialEntries');
      out[e.key] = e.value;
    }
  }
  for (const k of Object.keys(out)) {
    if (!/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/.test(k))
      throw badInput(`"${k}" is not a credential name.`, 'credentials');
  }
  return out;
}

export function toAccount(row: AccountRow, channel: ChannelRow): ChannelAccount {
  return Object.assign(new ChannelAccount(), {
    id: row.id,
    merchantId: row.merchant_id,
    channel: toChannel(channel),
    status: row.status === 'active' ? ChannelAccountStatus.ACTIVE : ChannelAccountStatus.DISABLED,
    priority: row.priority,
    credentialNames: row.credential_names,
    credentialsKeyId: row.credentials_key_id,
    createdAt: pgDate(row.created_at),
    updatedAt: pgDate(row.updated_at),
  });
}

export class AccountService {
  constructor(private readonly keyring: CredentialsKeyring) {}

  decrypt(row: AccountRow): Credentials {
    const text = this.keyring.open(
      {
        keyId: row.credentials_key_id,
        iv: row.credentials_iv,
        tag: row.credentials_tag,
        ciphertext: row.credentials_ciphertext,
      },
      row.id,
    );
    return JSON.parse(text) as Credentials;
  }

  private seal(id: string, credentials: Credentials) {
    return this.keyring.seal(JSON.stringify(credentials), id);
  }

  async byId(em: EntityManager, id: string, lock = false): Promise<AccountRow | null> {
    if (!isUuid(id)) return null;
    const [row] = await query<AccountRow>(
      em,
      `select * from channels.channel_account where id = ?${lock ? ' for update' : ''}`,
      [id],
    );
    return row ?? null;
  }

  async forMerchant(em: EntityManager, merchantId: string): Promise<AccountRow[]> {
    if (!isUuid(merchantId)) return [];
    return query<AccountRow>(
      em,
      `select a.* from channels.channel_account a join channels.channel c on c.id = a.channel_id
        where a.merchant_id = ? order by a.priority, c.code`,
      [merchantId],
    );
  }

  async forChannel(em: EntityManager, channelId: string): Promise<AccountRow[]> {
    return query<AccountRow>(
      em,
      `select * from channels.channel_account where channel_id = ? order by (status = 'active') desc, priority, created_at`,
      [channelId],
    );
  }

  /** Creates the merchant's account on the channel, or replaces its credentials (re-provisioning). */
  async provision(
    em: EntityManager,
    input: {
      merchantId: string;
      channelId: string;
      credentials: Credentials;
      priority?: number | null;
      settings?: string | null;
    },
  ): Promise<{ row: AccountRow; channel: ChannelRow; created: boolean }> {
    if (!isUuid(input.merchantId))
      throw badInput('merchantId must be a merchant id (UUID).', 'merchantId');
    const channel = await channelService.byId(em, input.channelId);
    if (!channel) throw notFound('Channel');
    const priority = input.priority ?? 100;
    if (!Number.isInteger(priority) || priority < 0 || priority > 1_000_000)
      throw badInput('priority must be 0 to 1000000.', 'priority');
    const settings = parseSettings(input.settings);
    const [existing] = await query<AccountRow>(
      em,
      `select * from channels.channel_account where merchant_id = ? and channel_id = ? for update`,
      [input.merchantId, channel.id],
    );
    const id = existing?.id ?? newId();
    const sealed = this.seal(id, input.credentials);
    const names = Object.keys(input.credentials).sort();
    const [row] = await query<AccountRow>(
      em,
      `insert into channels.channel_account
         (id, merchant_id, channel_id, status, priority, settings, credential_names,
          credentials_key_id, credentials_iv, credentials_tag, credentials_ciphertext)
       values (?, ?, ?, 'active', ?, ?::jsonb, ?::text[], ?, ?, ?, ?)
       on conflict (merchant_id, channel_id) do update set
         status = 'active', priority = excluded.priority, settings = excluded.settings,
         credential_names = excluded.credential_names, credentials_key_id = excluded.credentials_key_id,
         credentials_iv = excluded.credentials_iv, credentials_tag = excluded.credentials_tag,
         credentials_ciphertext = excluded.credentials_ciphertext,
         revision = channel_account.revision + 1, updated_at = now()
       returning *`,
      [
        id,
        input.merchantId,
        channel.id,
        priority,
        JSON.stringify(settings),
        pgArray(names),
        sealed.keyId,
        sealed.iv,
        sealed.tag,
        sealed.ciphertext,
      ],
    );
    return { row: row!, channel, created: !existing };
  }

  async rotateCredentials(
    em: EntityManager,
    accountId: string,
    credentials: Credentials,
  ): Promise<AccountRow> {
    const current = await this.byId(em, accountId, true);
    if (!current) throw notFound('Channel account');
    const sealed = this.seal(current.id, credentials);
    const names = Object.keys(credentials).sort();
    const [row] = await query<AccountRow>(
      em,
      `update channels.channel_account set credential_names = ?::text[], credentials_key_id = ?, credentials_iv = ?,
              credentials_tag = ?, credentials_ciphertext = ?, revision = revision + 1, updated_at = now()
        where id = ? returning *`,
      [pgArray(names), sealed.keyId, sealed.iv, sealed.tag, sealed.ciphertext, current.id],
    );
    return row!;
  }

  async setStatus(
    em: EntityManager,
    accountId: string,
    status: 'active' | 'disabled',
  ): Promise<AccountRow> {
    if (!isUuid(accountId)) throw notFound('Channel account');
    const [row] = await query<AccountRow>(
      em,
      `update channels.channel_account set status = ?, revision = revision + 1, updated_at = now() where id = ? returning *`,
      [status, accountId],
    );
    if (!row) throw notFound('Channel account');
    return row;
  }

  /** Re-encrypts every account not yet under the current key; returns the ids it touched. */
  async reencryptAll(em: EntityManager): Promise<string[]> {
    const rows = await query<AccountRow>(
      em,
      `select * from channels.channel_account where credentials_key_id <> ? order by id for update`,
      [this.keyring.currentKeyId],
    );
    for (const row of rows) {
      const sealed = this.seal(row.id, this.decrypt(row));
      await query(
        em,
        `update channels.channel_account set credentials_key_id = ?, credentials_iv = ?, credentials_tag = ?,
                credentials_ciphertext = ?, updated_at = now() where id = ?`,
        [sealed.keyId, sealed.iv, sealed.tag, sealed.ciphertext, row.id],
      );
    }
    return rows.map((r) => r.id);
  }
}
