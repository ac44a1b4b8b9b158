import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSubgraphFetcher } from '../src/fetcher';

/**
 * A subgraph closes a keep-alive connection after its idle timeout; a request written on that
 * connection at the same instant fails ("socket hang up"). The subgraph fetcher retires idle
 * connections before the subgraph's announced timeout, so it never writes on one being closed.
 */
describe('gateway: subgraph fetcher', () => {
  let server: http.Server;
  let url: string;
  let connections = 0;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ data: { echo: JSON.parse(body || '{}') } }));
      });
    });
    // Announces "Keep-Alive: timeout=3" and closes idle connections after 3 s.
    server.keepAliveTimeout = 3_000;
    server.on('connection', () => (connections += 1));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('answers like fetch, reuses fresh connections, and retires idle ones before the server closes them', async () => {
    const fetcher = createSubgraphFetcher();
    try {
      const post = (n: number) =>
        fetcher(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ n }),
        });
      const first = await post(1);
      expect(first.ok).toBe(true);
      expect(first.status).toBe(200);
      expect(first.headers.get('content-type')).toBe('application/json');
      expect(await first.json()).toEqual({ data: { echo: { n: 1 } } });
      expect(await (await post(2)).text()).toBe('{"data":{"echo":{"n":2}}}');
      expect(await (await post(3)).text()).toBe('{"data":{"echo":{"n":3}}}');
      const open = connections;
      expect(open).toBeLessThan(3);
      // Idle for 1.5 s: within the server's 3 s, but past what the fetcher keeps (timeout − 2 s),
      // so the next request goes on a new connection instead of one the server may be closing.
      await new Promise((r) => setTimeout(r, 1_500));
      expect((await post(4)).ok).toBe(true);
      expect(connections).toBe(open + 1);
    } finally {
      await fetcher.destroy();
    }
  });
});
