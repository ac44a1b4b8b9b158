/**
 * Loopback SFTP settlement simulator (PROTOCOLS.md §6, variant A): an `ssh2` Server with a
 * download-only SFTP subsystem over an in-memory `outbox/`. Host key: RSA, generated with
 * node:crypto as PKCS#1 PEM (ed25519 keys from ssh2's keygen have been reported to fail parsing).
 *
 * Implemented SFTP requests: REALPATH, OPENDIR, READDIR, STAT, LSTAT, FSTAT, OPEN (read only),
 * READ, CLOSE. Every write-side request (OPEN for writing, WRITE, REMOVE, RENAME, MKDIR, RMDIR,
 * SETSTAT, FSETSTAT, SYMLINK) answers PERMISSION_DENIED and is counted.
 */
import { createHash, generateKeyPairSync, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Server, utils } from 'ssh2';
import type { Attributes, AuthContext, Connection, FileEntry, ParsedKey, SFTPWrapper } from 'ssh2';
import {
  DONE_SUFFIX,
  SETTLEMENT_DIR,
  doneMarkerName,
  renderSettlementFile,
  renderSettlementText,
  settlementFileName,
  type RenderSettlementOptions,
  type SettlementPeriod,
  type SettlementRow,
} from './format';
import { sshFingerprint } from './fetcher';

const { STATUS_CODE, OPEN_MODE } = utils.sftp;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const WRITE_FLAGS =
  OPEN_MODE.WRITE | OPEN_MODE.APPEND | OPEN_MODE.CREAT | OPEN_MODE.TRUNC | OPEN_MODE.EXCL;

export interface SettlementSimulatorOptions {
  host?: string;
  port?: number;
  username: string;
  /** Password auth when set. */
  password?: string;
  /** Public-key auth when set: an OpenSSH `ssh-rsa AAAA…` line or a PEM public/private key. */
  publicKey?: string | Buffer;
}

export interface PublishOptions {
  /** Write the `<name>.done` marker too (default true). */
  withDoneMarker?: boolean;
  /** Fault "late file": not visible until `releaseLate()` (or after `lateMs`). */
  late?: boolean;
  lateMs?: number;
}

export interface PublishDayFaults {
  /** The file is not there yet; `releaseLate()` publishes it (with its marker). */
  late?: boolean;
  /** Only the first half of the bytes, and no `.done`; `complete(name)` finishes it. */
  partial?: boolean;
  /** 0-based indices of rows written twice (right after the original). */
  duplicateRows?: readonly number[];
  /** Adds an OK charge for a merchant_reference we never sent. */
  unknownTransaction?: boolean | Partial<SettlementRow>;
  /** UTF-8 bytes although the convention says Windows-1252. */
  wrongEncoding?: boolean;
  /** A trailer whose row count is one too high. */
  badTrailer?: boolean;
}

export interface PublishDayOptions extends RenderSettlementOptions {
  period?: SettlementPeriod;
  withDoneMarker?: boolean;
  faults?: PublishDayFaults;
}

export interface SimulatorRequest {
  op: string;
  path?: string;
}

export interface SettlementSimulatorControl {
  /** Puts raw bytes in `outbox/<name>` (and, by default, its `.done` marker after it). */
  publish(name: string, content: Buffer, options?: PublishOptions): void;
  /** Renders a day's file (with faults) and publishes it; returns its name and exact bytes. */
  publishDay(
    date: Date | string,
    rows: readonly SettlementRow[],
    options?: PublishDayOptions,
  ): { name: string; content: Buffer };
  /** Publishes late files (all, or one by name) with their markers; returns the names. */
  releaseLate(name?: string): string[];
  /** Finishes a partial file: full content, then the `.done` marker. */
  complete(name: string): void;
  remove(name: string): void;
  /** Names visible in outbox/, sorted. */
  files(): string[];
  /** Every SFTP request received, in order. */
  requests(): SimulatorRequest[];
  /** Write-side requests refused so far. */
  refusedWrites(): number;
  reset(): void;
}

