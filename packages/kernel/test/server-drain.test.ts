import net from 'node:net';
import { Writable } from 'node:stream';
import {
  GraphQLInt,
  GraphQLNonNull,
  GraphQLObjectType,
  GraphQLSchema,
  GraphQLString,
} from 'graphql';
import { EntitySchema } from '@mikro-orm/core';
import pino from 'pino';
import { asPrincipal, createTestDatabase, TEST_SECRET } from '@coinslot/testing';
import {
  createSubgraphServer,
  openDatabase,
  query,
  withClient,
  type MikroORM,
  type RequestContext,
  type ServiceHandle,
} from '../src';

/** A promise the test settles by hand: the resolver stands for work awaiting a PSP or a peer. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { opened, open };
}

/** MikroORM wants one entity; the resolver writes with plain SQL. */
const DrainProbe = new EntitySchema<{ key: string }>({
  name: 'DrainProbe',
  tableName: 'drain_probe',
  properties: { key: { type: 'string', primary: true } },
});

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A toy subgraph: record(key) waits on the test's gate for that key (no database connection
 * held meanwhile, like a resolver awaiting another service), then writes the key.
 */
function toySchema(gates: Map<string, ReturnType<typeof gate>>, started: Set<string>) {
  return new GraphQLSchema({
    query: new GraphQLObjectType({ name: 'Query', fields: { ping: { type: GraphQLInt } } }),
    mutation: new GraphQLObjectType({
      name: 'Mutation',
      fields: {
        record: {
          type: GraphQLString,
          args: { key: { type: new GraphQLNonNull(GraphQLString) } },
          async resolve(_root, { key }: { key: string }, ctx: RequestContext) {
            started.add(key);
            await gates.get(key)!.opened;
            await query(ctx.em, 'insert into drain_probe (key) values (?)', [key]);
            return key;
          },
        },
      },
    }),
  });
}

const recordBody = (key: string) =>
  JSON.stringify({ query: `mutation($k: String!) { record(key: $k) }`, variables: { k: key } });

/**
 * One kept-alive TCP connection carrying pipelined HTTP/1.1 POSTs to /graphql; `closed` gives
 * every response (status, body) once the server has closed the connection.
 */
function rawConnection(baseUrl: string) {
  const { hostname, port } = new URL(baseUrl);
  const socket = net.connect(Number(port), hostname);
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (received += chunk));
  const closed = new Promise<{ status: number; body: string }[]>((resolve) =>
    socket.on('close', () => {
      const responses: { status: number; body: string }[] = [];
      let rest = received;
      // The responses here are ASCII JSON with a content-length: chars are bytes.
      while (rest.startsWith('HTTP/1.1 ')) {
        const headEnd = rest.indexOf('\r\n\r\n') + 4;
        const length = Number(/content-length: (\d+)/i.exec(rest.slice(0, headEnd))![1]);
        responses.push({
          status: Number(rest.slice(9, 12)),
          body: rest.slice(headEnd, headEnd + length),
        });
        rest = rest.slice(headEnd + length);
      }
      resolve(responses);
    }),
  );
  return {
    send(body: string, headers: Record<string, string>) {
      const lines = [
        'POST /graphql HTTP/1.1',
        `host: ${hostname}:${port}`,
        'connection: keep-alive',
        'content-type: application/json',
        `content-length: ${Buffer.byteLength(body)}`,
        ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
      ];
      socket.write(`${lines.join('\r\n')}\r\n\r\n${body}`);
    },
    closed,
  };
}

