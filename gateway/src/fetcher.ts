import http from 'node:http';
import nodeFetch from 'node-fetch';

/**
 * node-fetch with a keep-alive agent: the gateway's default fetcher costs about twice the CPU
 * per subgraph request (STACK.md §7b).
 */
export function createFetcher(maxSockets = 256) {
  const agent = new http.Agent({ keepAlive: true, maxSockets, keepAliveMsecs: 10_000 });
  const fetcher = ((url: string, init?: Parameters<typeof nodeFetch>[1]) =>
    nodeFetch(url, { ...init, agent })) as typeof nodeFetch;
  return Object.assign(fetcher, { destroy: () => agent.destroy() });
}
export type Fetcher = ReturnType<typeof createFetcher>;
