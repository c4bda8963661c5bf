/**
 * The last good listing of the status service, shared by every entity: at most one request per
 * cache period (concurrent callers wait for the same one), and while the service is down, slow
 * or garbled the previous listing stays in use and one warning is logged per outage (then one
 * per `warnEverySeconds` while it lasts), not one per entity.
 */
import type { LoggerService } from '@backstage/backend-plugin-api';
import type { Listing } from './contract';
import type { StatusClient } from './statusClient';

export interface StatusSourceOptions {
  cacheSeconds: number;
  warnEverySeconds?: number;
  now?: () => number;
}

export class StatusSource {
  private listing: Listing | undefined;
  private etag: string | undefined;
  private fetchedAt = Number.NEGATIVE_INFINITY;
  private inFlight: Promise<void> | undefined;
  private failingSince: number | undefined;
  private warnedAt = Number.NEGATIVE_INFINITY;
  private readonly cacheMs: number;
  private readonly warnEveryMs: number;
  private readonly now: () => number;

  constructor(
    private readonly client: StatusClient,
    private readonly logger: LoggerService,
    options: StatusSourceOptions,
  ) {
    this.cacheMs = options.cacheSeconds * 1000;
    this.warnEveryMs = (options.warnEverySeconds ?? 600) * 1000;
    this.now = options.now ?? Date.now;
  }

  /** The freshest listing available, or undefined if the service never answered. */
  async current(): Promise<Listing | undefined> {
    if (this.now() - this.fetchedAt >= this.cacheMs) {
      this.inFlight ??= this.refresh().finally(() => {
        this.inFlight = undefined;
      });
      await this.inFlight;
    }
    return this.listing;
  }

  private async refresh(): Promise<void> {
    try {
      const result = await this.client.fetchListing(this.listing ? this.etag : undefined);
      if (result.changed) {
        this.listing = result.listing;
        this.etag = result.etag;
      }
      if (this.failingSince !== undefined) {
        this.logger.info(`microcks-pipeline status service at ${this.client.listingUrl} answers again`);
        this.failingSince = undefined;
        this.warnedAt = Number.NEGATIVE_INFINITY; // the next outage warns at once
      }
    } catch (error) {
      this.failingSince ??= this.now();
      this.warnRateLimited(error);
    } finally {
      this.fetchedAt = this.now();
    }
  }

  private warnRateLimited(error: unknown): void {
    if (this.now() - this.warnedAt < this.warnEveryMs) {
      return;
    }
    this.warnedAt = this.now();
    const reason = error instanceof Error ? error.message : String(error);
    const kept = this.listing
      ? 'entities keep their last known mocks'
      : 'no mock status is known yet, entities are left as they are';
    this.logger.warn(
      `microcks-pipeline status service at ${this.client.listingUrl} unavailable (${reason}); ${kept}`,
    );
  }
}
