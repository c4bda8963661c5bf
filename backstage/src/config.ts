/** Reads the module's settings (`microcksPipeline.status` in app-config.yaml). */
import type { RootConfigService } from '@backstage/backend-plugin-api';

export const CONFIG_KEY = 'microcksPipeline.status';

export interface StatusConfig {
  /** Base URL of the status service, without a trailing slash. */
  baseUrl: string;
  token?: string;
  cacheSeconds: number;
  timeoutMs: number;
}

export const DEFAULT_CACHE_SECONDS = 30;
export const DEFAULT_TIMEOUT_MS = 5000;

/**
 * The settings, or undefined when `microcksPipeline.status` is absent (the module then does
 * nothing). A present but wrong setting throws: Backstage should not start half-configured.
 */
export function readStatusConfig(config: RootConfigService): StatusConfig | undefined {
  const section = config.getOptionalConfig(CONFIG_KEY);
  if (!section) {
    return undefined;
  }
  const baseUrl = section.getString('baseUrl');
  let parsed: URL;
  try {
    parsed = new URL(baseUrl);
  } catch {
    throw new Error(`${CONFIG_KEY}.baseUrl is not a URL: '${baseUrl}'`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new Error(`${CONFIG_KEY}.baseUrl must be http or https, got '${baseUrl}'`);
  }
  const cacheSeconds = section.getOptionalNumber('cacheSeconds') ?? DEFAULT_CACHE_SECONDS;
  const timeoutMs = section.getOptionalNumber('timeoutMs') ?? DEFAULT_TIMEOUT_MS;
  if (!(cacheSeconds >= 0)) {
    throw new Error(`${CONFIG_KEY}.cacheSeconds must be 0 or more, got ${cacheSeconds}`);
  }
  if (!(timeoutMs > 0)) {
    throw new Error(`${CONFIG_KEY}.timeoutMs must be more than 0, got ${timeoutMs}`);
  }
  const token = section.getOptionalString('token') || undefined;
  return { baseUrl: baseUrl.replace(/\/+$/, ''), token, cacheSeconds, timeoutMs };
}
