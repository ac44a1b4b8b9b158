import { createLogger, runUntilSignal } from '@coinslot/kernel';
import { loadCatalogConfig } from './config';
import { createCatalogService } from './server';

const config = loadCatalogConfig();
const logger = createLogger('catalog', config.LOG_LEVEL);
runUntilSignal('catalog', logger, async () => {
  const service = await createCatalogService(config);
  const url = await service.listen(config.PORT, config.HOST);
  logger.info({ url: `${url}/graphql` }, 'catalog ready');
  return service;
});
