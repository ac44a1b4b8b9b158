/**
 * Request-download over SFTP (PROTOCOLS.md §6): list `outbox/`, download only the settlement
 * files whose `.done` marker is listed, and hand back bytes with their SHA-256 so the caller can
 * process each file once (`settlementFileKey`). Nothing here decodes or interprets a file.
 */
import { createHash } from 'node:crypto';
import SftpClient from 'ssh2-sftp-client';
import {
  SETTLEMENT_DIR,
  doneMarkerName,
  parseSettlementFileName,
  settlementDate,
  type SettlementPeriod,
} from './format';

export interface SettlementSftpConfig {
  /** `sftp://host:port` */
  url: string;
  username: string;
  password?: string;
  privateKey?: string | Buffer;
  passphrase?: string;
  /**
   * Expected host key fingerprint, `SHA256:<base64>` as OpenSSH prints it (the bare base64 is
   * accepted too). When given, any other host key ends the connection before authentication.
   */
  hostKeySha256?: string;
  /** Directory holding the files; default `outbox`. */
  directory?: string;
  /** SSH handshake timeout; default 10 s. */
  readyTimeoutMs?: number;
}

export interface FetchSettlementOptions {
  /** Only files dated on or after this day (inclusive; a Date is taken in UTC). */
  since?: Date | string;
  /** Only files of this period (D, W or M); default all. */
  period?: SettlementPeriod;
  /** Called for settlement files that were listed but not downloaded, with the reason. */
  onSkip?: (name: string, reason: 'no-done-marker' | 'before-since' | 'other-period') => void;
}

export interface FetchedSettlementFile {
  name: string;
  period: SettlementPeriod;
  /** YYYY-MM-DD from the name. */
  date: string;
  /** Lower-case hex SHA-256 of the bytes. */
  sha256: string;
  buffer: Buffer;
}

export type SettlementFetchErrorCode =
  'BAD_CONFIG' | 'HOST_KEY_MISMATCH' | 'AUTH_FAILED' | 'CONNECT_FAILED' | 'TRANSFER_FAILED';

export class SettlementFetchError extends Error {
  constructor(
    readonly code: SettlementFetchErrorCode,
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = 'SettlementFetchError';
  }
}

function normaliseFingerprint(fp: string): string {
  const bare = fp
    .trim()
    .replace(/^SHA256:/i, '')
    .replace(/=+$/, '');
  return `SHA256:${bare}`;
}

function endpoint(url: string): { host: string; port: number } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new SettlementFetchError('BAD_CONFIG', `not a URL: ${url}`);
  }
  if (u.protocol !== 'sftp:')
    throw new SettlementFetchError('BAD_CONFIG', `not an sftp:// URL: ${url}`);
  return { host: u.hostname, port: u.port ? Number(u.port) : 22 };
}

/** `SHA256:…` fingerprint (OpenSSH format) of an SSH public key blob. */
export function sshFingerprint(publicKeyBlob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(publicKeyBlob).digest('base64').replace(/=+$/, '');
}

export function sha256Hex(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

/**
 * Downloads every complete settlement file (its `.done` marker listed) dated on or after
 * `since`, sorted by name. Files without a marker are skipped: they may still be written.
 */
export async function fetchSettlementFiles(
  config: SettlementSftpConfig,
  options: FetchSettlementOptions = {},
): Promise<FetchedSettlementFile[]> {
  const { host, port } = endpoint(config.url);
  if (!config.password && !config.privateKey) {
    throw new SettlementFetchError('BAD_CONFIG', 'a password or a private key is required');
  }
  const since = options.since !== undefined ? settlementDate(options.since) : undefined;
  const dir = (config.directory ?? SETTLEMENT_DIR).replace(/\/+$/, '');
  const expected = config.hostKeySha256 ? normaliseFingerprint(config.hostKeySha256) : undefined;
  let presented: string | undefined;

  const client = new SftpClient('settlement');
  // SFTP is many small request/response packets: disable Nagle once the socket is up.
  const ssh = (client as unknown as { client?: { setNoDelay?(on: boolean): unknown } }).client;
  client.on('connect', () => ssh?.setNoDelay?.(true));
  try {
    try {
      await client.connect({
        host,
        port,
        username: config.username,
        ...(config.password !== undefined ? { password: config.password } : {}),
        ...(config.privateKey !== undefined ? { privateKey: config.privateKey } : {}),
        ...(config.passphrase !== undefined ? { passphrase: config.passphrase } : {}),
        readyTimeout: config.readyTimeoutMs ?? 10_000,
        // Never fall back to an agent or keyboard-interactive prompts.
        tryKeyboard: false,
        ...(expected
          ? {
              hostVerifier: (key: Buffer): boolean => {
                presented = sshFingerprint(key);
                return presented === expected;
              },
            }
          : {}),
      });
    } catch (e) {
      const message = (e as Error).message ?? String(e);
      if (expected && presented !== undefined && presented !== expected) {
        throw new SettlementFetchError(
          'HOST_KEY_MISMATCH',
          `host key ${presented} is not the expected ${expected}`,
          e,
        );
      }
      if (/authentication methods failed/i.test(message)) {
        throw new SettlementFetchError('AUTH_FAILED', 'SFTP authentication refused', e);
      }
      throw new SettlementFetchError('CONNECT_FAILED', `SFTP connection failed: ${message}`, e);
    }

    let listing: SftpClient.FileInfo[];
    try {
      listing = await client.list(dir);
    } catch (e) {
      throw new SettlementFetchError(
        'TRANSFER_FAILED',
        `cannot list ${dir}: ${(e as Error).message}`,
        e,
      );
    }
    const names = new Set(listing.filter((f) => f.type === '-').map((f) => f.name));
    const candidates = [...names]
      .map((name) => ({ name, parsed: parseSettlementFileName(name) }))
      .filter(
        (c): c is { name: string; parsed: { period: SettlementPeriod; date: string } } =>
          c.parsed !== undefined,
      )
      .sort((a, b) => a.name.localeCompare(b.name));

    const out: FetchedSettlementFile[] = [];
    for (const { name, parsed } of candidates) {
      if (options.period && parsed.period !== options.period) {
        options.onSkip?.(name, 'other-period');
        continue;
      }
      if (since && parsed.date < since) {
        options.onSkip?.(name, 'before-since');
        continue;
      }
      if (!names.has(doneMarkerName(name))) {
        options.onSkip?.(name, 'no-done-marker');
        continue;
      }
      let buffer: Buffer;
      try {
        const got = await client.get(`${dir}/${name}`);
        if (!Buffer.isBuffer(got)) throw new Error('unexpected download result');
        buffer = got;
      } catch (e) {
        throw new SettlementFetchError(
          'TRANSFER_FAILED',
          `cannot download ${name}: ${(e as Error).message}`,
          e,
        );
      }
      out.push({
        name,
        period: parsed.period,
        date: parsed.date,
        sha256: sha256Hex(buffer),
        buffer,
      });
    }
    return out;
  } finally {
    await client.end().catch(() => undefined);
  }
}
