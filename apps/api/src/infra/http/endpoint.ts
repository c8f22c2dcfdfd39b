import { applyDecorators, HttpCode, SetMetadata } from '@nestjs/common';
import type { ZodType } from 'zod';

export type Auth = 'public' | 'user' | 'member';

/**
 * One declaration per route: who may call it, what it accepts and returns. The auth guard, the
 * validation guard, the response shaping below and the OpenAPI document all read it, so they cannot disagree.
 */
export interface EndpointSpec {
  /**
   * The operation's name in the OpenAPI document, and so the method name in generated clients: a camelCase verb
   * phrase (`listClusters`, `signIn`, `runQuery`), unique across the API. Never rename one: clients call it by name.
   */
  operationId: string;
  summary: string;
  auth: Auth;
  tag: string;
  params?: ZodType;
  query?: ZodType;
  body?: ZodType;
  response?: ZodType;
  status?: number;
  /** For routes that answer something other than JSON: content type -> description. */
  produces?: Record<string, string>;
  /** For routes that take something other than JSON (e.g. application/octet-stream chunks). */
  consumes?: string;
  /** Error statuses the route answers besides the common ones (400, 401). */
  errors?: number[];
}

export const ENDPOINT = 'gateway:endpoint';

/**
 * Passes what the handler returns through the response schema, so that nothing undeclared, such as a secret
 * column, can leak into a reply. The wrapper keeps the metadata decorators applied before it gave the handler.
 */
const shapeResponse =
  (response: ZodType): MethodDecorator =>
  (_target, _key, descriptor: PropertyDescriptor) => {
    const handler = descriptor.value as (...args: unknown[]) => unknown;
    const shaped = async function (this: unknown, ...args: unknown[]) {
      return response.parse(await handler.apply(this, args));
    };
    for (const key of Reflect.getMetadataKeys(handler)) Reflect.defineMetadata(key, Reflect.getMetadata(key, handler), shaped);
    Object.defineProperty(shaped, 'name', { value: handler.name });
    descriptor.value = shaped;
  };

export const Endpoint = (spec: EndpointSpec) =>
  applyDecorators(...(spec.response ? [shapeResponse(spec.response)] : []), SetMetadata(ENDPOINT, spec), HttpCode(spec.status ?? 200));
