/**
 * The status service's JSON (GET /api/v1/entities) and its validation: a listing that does not
 * match is rejected as a whole, so a garbled answer never replaces the last good one.
 */

export type MockKind =
  | 'openapi'
  | 'swagger'
  | 'asyncapi'
  | 'graphql'
  | 'grpc'
  | 'postman'
  | 'soapui';

export interface StatusMock {
  mockId: string;
  kind: MockKind | null;
  status: string;
  /** True only while Microcks serves this mock now. */
  served: boolean;
  mockUrl: string | null;
  includeInSwagger: boolean;
  lastError: string | null;
}

export interface StatusEntity {
  entityRef: string;
  servedCount: number;
  errorCount: number;
  lastError: string | null;
  mocks: StatusMock[];
}

/** Entities by lower-case entity ref. */
export type Listing = ReadonlyMap<string, StatusEntity>;

export class ContractError extends Error {
  constructor(message: string) {
    super(`status service answered an unexpected document: ${message}`);
    this.name = 'ContractError';
  }
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(value: unknown, where: string): string | null {
  if (value === null || value === undefined) {
    return null;
  }
  if (typeof value !== 'string') {
    throw new ContractError(`${where} is not a string`);
  }
  return value;
}

function parseMock(value: unknown, where: string): StatusMock {
  if (!isObject(value)) {
    throw new ContractError(`${where} is not an object`);
  }
  if (typeof value.mockId !== 'string' || !value.mockId) {
    throw new ContractError(`${where}.mockId is missing`);
  }
  if (typeof value.served !== 'boolean') {
    throw new ContractError(`${where}.served is not a boolean`);
  }
  return {
    mockId: value.mockId,
    kind: optionalString(value.kind, `${where}.kind`) as MockKind | null,
    status: optionalString(value.status, `${where}.status`) ?? 'unknown',
    served: value.served,
    mockUrl: optionalString(value.mockUrl, `${where}.mockUrl`),
    includeInSwagger: value.includeInSwagger !== false,
    lastError: optionalString(value.lastError, `${where}.lastError`),
  };
}

/** One entity of the listing (also the body of GET /api/v1/entities/{ref}). */
export function parseEntity(value: unknown, where = 'entity'): StatusEntity {
  if (!isObject(value)) {
    throw new ContractError(`${where} is not an object`);
  }
  if (typeof value.entityRef !== 'string' || !value.entityRef) {
    throw new ContractError(`${where}.entityRef is missing`);
  }
  if (!Array.isArray(value.mocks)) {
    throw new ContractError(`${where}.mocks is not a list`);
  }
  const mocks = value.mocks.map((mock, i) => parseMock(mock, `${where}.mocks[${i}]`));
  const count = (key: string, fallback: number) =>
    typeof value[key] === 'number' ? (value[key] as number) : fallback;
  return {
    entityRef: value.entityRef.toLowerCase(),
    servedCount: count('servedCount', mocks.filter(m => m.served).length),
    errorCount: count('errorCount', mocks.filter(m => m.status === 'error').length),
    lastError: optionalString(value.lastError, `${where}.lastError`),
    mocks,
  };
}

export function parseListing(body: unknown): Listing {
  if (!isObject(body)) {
    throw new ContractError('the body is not a JSON object');
  }
  if (body.apiVersion !== 'v1') {
    throw new ContractError(`apiVersion is ${JSON.stringify(body.apiVersion)}, expected "v1"`);
  }
  if (!Array.isArray(body.entities)) {
    throw new ContractError('entities is not a list');
  }
  const listing = new Map<string, StatusEntity>();
  body.entities.forEach((item, i) => {
    const entity = parseEntity(item, `entities[${i}]`);
    listing.set(entity.entityRef, entity);
  });
  return listing;
}
