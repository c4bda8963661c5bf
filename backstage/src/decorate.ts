/**
 * What one API entity shows of its mocks, from its status entry: a link per served mock, a
 * sync-status annotation, and mock servers in its OpenAPI 3 / AsyncAPI definition. Pure: the
 * same entity and status always give the same result.
 */
import type { Entity, EntityLink } from '@backstage/catalog-model';
import type { MockKind, StatusEntity, StatusMock } from './contract';
import { MockServer, withMockServers } from './definition';

export const CONFIG_REF_ANNOTATION = 'bcgov/microcks-config-ref';
export const SYNC_STATUS_ANNOTATION = 'microcks-pipeline/sync-status';
export const MOCK_LINK_TYPE = 'microcks-mock';
const MAX_ERROR_LENGTH = 160;

/** Kinds whose mock URL is an HTTP base URL of the API (a REST server). */
const REST_KINDS: ReadonlySet<MockKind | null> = new Set<MockKind | null>([
  'openapi',
  'swagger',
  'postman',
  'soapui',
  null,
]);
const ASYNC_KINDS: ReadonlySet<MockKind | null> = new Set<MockKind | null>(['asyncapi', null]);

/** API entities that microcks-pipeline manages (they carry its config annotation). */
export function isManagedApi(entity: Entity): boolean {
  return (
    entity.kind.toLowerCase() === 'api' &&
    typeof entity.metadata.annotations?.[CONFIG_REF_ANNOTATION] === 'string'
  );
}

function servedWithUrl(status: StatusEntity): (StatusMock & { mockUrl: string })[] {
  return status.mocks.filter((m): m is StatusMock & { mockUrl: string } => m.served && !!m.mockUrl);
}

export function mockLinkTitle(mockId: string): string {
  return `Mock (${mockId})`;
}

function shortError(error: string): string {
  const line = error.split('\n', 1)[0].trim();
  return line.length > MAX_ERROR_LENGTH ? `${line.slice(0, MAX_ERROR_LENGTH - 1)}…` : line;
}

/** e.g. "2 of 3 mocks served; 1 in error: fallback: HTTP 400 from Microcks". */
export function syncStatusText(status: StatusEntity): string {
  const parts = [`${status.servedCount} of ${status.mocks.length} mocks served`];
  const failed = status.mocks.filter(m => m.status === 'error');
  const errorCount = Math.max(status.errorCount, failed.length);
  if (errorCount > 0) {
    const first = failed[0];
    const error = first?.lastError ?? status.lastError;
    const what = first ? `${first.mockId}${error ? `: ${shortError(error)}` : ''}` : shortError(error ?? '');
    parts.push(`${errorCount} in error${what ? `: ${what}` : ''}`);
  }
  return parts.join('; ');
}

function definitionServers(entity: Entity, status: StatusEntity): MockServer[] {
  const specType = String(entity.spec?.type ?? '').toLowerCase();
  const kinds = specType === 'asyncapi' ? ASYNC_KINDS : REST_KINDS;
  return servedWithUrl(status)
    .filter(m => m.includeInSwagger && kinds.has(m.kind))
    .map(m => ({ mockId: m.mockId, url: m.mockUrl }));
}

/** A copy of `entity` decorated with `status` (the input is not changed). */
export function decorateEntity(entity: Entity, status: StatusEntity): Entity {
  const existing = entity.metadata.links ?? [];
  const known = new Set(existing.map(link => link.url));
  const mockLinks: EntityLink[] = servedWithUrl(status)
    .filter(m => !known.has(m.mockUrl))
    .map(m => ({ url: m.mockUrl, title: mockLinkTitle(m.mockId), type: MOCK_LINK_TYPE }));
  const decorated: Entity = {
    ...entity,
    metadata: {
      ...entity.metadata,
      annotations: {
        ...entity.metadata.annotations,
        [SYNC_STATUS_ANNOTATION]: syncStatusText(status),
      },
      links: [...existing, ...mockLinks],
    },
  };
  const definition = entity.spec?.definition;
  if (typeof definition === 'string') {
    const specType = String(entity.spec?.type ?? '');
    const changed = withMockServers(definition, specType, definitionServers(entity, status));
    if (changed !== definition) {
      decorated.spec = { ...entity.spec, definition: changed };
    }
  }
  return decorated;
}
