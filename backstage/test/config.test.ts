import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigReader } from '@backstage/config';
import type { JsonValue } from '@backstage/types';
import { readStatusConfig } from '../src/config';

const read = (status: JsonValue) => readStatusConfig(new ConfigReader({ microcksPipeline: { status } }));

describe('microcksPipeline.status', () => {
  it('defaults to a 30 s cache and a 5 s time limit, no token', () => {
    assert.deepEqual(read({ baseUrl: 'https://status.example.com/' }), {
      baseUrl: 'https://status.example.com',
      token: undefined,
      cacheSeconds: 30,
      timeoutMs: 5000,
    });
  });

  it('takes the token, cache period and time limit', () => {
    assert.deepEqual(read({ baseUrl: 'http://status:8080', token: 't0k', cacheSeconds: 5, timeoutMs: 800 }), {
      baseUrl: 'http://status:8080',
      token: 't0k',
      cacheSeconds: 5,
      timeoutMs: 800,
    });
  });

  it('absent: no settings, the module does nothing', () => {
    assert.equal(readStatusConfig(new ConfigReader({})), undefined);
  });

  const bad: [string, JsonValue, RegExp][] = [
    ['no baseUrl', {}, /Missing required config value at 'microcksPipeline.status.baseUrl'/],
    ['a baseUrl that is no URL', { baseUrl: 'status:8080/x y' }, /baseUrl must be http or https|not a URL/],
    ['a ftp baseUrl', { baseUrl: 'ftp://status' }, /microcksPipeline.status.baseUrl must be http or https, got 'ftp:\/\/status'/],
    ['a negative cache period', { baseUrl: 'http://s', cacheSeconds: -1 }, /cacheSeconds must be 0 or more, got -1/],
    ['a zero time limit', { baseUrl: 'http://s', timeoutMs: 0 }, /timeoutMs must be more than 0, got 0/],
    ['a text time limit', { baseUrl: 'http://s', timeoutMs: 'soon' }, /microcksPipeline.status.timeoutMs/],
  ];
  for (const [name, status, message] of bad) {
    it(`rejects ${name} with a clear error`, () => {
      assert.throws(() => read(status), message);
    });
  }
});
