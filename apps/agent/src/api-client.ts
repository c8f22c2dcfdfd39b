import { CliError } from './errors';

export class ApiError extends CliError {
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

/** Checks and normalises an API base URL given on the command line. */
export function parseApiUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new CliError(`--api "${value}" is not a URL: give the control plane's address, e.g. https://gateway.example.com`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CliError(`--api must be an http:// or https:// URL, not ${url.protocol}//`);
  return url.toString().replace(/\/+$/, '');
}

/** A small JSON client for the control plane; every failure becomes one readable line. */
export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private token?: string,
    private readonly timeoutMs = 15_000,
  ) {}

  setToken(token: string) {
    this.token = token;
  }

  /** JSON in and out; a Buffer body is sent as application/octet-stream. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    const raw = Buffer.isBuffer(body);
    try {
      res = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: {
          ...(body === undefined ? {} : { 'content-type': raw ? 'application/octet-stream' : 'application/json' }),
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        },
        body: body === undefined ? undefined : raw ? new Uint8Array(body as Buffer) : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (e as Error).message;
      throw new CliError(`cannot reach the API at ${this.baseUrl} (${why}): check --api and that the control plane is running`);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      throw new ApiError(res.status, `the API at ${this.baseUrl} answered ${res.status} with something that is not JSON: is --api the control plane's address?`);
    }
    if (!res.ok) {
      const err = json as { message?: string; field?: string } | undefined;
      const message = err?.message ?? `HTTP ${res.status}`;
      if (res.status === 401) throw new ApiError(401, `the API refused the credentials: ${message}`);
      throw new ApiError(res.status, message, err?.field);
    }
    return json as T;
  }
}
