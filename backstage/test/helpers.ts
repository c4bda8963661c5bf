/** Test doubles: a real HTTP status service on 127.0.0.1, a recording logger, a processor cache. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LoggerService } from '@backstage/backend-plugin-api';
import type { Entity } from '@backstage/catalog-model';
import type { CatalogProcessorCache } from '@backstage/plugin-catalog-node';

export type Behaviour = 'ok' | 'garbage' | 'error500' | 'slow';

export interface FakeStatusService {
  baseUrl: string;
  entities: unknown[];
  behaviour: Behaviour;
  token?: string;
  requests: http.IncomingHttpHeaders[];
  close(): Promise<void>;
}

export async function startStatusService(entities: unknown[], token?: string): Promise<FakeStatusService> {
  const service = { entities, behaviour: 'ok', token, requests: [] } as unknown as FakeStatusService;
  const server = http.createServer((req, res) => {
    service.requests.push(req.headers);
    if (req.url !== '/api/v1/entities') {
      res.writeHead(404).end();
      return;
    }
    if (service.token && req.headers.authorization !== `Bearer ${service.token}`) {
      res.writeHead(401).end('{"detail":"missing or wrong token"}');
      return;
    }
    if (service.behaviour === 'error500') {
      res.writeHead(500).end('boom');
      return;
    }
    if (service.behaviour === 'garbage') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"entities": 42');
      return;
    }
    if (service.behaviour === 'slow') {
      setTimeout(() => res.writeHead(200).end('{}'), 2000).unref();
      return;
    }
    const body = JSON.stringify({ apiVersion: 'v1', generatedAt: new Date(0).toISOString(), entities: service.entities });
    const etag = `"${Buffer.from(body).toString('base64').length}-${hash(body)}"`;
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, { etag }).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', etag }).end(body);
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  service.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  service.close = () =>
    new Promise<void>(resolve => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return service;
}

function hash(text: string): number {
  let h = 0;
  for (const char of text) {
    h = (h * 31 + char.charCodeAt(0)) | 0;
  }
  return h >>> 0;
}

export interface LogLine {
  level: 'error' | 'warn' | 'info' | 'debug';
  message: string;
}

export function recordingLogger(lines: LogLine[] = []): LoggerService & { lines: LogLine[] } {
  const at = (level: LogLine['level']) => (message: string) => {
    lines.push({ level, message });
  };
  const logger = {
    lines,
    error: at('error'),
    warn: at('warn'),
    info: at('info'),
    debug: at('debug'),
    child: () => logger,
  };
  return logger;
}

export function memoryCache(store: Map<string, unknown> = new Map()): CatalogProcessorCache {
  return {
    async get(key: string) {
      return store.get(key) as never;
    },
    async set(key: string, value: unknown) {
      store.set(key, value);
    },
  };
}

export function mock(mockId: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    mockId,
    kind: 'openapi',
    status: 'completed',
    served: true,
    mockUrl: `http://microcks.test/rest/petstore/bk-0123456789abcdef-${mockId}`,
    includeInSwagger: true,
    lastError: null,
    lastSuccessAt: '2026-01-01T00:00:00Z',
    serviceId: `svc-${mockId}`,
    serviceName: 'petstore',
    serviceVersion: `bk-0123456789abcdef-${mockId}`,
    ...overrides,
  };
}

export function statusEntity(name: string, mocks: Record<string, unknown>[]): Record<string, unknown> {
  const errors = mocks.filter(m => m.status === 'error');
  return {
    entityRef: `api:default/${name}`,
    servedCount: mocks.filter(m => m.served).length,
    errorCount: errors.length,
    lastError: (errors[0]?.lastError as string | undefined) ?? null,
    mocks,
  };
}

export function apiEntity(name: string, type: string, definition: string, annotated = true): Entity {
  return {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'API',
    metadata: {
      name,
      namespace: 'default',
      annotations: annotated ? { 'bcgov/microcks-config-ref': 'dir:.' } : {},
      links: [{ url: `https://${name}.example.com/docs`, title: 'Docs' }],
    },
    spec: { type, lifecycle: 'production', owner: 'team-a', definition },
  };
}

export const OPENAPI_YAML = `openapi: 3.0.3
# The real API first.
info:
  title: Petstore
  version: 1.0.0
servers:
  - url: https://petstore.example.com/v1
    description: Production
paths:
  /pets:
    get:
      responses:
        "200":
          description: ok # inline comment
`;

export const SWAGGER2 = `{"swagger": "2.0", "info": {"title": "Users", "version": "1"},
  "host": "users.example.com", "basePath": "/v1", "paths": {}}
`;
