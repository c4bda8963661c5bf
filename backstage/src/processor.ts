/**
 * The catalog processor: decorates managed API entities with their mocks' status in
 * `postProcessEntity`. It never fails processing: without a status it leaves the entity as the
 * last known status made it (in memory, and in the processor cache across restarts).
 */
import type { LoggerService } from '@backstage/backend-plugin-api';
import { Entity, stringifyEntityRef } from '@backstage/catalog-model';
import type {
  CatalogProcessor,
  CatalogProcessorCache,
  CatalogProcessorEmit,
  LocationSpec,
} from '@backstage/plugin-catalog-node';
import { parseEntity, StatusEntity } from './contract';
import { decorateEntity, isManagedApi } from './decorate';
import type { StatusSource } from './statusSource';

const CACHE_KEY = 'status';

export class MicrocksStatusProcessor implements CatalogProcessor {
  private unexpectedWarned = false;

  constructor(
    private readonly source: StatusSource,
    private readonly logger: LoggerService,
  ) {}

  getProcessorName(): string {
    return 'MicrocksStatusProcessor';
  }

  async postProcessEntity(
    entity: Entity,
    _location: LocationSpec,
    _emit: CatalogProcessorEmit,
    cache: CatalogProcessorCache,
  ): Promise<Entity> {
    if (!isManagedApi(entity)) {
      return entity;
    }
    try {
      const status = await this.statusOf(entity, cache);
      return status ? decorateEntity(entity, status) : entity;
    } catch (error) {
      // A bug or an odd entity must not become a processing error of the entity.
      if (!this.unexpectedWarned) {
        this.unexpectedWarned = true;
        this.logger.warn(
          `microcks-pipeline status: ${stringifyEntityRef(entity)} left undecorated: ${String(error)}`,
        );
      }
      return entity;
    }
  }

  private async statusOf(entity: Entity, cache: CatalogProcessorCache): Promise<StatusEntity | undefined> {
    const ref = stringifyEntityRef(entity).toLowerCase();
    const listing = await this.source.current();
    if (listing) {
      const status = listing.get(ref);
      if (status) {
        await cache.set(CACHE_KEY, status as unknown as Record<string, never>);
      }
      return status;
    }
    // The service has not answered since this backend started: what the last run saw.
    const cached = await cache.get(CACHE_KEY);
    if (cached === undefined) {
      return undefined;
    }
    await cache.set(CACHE_KEY, cached); // kept only if written again in this run
    return parseEntity(cached);
  }
}
