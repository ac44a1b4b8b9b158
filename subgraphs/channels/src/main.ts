import { createLogger, runUntilSignal } from '@coinslot/kernel';
import { loadServiceConfig } from './config';
import { createService } from './server';

const config = loadServiceConfig();
const logger = createLogger('channels', config.LOG_LEVEL);
runUntilSignal('channels', logger, async () => {
  const service = await createService(config);
  const url = await service.listen(config.PORT, config.HOST);
  await service.startJobs();
  logger.info({ url: `${url}/graphql` }, 'channels ready');
  return service;
});
