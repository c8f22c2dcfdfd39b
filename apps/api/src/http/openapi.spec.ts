import { z } from 'zod';
import { buildOpenApi, type RouteDoc } from './openapi';
import type { EndpointSpec } from './endpoint';

const route = (method: string, path: string, spec: Partial<EndpointSpec>): RouteDoc => ({
  method,
  path,
  spec: { operationId: 'listThings', summary: 'things', auth: 'user', tag: 'things', response: z.array(z.string()), ...spec },
});

describe('buildOpenApi', () => {
  it('names every operation by its operationId', () => {
    const doc = buildOpenApi([route('GET', '/api/things', {}), route('POST', '/api/things', { operationId: 'createThing', status: 201 })]);
    expect(doc.paths['/api/things']).toMatchObject({ get: { operationId: 'listThings' }, post: { operationId: 'createThing' } });
  });

  it('refuses two routes with the same operationId, naming both', () => {
    expect(() => buildOpenApi([route('GET', '/api/things', {}), route('GET', '/api/others', {})])).toThrow(
      'GET /api/others: operationId listThings is already used by GET /api/things; operationIds must be unique',
    );
  });

  it('refuses a route without an operationId or with one that is not camelCase', () => {
    expect(() => buildOpenApi([route('GET', '/api/things', { operationId: undefined })])).toThrow('GET /api/things: operationId undefined must be a camelCase verb phrase');
    expect(() => buildOpenApi([route('GET', '/api/things', { operationId: 'list-things' })])).toThrow('operationId "list-things" must be a camelCase verb phrase');
  });
});
