import { createLogger, runUntilSignal } from '@coinslot/kernel';
import { loadServiceConfig } from './config';
import { createService } from './server';

const config = loadServiceConfig();
const logger = createLogger('scratch-cards', config.LOG_LEVEL);
runUntilSignal('scratch-cards', logger, async () => {
  // The job runner (generation, delivery retries, expiry) starts with the service and stops on close().
  const service = await createService(config);
  const url = await service.listen(config.PORT, config.HOST);
  logger.info({ url: `${url}/graphql` }, 'scratch-cards ready');
  return service;
});
