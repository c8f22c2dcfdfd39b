import { z } from 'zod';

/** Every error the API returns has this shape; `field` names the offending input when there is one. */
export const ErrorBody = z.object({
  statusCode: z.number().int(),
  error: z.string(),
  message: z.string(),
  field: z.string().optional(),
  /** For 503: what is down, e.g. "the queue store (Redis) is unreachable". */
  detail: z.string().optional(),
});
export type ErrorBody = z.infer<typeof ErrorBody>;
