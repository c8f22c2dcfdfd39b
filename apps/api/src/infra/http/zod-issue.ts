import type { ZodError } from 'zod';

/** The first problem of a validation error as (field, message), with the field as a dotted path. */
export function firstIssue(error: ZodError, location: string): { field: string; message: string } {
  const issue = error.issues[0];
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    const field = [...path, issue.keys[0]].join('.');
    return { field, message: `${field} is not a known field` };
  }
  if (issue.code === 'invalid_type' && issue.input === undefined) {
    const field = path.join('.') || location;
    return { field, message: path.length ? `${field} is required` : `a JSON ${location} is required` };
  }
  const field = path.join('.') || location;
  return { field, message: `${field} ${issue.message}` };
}
