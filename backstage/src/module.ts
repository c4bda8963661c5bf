/** The Backstage backend module: registers the processor with the catalog plugin. */
import { coreServices, createBackendModule } from '@backstage/backend-plugin-api';
import { catalogProcessingExtensionPoint } from '@backstage/plugin-catalog-node';
import { CONFIG_KEY, readStatusConfig } from './config';
import { MicrocksStatusProcessor } from './processor';
import { StatusClient } from './statusClient';
import { StatusSource } from './statusSource';

export const catalogModuleMicrocksStatus = createBackendModule({
  pluginId: 'catalog',
  moduleId: 'microcks-status',
  register(reg) {
    reg.registerInit({
      deps: {
        catalog: catalogProcessingExtensionPoint,
        config: coreServices.rootConfig,
        logger: coreServices.logger,
      },
      async init({ catalog, config, logger }) {
        const settings = readStatusConfig(config);
        if (!settings) {
          logger.warn(`${CONFIG_KEY}.baseUrl is not set: API entities are not decorated with their mocks`);
          return;
        }
        const source = new StatusSource(new StatusClient(settings), logger, {
          cacheSeconds: settings.cacheSeconds,
        });
        catalog.addProcessor(new MicrocksStatusProcessor(source, logger));
        logger.info(`decorating API entities with the mocks listed by ${settings.baseUrl}`);
      },
    });
  },
});
