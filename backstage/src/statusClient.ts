/** One conditional GET of the status service's bulk listing (ETag, bearer token, time limit). */
import { Listing, parseListing } from './contract';
import type { StatusConfig } from './config';

export const LISTING_PATH = '/api/v1/entities';

export type ListingResult =
  | { changed: false }
  | { changed: true; listing: Listing; etag: string | undefined };

/** The service could not be read; the message is short and never holds the token. */
export class StatusUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StatusUnavailableError';
  }
}

export class StatusClient {
  constructor(private readonly config: StatusConfig) {}

  get listingUrl(): string {
    return `${this.config.baseUrl}${LISTING_PATH}`;
  }

  /** The listing, or `changed: false` when the service answers 304 to `etag`. */
  async fetchListing(etag?: string): Promise<ListingResult> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (etag) {
      headers['If-None-Match'] = etag;
    }
    if (this.config.token) {
      headers.Authorization = `Bearer ${this.config.token}`;
    }
    const signal = AbortSignal.timeout(this.config.timeoutMs);
    let response: Response;
    let body: unknown;
    try {
      response = await fetch(this.listingUrl, { headers, signal, redirect: 'error' });
      if (response.status === 304 && etag) {
        return { changed: false };
      }
      if (response.status !== 200) {
        await response.body?.cancel();
        const hint = response.status === 401 || response.status === 403 ? ' (check the token)' : '';
        throw new StatusUnavailableError(`HTTP ${response.status}${hint}`);
      }
      body = await response.json();
    } catch (error) {
      throw new StatusUnavailableError(describe(error, this.config.timeoutMs));
    }
    const listing = parseListing(body);
    return { changed: true, listing, etag: response.headers.get('etag') ?? undefined };
  }
}

function describe(error: unknown, timeoutMs: number): string {
  if (error instanceof StatusUnavailableError) {
    return error.message;
  }
  if (error instanceof Error) {
    if (error.name === 'TimeoutError' || error.name === 'AbortError') {
      return `no answer within ${timeoutMs} ms`;
    }
    if (error.name === 'SyntaxError') {
      return 'the body is not JSON';
    }
    // fetch() hides the reason (ECONNREFUSED, ENOTFOUND, …) in `cause`.
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const reason = cause?.code ?? cause?.message;
    return reason ? `${error.message}: ${reason}` : error.message;
  }
  return String(error);
}