describe('createSubgraphServer: graceful close', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let headers: Record<string, string>;

  beforeAll(async () => {
    db = await createTestDatabase();
    await withClient(db.url, (c) =>
      c.query('create table public.drain_probe (key text primary key)'),
    );
    headers = await asPrincipal({ kind: 'service', service: 'test' }, TEST_SECRET);
  });
  afterAll(async () => {
    await db?.drop();
  });

  async function start(keys: string[], shutdownGraceMs: number) {
    const logs: { level: number; msg: string; [k: string]: unknown }[] = [];
    const logger = pino(
      { level: 'debug' },
      new Writable({
        write(chunk, _enc, done) {
          logs.push(JSON.parse(String(chunk)));
          done();
        },
      }),
    );
    const gates = new Map(keys.map((k) => [k, gate()]));
    const started = new Set<string>();
    const events: string[] = [];
    const orm: MikroORM = await openDatabase({
      url: db.url,
      schema: 'public',
      entities: [DrainProbe],
      migrations: [],
      poolMax: 2,
    });
    const server: ServiceHandle = await createSubgraphServer({
      name: 'toy',
      schema: toySchema(gates, started),
      orm,
      secret: TEST_SECRET,
      logger,
      shutdownGraceMs,
      onClose: async () => {
        events.push(`onClose (database open: ${await orm.isConnected()})`);
      },
    });
    const url = await server.listen(0);
    const record = (key: string, signal?: AbortSignal) =>
      fetch(`${url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: recordBody(key),
        signal,
      }).then(async (res) => {
        const body = (await res.json()) as { data?: { record: string }; errors?: unknown[] };
        events.push(`response ${key}`);
        return { status: res.status, body };
      });
    const waitStarted = async (n: number) => {
      while (started.size < n) await tick(5);
    };
    const recorded = async () =>
      withClient(db.url, async (c) =>
        (await c.query<{ key: string }>('select key from drain_probe order by key')).rows.map(
          (r) => r.key,
        ),
      );
    return { server, url, gates, events, logs, record, waitStarted, recorded, orm };
  }

  it('finishes the requests it is executing, refuses new ones, and only then closes the database', async () => {
    const t = await start(['a1', 'a2', 'a3', 'b1'], 5_000);
    // a1 and a2 wait for their answers; a3 too, on a kept-alive connection (as the gateway
    // calls) that will carry one more request; b1's caller hangs up once close() has begun (a
    // caller that is itself stopping): the write its request started must still complete.
    const answers = ['a1', 'a2'].map((k) => t.record(k));
    const keptAlive = rawConnection(t.url);
    keptAlive.send(recordBody('a3'), headers);
    const hangUp = new AbortController();
    const abandoned = t.record('b1', hangUp.signal).catch(() => 'aborted');
    await t.waitStarted(4);

    let closed = false;
    const closing = t.server.close().then(() => {
      closed = true;
      t.events.push('closed');
    });
    hangUp.abort();
    expect(await abandoned).toBe('aborted');

    // Not ready and refusing: no new connection, and 503 on one already open.
    const status = (path: string, init?: RequestInit) =>
      fetch(`${t.url}${path}`, init).then(
        (r) => r.status,
        () => 'refused',
      );
    expect([503, 'refused']).toContain(await status('/readyz'));
    expect([503, 'refused']).toContain(
      await status('/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ query: '{ ping }' }),
      }),
    );
    keptAlive.send(JSON.stringify({ query: '{ ping }' }), headers);

    for (const k of ['a1', 'a2', 'a3']) t.gates.get(k)!.open();
    const results = await Promise.all(answers);
    for (const [i, r] of results.entries()) {
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ data: { record: `a${i + 1}` } });
    }
    // b1 is still being executed, its caller gone: the service must keep waiting for it.
    await tick(150);
    expect(closed).toBe(false);

    const onKeptAlive = await keptAlive.closed;
    expect(onKeptAlive.map((r) => r.status)).toEqual([200, 503]);
    expect(JSON.parse(onKeptAlive[0]!.body)).toEqual({ data: { record: 'a3' } });
    expect(JSON.parse(onKeptAlive[1]!.body)).toMatchObject({
      errors: [{ extensions: { reason: 'SHUTTING_DOWN' } }],
    });

    t.gates.get('b1')!.open();
    await closing;
    expect(await t.recorded()).toEqual(['a1', 'a2', 'a3', 'b1']);
    expect(t.events.slice(-2)).toEqual(['onClose (database open: true)', 'closed']);
    expect(t.events.indexOf('closed')).toBeGreaterThan(
      Math.max(...['a1', 'a2'].map((k) => t.events.indexOf(`response ${k}`))),
    );
    expect(await t.orm.isConnected()).toBe(false);
    expect(t.logs.filter((l) => l.level >= 40)).toEqual([]);
  });

  it('cuts what still runs after the grace period with one warning, not an internal error each', async () => {
    const t = await start(['c1', 'c2', 'c3'], 300);
    const stuck = ['c1', 'c2', 'c3'].map((k) => t.record(k).catch(() => 'cut'));
    await t.waitStarted(3);
    const began = Date.now();
    await t.server.close();
    expect(Date.now() - began).toBeGreaterThanOrEqual(250);
    expect(await Promise.all(stuck)).toEqual(['cut', 'cut', 'cut']);

    // The cut resolvers now fail against the closed pool: expected, so not logged as errors.
    for (const g of t.gates.values()) g.open();
    await tick(100);
    const serious = t.logs.filter((l) => l.level >= 40);
    expect(serious).toEqual([expect.objectContaining({ level: 40, inFlight: 3 })]);
    expect(await t.recorded()).toEqual(['a1', 'a2', 'a3', 'b1']);
  });
});
