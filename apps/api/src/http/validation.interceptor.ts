import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { map, type Observable } from 'rxjs';
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
 * Validates params, query and body against the route's declared schemas before the handler runs
 * (rejecting unknown fields, naming the bad one), and shapes the response through its response schema
 * so that nothing undeclared, such as a secret column, can leak into a reply.
 */
@Injectable()
export class ValidationInterceptor implements NestInterceptor {
  constructor(private readonly reflector: Reflector) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const spec = this.reflector.get<EndpointSpec | undefined>(ENDPOINT, context.getHandler());
    if (!spec) return next.handle();
    const req = context.switchToHttp().getRequest<FastifyRequest>();
    const mutable = req as unknown as { params: unknown; query: unknown; body: unknown };
    mutable.params = check(spec.params, req.params, 'params');
    mutable.query = check(spec.query, req.query, 'query');
    if (spec.body) mutable.body = check(spec.body, req.body, 'body');
    const response = spec.response;
    return response ? next.handle().pipe(map((value) => response.parse(value))) : next.handle();
  }
}
