import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ErrorBody } from '@gateway/domain';

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

@Catch()
export class ErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger(ErrorFilter.name);

  catch(exception: unknown, host: ArgumentsHost) {
    const ctx = host.switchToHttp();
    const reply = ctx.getResponse<FastifyReply>();
    const req = ctx.getRequest<FastifyRequest>();
    const body = toErrorBody(exception);
    if (body.statusCode >= 500) {
      this.logger.error(`${req.method} ${req.url} failed: ${(exception as Error)?.message}`, (exception as Error)?.stack);
    }
    void reply.status(body.statusCode).header('content-type', 'application/json; charset=utf-8').send(body);
  }
}
