import { z } from 'zod';
import { ChunkAck, RefreshAttemptRef, RefreshComplete, RefreshFail, RefreshStart } from './datasets';

/** The answer of a member's report that changes a refresh (complete, fail, cancelled). */
export const AgentOk = z.object({ ok: z.boolean(), reason: z.string().optional() });
export type AgentOk = z.infer<typeof AgentOk>;

/**
 * The HTTPS calls a member still makes (a refresh's rows go up in chunks, beside its WebSocket), declared once:
 * the API's controller routes and the agent's client are both built from these, so no path is spelled twice.
 * `route` is the controller path (under the global /api prefix), `path` what the agent calls.
 */
const refreshRoute = <Res extends z.ZodType>(action: string, response: Res) => ({
  route: `agents/refreshes/:id/${action}`,
  path: (id: string) => `/api/agents/refreshes/${encodeURIComponent(id)}/${action}`,
  response,
});

export const AGENT_ROUTES = {
  refreshStart: refreshRoute('start', RefreshStart),
  /** Body: the compressed chunk (application/octet-stream); query: ChunkQuery. */
  refreshChunk: refreshRoute('chunks', ChunkAck),
  refreshStatus: { ...refreshRoute('status', ChunkAck), body: RefreshAttemptRef },
  refreshComplete: { ...refreshRoute('complete', AgentOk), body: RefreshComplete },
  refreshFail: { ...refreshRoute('fail', AgentOk), body: RefreshFail },
  refreshCancelled: { ...refreshRoute('cancelled', AgentOk), body: RefreshAttemptRef },
} as const;
