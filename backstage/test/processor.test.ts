import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import type { Entity } from '@backstage/catalog-model';
import type { LocationSpec } from '@backstage/plugin-catalog-node';
import { StatusConfig } from '../src/config';
import { MicrocksStatusProcessor } from '../src/processor';
import { StatusClient } from '../src/statusClient';
import { StatusSource } from '../src/statusSource';
import {
  apiEntity,
  FakeStatusService,
  memoryCache,
  mock,
  OPENAPI_YAML,
  recordingLogger,
  startStatusService,
  statusEntity,
  SWAGGER2,
} from './helpers';

const LOCATION: LocationSpec = { type: 'url', target: 'http://catalog.test/catalog-info.yaml' };
const DESCRIPTION = (id: string) => `Mocked Service (${id}) with fixed responses for testing and development purposes`;

function listing() {
  return [
    statusEntity('petstore', [
      mock('default'),
      mock('hidden', { includeInSwagger: false }),
      mock('broken', { status: 'error', served: false, mockUrl: null, lastError: 'Microcks refused the upload: HTTP 400\nstack...' }),
      mock('pending', { status: 'pending', served: false }),
    ]),
    statusEntity('users', [mock('default', { kind: 'swagger', mockUrl: 'http://microcks.test/rest/users/bk-2-default' })]),
  ];
}

interface Harness {
  processor: MicrocksStatusProcessor;
  logger: ReturnType<typeof recordingLogger>;
  clock: { now: number };
}

function harness(service: FakeStatusService, config: Partial<StatusConfig> = {}): Harness {
  const logger = recordingLogger();
  const clock = { now: 1_000_000 };
  const settings: StatusConfig = { baseUrl: service.baseUrl, cacheSeconds: 30, timeoutMs: 500, ...config };
  const source = new StatusSource(new StatusClient(settings), logger, {
    cacheSeconds: settings.cacheSeconds,
    now: () => clock.now,
  });
  return { processor: new MicrocksStatusProcessor(source, logger), logger, clock };
}

async function processed(h: Harness, entity: Entity, cache = memoryCache()): Promise<Entity> {
  return h.processor.postProcessEntity(entity, LOCATION, () => {}, cache);
}

const petstore = () => apiEntity('petstore', 'openapi', OPENAPI_YAML);
const users = () => apiEntity('users', 'openapi', SWAGGER2);
const linkTitles = (entity: Entity) => (entity.metadata.links ?? []).map(l => l.title);
const serverUrls = (entity: Entity) => parse(entity.spec!.definition as string).servers.map((s: { url: string }) => s.url);

describe('a managed API entity', () => {
  let service: FakeStatusService;
  before(async () => {
    service = await startStatusService(listing());
  });
  after(() => service.close());

  it('gets a link per served mock, titled with the mock id', async () => {
    const entity = await processed(harness(service), petstore());

    assert.deepEqual(entity.metadata.links, [
      { url: 'https://petstore.example.com/docs', title: 'Docs' },
      { url: 'http://microcks.test/rest/petstore/bk-0123456789abcdef-default', title: 'Mock (default)', type: 'microcks-mock' },
      { url: 'http://microcks.test/rest/petstore/bk-0123456789abcdef-hidden', title: 'Mock (hidden)', type: 'microcks-mock' },
    ]);
  });

  it('gets served mocks with includeInSwagger in its OpenAPI 3 servers, after the real one', async () => {
    const entity = await processed(harness(service), petstore());

    const servers = parse(entity.spec!.definition as string).servers;
    assert.deepEqual(servers, [
      { url: 'https://petstore.example.com/v1', description: 'Production' },
      { url: 'http://microcks.test/rest/petstore/bk-0123456789abcdef-default', description: DESCRIPTION('default') },
    ]);
  });

  it('gets a sync-status annotation with the served count and the short error', async () => {
    const entity = await processed(harness(service), petstore());

    assert.equal(
      entity.metadata.annotations!['microcks-pipeline/sync-status'],
      '2 of 4 mocks served; 1 in error: broken: Microcks refused the upload: HTTP 400',
    );
    assert.equal(entity.metadata.annotations!['bcgov/microcks-config-ref'], 'dir:.');
  });

  it('in Swagger 2 keeps its definition byte for byte and gets its link', async () => {
    const entity = await processed(harness(service), users());

    assert.equal(entity.spec!.definition, SWAGGER2);
    assert.deepEqual(linkTitles(entity), ['Docs', 'Mock (default)']);
  });

  it('that the status service does not list is left as it is', async () => {
    const unknown = apiEntity('orders', 'openapi', OPENAPI_YAML);

    assert.deepEqual(await processed(harness(service), unknown), unknown);
  });

  it('is matched case-insensitively on its entity ref', async () => {
    const entity = apiEntity('PetStore', 'openapi', OPENAPI_YAML);

    assert.deepEqual(linkTitles(await processed(harness(service), entity)), ['Docs', 'Mock (default)', 'Mock (hidden)']);
  });
});

describe('entities the module does not touch', () => {
  let service: FakeStatusService;
  before(async () => {
    service = await startStatusService(listing());
  });
  after(() => service.close());

  it('an API without the microcks config annotation', async () => {
    const entity = apiEntity('petstore', 'openapi', OPENAPI_YAML, false);

    assert.deepEqual(await processed(harness(service), entity), entity);
    assert.equal(service.requests.length, 0, 'not even a request for it');
  });

  it('a Component carrying the annotation', async () => {
    const entity = { ...petstore(), kind: 'Component' };

    assert.deepEqual(await processed(harness(service), entity), entity);
  });
});

