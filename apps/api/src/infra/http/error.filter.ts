import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ErrorBody } from '@gateway/domain';
import { ApiError } from './errors';
import { OUTAGE_RETRY_AFTER_S, outageOf, STORE_NAMES, type Store } from './outage';

/** Fastify's own client errors (body parsing, limits), mapped to our error shape. */
const FASTIFY_ERRORS: Record<string, { status: number; message: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, message: 'the body is not valid JSON' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, message: 'the body is empty but Content-Type is application/json' },
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, message: 'the body is too large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, message: 'send the body as application/json' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, message: 'Content-Length does not match the body' },
};

const FASTIFY_BY_STATUS: Record<number, string> = {
  413: FASTIFY_ERRORS.FST_ERR_CTP_BODY_TOO_LARGE.message,
  415: FASTIFY_ERRORS.FST_ERR_CTP_INVALID_MEDIA_TYPE.message,
};

export function toErrorBody(exception: unknown): ErrorBody {
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const response = exception.getResponse();
    if (typeof response === 'object' && response && 'message' in response && typeof response.message === 'string' && 'statusCode' in response) {
      return response as ErrorBody;
    }
    const message = typeof response === 'string' ? response : exception.message;
    const name = HttpStatus[status]?.replace(/_/g, ' ').toLowerCase() ?? 'error';
    // Our own errors are ApiErrors (handled above); the framework's 4xx come from reading the body.
    const aboutBody = status === 400 || status === 413 || status === 415;
    return { statusCode: status, error: name, message: FASTIFY_BY_STATUS[status] ?? message, ...(aboutBody ? { field: 'body' } : {}) };
  }
  const code = (exception as { code?: string })?.code;
  if (code && FASTIFY_ERRORS[code]) {
    const { status, message } = FASTIFY_ERRORS[code];
    return { statusCode: status, error: 'bad request', message, field: 'body' };
  }
  const status = (exception as { statusCode?: number })?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return { statusCode: status, error: 'bad request', message: (exception as Error).message };
  }
  return { statusCode: 500, error: 'internal server error', message: 'the server failed to handle the request; the error is in its log' };
}

/** How often an outage of one store is logged while it lasts: once, then at most every this long. */
const OUTAGE_LOG_EVERY_MS = 10_000;

/**
 * Every error becomes one JSON body (ErrorBody). What is logged, and how loudly, follows from what it is: an outcome
 * the caller caused or expects (4xx, and our own 5xx such as "no member can serve" or a timeout) is not a fault of
 * this server and goes at info or warn, without a stack; a store that is out of reach answers 503 naming it, with
 * Retry-After, and is logged once per outage rather than per request; anything else is a real fault: 500, logged at
 * error with its stack.
 */
@Catch()
export class ErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger(ErrorFilter.name);
  private readonly outageLoggedAt = new Map<Store, number>();

  catch(exception: unknown, host: ArgumentsHost) {
    const ctx = host.switchToHttp();
    const reply = ctx.getResponse<FastifyReply>();
    const req = ctx.getRequest<FastifyRequest>();
    // The path names the cluster, member, data source or refresh; the request id ties the line to the request's others.
    const where = `${req.method} ${req.url.split('?')[0]} (request ${req.id})`;
    const store = exception instanceof HttpException ? null : outageOf(exception);
    let body: ErrorBody;
    if (store) {
      body = { statusCode: 503, error: 'unavailable', message: `${STORE_NAMES[store]} is unreachable; try again shortly`, detail: `${STORE_NAMES[store]} is unreachable` };
      void reply.header('retry-after', String(OUTAGE_RETRY_AFTER_S));
      const last = this.outageLoggedAt.get(store) ?? 0;
      if (Date.now() - last > OUTAGE_LOG_EVERY_MS) {
        this.outageLoggedAt.set(store, Date.now());
        this.logger.warn(`${STORE_NAMES[store]} is unreachable: ${where} answered 503 (${(exception as Error)?.message}); said once per ${OUTAGE_LOG_EVERY_MS / 1000} s while it lasts`);
      }
    } else {
      body = toErrorBody(exception);
      if (body.statusCode < 500) {
        // The caller's doing (bad input, no access, not found): the answer says it all.
      } else if (exception instanceof ApiError) {
        this.logger.warn(`${where} answered ${body.statusCode}: ${body.message}`);
      } else {
        this.logger.error(`${where} failed: ${(exception as Error)?.message}`, (exception as Error)?.stack);
      }
    }
    void reply.status(body.statusCode).header('content-type', 'application/json; charset=utf-8').send(body);
  }
}
