/**
 * `npm run bench`: Offers and RegisterPlayer through the gateway and straight to the owning
 * subgraph, on the real processes of `npm start`. Prints requests/s, p50/p99 and the
 * gateway/direct ratio, and appends them to docs/benchmarks.md.
 */
import fs from 'node:fs';
import path from 'node:path';
import { signInternalContext, INTERNAL_CONTEXT_HEADER } from '@coinslot/kernel';
import { launch } from './lib/launch';
import { drive, machine, table, type LoadResult } from './lib/load';

const OFFERS = `query Offers($country: String!, $locale: String) {
  products(country: $country) { id sku kind name(locale: $locale)
    variants { id sku name(locale: $locale) walletCredit { amountMinor currency } prices(country: $country) { id channelKind amount { amountMinor currency } } } }
  plans(country: $country) { id name(locale: $locale) interval intervalCount service { id name } price { id channelKind amount { amountMinor currency } } }
}`;
const REGISTER = `mutation RegisterPlayer($input: RegisterPlayerInput!) { registerPlayer(input: $input) { player { id externalRef country locale timezone msisdn } } }`;

async function main(): Promise<void> {
  const seconds = Number(process.env.BENCH_SECONDS ?? 10);
  const connections = Number(process.env.BENCH_CONNECTIONS ?? 32);
  const stack = await launch();
  try {
    const portal = { authorization: `Bearer ${stack.demo.portalApiKey}` };
    const me = await fetch(stack.demo.gatewayUrl.replace('localhost', '127.0.0.1'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...portal },
      body: JSON.stringify({ query: '{ myMerchant { id } }' }),
    });
    const merchantId = ((await me.json()) as { data: { myMerchant: { id: string } } }).data
      .myMerchant.id;
    // Straight to a subgraph: the same principal the gateway would sign (portal id is not used by these operations).
    const signed = {
      [INTERNAL_CONTEXT_HEADER]: await signInternalContext(
        { kind: 'portal', merchantId, portalId: merchantId },
        stack.secrets.INTERNAL_CONTEXT_SECRET!,
        3600,
      ),
    };
    const gw = `http://127.0.0.1:${stack.ports.gateway}/graphql`;
    const run = `${Date.now().toString(36)}`;
    const offers = () =>
      JSON.stringify({ query: OFFERS, variables: { country: 'FR', locale: 'fr-FR' } });
    const register = (prefix: string) => (i: number) =>
      JSON.stringify({
        query: REGISTER,
        variables: {
          input: {
            externalRef: `${prefix}-${run}-${i}`,
            country: 'FR',
            locale: 'fr-FR',
            timezone: 'Europe/Paris',
            msisdn: '+33612345600',
          },
        },
      });

    // Warm up caches, JIT and connection pools.
    await drive({
      name: 'warm-up',
      target: 'gateway',
      url: gw,
      headers: portal,
      body: offers,
      connections,
      seconds: 3,
    });
    const results: LoadResult[] = [];
    results.push(
      await drive({
        name: 'Offers',
        target: 'gateway',
        url: gw,
        headers: portal,
        body: offers,
        connections,
        seconds,
      }),
    );
    results.push(
      await drive({
        name: 'Offers',
        target: 'catalog (direct)',
        url: `http://127.0.0.1:${stack.ports.catalog}/graphql`,
        headers: signed,
        body: offers,
        connections,
        seconds,
      }),
    );
    results.push(
      await drive({
        name: 'RegisterPlayer',
        target: 'gateway',
        url: gw,
        headers: portal,
        body: register('gw'),
        connections,
        seconds,
      }),
    );
    results.push(
      await drive({
        name: 'RegisterPlayer',
        target: 'accounts (direct)',
        url: `http://127.0.0.1:${stack.ports.accounts}/graphql`,
        headers: signed,
        body: register('direct'),
        connections,
        seconds,
      }),
    );

    const ratio = (op: string) => {
      const [g, d] = results.filter((r) => r.name === op);
      return g && d ? (g.rps / d.rps).toFixed(2) : 'n/a';
    };
    const report = [
      `### Gateway baseline — ${new Date().toISOString().slice(0, 10)}`,
      '',
      `Machine: ${machine()}. Command: \`npm run bench\` (${connections} connections, ${seconds} s per row after a 3 s warm-up; services as separate processes, embedded PostgreSQL, LOG_LEVEL=error).`,
      '',
      table(results),
      '',
      `Gateway/direct throughput ratio: Offers ${ratio('Offers')}, RegisterPlayer ${ratio('RegisterPlayer')}.`,
      '',
    ].join('\n');
    console.log('\n' + report);
    if (process.env.BENCH_WRITE !== '0') {
      const file = path.join(__dirname, '..', 'docs', 'benchmarks.md');
      if (!fs.existsSync(file))
        fs.writeFileSync(
          file,
          '# Benchmarks\n\nFigures from `bench/`, newest last. Never asserted in tests.\n\n',
        );
      fs.appendFileSync(file, report + '\n');
    }
  } finally {
    await stack.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
