import type { z } from 'zod';

export type FieldErrors = Record<string, string>;

/**
 * Validates a form's value with the same zod schema the API validates the request with, and returns the
 * messages by field path ("connection.port"), so each shows next to its input.
 */
export function validate<S extends z.ZodType>(schema: S, value: unknown): { ok: true; data: z.infer<S> } | { ok: false; errors: FieldErrors } {
  const parsed = schema.safeParse(value);
  if (parsed.success) return { ok: true, data: parsed.data };
  const errors: FieldErrors = {};
  for (const issue of parsed.error.issues) {
    const key = issue.path.join('.') || 'form';
    errors[key] ??= issue.message;
  }
  return { ok: false, errors };
}

/** A number input's value: empty stays undefined so "required" is reported, not NaN. */
export const numberOrUndefined = (s: string) => (s.trim() === '' ? undefined : Number(s));
