import { launch } from './lib/launch';
import { drive } from './lib/load';
import { cpuPercent, cpuTicks, pidOf, profileDuring, summarise } from './lib/procs';

async function main() {
  const stack = await launch(4800);
  try {
    const gw = `http://127.0.0.1:${stack.ports.gateway}/graphql`;
    const portal = { authorization: `Bearer ${stack.demo.portalApiKey}` };
    for (const [name, q] of [
      ['typename', '{ __typename }'],
      ['myMerchant', '{ myMerchant { id } }'],
    ] as const) {
      const body = () => JSON.stringify({ query: q });
      await drive({ name, target: 'gw', url: gw, headers: portal, body, seconds: 3 });
      const t0 = cpuTicks(stack.pid);
      const s = Date.now();
      let r: Awaited<ReturnType<typeof drive>> | undefined;
      if (process.env.PROFILE) {
        const p = await profileDuring(pidOf(stack.pid, process.env.PROFILE)!, async () => {
          r = await drive({ name, target: 'gw', url: gw, headers: portal, body, seconds: 8 });
        });
        const { total, frames, owners } = summarise(p);
        console.log(`profile ${name} ${Math.round(total / 1000)} ms`);
        for (const [k, us] of owners) console.log(`  ${((100 * us) / total).toFixed(1)}% ${k}`);
        for (const [k, us] of frames) console.log(`  ${((100 * us) / total).toFixed(1)}% ${k}`);
      } else r = await drive({ name, target: 'gw', url: gw, headers: portal, body, seconds: 8 });
      const secs = (Date.now() - s) / 1000;
      const pct = cpuPercent(t0, cpuTicks(stack.pid), secs);
      console.log(name, r!.rps, 'req/s p50', r!.p50, 'p99', r!.p99, 'errors', r!.errors + r!.non2xx, JSON.stringify(pct),
        'gw ms/req', ((pct.gateway! * 10 * secs) / r!.requests).toFixed(2));
    }
  } finally {
    await stack.stop();
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
