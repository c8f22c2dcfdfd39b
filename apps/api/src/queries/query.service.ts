import { Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import {
  DEFAULT_MAX_ROWS,
  DEFAULT_QUERY_TIMEOUT_MS,
  type JobDataSource,
  type JobName,
  type QueryRequest,
  type QueryResult,
  type Reply,
  type RoutingDecision,
} from '@gateway/domain';
import type { AuthUser } from '../auth/auth.service';
import { ApiError } from '../http/errors';
import { DataSourcesService, toJobDataSource } from '../datasources/datasources.service';
import { ClusterStateService, type MemberRow } from '../cluster-state/cluster-state.service';
import { LiveQueueService } from '../queue/live-queue.service';
import { ReplyBus } from '../queue/reply-bus.service';

/** How often a waiting request checks that its serving member is still alive. */
const WATCH_MS = 100;
/** Time allowed beyond the query's own timeout for queueing and transport. */
const GRACE_MS = 5_000;
const CONNECTION_TEST_TIMEOUT_MS = 10_000;
/** A job not started after this long while one of its servers died is sent on. */
const NOT_STARTED_MS = 500;

export type Cluster = { id: string; name: string; routingMode: string; cpuThreshold: number; memoryThreshold: number; members: MemberRow[] };
type Outcome = { kind: 'done'; reply: Extract<Reply, { kind: 'result' | 'error' }>; queueMs: number } | { kind: 'member-died'; memberId: string };

const ERROR_STATUS: Record<Extract<Reply, { kind: 'error' }>['code'], number> = {
  query_failed: 422,
  read_only: 422,
  bad_request: 400,
  timeout: 408,
  unreachable: 502,
  credentials: 502,
};

/**
 * Live work (queries, connection tests): routed to the member(s) libs/routing picks, carried by the
 * cluster's BullMQ queue, answered on the reply bus. If the member running it dies, it is sent once more
 * to the next server; if nobody can serve, the caller gets 503 at once.
 */
@Injectable()
export class QueryService {
  private readonly logger = new Logger(QueryService.name);

  constructor(
    private readonly dataSources: DataSourcesService,
    private readonly state: ClusterStateService,
    private readonly queue: LiveQueueService,
    private readonly bus: ReplyBus,
  ) {}

  async query(user: AuthUser, dataSourceId: string, req: QueryRequest): Promise<QueryResult> {
    const ds = await this.dataSources.find(user, dataSourceId);
    const timeoutMs = req.timeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS;
    const { reply, decision, attempts, totalMs, queueMs } = await this.dispatch(ds.cluster, 'query', timeoutMs, {
      dataSource: toJobDataSource(ds),
      sql: req.sql,
      maxRows: req.maxRows ?? DEFAULT_MAX_ROWS,
    });
    return {
      ...reply.result,
      servedBy: this.servedBy(ds.cluster, decision, reply.memberId),
      timings: { totalMs, queueMs, executeMs: reply.executeMs, attempts },
    };
  }

  async testConnection(user: AuthUser, dataSourceId: string) {
    const ds = await this.dataSources.find(user, dataSourceId);
    const { reply, decision, attempts, totalMs } = await this.dispatch(ds.cluster, 'test-connection', CONNECTION_TEST_TIMEOUT_MS, { dataSource: toJobDataSource(ds) });
    return { ok: true as const, servedBy: this.servedBy(ds.cluster, decision, reply.memberId), timings: { totalMs, executeMs: reply.executeMs, attempts } };
  }

  /** A no-op through the whole path: API, queue, the serving member, the reply bus. */
  async ping(cluster: Cluster) {
    const { reply, decision, attempts, totalMs, queueMs } = await this.dispatch(cluster, 'ping', CONNECTION_TEST_TIMEOUT_MS, {});
    return { servedBy: this.servedBy(cluster, decision, reply.memberId), timings: { totalMs, queueMs, attempts } };
  }

  private servedBy(cluster: Cluster, decision: RoutingDecision, memberId: string) {
    const member = cluster.members.find((m) => m.id === memberId);
    const server = decision.servers.find((s) => s.memberId === memberId);
    return { memberId, memberName: member?.name ?? memberId, reason: server?.reason ?? 'took the job from the cluster queue as routing changed' };
  }

  private async dispatch(cluster: Cluster, name: JobName, timeoutMs: number, extra: { dataSource?: JobDataSource; sql?: string; maxRows?: number }) {
    const requestId = randomUUID();
    const started = performance.now();
    const excluded = new Set<string>();
    for (let attempt = 1; attempt <= 2; attempt++) {
      const decision = await this.state.decide(cluster, cluster.members.filter((m) => !excluded.has(m.id)));
      if (!decision.canServe) {
        throw new ApiError(503, `no member of cluster "${cluster.name}" can serve this now: ${decision.reason}`);
      }
      const jobId = `${requestId}-${attempt}`;
      const data = {
        requestId,
        attempt,
        timeoutMs,
        replyChannel: this.state.keys(cluster.id).replyChannel(this.bus.instanceId),
        enqueuedAt: Date.now(),
        ...extra,
      };
      const outcome = await this.once(cluster, name, jobId, data, timeoutMs, excluded, decision.servers.map((x) => x.memberId));
      if (outcome.kind === 'member-died') {
        excluded.add(outcome.memberId);
        this.logger.warn(`member ${outcome.memberId} of cluster ${cluster.id} died running job ${jobId}; sending it to the next server`);
        continue;
      }
      const reply = outcome.reply;
      if (reply.kind === 'error') {
        const field = reply.code === 'query_failed' || reply.code === 'read_only' ? 'sql' : undefined;
        const prefix = extra.dataSource && (reply.code === 'unreachable' || reply.code === 'credentials') ? `data source "${extra.dataSource.name}": ` : '';
        throw new ApiError(ERROR_STATUS[reply.code], prefix + reply.message, field);
      }
      return { reply, decision, attempts: attempt, queueMs: outcome.queueMs, totalMs: Math.round((performance.now() - started) * 100) / 100 };
    }
    throw new ApiError(503, `the members of cluster "${cluster.name}" serving this request stopped answering twice; try again`);
  }

  private once(cluster: Cluster, name: JobName, jobId: string, data: Record<string, unknown>, timeoutMs: number, excluded: Set<string>, servers: string[]): Promise<Outcome> {
    return new Promise<Outcome>((resolve, reject) => {
      let startedBy: string | null = null;
      const enqueuedAt = Date.now();
      const sentAt = performance.now();
      const deadline = enqueuedAt + timeoutMs + GRACE_MS;
      let settled = false;
      let checking = false;
      const finish = () => {
        settled = true;
        unlisten();
        clearInterval(watch);
      };
      const unlisten = this.bus.listen(jobId, (reply) => {
        if (settled) return;
        if (reply.kind === 'started') {
          startedBy = reply.memberId;
          return;
        }
        finish();
        // Queueing and transport: the whole wait less the time the member spent on the job.
        const queueMs = Math.max(0, Math.round((performance.now() - sentAt - reply.executeMs) * 100) / 100);
        resolve({ kind: 'done', reply, queueMs });
      });
      const fail = (error: unknown, discard: boolean) => {
        if (settled) return;
        finish();
        if (discard) void this.queue.discard(cluster.id, jobId);
        reject(error);
      };
      const watch = setInterval(async () => {
        if (settled || checking) return;
        checking = true;
        try {
          if (Date.now() > deadline) {
            fail(new ApiError(504, `cluster "${cluster.name}" did not answer within ${timeoutMs + GRACE_MS} ms`), true);
          } else if (startedBy) {
            if (!(await this.state.isAlive(cluster.id, startedBy)) && !settled) {
              finish();
              resolve({ kind: 'member-died', memberId: startedBy });
            }
          } else {
            const decision = await this.state.decide(cluster, cluster.members.filter((m) => !excluded.has(m.id)));
            if (!decision.canServe) {
              fail(new ApiError(503, `no member of cluster "${cluster.name}" can serve this now: ${decision.reason}`), true);
            } else if (Date.now() - enqueuedAt > NOT_STARTED_MS) {
              // A server that died right after taking the job, before it could say so, would hold it until
              // BullMQ's lock expires: send the request on if a server routed to at dispatch is gone.
              const gone = (await Promise.all(servers.map(async (id) => ((await this.state.isAlive(cluster.id, id)) ? null : id)))).find(Boolean);
              if (gone && !settled) {
                finish();
                void this.queue.discard(cluster.id, jobId);
                resolve({ kind: 'member-died', memberId: gone });
              }
            }
          }
        } catch (e) {
          fail(e, true);
        } finally {
          checking = false;
        }
      }, WATCH_MS);
      this.queue.add(cluster.id, name, data as never, jobId).catch((e) => fail(e, false));
    });
  }
}
