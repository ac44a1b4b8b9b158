import { createLogger, runUntilSignal } from '@coinslot/kernel';
import { loadAccountsConfig } from './config';
import { createAccountsService } from './server';

const config = loadAccountsConfig();
const logger = createLogger('accounts', config.LOG_LEVEL);
runUntilSignal('accounts', logger, async () => {
  const service = await createAccountsService(config);
  const url = await service.listen(config.PORT, config.HOST);
  logger.info({ url: `${url}/graphql` }, 'accounts ready');
  return service;
});