describe('reading the status service', () => {
  let service: FakeStatusService;
  before(async () => {
    service = await startStatusService(listing(), 'status-token-1234');
  });
  afterEach(() => {
    service.requests.length = 0;
    service.behaviour = 'ok';
  });
  after(() => service.close());

  it('sends the bearer token', async () => {
    const entity = await processed(harness(service, { token: 'status-token-1234' }), petstore());

    assert.equal(service.requests[0].authorization, 'Bearer status-token-1234');
    assert.equal(linkTitles(entity).length, 3);
  });

  it('without the token it gets 401: one warning naming the cause, never the token, no decoration', async () => {
    const h = harness(service);

    const entity = await processed(h, petstore());

    assert.deepEqual(entity, petstore());
    assert.equal(h.logger.lines.filter(l => l.level === 'warn').length, 1);
    assert.match(h.logger.lines[0].message, /HTTP 401 \(check the token\)/);
  });

  it('makes one request per cache period for all entities, then a conditional one answered 304', async () => {
    const h = harness(service, { token: 'status-token-1234' });

    await Promise.all([processed(h, petstore()), processed(h, users()), processed(h, petstore())]);
    assert.equal(service.requests.length, 1);
    assert.equal(service.requests[0]['if-none-match'], undefined);

    h.clock.now += 29_000;
    await processed(h, petstore());
    assert.equal(service.requests.length, 1, 'still within the cache period');

    h.clock.now += 1_000;
    const entity = await processed(h, petstore());
    assert.equal(service.requests.length, 2);
    assert.match(String(service.requests[1]['if-none-match']), /^".+"$/);
    assert.deepEqual(serverUrls(entity), ['https://petstore.example.com/v1', 'http://microcks.test/rest/petstore/bk-0123456789abcdef-default']);
  });

  it('sees a changed listing after the cache period', async () => {
    const h = harness(service, { token: 'status-token-1234' });
    await processed(h, petstore());
    const saved = service.entities;
    service.entities = [statusEntity('petstore', [mock('default', { served: false, status: 'error', lastError: 'gone' })])];
    try {
      h.clock.now += 30_000;
      const entity = await processed(h, petstore());

      assert.deepEqual(linkTitles(entity), ['Docs']);
      assert.equal(entity.spec!.definition, OPENAPI_YAML);
      assert.equal(entity.metadata.annotations!['microcks-pipeline/sync-status'], '0 of 1 mocks served; 1 in error: default: gone');
    } finally {
      service.entities = saved;
    }
  });
});

describe('when the status service fails', () => {
  let service: FakeStatusService;
  before(async () => {
    service = await startStatusService(listing());
  });
  after(() => service.close());

  for (const behaviour of ['error500', 'garbage', 'slow'] as const) {
    it(`(${behaviour}) entities keep their last known decoration, with one warning for all`, async () => {
      service.behaviour = 'ok';
      const h = harness(service, { timeoutMs: 300 });
      const before = await processed(h, petstore());
      service.behaviour = behaviour;

      const during = [];
      for (let loop = 0; loop < 3; loop++) {
        h.clock.now += 31_000;
        during.push(await processed(h, petstore()), await processed(h, users()));
      }

      assert.deepEqual(during[0], before);
      assert.deepEqual(during[4], before);
      assert.deepEqual(linkTitles(during[5]), ['Docs', 'Mock (default)']);
      const warnings = h.logger.lines.filter(l => l.level === 'warn');
      assert.equal(warnings.length, 1, JSON.stringify(warnings));
      assert.match(warnings[0].message, /status service at http:\/\/127\.0\.0\.1:\d+\/api\/v1\/entities unavailable/);
      assert.match(warnings[0].message, /entities keep their last known mocks/);
      const reason = { error500: /HTTP 500/, garbage: /not JSON/, slow: /no answer within 300 ms/ }[behaviour];
      assert.match(warnings[0].message, reason);

      service.behaviour = 'ok';
      h.clock.now += 31_000;
      await processed(h, petstore());
      assert.match(h.logger.lines.at(-1)!.message, /answers again/);
    });
  }

  it('an answer that breaks the contract keeps the last listing too', async () => {
    service.behaviour = 'ok';
    const h = harness(service);
    const before = await processed(h, petstore());
    const saved = service.entities;
    service.entities = [{ entityRef: 'api:default/petstore', mocks: [{ mockId: 'default', served: 'yes' }] }];
    try {
      h.clock.now += 31_000;
      assert.deepEqual(await processed(h, petstore()), before);
      assert.match(h.logger.lines[0].message, /unexpected document: entities\[0\]\.mocks\[0\]\.served is not a boolean/);
    } finally {
      service.entities = saved;
    }
  });

  it('a service down since start-up leaves the decoration of the previous processing run', async () => {
    service.behaviour = 'ok';
    const cache = memoryCache();
    const before = await processed(harness(service), petstore(), cache);
    service.behaviour = 'error500';

    const restarted = harness(service);
    const after = await processed(restarted, petstore(), cache);

    assert.deepEqual(after, before);
  });

  it('a service down that never answered leaves entities unchanged, one warning', async () => {
    service.behaviour = 'error500';
    const h = harness(service);

    assert.deepEqual(await processed(h, petstore()), petstore());
    assert.deepEqual(await processed(h, users()), users());
    assert.equal(h.logger.lines.length, 1);
    assert.match(h.logger.lines[0].message, /no mock status is known yet/);
  });
});
