import { applyDecorators, HttpCode, SetMetadata } from '@nestjs/common';
import type { ZodType } from 'zod';

export type Auth = 'public' | 'user' | 'member';

/**
 * One declaration per route: who may call it, what it accepts and returns. The auth guard, the
 * validation interceptor and the OpenAPI document all read it, so they cannot disagree.
 */
export interface EndpointSpec {
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

export const Endpoint = (spec: EndpointSpec) => applyDecorators(SetMetadata(ENDPOINT, spec), HttpCode(spec.status ?? 200));
