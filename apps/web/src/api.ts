'use client';
/**
 * The portal's only way to the control plane: the REST API, same origin (Next proxies /api/*), signed in by the
 * API's httpOnly session cookie. Errors come back as ApiFailure with the API's message and the field it names.
 */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export const API_DOWN = 'The API cannot be reached. Check that it is running (npm start) and try again.';

export async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`/api${path}`, {
      method: init.method ?? 'GET',
      credentials: 'same-origin',
      headers: init.body === undefined ? {} : { 'content-type': 'application/json' },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
  } catch {
    throw new ApiFailure(0, API_DOWN);
  }
  if (res.status === 401 && typeof window !== 'undefined' && !path.startsWith('/auth/')) {
    window.location.assign(`/login?next=${encodeURIComponent(window.location.pathname + window.location.search)}`);
    throw new ApiFailure(401, 'Your session ended: sign in again.');
  }
  const text = await res.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // The proxy answers with HTML when the API is down.
    if (res.status >= 500) throw new ApiFailure(res.status, API_DOWN);
  }
  if (!res.ok) {
    const b = (body ?? {}) as { message?: string; field?: string };
    if (res.status >= 500 && res.status !== 503 && !b.message) throw new ApiFailure(res.status, API_DOWN);
    throw new ApiFailure(res.status, b.message ?? `The API answered ${res.status}`, b.field);
  }
  return body as T;
}

/** What a person should read for a failure: forbidden and not-found get plain words. */
export function describeFailure(e: unknown): string {
  if (e instanceof ApiFailure) {
    if (e.status === 403) return `You are not allowed to do this: ${e.message}`;
    if (e.status === 404) return `Not found, or not visible to you: ${e.message}`;
    if (e.status === 503) return `No gateway member can serve this now: ${e.message}`;
    return e.message;
  }
  return e instanceof Error ? e.message : String(e);
}
