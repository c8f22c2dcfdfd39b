import { RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import type { DiscoveryService, MetadataScanner } from '@nestjs/core';
import type { ZodType } from 'zod';
import { ErrorBody, VERSION } from '@gateway/domain';
import { ENDPOINT, type EndpointSpec } from './endpoint';
import { OpenApiSchemas } from './openapi-schemas';

export interface RouteDoc {
  method: string;
  path: string;
  spec: EndpointSpec;
}

const joinPath = (...parts: string[]) => '/' + parts.flatMap((p) => p.split('/')).filter(Boolean).join('/');

/** Every route the app serves with its declared spec, found from the controllers' metadata. */
export function collectRoutes(discovery: DiscoveryService, scanner: MetadataScanner, globalPrefix: string): RouteDoc[] {
  const routes: RouteDoc[] = [];
  for (const wrapper of discovery.getControllers()) {
    const instance = wrapper.instance as Record<string, unknown> | undefined;
    if (!instance || !wrapper.metatype) continue;
    const base = (Reflect.getMetadata(PATH_METADATA, wrapper.metatype) as string | undefined) ?? '';
    for (const name of scanner.getAllMethodNames(Object.getPrototypeOf(instance))) {
      const handler = instance[name] as object;
      const path = Reflect.getMetadata(PATH_METADATA, handler) as string | undefined;
      const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
      if (path === undefined || method === undefined) continue;
      routes.push({ method: RequestMethod[method], path: joinPath(globalPrefix, base, path), spec: Reflect.getMetadata(ENDPOINT, handler) });
    }
  }
  return routes;
}

const OPERATION_ID = /^[a-z][A-Za-z0-9]*$/;

/** Fails boot on a route without a usable operationId: generated clients name their methods by it. */
function checkOperationIds(routes: RouteDoc[]) {
  const seen = new Map<string, string>();
  for (const { method, path, spec } of routes) {
    const route = `${method} ${path}`;
    const id = spec?.operationId;
    if (!id || !OPERATION_ID.test(id)) throw new Error(`${route}: operationId ${JSON.stringify(id)} must be a camelCase verb phrase such as listClusters; set it in the route's @Endpoint`);
    const other = seen.get(id);
    if (other) throw new Error(`${route}: operationId ${id} is already used by ${other}; operationIds must be unique`);
    seen.set(id, route);
  }
}

/**
 * The OpenAPI 3.1 document, derived from the same zod schemas that validate requests and shape replies.
 * `serverUrl` is where clients reach the API (config: API_PUBLIC_URL).
 */
export function buildOpenApi(routes: RouteDoc[], serverUrl: string) {
  checkOperationIds(routes);
  const schemas = new OpenApiSchemas();
  const schema = (s: ZodType, io: 'input' | 'output') => schemas.schema(s, io);
  const paths: Record<string, Record<string, unknown>> = {};
  const errorContent = { 'application/json': { schema: schema(ErrorBody, 'output') } };
  for (const { method, path, spec } of routes) {
    const oaPath = path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const parameters: unknown[] = [];
    for (const [location, s] of [['path', spec.params], ['query', spec.query]] as const) {
      if (!s) continue;
      const js = schemas.parameters(s) as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, p] of Object.entries(js.properties ?? {})) {
        parameters.push({ name, in: location, required: location === 'path' || (js.required ?? []).includes(name), schema: p });
      }
    }
    const status = String(spec.status ?? 200);
    const responses: Record<string, unknown> = {
      [status]: {
        description: 'success',
        ...(spec.response ? { content: { 'application/json': { schema: schema(spec.response, 'output') } } } : {}),
        ...(spec.produces ? { content: Object.fromEntries(Object.entries(spec.produces).map(([type, description]) => [type, { schema: { type: 'string', description } }])) } : {}),
      },
      400: { description: 'invalid input; `field` names it', content: errorContent },
    };
    if (spec.auth !== 'public') responses[401] = { description: 'missing, invalid or expired token', content: errorContent };
    for (const code of spec.errors ?? []) responses[code] = { description: 'see message', content: errorContent };
    paths[oaPath] ??= {};
    paths[oaPath][method.toLowerCase()] = {
      operationId: spec.operationId,
      summary: spec.summary,
      tags: [spec.tag],
      ...(spec.auth === 'public' ? { security: [] } : {}),
      ...(parameters.length ? { parameters } : {}),
      ...(spec.body ? { requestBody: { required: true, content: { 'application/json': { schema: schema(spec.body, 'input') } } } } : {}),
      ...(spec.consumes ? { requestBody: { required: true, content: { [spec.consumes]: { schema: { type: 'string', format: 'binary' } } } } } : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Gateway control plane', version: VERSION, license: { name: 'MIT', identifier: 'MIT' }, description:
        "On-premises data gateway with high-availability clusters. Members (gateway agents) do not use these routes for their work: each keeps one WebSocket to `/api/agents/connect` (wss:// when the API serves HTTPS), authenticated by signing a per-connection nonce with its Ed25519 key; every message both ways is a zod schema of libs/domain/src/protocol.ts. The member's remaining HTTPS calls are the `agents` routes below.",
    },
    servers: [{ url: serverUrl }],
    security: [{ bearer: [] }],
    paths,
    components: { schemas: schemas.components(), securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
  };
}
