import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import type { z } from 'zod';
import { DEFAULT_PORTS, SUBGRAPH_NAMES, urlEnvName, type ServiceName } from '@coinslot/kernel';
import { accountsConfigSchema } from '../../subgraphs/accounts/src/config';
import { catalogConfigSchema } from '../../subgraphs/catalog/src/config';
import { configSchema as billingConfigSchema } from '../../subgraphs/billing/src/config';
import { configSchema as scratchCardsConfigSchema } from '../../subgraphs/scratch-cards/src/config';
import { configSchema as channelsConfigSchema } from '../../subgraphs/channels/src/config';
import { gatewayConfigSchema } from '../../gateway/src/config';

const ROOT = path.join(__dirname, '..', '..');
const SCHEMAS: Record<ServiceName, z.ZodObject> = {
  gateway: gatewayConfigSchema as unknown as z.ZodObject,
  accounts: accountsConfigSchema as unknown as z.ZodObject,
  catalog: catalogConfigSchema as unknown as z.ZodObject,
  billing: billingConfigSchema as unknown as z.ZodObject,
  'scratch-cards': scratchCardsConfigSchema as unknown as z.ZodObject,
  channels: channelsConfigSchema as unknown as z.ZodObject,
};

interface ComposeService {
  build?: { args?: { SERVICE?: string } };
  environment?: Record<string, string | number>;
  depends_on?: Record<string, unknown>;
}

/** Keys a service cannot start without: no default, not optional. */
function requiredKeys(schema: z.ZodObject): string[] {
  return Object.entries(schema.shape)
    .filter(([, field]) => !(field as z.ZodType).safeParse(undefined).success)
    .map(([key]) => key);
}

describe('docker-compose.yml stays consistent with the services', () => {
  const compose = parse(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), {
    merge: true,
  }) as { services: Record<string, ComposeService> };
  const services: ServiceName[] = ['gateway', ...SUBGRAPH_NAMES];

  it('has PostgreSQL 17, Redis, a migration step and every service', () => {
    expect(Object.keys(compose.services).sort()).toEqual(
      ['migrate', 'postgres', 'redis', ...services].sort(),
    );
    expect((compose.services.postgres as { image: string }).image).toBe('postgres:17');
  });

  it.each(services)(
    '%s is built from the Dockerfile for itself, on its port, with every required setting',
    (name) => {
      const s = compose.services[name]!;
      expect(s.build?.args?.SERVICE).toBe(name);
      const env = s.environment ?? {};
      expect(Number(env.PORT)).toBe(DEFAULT_PORTS[name]);
      for (const key of requiredKeys(SCHEMAS[name]))
        expect({ service: name, key, present: key in env }).toEqual({
          service: name,
          key,
          present: true,
        });
      expect(
        fs.existsSync(
          path.join(
            ROOT,
            name === 'gateway' ? 'gateway/src/main.ts' : `subgraphs/${name}/src/main.ts`,
          ),
        ),
      ).toBe(true);
    },
  );

  it('points the gateway at every subgraph by service name and port', () => {
    const env = compose.services.gateway!.environment!;
    for (const name of SUBGRAPH_NAMES) {
      expect(env[urlEnvName(name)]).toBe(`http://${name}:${DEFAULT_PORTS[name]}/graphql`);
      expect(compose.services.gateway!.depends_on).toHaveProperty(name);
    }
    expect(env.REDIS_URL).toBe('redis://redis:6379');
  });

  it('shares one internal-context secret between the gateway and all subgraphs', () => {
    const secrets = new Set(
      services.map((n) => compose.services[n]!.environment!.INTERNAL_CONTEXT_SECRET),
    );
    expect(secrets.size).toBe(1);
    expect([...secrets][0]).toMatch(/^\$\{INTERNAL_CONTEXT_SECRET/);
    expect(compose.services.gateway!.environment!.PLAYER_TOKEN_SECRET).toBe(
      compose.services.accounts!.environment!.PLAYER_TOKEN_SECRET,
    );
  });

  it('has a Dockerfile whose entry points exist', () => {
    const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
    for (const entry of dockerfile.match(/[\w/.$-]+\.ts/g) ?? []) {
      if (entry.includes('$') || entry.startsWith('/')) continue; // templated, or a comment's <name> pattern
      expect({ entry, exists: fs.existsSync(path.join(ROOT, entry)) }).toEqual({
        entry,
        exists: true,
      });
    }
  });
});
