import { createLogger, runUntilSignal } from '@coinslot/kernel';
import { loadServiceConfig } from './config';
import { armedCrashPoint } from './crash';
import { createService } from './server';

const config = loadServiceConfig();
const logger = createLogger('billing', config.LOG_LEVEL);
runUntilSignal('billing', logger, async () => {
  const crashAt = armedCrashPoint();
  if (crashAt) logger.warn({ crashAt }, 'TEST-ONLY crash point armed (COINSLOT_CRASH_AT)');
  const service = await createService(config);
  const url = await service.listen(config.PORT, config.HOST);
  logger.info({ url: `${url}/graphql` }, 'billing ready');
  return service;
});
