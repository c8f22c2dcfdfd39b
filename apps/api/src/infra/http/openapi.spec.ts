import { z } from 'zod';
import { ClusterView, Email } from '@gateway/domain';
import { buildOpenApi, type RouteDoc } from './openapi';
import type { EndpointSpec } from './endpoint';

const URL = 'https://gateway.example.com';

const route = (method: string, path: string, spec: Partial<EndpointSpec>): RouteDoc => ({
  method,
  path,
  spec: { operationId: 'listThings', summary: 'things', auth: 'user', tag: 'things', response: z.array(z.string()), ...spec },
});

describe('buildOpenApi', () => {
  it('names every operation by its operationId', () => {
    const doc = buildOpenApi([route('GET', '/api/things', {}), route('POST', '/api/things', { operationId: 'createThing', status: 201 })], URL);
    expect(doc.paths['/api/things']).toMatchObject({ get: { operationId: 'listThings' }, post: { operationId: 'createThing' } });
  });

  it('refuses two routes with the same operationId, naming both', () => {
    expect(() => buildOpenApi([route('GET', '/api/things', {}), route('GET', '/api/others', {})], URL)).toThrow(
      'GET /api/others: operationId listThings is already used by GET /api/things; operationIds must be unique',
    );
  });

  it('refuses a route without an operationId or with one that is not camelCase', () => {
    expect(() => buildOpenApi([route('GET', '/api/things', { operationId: undefined })], URL)).toThrow('GET /api/things: operationId undefined must be a camelCase verb phrase');
    expect(() => buildOpenApi([route('GET', '/api/things', { operationId: 'list-things' })], URL)).toThrow('operationId "list-things" must be a camelCase verb phrase');
  });
});

describe('component schemas', () => {
  it('puts the libs/domain schemas a route uses under their names and refers to them', () => {
    const doc = buildOpenApi([route('GET', '/api/clusters', { response: z.array(ClusterView) })], URL);
    expect(doc.paths['/api/clusters'].get).toMatchObject({
      responses: { 200: { content: { 'application/json': { schema: { type: 'array', items: { $ref: '#/components/schemas/ClusterView' } } } } } },
    });
    expect(doc.components.schemas).toHaveProperty('ClusterView.properties.routing.$ref', '#/components/schemas/RoutingSettings');
    expect(doc.components.schemas).toHaveProperty('ErrorBody');
    expect(JSON.stringify(doc)).not.toContain('$defs');
  });

  it('names the accepted form <name>Input where a schema used both ways differs from the returned one', () => {
    const doc = buildOpenApi([route('POST', '/api/things', { body: z.object({ email: Email }), response: z.object({ email: Email }) })], URL);
    const op = doc.paths['/api/things'].post as { requestBody: unknown; responses: unknown };
    expect(op.requestBody).toHaveProperty(['content', 'application/json', 'schema', 'properties', 'email', '$ref'], '#/components/schemas/EmailInput');
    expect(op.responses).toHaveProperty(['200', 'content', 'application/json', 'schema', 'properties', 'email', '$ref'], '#/components/schemas/Email');
    expect(doc.components.schemas.Email).not.toEqual(doc.components.schemas.EmailInput);
  });

  it('sets servers from the configured URL', () => {
    expect(buildOpenApi([route('GET', '/api/things', {})], URL).servers).toEqual([{ url: URL }]);
  });
});
