import { HttpException, HttpStatus } from '@nestjs/common';
import type { ErrorBody } from '@gateway/domain';

/** An error the caller can act on: a status, one line of explanation and, where it applies, the field at fault. */
export class ApiError extends HttpException {
  constructor(status: number, message: string, field?: string) {
    const body: ErrorBody = { statusCode: status, error: HttpStatus[status]?.replace(/_/g, ' ').toLowerCase() ?? 'error', message, ...(field ? { field } : {}) };
    super(body, status);
  }
}

export const badRequest = (message: string, field?: string) => new ApiError(400, message, field);
export const unauthorized = (message: string) => new ApiError(401, message);
export const forbidden = (message: string) => new ApiError(403, message);
export const notFound = (message: string, field?: string) => new ApiError(404, message, field);
export const conflict = (message: string, field?: string) => new ApiError(409, message, field);
