import { CliError } from './errors';
import { ControlPlaneNetwork, parseControlPlaneUrl } from './transport';

export class ApiError extends CliError {
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

/**
 * Checks and normalises an API base URL given to an admin command: the same rules as a member's (see
 * parseControlPlaneUrl), except that plain http:// is the admin's call (they sign in with their own token).
 */
export const parseApiUrl = (value: string): string => parseControlPlaneUrl(value, { insecureHttp: true });

/**
 * A small JSON client for the control plane; every failure becomes one readable line. It goes through the same
 * network as the member's connection (the proxy of HTTPS_PROXY or --proxy, the private CA of --ca).
 */
export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private token?: string,
    private readonly network: ControlPlaneNetwork = new ControlPlaneNetwork({}),
    private readonly timeoutMs = 15_000,
  ) {}

  setToken(token: string) {
    this.token = token;
  }

  /** JSON in and out; a Buffer body is sent as application/octet-stream. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const raw = Buffer.isBuffer(body);
    const res = await this.network.request(`${this.baseUrl}${path}`, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': raw ? 'application/octet-stream' : 'application/json' }),
        ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
      },
      body: body === undefined ? undefined : raw ? (body as Buffer) : JSON.stringify(body),
      timeoutMs: this.timeoutMs,
    });
    const text = res.body.toString('utf8');
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      throw new ApiError(res.status, `the API at ${this.baseUrl} answered ${res.status} with something that is not JSON: is --api the control plane's address?`);
    }
    if (res.status < 200 || res.status >= 300) {
      const err = json as { message?: string; field?: string } | undefined;
      const message = err?.message ?? `HTTP ${res.status}`;
      if (res.status === 401) throw new ApiError(401, `the API refused the credentials: ${message}`);
      throw new ApiError(res.status, message, err?.field);
    }
    return json as T;
  }
}
