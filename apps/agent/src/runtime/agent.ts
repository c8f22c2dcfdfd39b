import { DelayedError, Worker, UnrecoverableError, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import {
  clusterKeys,
  JOB_SCHEMAS,
  type ClusterEvent,
  QUEUES,
  VERSION,
  type AgentConfigView,
  type JobName,
  type MemberState,
  type Presence,
  type QueryJob,
  type TestConnectionJob,
  type Reply,
} from '@gateway/domain';
import { openFromCluster } from '@gateway/domain/crypto';
import { route, serves } from '@gateway/routing';
import type { AgentConfig } from '../agent-config';
import { ConnectorCache, ConnectorError } from '../connectors';
import { LiveLanes, type Lane } from './live-lanes';
import { LoadSampler } from './load';
import { MemberRemovedError, MemberSession } from './member-session';
import { RefreshRunner } from './refresh-runner';

/**
 * Refreshes a member runs at once. A tick shared by many datasets starts them together rather than a few at a
 * time; each data source still gets at most 8 connections for refreshes, and the others wait for one.
 */
const REFRESH_CONCURRENCY = 64;

/** A live job still running after this long is announced as started (see process). */
const STARTED_AFTER_MS = 25;

export interface AgentOptions {
  /** Live jobs this member runs at once (see LiveLanes). */
  concurrency?: number;
  /** Steady live jobs taking this long on average open the overflow lane (see LiveLanes). */
  slowMeanMs?: number;
  /** Called once the API says this member was removed; the agent has stopped by then. */
  onRemoved?: (reason: string) => void;
  /** How long SIGTERM waits for active jobs before giving up on them. */
  drainMs?: number;
}

/**
 * The agent process: publishes presence, follows its cluster's config, and consumes the cluster's live
 * queue only while libs/routing says this member serves.
 */
export class Agent {
  private readonly session: MemberSession;
  private readonly load = new LoadSampler();
  private readonly connectors: ConnectorCache;
  private view!: AgentConfigView;
  private redis!: Redis;
  private live!: LiveLanes;
  private refreshWorker!: Worker;
  private readonly refreshes: RefreshRunner;
  private keys!: ReturnType<typeof clusterKeys>;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private serving = false;
  private stopping = false;
  private activeJobs = 0;
  private refreshing: Promise<void> | null = null;
  private beating = false;
  private transitions: Promise<void> = Promise.resolve();
  private startedAt = Date.now();

  constructor(
    private readonly config: AgentConfig,
    private readonly log: Logger,
    private readonly options: AgentOptions = {},
  ) {
    this.session = new MemberSession(config);
    this.connectors = new ConnectorCache(config.clusterPrivateKey);
    this.refreshes = new RefreshRunner(this.session, this.connectors, log);
  }

  get isServing() {
    return this.serving;
  }

  async start() {
    this.view = await this.session.fetchConfig();
    const r = this.view.redis;
    const creds = await this.session.redisCredentials();
    const password = creds.password ? openFromCluster(this.config.clusterPrivateKey, creds.password) : undefined;
    this.redis = new Redis(r.url, { username: creds.username ?? undefined, password, maxRetriesPerRequest: null, connectionName: `gateway-agent:${this.config.memberId}` });
    this.redis.on('error', (e) => this.log.warn({ err: e.message }, 'redis connection error'));
    this.keys = clusterKeys(r.prefix, this.config.clusterId);
    this.live = new LiveLanes(
      (lane, concurrency) => {
        const worker = new Worker(QUEUES.live, (job) => this.process(job, lane), {
          connection: this.redis,
          prefix: this.keys.bullPrefix,
          concurrency,
          autorun: false,
          // Live work is retried by the API on another member; a stalled job is simply failed.
          maxStalledCount: 0,
          drainDelay: 1,
        });
        worker.on('error', (e) => this.log.warn({ err: e.message, lane }, 'worker error'));
        return worker;
      },
      {
        max: this.options.concurrency ?? 16,
        slowMeanMs: this.options.slowMeanMs,
        longAfterMs: STARTED_AFTER_MS,
        onChange: (open, why) => this.log.info({ why }, open ? 'overflow lane open' : 'overflow lane closed'),
        onError: (lane, e) => this.log.error({ err: e.message, lane }, 'worker stopped'),
      },
    );
    this.refreshWorker = new Worker(QUEUES.refresh, (job, token) => this.processRefresh(job, token), {
      connection: this.redis,
      prefix: this.keys.bullPrefix,
      concurrency: REFRESH_CONCURRENCY,
      autorun: false,
      // A member killed mid-refresh loses its lock within seconds; a peer's stalled check then takes the job over.
      lockDuration: 3_000,
      stalledInterval: 1_500,
      maxStalledCount: 10,
      drainDelay: 1,
    });
    this.refreshWorker.on('error', (e) => this.log.warn({ err: e.message }, 'refresh worker error'));
    this.startedAt = Date.now();
    await this.heartbeat();
    this.timer = setInterval(() => void this.heartbeat(), this.view.heartbeatMs);
    this.log.info({ serving: this.serving }, `member ${this.config.memberName} of cluster ${this.config.clusterName} is on duty`);
  }

  private isPrimary() {
    return this.view.members.some((m) => m.id === this.config.memberId && m.primary);
  }

  private members(presence: (string | null)[]): MemberState[] {
    return this.view.members.map((m, i) => {
      const p = presence[i] ? (JSON.parse(presence[i]!) as Presence) : null;
      return { id: m.id, name: m.name, primary: m.primary, enabled: m.enabled, joinOrder: m.joinOrder, online: !!p && !p.draining, cpu: p?.cpu ?? 0, memory: p?.memory ?? 0 };
    });
  }

  private presence(): Presence {
    const { cpu, memory } = this.load.sample();
    return { memberId: this.config.memberId, version: VERSION, cpu, memory, activeJobs: this.activeJobs + this.refreshes.active, at: Date.now(), ...(this.stopping ? { draining: true } : {}) };
  }

  /** The presence key and, for the API instances' mirror, the same presence as an event: one round trip. */
  private announce() {
    const p = this.presence();
    const event: ClusterEvent = { t: 'presence', presence: p, ttlMs: this.view.presenceTtlMs };
    return this.redis
      .multi()
      .set(this.keys.presence(this.config.memberId), JSON.stringify(p), 'PX', this.view.presenceTtlMs)
      .publish(this.keys.events, JSON.stringify(event));
  }

  /** Presence out, cluster view in, then decide whether to consume: one round trip to Redis. */
  private async heartbeat() {
    if (this.stopping || this.beating) return;
    this.beating = true;
    try {
      const results = await this.announce()
        .get(this.keys.configVersion)
        .mget(...this.view.members.map((m) => this.keys.presence(m.id)))
        .exec();
      if (!results || this.stopping) return;
      const version = Number(results[2][1] ?? 0);
      if (version !== this.view.configVersion && !this.refreshing) {
        this.refreshing = this.refreshConfig().finally(() => (this.refreshing = null));
      }
      const decision = route(this.members(results[3][1] as (string | null)[]), this.view.cluster.routing);
      // Right after start, peers' presence may simply not have been seen yet: a member that is not the
      // primary waits one presence TTL before it takes work over.
      const settling = Date.now() - this.startedAt < this.view.presenceTtlMs && !this.isPrimary();
      this.setServing(serves(decision, this.config.memberId) && !settling);
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'heartbeat failed');
    } finally {
      this.beating = false;
    }
  }

  private async refreshConfig() {
    try {
      const next = await this.session.fetchConfig();
      this.view = next;
      this.log.info({ configVersion: next.configVersion, routing: next.cluster.routing }, 'picked up a cluster config change');
    } catch (e) {
      if (e instanceof MemberRemovedError) {
        this.log.error({ err: e.message }, 'this member was removed from its cluster: stopping');
        await this.stop();
        this.options.onRemoved?.(e.message);
        return;
      }
      this.log.warn({ err: (e as Error).message }, 'could not fetch the cluster config; keeping the previous one');
    }
  }

  /**
   * Switches consuming on or off. Transitions run one after another, off the heartbeat's path: pausing
   * waits for active jobs, and presence must keep flowing meanwhile.
   */
  private setServing(serve: boolean) {
    if (serve === this.serving) return;
    this.serving = serve;
    this.transitions = this.transitions.then(async () => {
      if (this.stopping || serve !== this.serving) return;
      if (serve) {
        this.live.serve();
        if (!this.running) {
          this.running = true;
          void this.refreshWorker.run().catch((e) => this.log.error({ err: (e as Error).message }, 'refresh worker stopped'));
        } else {
          this.refreshWorker.resume();
        }
        this.log.info('serving the cluster queue');
      } else if (this.running) {
        this.log.info('not serving: another member does');
        // Live work: pause() (not pause(true)) also aborts the blocking fetch, so this member cannot take one
        // more query after routing moved the work elsewhere; live jobs are short, so waiting for them is too.
        await this.live.stopServing();
        // Refreshes may run for hours: stop taking them but let the active ones finish in the background, so
        // that a later switch back to serving is not held up behind them.
        await this.refreshWorker.pause(true);
      }
    })
      // A transition that failed (Redis dropped mid-pause, say) must not stop every later one.
      .catch((e) => this.log.error({ err: (e as Error).message }, 'could not switch serving'));
  }

  /**
   * A paused refresh worker may still be holding a blocking fetch when routing moves the work elsewhere (its
   * pause does not wait, so that long refreshes do not hold up the switch): a job it takes then goes straight
   * back to the queue for the member that serves.
   */
  private async processRefresh(job: Job, token?: string) {
    if (!this.serving) return this.handBack(job, token, 10);
    // The API says another member serves now (this agent has not seen the change yet).
    if ((await this.refreshes.process(job)) === 'requeue') return this.handBack(job, token, 250);
  }

  /** Puts a refresh job back in the queue, untouched, for the member that serves. */
  private async handBack(job: Job, token: string | undefined, delayMs: number): Promise<never> {
    await job.moveToDelayed(Date.now() + delayMs, token);
    throw new DelayedError();
  }

  private publish(channel: string, reply: Reply) {
    void this.redis.publish(channel, JSON.stringify(reply)).catch((e) => this.log.warn({ err: e.message }, 'reply failed'));
  }

  private async process(job: Job, lane: Lane) {
    const name = job.name as JobName;
    const schema = JOB_SCHEMAS[name];
    const parsed = schema?.safeParse(job.data);
    if (!parsed?.success) throw new UnrecoverableError(`job ${job.id} has no valid ${job.name} payload`);
    const data = parsed.data;
    const jobId = job.id!;
    const memberId = this.config.memberId;
    // "started" tells the API who to watch while a job runs; a job done sooner than that needs no watching (a
    // member that dies before saying so is caught by the API's not-started rule).
    const ticket = this.live.begin(lane);
    const announce = setTimeout(() => {
      ticket.runningLong();
      this.publish(data.replyChannel, { jobId, kind: 'started', memberId, at: Date.now() });
    }, STARTED_AFTER_MS);
    this.activeJobs += 1;
    const t0 = performance.now();
    try {
      if (name === 'ping') {
        this.publish(data.replyChannel, { jobId, kind: 'result', memberId, executeMs: ms(t0), result: { columns: [], rows: [], truncated: false } });
        return;
      }
      const { dataSource } = data as TestConnectionJob;
      const connector = this.connectors.get(dataSource);
      if (name === 'query') {
        const q = data as QueryJob;
        const result = await connector.query(q.sql, { maxRows: q.maxRows, timeoutMs: q.timeoutMs });
        this.publish(data.replyChannel, { jobId, kind: 'result', memberId, executeMs: ms(t0), result });
      } else {
        await connector.test(data.timeoutMs);
        this.publish(data.replyChannel, { jobId, kind: 'result', memberId, executeMs: ms(t0), result: { columns: [], rows: [], truncated: false } });
      }
    } catch (e) {
      const err = e instanceof ConnectorError ? e : new ConnectorError('query_failed', (e as Error).message);
      this.log.info({ jobId, dataSourceId: (data as TestConnectionJob).dataSource?.id, code: err.code }, 'job failed at the data source');
      this.publish(data.replyChannel, { jobId, kind: 'error', memberId, executeMs: ms(t0), code: err.code, message: err.message });
    } finally {
      clearTimeout(announce);
      ticket.end();
      this.activeJobs -= 1;
    }
  }

  /**
   * SIGTERM: withdraw from routing at once (presence says "draining", so a peer takes over now), stop taking
   * jobs, finish the active ones (bounded), then remove presence. While draining, presence keeps being
   * refreshed so the API knows the member is alive and does not send its active jobs elsewhere.
   */
  async stop() {
    if (this.stopping) return;
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    this.serving = false;
    const refresh = () => this.announce().exec().catch(() => undefined);
    await refresh();
    const keepAlive = setInterval(() => void refresh(), this.view.heartbeatMs);
    const drain = Promise.all([this.live.close(), this.refreshWorker.close()]);
    const timeout = (ms: number) => new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms).unref());
    if ((await Promise.race([drain, timeout(this.options.drainMs ?? 10_000)])) === 'timeout') {
      this.log.warn({ activeJobs: this.activeJobs }, 'gave up waiting for active jobs');
      // BullMQ hands a second close() the first one's promise, so a forced close may wait for the same stuck
      // job: bound it too, and withdraw presence regardless.
      await Promise.race([Promise.all([this.live.close(true), this.refreshWorker.close(true)]).catch(() => undefined), timeout(2_000)]);
    }
    clearInterval(keepAlive);
    const gone: ClusterEvent = { t: 'gone', memberId: this.config.memberId };
    await this.redis.multi().del(this.keys.presence(this.config.memberId)).publish(this.keys.events, JSON.stringify(gone)).exec().catch(() => undefined);
    await this.connectors.closeAll();
    this.redis.disconnect();
  }
}

const ms = (t0: number) => Math.round((performance.now() - t0) * 100) / 100;
