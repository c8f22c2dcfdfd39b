import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import type { ZodType } from 'zod';
import { ENDPOINT, type EndpointSpec } from './endpoint';
import { badRequest } from './errors';
import { firstIssue } from './zod-issue';

function check(schema: ZodType | undefined, value: unknown, location: string) {
  if (!schema) return value;
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const { field, message } = firstIssue(result.error, location);
  throw badRequest(message, field);
}

/**
 * Validates params, query and body against the route's declared schemas before the handler runs (after the
 * auth guard: an anonymous caller learns nothing about the input a route takes), rejecting unknown fields and
 * naming the bad one. The response is shaped by the route's response schema in Endpoint itself. A guard, not an
 * interceptor: NestJS then runs no interceptor chain (RxJS and async-hooks bookkeeping) on any request.
 */
@Injectable()
export class ValidationGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    const spec = this.reflector.get<EndpointSpec | undefined>(ENDPOINT, context.getHandler());
    if (!spec) return true;
    const req = context.switchToHttp().getRequest<FastifyRequest>();
    const mutable = req as unknown as { params: unknown; query: unknown; body: unknown };
    mutable.params = check(spec.params, req.params, 'params');
    mutable.query = check(spec.query, req.query, 'query');
    if (spec.body) mutable.body = check(spec.body, req.body, 'body');
    return true;
  }
}
