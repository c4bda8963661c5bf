/**
 * Adds mock servers to an API definition's text and keeps its format: JSON stays JSON (same
 * indentation), YAML stays YAML with its comments, and in the usual block layout every byte
 * around the inserted lines is kept. OpenAPI 3.x gets entries appended to its `servers` list,
 * AsyncAPI 2.x/3.x a named entry in its `servers` map; anything else (Swagger 2.0 has no
 * `servers`, unknown or unparsable text) is returned unchanged.
 */
import { Document, isMap, isSeq, parseDocument } from 'yaml';

export interface MockServer {
  mockId: string;
  url: string;
}

export function mockDescription(mockId: string): string {
  return `Mocked Service (${mockId}) with fixed responses for testing and development purposes`;
}

export function asyncServerName(mockId: string): string {
  return `microcks-${mockId}`;
}

type Shape = 'openapi3' | 'asyncapi2' | 'asyncapi3';
type Json = Record<string, unknown>;

/** `definition` with `mocks` added as servers, or the very same string when nothing applies. */
export function withMockServers(definition: string, specType: string, mocks: MockServer[]): string {
  if (mocks.length === 0) {
    return definition;
  }
  const isJson = definition.trimStart().startsWith('{');
  if (isJson) {
    return withServersJson(definition, specType, mocks);
  }
  return withServersYaml(definition, specType, mocks);
}

function shapeOf(specType: string, root: (key: string) => unknown): Shape | undefined {
  const version = (key: string) => {
    const value = root(key);
    return typeof value === 'string' || typeof value === 'number' ? String(value) : '';
  };
  const type = specType.toLowerCase();
  if (type === 'openapi' && version('openapi').startsWith('3.')) {
    return 'openapi3';
  }
  if (type === 'asyncapi' && version('asyncapi').startsWith('2.')) {
    return 'asyncapi2';
  }
  if (type === 'asyncapi' && version('asyncapi').startsWith('3.')) {
    return 'asyncapi3';
  }
  return undefined;
}

function asyncProtocol(url: URL): string {
  const scheme = url.protocol.replace(/:$/, '');
  return { http: 'ws', https: 'wss' }[scheme] ?? scheme;
}

/** The server object of one mock for the given definition shape. */
function serverObject(shape: Shape, mock: MockServer): Json {
  const description = mockDescription(mock.mockId);
  if (shape === 'openapi3') {
    return { url: mock.url, description };
  }
  const url = new URL(mock.url);
  const protocol = asyncProtocol(url);
  if (shape === 'asyncapi2') {
    const wsUrl = `${protocol}://${url.host}${url.pathname}${url.search}`;
    return { url: wsUrl, protocol, description };
  }
  return { host: url.host, pathname: url.pathname, protocol, description };
}

/** The entries still to add: a mock already listed (same url / same name) is not added twice. */
function missingEntries(shape: Shape, servers: unknown, mocks: MockServer[]): [string, Json][] {
  const entries = mocks.map(m => [asyncServerName(m.mockId), serverObject(shape, m)] as [string, Json]);
  if (shape === 'openapi3') {
    const urls = new Set(
      Array.isArray(servers) ? servers.map(s => (s as Json | null)?.url) : [],
    );
    return entries.filter(([, server]) => !urls.has(server.url));
  }
  const names = servers && typeof servers === 'object' ? Object.keys(servers) : [];
  return entries.filter(([name]) => !names.includes(name));
}

function withServersJson(text: string, specType: string, mocks: MockServer[]): string {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return text;
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
    return text;
  }
  const root = doc as Json;
  const shape = shapeOf(specType, key => root[key]);
  if (!shape) {
    return text;
  }
  const servers = root.servers;
  const fits = shape === 'openapi3' ? servers === undefined || Array.isArray(servers) : servers === undefined || isPlainObject(servers);
  if (!fits) {
    return text;
  }
  const entries = missingEntries(shape, servers, mocks);
  if (entries.length === 0) {
    return text;
  }
  if (shape === 'openapi3') {
    root.servers = [...((servers as unknown[]) ?? []), ...entries.map(([, s]) => s)];
  } else {
    root.servers = { ...((servers as Json) ?? {}), ...Object.fromEntries(entries) };
  }
  const indent = /^\{\s*\n([ \t]+)\S/.exec(text)?.[1] ?? '';
  const trailing = /\s*$/.exec(text)?.[0] ?? '';
  return JSON.stringify(root, null, indent) + trailing;
}

function isPlainObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function withServersYaml(text: string, specType: string, mocks: MockServer[]): string {
  let doc: Document;
  try {
    doc = parseDocument(text);
  } catch {
    return text;
  }
  if (doc.errors.length > 0 || !isMap(doc.contents)) {
    return text;
  }
  const root = doc.contents;
  const shape = shapeOf(specType, key => root.get(key));
  if (!shape) {
    return text;
  }
  const serversNode = root.get('servers', true);
  const fits =
    serversNode === undefined ||
    (shape === 'openapi3' ? isSeq(serversNode) : isMap(serversNode));
  if (!fits) {
    return text;
  }
  const entries = missingEntries(shape, doc.toJS().servers, mocks);
  if (entries.length === 0) {
    return text;
  }
  const inserted = insertedAsText(text, doc, shape, entries);
  if (inserted !== undefined) {
    return inserted;
  }
  // Flow style or an unusual layout: edit the parsed document (comments survive, spacing may not).
  if (serversNode === undefined) {
    root.set('servers', doc.createNode(shape === 'openapi3' ? [] : {}));
  }
  const servers = root.get('servers', true);
  for (const [name, server] of entries) {
    if (isSeq(servers)) {
      servers.add(doc.createNode(server));
    } else if (isMap(servers)) {
      servers.set(name, doc.createNode(server));
    }
  }
  return doc.toString({ lineWidth: 0 });
}

/** Block-layout lines of the entries, at column 0 (JSON strings are valid YAML scalars). */
function entryLines(shape: Shape, entries: [string, Json][]): string[] {
  const scalar = (value: unknown) => JSON.stringify(value);
  const lines: string[] = [];
  for (const [name, server] of entries) {
    const fields = Object.entries(server);
    if (shape === 'openapi3') {
      fields.forEach(([key, value], i) => lines.push(`${i === 0 ? '- ' : '  '}${key}: ${scalar(value)}`));
    } else {
      lines.push(`${scalar(name)}:`);
      fields.forEach(([key, value]) => lines.push(`  ${key}: ${scalar(value)}`));
    }
  }
  return lines;
}

function columnOf(text: string, offset: number): number {
  return offset - (text.lastIndexOf('\n', offset - 1) + 1);
}

/**
 * The text with the entries inserted after the last item of a block `servers` collection (or
 * a new `servers` block at the end of a block root map), or undefined when the layout is not
 * the plain block one or the result does not read back as intended.
 */
function insertedAsText(
  text: string,
  doc: Document,
  shape: Shape,
  entries: [string, Json][],
): string | undefined {
  const root = doc.contents;
  if (!isMap(root) || root.flow || !root.range) {
    return undefined;
  }
  const lines = entryLines(shape, entries);
  const servers = root.get('servers', true);
  let result: string;
  if (servers === undefined) {
    const column = columnOf(text, root.range[0]);
    const pad = ' '.repeat(column);
    const block = [`servers:`, ...lines.map(line => `  ${line}`)].map(line => pad + line);
    const end = root.range[2];
    const head = text.slice(0, end);
    const separator = head.endsWith('\n') || head.length === 0 ? '' : '\n';
    result = `${head}${separator}${block.join('\n')}\n${text.slice(end)}`;
  } else {
    if (!(isSeq(servers) || isMap(servers)) || servers.flow || !servers.range || servers.items.length === 0) {
      return undefined;
    }
    const pad = ' '.repeat(columnOf(text, servers.range[0]));
    const at = servers.range[1];
    const head = text.slice(0, at);
    const separator = head.endsWith('\n') ? '' : '\n';
    result = `${head}${separator}${lines.map(line => pad + line).join('\n')}\n${text.slice(at)}`;
  }
  return readsBack(result, shape, entries) ? result : undefined;
}

function readsBack(result: string, shape: Shape, entries: [string, Json][]): boolean {
  const doc = parseDocument(result);
  if (doc.errors.length > 0) {
    return false;
  }
  const servers = (doc.toJS() as Json | null)?.servers;
  if (shape === 'openapi3') {
    if (!Array.isArray(servers)) {
      return false;
    }
    const tail = servers.slice(servers.length - entries.length);
    return JSON.stringify(tail) === JSON.stringify(entries.map(([, s]) => s));
  }
  return (
    isPlainObject(servers) &&
    entries.every(([name, server]) => JSON.stringify(servers[name]) === JSON.stringify(server))
  );
}