export interface SettlementSimulator {
  url: string;
  credentials: { username: string; password?: string };
  /** OpenSSH-style fingerprint of the host key, `SHA256:<base64 without padding>`. */
  hostKeySha256: string;
  control: SettlementSimulatorControl;
  stop(): Promise<void>;
}

interface StoredFile {
  content: Buffer;
  mtime: number;
}

type Handle =
  | { kind: 'file'; path: string; content: Buffer; mtime: number }
  | { kind: 'dir'; path: string; done: boolean };

function parseKeyOrThrow(key: string | Buffer): ParsedKey {
  const parsed = utils.parseKey(key);
  if (parsed instanceof Error) throw parsed;
  return parsed;
}

function sameSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function longname(name: string, attrs: Attributes, dir: boolean): string {
  const d = new Date(attrs.mtime * 1000);
  const when = `${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${String(d.getUTCHours()).padStart(2, '0')}:${String(
    d.getUTCMinutes(),
  ).padStart(2, '0')}`;
  return `${dir ? 'dr-xr-xr-x' : '-r--r--r--'} 1 sim sim ${String(attrs.size).padStart(8, ' ')} ${when} ${name}`;
}

export async function startSettlementSimulator(
  options: SettlementSimulatorOptions,
): Promise<SettlementSimulator> {
  const host = options.host ?? '127.0.0.1';
  if (!options.password && !options.publicKey)
    throw new Error('settlement simulator needs a password or a public key');
  const allowedKey = options.publicKey ? parseKeyOrThrow(options.publicKey) : undefined;

  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'pkcs1', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  const hostKey = parseKeyOrThrow(privateKey);
  const hostKeySha256 = sshFingerprint(hostKey.getPublicSSH());

  // In-memory file system: absolute path → file. Directories: '/' and '/outbox'.
  const files = new Map<string, StoredFile>();
  const late = new Map<
    string,
    { content: Buffer; withDoneMarker: boolean; timer?: NodeJS.Timeout }
  >();
  const partial = new Map<string, Buffer>();
  const log: SimulatorRequest[] = [];
  let refused = 0;
  const outbox = '/' + SETTLEMENT_DIR;
  const now = (): number => Math.floor(Date.now() / 1000);

  const put = (name: string, content: Buffer): void => {
    if (name.includes('/') || name === '' || name === '.' || name === '..')
      throw new Error(`bad file name "${name}"`);
    files.set(`${outbox}/${name}`, { content: Buffer.from(content), mtime: now() });
  };

  const publishNow = (name: string, content: Buffer, withDoneMarker: boolean): void => {
    put(name, content);
    // The marker goes last, as an operator would write it.
    if (withDoneMarker) put(doneMarkerName(name), Buffer.alloc(0));
  };

  const control: SettlementSimulatorControl = {
    publish(name, content, opts = {}) {
      const withDoneMarker = opts.withDoneMarker ?? true;
      if (opts.late || opts.lateMs !== undefined) {
        const entry: { content: Buffer; withDoneMarker: boolean; timer?: NodeJS.Timeout } = {
          content,
          withDoneMarker,
        };
        if (opts.lateMs !== undefined) {
          entry.timer = setTimeout(() => control.releaseLate(name), opts.lateMs);
          entry.timer.unref();
        }
        late.set(name, entry);
        return;
      }
      publishNow(name, content, withDoneMarker);
    },

    publishDay(date, rows, opts = {}) {
      const faults = opts.faults ?? {};
      const name = settlementFileName(date, opts.period ?? 'D');
      const planted: SettlementRow[] = [];
      rows.forEach((row, i) => {
        planted.push(row);
        if (faults.duplicateRows?.includes(i)) planted.push({ ...row });
      });
      if (faults.unknownTransaction) {
        const base = rows[0];
        const extra =
          typeof faults.unknownTransaction === 'object' ? faults.unknownTransaction : {};
        const code = base?.currency ?? opts.currency ?? 'EUR';
        planted.push({
          operatorTxnId: `SIM-${date instanceof Date ? date.getTime() : date}-${planted.length + 1}`,
          merchantReference: 'NOT-OURS-' + (planted.length + 1),
          msisdnOrAcr: '+33600000100',
          operator: '208-01',
          serviceId: base?.serviceId ?? 'SVC',
          pricePoint: base?.pricePoint ?? 'PP1',
          eventTime: base?.eventTime ?? new Date(),
          eventType: 'CHARGE',
          status: 'OK',
          grossAmount: 100n,
          taxAmount: 0n,
          netAmount: 100n,
          currency: code,
          ...extra,
        });
      }
      const renderOptions: RenderSettlementOptions = {
        ...opts,
        trailerOverride: faults.badTrailer
          ? { rowCount: planted.length + 1 }
          : opts.trailerOverride,
      };
      const content = faults.wrongEncoding
        ? Buffer.from(renderSettlementText(planted, renderOptions), 'utf8')
        : renderSettlementFile(planted, renderOptions);
      if (faults.partial) {
        partial.set(name, content);
        put(name, content.subarray(0, Math.max(1, Math.floor(content.length / 2))));
      } else {
        control.publish(name, content, {
          withDoneMarker: opts.withDoneMarker ?? true,
          late: faults.late,
        });
      }
      return { name, content };
    },

    releaseLate(name) {
      const names = name ? (late.has(name) ? [name] : []) : [...late.keys()];
      for (const n of names) {
        const entry = late.get(n)!;
        if (entry.timer) clearTimeout(entry.timer);
        late.delete(n);
        publishNow(n, entry.content, entry.withDoneMarker);
      }
      return names;
    },

    complete(name) {
      const content = partial.get(name);
      if (!content) throw new Error(`no partial file "${name}"`);
      partial.delete(name);
      publishNow(name, content, true);
    },

    remove(name) {
      files.delete(`${outbox}/${name}`);
      files.delete(`${outbox}/${doneMarkerName(name)}`);
      late.delete(name);
      partial.delete(name);
    },

    files() {
      return [...files.keys()].map((p) => path.posix.basename(p)).sort();
    },

    requests() {
      return [...log];
    },

    refusedWrites() {
      return refused;
    },

    reset() {
      for (const entry of late.values()) if (entry.timer) clearTimeout(entry.timer);
      files.clear();
      late.clear();
      partial.clear();
      log.length = 0;
      refused = 0;
    },
  };

  const resolve = (p: string): string =>
    path.posix.normalize(path.posix.join('/', p || '.')).replace(/(.)\/$/, '$1');
  const isDir = (p: string): boolean => p === '/' || p === outbox;
  const dirAttrs = (): Attributes => ({
    mode: S_IFDIR | 0o555,
    uid: 0,
    gid: 0,
    size: 0,
    atime: now(),
    mtime: now(),
  });
  const fileAttrs = (f: { content: Buffer; mtime: number }): Attributes => ({
    mode: S_IFREG | 0o444,
    uid: 0,
    gid: 0,
    size: f.content.length,
    atime: f.mtime,
    mtime: f.mtime,
  });
  const statOf = (p: string): Attributes | undefined => {
    if (isDir(p)) return dirAttrs();
    const f = files.get(p);
    return f ? fileAttrs(f) : undefined;
  };

  const serveSftp = (sftp: SFTPWrapper): void => {
    const handles = new Map<string, Handle>();
    let nextHandle = 0;
    const newHandle = (h: Handle): Buffer => {
      const buf = Buffer.alloc(4);
      buf.writeUInt32BE(nextHandle++);
      handles.set(buf.toString('hex'), h);
      return buf;
    };
    const handleOf = (b: Buffer): Handle | undefined => handles.get(b.toString('hex'));
    const deny = (op: string) => (reqId: number, p?: unknown) => {
      log.push({ op, path: typeof p === 'string' ? p : undefined });
      refused++;
      sftp.status(
        reqId,
        STATUS_CODE.PERMISSION_DENIED,
        'Permission denied: the settlement outbox is read-only',
      );
    };

    sftp.on('REALPATH', (reqId, p) => {
      log.push({ op: 'REALPATH', path: p });
      const abs = resolve(p);
      const attrs = statOf(abs);
      sftp.name(reqId, [
        {
          filename: abs,
          longname: attrs ? longname(abs, attrs, isDir(abs)) : abs,
          attrs: attrs ?? dirAttrs(),
        },
      ]);
    });

    const stat = (op: 'STAT' | 'LSTAT') => (reqId: number, p: string) => {
      log.push({ op, path: p });
      const attrs = statOf(resolve(p));
      if (attrs) sftp.attrs(reqId, attrs);
      else sftp.status(reqId, STATUS_CODE.NO_SUCH_FILE);
    };
    sftp.on('STAT', stat('STAT'));
    sftp.on('LSTAT', stat('LSTAT'));

    sftp.on('FSTAT', (reqId, handle) => {
      log.push({ op: 'FSTAT' });
      const h = handleOf(handle);
      if (!h) return sftp.status(reqId, STATUS_CODE.FAILURE, 'bad handle');
      sftp.attrs(reqId, h.kind === 'file' ? fileAttrs(h) : dirAttrs());
    });

    sftp.on('OPENDIR', (reqId, p) => {
      log.push({ op: 'OPENDIR', path: p });
      const abs = resolve(p);
      if (!isDir(abs)) {
        return sftp.status(reqId, files.has(abs) ? STATUS_CODE.FAILURE : STATUS_CODE.NO_SUCH_FILE);
      }
      sftp.handle(reqId, newHandle({ kind: 'dir', path: abs, done: false }));
    });

    sftp.on('READDIR', (reqId, handle) => {
      log.push({ op: 'READDIR' });
      const h = handleOf(handle);
      if (!h || h.kind !== 'dir') return sftp.status(reqId, STATUS_CODE.FAILURE, 'bad handle');
      if (h.done) return sftp.status(reqId, STATUS_CODE.EOF);
      h.done = true;
      const entries: FileEntry[] = [];
      if (h.path === '/') {
        const attrs = dirAttrs();
        entries.push({
          filename: SETTLEMENT_DIR,
          longname: longname(SETTLEMENT_DIR, attrs, true),
          attrs,
        });
      } else {
        for (const [p, f] of [...files.entries()].sort(([a], [b]) => a.localeCompare(b))) {
          if (path.posix.dirname(p) !== h.path) continue;
          const name = path.posix.basename(p);
          const attrs = fileAttrs(f);
          entries.push({ filename: name, longname: longname(name, attrs, false), attrs });
        }
      }
      if (entries.length === 0) return sftp.status(reqId, STATUS_CODE.EOF);
      sftp.name(reqId, entries);
    });

    sftp.on('OPEN', (reqId, filename, flags) => {
      const abs = resolve(filename);
      if (flags & WRITE_FLAGS) return deny('OPEN_WRITE')(reqId, abs);
      log.push({ op: 'OPEN', path: abs });
      const f = files.get(abs);
      if (!f)
        return sftp.status(reqId, isDir(abs) ? STATUS_CODE.FAILURE : STATUS_CODE.NO_SUCH_FILE);
      // The handle keeps the bytes as they were at OPEN, like an open file descriptor.
      sftp.handle(
        reqId,
        newHandle({ kind: 'file', path: abs, content: f.content, mtime: f.mtime }),
      );
    });

    sftp.on('READ', (reqId, handle, offset, length) => {
      const h = handleOf(handle);
      if (!h || h.kind !== 'file') return sftp.status(reqId, STATUS_CODE.FAILURE, 'bad handle');
      log.push({ op: 'READ', path: h.path });
      if (offset >= h.content.length) return sftp.status(reqId, STATUS_CODE.EOF);
      sftp.data(reqId, h.content.subarray(offset, Math.min(h.content.length, offset + length)));
    });

    sftp.on('CLOSE', (reqId, handle) => {
      log.push({ op: 'CLOSE' });
      const key = handle.toString('hex');
      if (!handles.delete(key)) return sftp.status(reqId, STATUS_CODE.FAILURE, 'bad handle');
      sftp.status(reqId, STATUS_CODE.OK);
    });

    sftp.on('WRITE', deny('WRITE'));
    sftp.on('FSETSTAT', deny('FSETSTAT'));
    sftp.on('SETSTAT', deny('SETSTAT'));
    sftp.on('REMOVE', deny('REMOVE'));
    sftp.on('RMDIR', deny('RMDIR'));
    sftp.on('MKDIR', deny('MKDIR'));
    sftp.on('RENAME', deny('RENAME'));
    sftp.on('SYMLINK', deny('SYMLINK'));
  };

  const authenticate = (ctx: AuthContext): void => {
    const methods: ('password' | 'publickey')[] = [];
    if (options.password) methods.push('password');
    if (allowedKey) methods.push('publickey');
    const userOk = sameSecret(ctx.username, options.username);
    if (ctx.method === 'password' && options.password) {
      return userOk && sameSecret(ctx.password, options.password)
        ? ctx.accept()
        : ctx.reject(methods);
    }
    if (ctx.method === 'publickey' && allowedKey) {
      const keyOk =
        ctx.key.algo === allowedKey.type && ctx.key.data.equals(allowedKey.getPublicSSH());
      if (!userOk || !keyOk) return ctx.reject(methods);
      if (!ctx.signature || !ctx.blob) return ctx.accept(); // the client asks whether the key would do
      return allowedKey.verify(ctx.blob, ctx.signature, ctx.hashAlgo)
        ? ctx.accept()
        : ctx.reject(methods);
    }
    ctx.reject(methods);
  };

  const connections = new Set<Connection>();
  const server = new Server({ hostKeys: [privateKey] }, (client) => {
    connections.add(client);
    // Small request/response packets: without this, Nagle + delayed ACK add ~40 ms per round trip.
    (client as unknown as { setNoDelay?(on: boolean): void }).setNoDelay?.(true);
    client.on('close', () => connections.delete(client));
    client.on('error', () => connections.delete(client)); // resets from clients are not our failures
    client.on('authentication', authenticate);
    client.on('ready', () => {
      client.on('session', (acceptSession) => {
        const session = acceptSession();
        session.on('sftp', (acceptSftp) => serveSftp(acceptSftp()));
        // No shell, exec or port forwarding: those requests have no handler and are refused.
      });
    });
  });

  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', fail);
      ok();
    });
  });
  const port = (server.address() as AddressInfo).port;

  return {
    url: `sftp://${host}:${port}`,
    credentials: {
      username: options.username,
      ...(options.password ? { password: options.password } : {}),
    },
    hostKeySha256,
    control,
    async stop() {
      for (const entry of late.values()) if (entry.timer) clearTimeout(entry.timer);
      const closed = new Promise<void>((ok) => server.close(() => ok()));
      for (const c of connections) c.end();
      // A peer that never answers the disconnect must not keep the server open.
      const force = setTimeout(() => {
        for (const c of connections)
          (c as unknown as { _sock?: { destroy(): void } })._sock?.destroy();
      }, 1_000);
      force.unref();
      await closed;
      clearTimeout(force);
    },
  };
}

/** For tests and tools: whether a name in outbox/ is a marker. */
export function isDoneMarker(name: string): boolean {
  return name.endsWith(DONE_SUFFIX);
}
