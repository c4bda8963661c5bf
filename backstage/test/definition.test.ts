import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { mockDescription, withMockServers } from '../src/definition';
import { OPENAPI_YAML, SWAGGER2 } from './helpers';

const MOCK = { mockId: 'default', url: 'http://microcks.test/rest/petstore/bk-1-default' };
const FALLBACK = { mockId: 'fallback', url: 'http://microcks.test/rest/petstore/bk-1-fallback' };

describe('OpenAPI 3 definitions', () => {
  it('get the mock servers after the real one, the rest of the YAML byte for byte', () => {
    const result = withMockServers(OPENAPI_YAML, 'openapi', [MOCK, FALLBACK]);

    assert.deepEqual(parse(result).servers, [
      { url: 'https://petstore.example.com/v1', description: 'Production' },
      { url: MOCK.url, description: 'Mocked Service (default) with fixed responses for testing and development purposes' },
      { url: FALLBACK.url, description: mockDescription('fallback') },
    ]);
    const removed = result
      .split('\n')
      .filter(line => !line.includes('microcks.test') && !line.includes('Mocked Service'))
      .join('\n');
    assert.equal(removed, OPENAPI_YAML);
  });

  it('without servers get a servers list holding the mocks, comments kept', () => {
    const text = 'openapi: 3.1.0 # version\ninfo: {title: T, version: "1"}\npaths: {}\n';

    const result = withMockServers(text, 'openapi', [MOCK]);

    assert.ok(result.startsWith(text));
    assert.deepEqual(parse(result).servers, [{ url: MOCK.url, description: mockDescription('default') }]);
  });

  it('in JSON stay JSON with the same indentation', () => {
    const doc = { openapi: '3.0.0', info: { title: 'T', version: '1' }, servers: [{ url: 'https://real' }], paths: {} };
    const text = `${JSON.stringify(doc, null, 4)}\n`;

    const result = withMockServers(text, 'openapi', [MOCK]);

    const expected = { ...doc, servers: [{ url: 'https://real' }, { url: MOCK.url, description: mockDescription('default') }] };
    assert.equal(result, `${JSON.stringify(expected, null, 4)}\n`);
  });

  it('with flow-style servers still get the mock appended, as YAML', () => {
    const text = 'openapi: "3.0.1"\nservers: [{url: "https://real"}]\npaths: {}\n';

    const result = withMockServers(text, 'openapi', [MOCK]);

    assert.deepEqual(parse(result).servers.map((s: { url: string }) => s.url), ['https://real', MOCK.url]);
    assert.ok(!result.trimStart().startsWith('{'));
  });

  it('already listing a mock URL do not get it twice', () => {
    const once = withMockServers(OPENAPI_YAML, 'openapi', [MOCK]);

    assert.equal(withMockServers(once, 'openapi', [MOCK]), once);
  });
});

describe('definitions left unchanged', () => {
  const cases: [string, string, string][] = [
    ['Swagger 2.0 (JSON)', 'openapi', SWAGGER2],
    ['Swagger 2.0 (YAML)', 'openapi', 'swagger: "2.0"\ninfo: {title: T, version: "1"}\npaths: {}\n'],
    ['unparsable YAML', 'openapi', 'openapi: 3.0.0\n  bad: [\n'],
    ['unparsable JSON', 'openapi', '{"openapi": "3.0.0",'],
    ['a GraphQL schema', 'graphql', 'type Query { pets: [String] }\n'],
    ['OpenAPI 3 text declared as another type', 'grpc', OPENAPI_YAML],
    ['servers that is not a list', 'openapi', 'openapi: 3.0.0\nservers: nope\n'],
  ];
  for (const [name, type, text] of cases) {
    it(`${name}: byte for byte`, () => {
      assert.equal(withMockServers(text, type, [MOCK]), text);
    });
  }
});

describe('AsyncAPI definitions', () => {
  const WS = { mockId: 'default', url: 'http://microcks.test/api/ws/User+signed-up+API/0.1.1/user/signedup' };

  it('2.x get a named server with a ws url and protocol', () => {
    const text = 'asyncapi: 2.6.0\ninfo:\n  title: Users\n  version: 0.1.1\nservers:\n  prod:\n    url: broker.example.com\n    protocol: kafka\nchannels: {}\n';

    const servers = parse(withMockServers(text, 'asyncapi', [WS])).servers;

    assert.deepEqual(Object.keys(servers), ['prod', 'microcks-default']);
    assert.deepEqual(servers['microcks-default'], {
      url: 'ws://microcks.test/api/ws/User+signed-up+API/0.1.1/user/signedup',
      protocol: 'ws',
      description: mockDescription('default'),
    });
  });

  it('3.x get host, pathname and protocol', () => {
    const text = JSON.stringify({ asyncapi: '3.0.0', info: { title: 'U', version: '1' }, channels: {} });

    const result = withMockServers(text, 'asyncapi', [{ ...WS, url: WS.url.replace('http:', 'https:') }]);

    assert.deepEqual(JSON.parse(result).servers, {
      'microcks-default': {
        host: 'microcks.test',
        pathname: '/api/ws/User+signed-up+API/0.1.1/user/signedup',
        protocol: 'wss',
        description: mockDescription('default'),
      },
    });
    assert.ok(!result.includes('\n'), 'a one-line JSON definition stays one line');
  });
});
