import {
  buildFederatedSchema,
  createLogger,
  createSubgraphServer,
  MoneyType,
  PageInfo,
  type FederatedSchema,
  type ServiceHandle,
} from '@coinslot/kernel';
import type { CatalogConfig } from './config';
import { openCatalogDatabase } from './database';
import { CountryResolver } from './modules/country/country.resolver';
import { PlanResolver } from './modules/plan/plan.resolver';
import { PriceResolver } from './modules/price/price.resolver';
import { ProductResolver } from './modules/product/product.resolver';
import { ServiceResolver } from './modules/service/service.resolver';
import { VariantResolver } from './modules/variant/variant.resolver';
import { references } from './references';

/** The catalog subgraph schema; needs no database (schema checks, composition). */
export async function buildCatalogSchema(): Promise<FederatedSchema> {
  return buildFederatedSchema(
    {
      resolvers: [
        ProductResolver,
        VariantResolver,
        PriceResolver,
        PlanResolver,
        ServiceResolver,
        CountryResolver,
      ],
      orphanedTypes: [MoneyType, PageInfo],
    },
    references as never,
  );
}

export interface CatalogServiceOptions {
  /** Called with every SQL statement sent to PostgreSQL (query counting in tests, tracing). */
  onQuery?: (sql: string) => void;
}

/** Builds the catalog service; nothing listens until handle.listen(). */
export async function createCatalogService(
  config: CatalogConfig,
  options: CatalogServiceOptions = {},
): Promise<ServiceHandle> {
  const logger = createLogger('catalog', config.LOG_LEVEL);
  const orm = await openCatalogDatabase(config.DATABASE_URL, config.DATABASE_POOL_MAX);
  const { onQuery } = options;
  if (onQuery) {
    orm.em
      .getConnection()
      .getKnex()
      .on('query', (q: { sql: string }) => onQuery(q.sql));
  }
  const { schema } = await buildCatalogSchema();
  return createSubgraphServer({
    name: 'catalog',
    schema,
    orm,
    secret: config.INTERNAL_CONTEXT_SECRET,
    logger,
  });
}
