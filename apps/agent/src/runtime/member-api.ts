import type { z } from 'zod';
import { AGENT_ROUTES, type ChunkQuery, type RefreshComplete, type RefreshFail } from '@gateway/domain';
import { ApiError } from '../api-client';
import type { ControlPlaneNetwork } from '../transport';

/** Where the member's HTTPS calls go and with which token: the instance its connection is on, its latest token. */
export interface MemberCredentials {
  baseUrl(): string;
  token(): Promise<string>;
  /** The token was refused: get a fresh one over the connection. */
  renew(): Promise<string>;
}

/**
 * The member's HTTPS calls beside its connection (a refresh's start, chunks, progress and end), one method per
 * route of AGENT_ROUTES, each answer parsed with the route's schema: no path or payload is spelled here.
 */
export class MemberApi {
  constructor(
    private readonly network: ControlPlaneNetwork,
    private readonly credentials: MemberCredentials,
  ) {}

  private async call<T>(route: { path: (id: string) => string; response: z.ZodType<T> }, id: string, body: unknown, query = ''): Promise<T> {
    const raw = Buffer.isBuffer(body);
    const send = async (token: string) =>
      this.network.request(`${this.credentials.baseUrl()}${route.path(id)}${query}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': raw ? 'application/octet-stream' : 'application/json' },
        body: raw ? (body as Buffer) : JSON.stringify(body ?? {}),
        timeoutMs: 60_000,
      });
    let res = await send(await this.credentials.token());
    if (res.status === 401) res = await send(await this.credentials.renew());
    const text = res.body.toString('utf8');
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      throw new ApiError(res.status, `the control plane answered ${res.status} with something that is not JSON`);
    }
    if (res.status >= 300) {
      const err = json as { message?: string; field?: string } | undefined;
      throw new ApiError(res.status, err?.message ?? `HTTP ${res.status}`, err?.field);
    }
    return route.response.parse(json);
  }

  start(refreshId: string) {
    return this.call(AGENT_ROUTES.refreshStart, refreshId, {});
  }

  chunk(refreshId: string, q: z.input<typeof ChunkQuery>, body: Buffer) {
    const query = '?' + new URLSearchParams(Object.entries(q).map(([k, v]): [string, string] => [k, String(v)])).toString();
    return this.call(AGENT_ROUTES.refreshChunk, refreshId, body, query);
  }

  status(refreshId: string, attempt: number) {
    return this.call(AGENT_ROUTES.refreshStatus, refreshId, AGENT_ROUTES.refreshStatus.body.parse({ attempt }));
  }

  complete(refreshId: string, body: z.input<typeof RefreshComplete>) {
    return this.call(AGENT_ROUTES.refreshComplete, refreshId, AGENT_ROUTES.refreshComplete.body.parse(body));
  }

  fail(refreshId: string, body: z.input<typeof RefreshFail>) {
    return this.call(AGENT_ROUTES.refreshFail, refreshId, AGENT_ROUTES.refreshFail.body.parse(body));
  }

  cancelled(refreshId: string, attempt: number) {
    return this.call(AGENT_ROUTES.refreshCancelled, refreshId, AGENT_ROUTES.refreshCancelled.body.parse({ attempt }));
  }
}
