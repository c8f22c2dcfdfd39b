import { Inject, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import {
  DEFAULT_MAX_ROWS,
  DEFAULT_QUERY_TIMEOUT_MS,
  PG_WORK_PROTOCOL,
  type LiveErrorCode,
  type LiveWork,
  type PgWork,
  type Presence,
  type QueryRequest,
  type QueryResult,
  type RoutedSource,
  type RoutingDecision,
  type Server,
} from '@gateway/domain';
import type { AuthUser } from '../../infra/http/principal';
import { CONFIG, type Config } from '../../infra/config/config';
import { ApiError } from '../../infra/http/errors';
import { RowSlices } from '../../infra/http/endpoint';
import { DataSourcesService, toJobDataSource } from '../datasources/datasources.service';
import { ClusterStateService, type MemberRow } from '../../infra/cluster-state/cluster-state.service';
import { routingOf } from '../clusters/views';
import { MemberHub } from '../member-channel/member-hub.service';
import { MemberRelay } from '../member-channel/member-relay.service';
import type { LiveFrame, LiveSink } from '../member-channel/member-connection';
import { failoverReason, MetricsService, type LiveOutcome } from '../../infra/metrics/metrics.service';
import { QueryStatsService } from './query-stats.service';
import { MemberLoad } from './member-load';

/** How often a request forwarded to another instance checks that its member is still held there. */
const WATCH_MS = 50;
/** Time allowed beyond the query's own timeout for transport. */
const GRACE_MS = 5_000;
const CONNECTION_TEST_TIMEOUT_MS = 10_000;
/** How long a request whose member could not open the credentials waits before its one more try. */
const CREDENTIALS_RETRY_MS = 150;

export type Cluster = { id: string; name: string; routingMode: string; cpuThreshold: number; memoryThreshold: number; members: MemberRow[] };

export type AnswerColumn = { name: string; type?: string; oid?: number; mod?: number; size?: number };
type Answer = { columns: AnswerColumn[]; rows: unknown[][] | RowSlices; truncated: boolean; executeMs: number; paramTypes?: number[] };
/** Past this many bytes a REST result is held serialized (RowSlices) rather than as row objects. */
const SERIALIZE_OVER_BYTES = 1024 * 1024;
type SourceFields = { sqlstate?: string; detail?: string; hint?: string; position?: string };
type Outcome =
  | { kind: 'done'; answer: Answer; memberId: string }
  | { kind: 'error'; code: LiveErrorCode; message: string; memberId: string; fields: SourceFields }
  | { kind: 'member-died'; memberId: string; reason: string; moved?: boolean };

const ERROR_STATUS: Record<LiveErrorCode, number> = {
  query_failed: 422,
  read_only: 422,
  bad_request: 400,
  timeout: 408,
  unreachable: 502,
  credentials: 502,
  too_large: 413,
};

/** A live query that failed where it ran: its code, and what a PostgreSQL source said (SQLSTATE and details). */
export class LiveQueryError extends ApiError {
  constructor(
    status: number,
    message: string,
    field: string | undefined,
    readonly code: LiveErrorCode,
    readonly fields: SourceFields,
    /** The member that ran it. */
    readonly memberId?: string,
  ) {
    super(status, message, field);
  }
}

/** The caller stopped the query (the front door's CancelRequest). */
export class QueryCancelled extends Error {
  constructor() {
    super('canceling statement due to user request');
  }
}

/** A front door query's answer: columns with their PostgreSQL types, rows of text values. */
export interface WireAnswer {
  columns: AnswerColumn[];
  rows: (string | null)[][];
  truncated: boolean;
  paramTypes?: number[];
  servedBy: { memberId: string; memberName: string; reason: string };
  timings: { totalMs: number; queueMs: number; executeMs: number; attempts: number };
}

const mib = (bytes: number) => `${Math.round((bytes / 1024 / 1024) * 10) / 10} MiB`;

/**
 * Live work (queries, connection tests, pings): routed to the member libs/routing picks and sent on that member's
 * connection, here or (through MemberRelay) on the instance holding it. If the member is lost before it answers,
 * the work goes once more to the next server, unseen by the caller; if nobody can serve, the caller gets 503 at once.
 * A result is bounded by LIVE_MAX_BYTES: past it the member stops and the caller gets 413.
 */
@Injectable()
export class QueryService {
  private readonly logger = new Logger(QueryService.name);
  /** Each member's load (reported, and this instance's live requests to it), to spread `distribute` work to the least busy. */
  private readonly load = new MemberLoad();
  /** The member that last served each cluster's live work here: a move away from it is a failover. */
  private readonly lastServer = new Map<string, string>();

  constructor(
    private readonly metrics: MetricsService,
    private readonly stats: QueryStatsService,
    private readonly dataSources: DataSourcesService,
    private readonly state: ClusterStateService,
    private readonly hub: MemberHub,
    private readonly relay: MemberRelay,
    @Inject(CONFIG) private readonly config: Config,
  ) {}

  /** The rows of a large result come as RowSlices, which the route writes as they are (Endpoint's `streamRows`). */
  async query(user: AuthUser, dataSourceId: string, req: QueryRequest): Promise<Omit<QueryResult, 'rows'> & { rows: QueryResult['rows'] | RowSlices }> {
    const ds = await this.dataSources.find(user, dataSourceId);
    const timeoutMs = req.timeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS;
    const work: LiveWork = { kind: 'query', dataSource: toJobDataSource(ds), sql: req.sql, maxRows: req.maxRows ?? DEFAULT_MAX_ROWS, timeoutMs, maxBytes: this.config.LIVE_MAX_BYTES };
    const { answer, decision, memberId, attempts, totalMs } = await this.dispatch(ds.cluster, work, timeoutMs, { id: ds.id, name: ds.name });
    return {
      columns: answer.columns,
      rows: answer.rows,
      truncated: answer.truncated,
      servedBy: this.servedBy(ds.cluster, decision, memberId),
      timings: { totalMs, queueMs: queueMs(totalMs, answer.executeMs), executeMs: answer.executeMs, attempts },
    };
  }

  /**
   * A statement of the PostgreSQL front door: run (or only described) in wire form on the member routing picks,
   * among those whose connection speaks PG_WORK_PROTOCOL. `signal` stops it (QueryCancelled).
   */
  async wire(user: AuthUser, dataSourceId: string, sql: string, pg: PgWork, options: { timeoutMs: number; maxRows: number; signal?: AbortSignal }): Promise<WireAnswer> {
    const ds = await this.dataSources.find(user, dataSourceId);
    const work: LiveWork = { kind: 'query', dataSource: toJobDataSource(ds), sql, maxRows: options.maxRows, timeoutMs: options.timeoutMs, maxBytes: this.config.LIVE_MAX_BYTES, pg };
    const { answer, decision, memberId, attempts, totalMs } = await this.dispatch(ds.cluster, work, options.timeoutMs, { id: ds.id, name: ds.name }, options.signal, 'pg');
    return {
      columns: answer.columns,
      // Wire work is never held serialized (see once()).
      rows: answer.rows as (string | null)[][],
      truncated: answer.truncated,
      paramTypes: answer.paramTypes,
      servedBy: this.servedBy(ds.cluster, decision, memberId),
      timings: { totalMs, queueMs: queueMs(totalMs, answer.executeMs), executeMs: answer.executeMs, attempts },
    };
  }

  async testConnection(user: AuthUser, dataSourceId: string) {
    const ds = await this.dataSources.find(user, dataSourceId);
    const work: LiveWork = { kind: 'test-connection', dataSource: toJobDataSource(ds), timeoutMs: CONNECTION_TEST_TIMEOUT_MS };
    const { answer, decision, memberId, attempts, totalMs } = await this.dispatch(ds.cluster, work, CONNECTION_TEST_TIMEOUT_MS, { id: ds.id, name: ds.name });
    return { ok: true as const, servedBy: this.servedBy(ds.cluster, decision, memberId), timings: { totalMs, executeMs: answer.executeMs, attempts } };
  }

  /** A no-op through the whole path: API, routing, the serving member's connection and back. */
  async ping(cluster: Cluster) {
    const { answer, decision, memberId, attempts, totalMs } = await this.dispatch(cluster, { kind: 'ping' }, CONNECTION_TEST_TIMEOUT_MS);
    return { servedBy: this.servedBy(cluster, decision, memberId), timings: { totalMs, queueMs: queueMs(totalMs, answer.executeMs), attempts } };
  }

  private servedBy(cluster: Cluster, decision: RoutingDecision, memberId: string) {
    const member = cluster.members.find((m) => m.id === memberId);
    const server = decision.servers.find((s) => s.memberId === memberId);
    return { memberId, memberName: member?.name ?? memberId, reason: server?.reason ?? 'chosen as routing changed' };
  }

  /**
   * One server of the decision: the only one, or in `distribute` the least busy (MemberLoad: the other instances'
   * work as last reported plus this instance's in flight now), ties at random.
   */
  private pick(servers: Server[], presence: Map<string, Presence>): Server {
    if (servers.length === 1) return servers[0];
    let best: Server[] = [];
    let load = Infinity;
    for (const s of servers) {
      const l = this.load.load(s.memberId, presence.get(s.memberId));
      if (l < load) {
        load = l;
        best = [s];
      } else if (l === load) best.push(s);
    }
    return best[Math.floor(Math.random() * best.length)];
  }

  /** Live work, counted in the metrics when it is a query: its outcome, its duration, the member that served it. */
  private async dispatch(cluster: Cluster, work: LiveWork, timeoutMs: number, source?: RoutedSource, signal?: AbortSignal, via: 'rest' | 'pg' = 'rest') {
    if (work.kind !== 'query') return this.route(cluster, work, timeoutMs, source, signal);
    const started = performance.now();
    const nameOf = (memberId?: string) => (memberId ? (cluster.members.find((m) => m.id === memberId)?.name ?? memberId) : '');
    try {
      const done = await this.route(cluster, work, timeoutMs, source, signal);
      this.metrics.liveQueries.inc({ cluster: cluster.name, member: nameOf(done.memberId), outcome: 'ok', via });
      this.stats.count(cluster.id, done.memberId, true);
      return done;
    } catch (e) {
      const outcome: LiveOutcome = e instanceof QueryCancelled ? 'cancelled' : e instanceof LiveQueryError ? e.code : e instanceof ApiError && e.getStatus() === 503 ? 'unavailable' : e instanceof ApiError && e.getStatus() === 504 ? 'timeout' : 'lost';
      const memberId = e instanceof LiveQueryError ? e.memberId : undefined;
      this.metrics.liveQueries.inc({ cluster: cluster.name, member: nameOf(memberId), outcome, via });
      // A caller's cancel is not the cluster failing.
      if (outcome !== 'cancelled') this.stats.count(cluster.id, memberId, false);
      throw e;
    } finally {
      this.metrics.liveDuration.observe({ cluster: cluster.name, via }, (performance.now() - started) / 1000);
    }
  }

  private async route(cluster: Cluster, work: LiveWork, timeoutMs: number, source?: RoutedSource, signal?: AbortSignal) {
    const requestId = randomUUID();
    const started = performance.now();
    const excluded = new Set<string>();
    /** Members that could not reach the source on an earlier try of this request, with what they said. */
    const cut = new Map<string, string>();
    for (let attempt = 1; attempt <= 2; attempt++) {
      const candidates = cluster.members.filter((m) => !excluded.has(m.id));
      const { presence } = await this.state.presenceView(cluster.id, candidates.map((m) => m.id));
      if (source) for (const [id, error] of cut) markUnreachable(presence, id, source.id, error);
      // Members whose connection speaks an older protocol cannot take front door work: routed as if offline.
      const tooOld = work.kind === 'query' && work.pg ? [...presence.values()].filter((p) => (p.protocol ?? 1) < PG_WORK_PROTOCOL) : [];
      for (const p of tooOld) presence.delete(p.memberId);
      const decision = this.state.routeOn(routingOf(cluster), candidates, presence, source);
      if (!decision.canServe) {
        const old = tooOld.length ? ` (${tooOld.map((p) => cluster.members.find((m) => m.id === p.memberId)?.name ?? p.memberId).join(', ')} run an agent too old for the PostgreSQL front door: protocol ${PG_WORK_PROTOCOL} is needed)` : '';
        throw new ApiError(503, `no member of cluster "${cluster.name}" can serve this now: ${decision.reason}${old}`);
      }
      const server = this.pick(decision.servers, presence);
      const holder = presence.get(server.memberId)?.instanceId ?? this.hub.instanceId;
      const outcome = await this.once(cluster, server.memberId, holder, `${requestId}-${attempt}`, work, timeoutMs, signal);
      if (outcome.kind === 'member-died') {
        // A member that reconnected to another instance is still a server: the retry goes to it there.
        if (!outcome.moved) excluded.add(outcome.memberId);
        if (work.kind === 'query') this.metrics.failovers.inc({ cluster: cluster.name, reason: 'member_lost' });
        this.logger.warn(`member ${outcome.memberId} of cluster ${cluster.id} was lost before answering request ${requestId} (${outcome.reason}); sending it to the next server`);
        continue;
      }
      if (outcome.kind === 'error' && outcome.code === 'credentials' && attempt === 1) {
        // Right after a cluster key rotation the work can reach a member just before its new key does (both on its
        // connection, from different requests): one more try, a moment later.
        this.logger.log(`member ${outcome.memberId} of cluster ${cluster.id} could not open the credentials for request ${requestId}; trying once more`);
        await new Promise((r) => setTimeout(r, CREDENTIALS_RETRY_MS));
        continue;
      }
      if (outcome.kind === 'error' && outcome.code === 'unreachable' && source && attempt === 1) {
        // The member could not reach the source (its health check had not seen it yet): a peer that can may serve.
        cut.set(outcome.memberId, outcome.message);
        markUnreachable(presence, outcome.memberId, source.id, outcome.message);
        const others = this.state.routeOn(routingOf(cluster), candidates, presence, source);
        if (others.canServe) {
          if (work.kind === 'query') this.metrics.failovers.inc({ cluster: cluster.name, reason: 'source_unreachable' });
          this.logger.log(`member ${outcome.memberId} of cluster ${cluster.id} could not reach data source ${source.id} for request ${requestId}; trying ${others.servers[0].memberName}`);
          continue;
        }
      }
      if (outcome.kind === 'error') {
        const field = outcome.code === 'query_failed' || outcome.code === 'read_only' ? 'sql' : outcome.code === 'too_large' ? 'maxRows' : undefined;
        const prefix = source && (outcome.code === 'unreachable' || outcome.code === 'credentials') ? `data source "${source.name}": ` : '';
        throw new LiveQueryError(ERROR_STATUS[outcome.code], prefix + outcome.message, field, outcome.code, outcome.fields, outcome.memberId);
      }
      if (work.kind === 'query') this.noteServer(cluster, outcome.memberId, decision, attempt === 1);
      return { answer: outcome.answer, decision, memberId: outcome.memberId, attempts: attempt, totalMs: Math.round((performance.now() - started) * 100) / 100 };
    }
    throw new ApiError(503, `the members of cluster "${cluster.name}" serving this request were lost twice before answering; try again`);
  }

  /** Routing moved the cluster's work off the member that served it before: a failover, with its reason. */
  private noteServer(cluster: Cluster, memberId: string, decision: RoutingDecision, routed: boolean) {
    const before = this.lastServer.get(cluster.id);
    this.lastServer.set(cluster.id, memberId);
    const reason = decision.servers.find((s) => s.memberId === memberId)?.reason ?? '';
    // A retry's move was counted already (member_lost, source_unreachable).
    if (routed && before && before !== memberId && reason.startsWith('failover')) this.metrics.failovers.inc({ cluster: cluster.name, reason: failoverReason(reason) });
  }

  private tooLarge(bytes: number) {
    const limit = this.config.LIVE_MAX_BYTES;
    return `the result is over the live result limit of ${mib(limit)} (LIVE_MAX_BYTES; ${mib(bytes)} received when it stopped): ask for fewer rows with maxRows, select fewer columns, or page with WHERE key > last_key ORDER BY key LIMIT n`;
  }

  /** Sends the work to one member and waits for its answer, its loss, or the deadline. */
  private once(cluster: Cluster, memberId: string, holder: string, id: string, work: LiveWork, timeoutMs: number, signal?: AbortSignal): Promise<Outcome> {
    const local = holder === this.hub.instanceId;
    const ticket = this.load.begin(memberId);
    return new Promise<Outcome>((resolve, reject) => {
      let settled = false;
      let columns: Answer['columns'] = [];
      let rows: unknown[][] = [];
      let slices: string[] | null = null;
      let count = 0;
      let paramTypes: number[] | undefined;
      let bytes = 0;
      const onAbort = () => fail(new QueryCancelled());
      const finish = () => {
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        clearTimeout(deadline);
        if (watch) clearInterval(watch);
        this.load.end(ticket);
        if (!local) this.relay.done(id);
      };
      const cancel = () => (local ? this.hub.cancelLive(memberId, id) : this.relay.cancel(holder, memberId, id));
      const fail = (error: Error) => {
        if (settled) return;
        finish();
        cancel();
        rows = [];
        slices = null;
        reject(error);
      };
      const sink: LiveSink = {
        frame: (m: LiveFrame, size: number) => {
          if (settled) return;
          if (m.t === 'columns') {
            columns = m.columns;
          } else if (m.t === 'params') {
            paramTypes = m.types;
          } else if (m.t === 'rows') {
            bytes += size;
            if (bytes > this.config.LIVE_MAX_BYTES) return fail(new ApiError(413, this.tooLarge(bytes), 'maxRows'));
            count += m.rows.length;
            if (slices) {
              // The frame's row objects die young; what stays is one string of its rows.
              slices.push(JSON.stringify(m.rows).slice(1, -1));
            } else {
              for (const r of m.rows) rows.push(r);
              if (work.kind === 'query' && !work.pg && bytes > SERIALIZE_OVER_BYTES) {
                slices = [JSON.stringify(rows).slice(1, -1)];
                rows = [];
              }
            }
          } else if (m.t === 'error') {
            finish();
            const fields = { sqlstate: m.sqlstate, detail: m.detail, hint: m.hint, position: m.position };
            resolve({ kind: 'error', code: m.code, message: m.code === 'too_large' ? this.tooLarge(Math.max(bytes, this.config.LIVE_MAX_BYTES)) : m.message, memberId, fields });
          } else {
            finish();
            const answer = m.t === 'result' ? { columns: m.columns, rows: m.rows, truncated: m.truncated, executeMs: m.executeMs, paramTypes } : { columns, rows: slices ? new RowSlices(slices, count) : rows, truncated: m.truncated, executeMs: m.executeMs, paramTypes };
            resolve({ kind: 'done', answer, memberId });
          }
        },
        lost: (reason, moved) => {
          if (settled) return;
          finish();
          resolve({ kind: 'member-died', memberId, reason, moved });
        },
      };
      const deadline = setTimeout(() => fail(new ApiError(504, `cluster "${cluster.name}" did not answer within ${timeoutMs + GRACE_MS} ms`)), timeoutMs + GRACE_MS);
      let watch: NodeJS.Timeout | null = null;
      if (signal?.aborted) return fail(new QueryCancelled());
      signal?.addEventListener('abort', onAbort);
      if (local) {
        if (!this.hub.startLive(memberId, id, work, sink)) sink.lost('its connection closed a moment ago');
        return;
      }
      // Held by another instance: its connection's fate is known there; here, by its presence moving or going.
      watch = setInterval(() => {
        void this.state.presence(cluster.id, [memberId]).then(
          (p) => {
            const now = p.get(memberId);
            if (!now || now.instanceId !== holder) sink.lost(now ? 'it reconnected to another instance' : 'it went offline', !!now);
          },
          () => undefined,
        );
      }, WATCH_MS);
      this.relay.forward(holder, memberId, id, work, sink);
    });
  }
}

/** The member's presence (when it has one: an offline member is passed over anyway) as if its last check of the source had failed with `error`. */
function markUnreachable(presence: Map<string, Presence>, memberId: string, sourceId: string, error: string) {
  const p = presence.get(memberId);
  if (p) presence.set(memberId, { ...p, sources: [...(p.sources ?? []).filter((s) => s.id !== sourceId), { id: sourceId, ok: false, error, at: Date.now() }] });
}

const queueMs = (totalMs: number, executeMs: number) => Math.max(0, Math.round((totalMs - executeMs) * 100) / 100);
