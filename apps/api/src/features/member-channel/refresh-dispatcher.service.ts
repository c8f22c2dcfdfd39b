import { Inject, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import { clusterKeys, QUEUES, RefreshJob } from '@gateway/domain';
import { CONFIG, type Config } from '../../infra/config/config';
import { PrismaService } from '../../infra/database/prisma.service';
import { ClusterStateService } from '../../infra/cluster-state/cluster-state.service';
import { routingOf } from '../clusters/views';
import { MemberHub } from './member-hub.service';
import { RefreshLifecycle, type NextStep } from '../refreshes/refresh-lifecycle.service';
import { MetricsService } from '../../infra/metrics/metrics.service';
import { connectRedis, type RedisConnection } from '../../infra/redis/connect';

type ClusterWithMembers = Awaited<ReturnType<PrismaService['cluster']['findUnique']>> & { members: { id: string; name: string; isPrimary: boolean; enabled: boolean; joinOrder: number }[]; dataSources: { id: string; name: string }[] };

/** Refreshes one instance hands out at once per cluster (each runs on a member; the instance only waits). */
const REFRESH_CONCURRENCY = 128;

/**
 * The control plane consumes each cluster's refresh queue and hands every job to a member over its connection.
 * An instance runs a cluster's worker while it holds a connected member of that cluster, and takes a job only for
 * a member it holds that routing says serves; any other job goes back to the queue at once for the instance that
 * holds the serving member. BullMQ keeps the job's lock on this instance while the member runs it: if the instance
 * dies, the job stalls and another instance's worker takes it over; if the member is lost, the job goes back to
 * the queue at once, and the next attempt supersedes the lost one (attempt fencing in RefreshRunsService).
 */
@Injectable()
export class RefreshDispatcher implements OnModuleDestroy {
  private readonly logger = new Logger(RefreshDispatcher.name);
  private readonly workers = new Map<string, Worker>();
  /** Each cluster's members and routing as of a config version: a tick's hundred refreshes read them once. */
  private readonly clusters = new Map<string, { version: number; row: Promise<ClusterWithMembers | null> }>();
  private readonly connection: RedisConnection;
  private stopping = false;

  constructor(
    private readonly hub: MemberHub,
    private readonly prisma: PrismaService,
    private readonly state: ClusterStateService,
    private readonly lifecycle: RefreshLifecycle,
    private readonly metrics: MetricsService,
    @Inject(CONFIG) private readonly config: Config,
  ) {
    this.connection = connectRedis(config, { maxRetriesPerRequest: null, connectionName: `gateway-api-refresh:${hub.instanceId}` });
    this.connection.on('error', () => undefined);
    hub.onMemberUp((clusterId) => this.ensure(clusterId));
    hub.onMemberDown((clusterId) => void this.release(clusterId));
  }

  private ensure(clusterId: string) {
    if (this.stopping || this.workers.has(clusterId)) return;
    const worker = new Worker(QUEUES.refresh, (job, token) => this.process(clusterId, job, token), {
      connection: this.connection,
      prefix: clusterKeys(this.config.REDIS_PREFIX, clusterId).bullPrefix,
      concurrency: REFRESH_CONCURRENCY,
      // This instance holds the lock while its member runs the job: lost with the instance within seconds.
      lockDuration: 3_000,
      stalledInterval: 1_500,
      maxStalledCount: 10,
      drainDelay: 1,
    });
    worker.on('error', (e) => this.logger.warn(`refresh worker of cluster ${clusterId}: ${e.message}`));
    this.workers.set(clusterId, worker);
  }

  /** No member of the cluster is connected here any more: stop consuming its queue (running jobs go back). */
  private async release(clusterId: string) {
    if (this.hub.localMembers(clusterId).length > 0) return;
    const worker = this.workers.get(clusterId);
    if (!worker) return;
    this.workers.delete(clusterId);
    await worker.close().catch(() => undefined);
    // A member connected again while the worker closed.
    if (this.hub.localMembers(clusterId).length > 0) this.ensure(clusterId);
  }

  private async cluster(clusterId: string) {
    const version = await this.state.configVersion(clusterId);
    const known = this.clusters.get(clusterId);
    if (known && known.version === version) return known.row;
    const row = this.prisma.cluster.findUnique({ where: { id: clusterId }, include: { members: { orderBy: { joinOrder: 'asc' } }, dataSources: { select: { id: true, name: true } } } });
    this.clusters.set(clusterId, { version, row });
    // A failed read is not kept.
    row.catch(() => this.clusters.delete(clusterId));
    return row;
  }

  /** Back to the queue, untouched: for another member, or this one once routing settles. */
  private async handBack(job: Job, token: string | undefined, delayMs: number): Promise<never> {
    await job.moveToDelayed(Date.now() + delayMs, token);
    throw new DelayedError();
  }

  private async process(clusterId: string, job: Job, token?: string) {
    const parsed = RefreshJob.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`job ${job.id} has no valid refresh payload`);
    const { refreshId, dataSourceId } = parsed.data;
    const cluster = await this.cluster(clusterId);
    if (!cluster) throw new UnrecoverableError(`cluster ${clusterId} no longer exists`);
    // To a member that can reach the data source, while one can (the start checks routing again).
    const source = cluster.dataSources.find((d) => d.id === dataSourceId);
    const { presence } = await this.state.presenceView(cluster.id, cluster.members.map((m) => m.id));
    let decision = this.state.routeOn(routingOf(cluster), cluster.members, presence, source);
    // No member can reach it: the attempt runs anyway where routing would send other work, and fails with the
    // data source's own error, counted toward the retry policy, rather than waiting unseen in the queue.
    if (!decision.canServe && source) decision = this.state.routeOn(routingOf(cluster), cluster.members, presence);
    const local = decision.servers.map((s) => this.hub.get(s.memberId)).filter((c) => c !== undefined);
    if (local.length === 0) return this.handBack(job, token, decision.canServe ? 20 : 250);
    const conn = local.reduce((a, b) => (b.busy + b.inFlight < a.busy + a.inFlight ? b : a));
    const runId = randomUUID();
    const started = performance.now();
    const end = await conn.runRefresh(runId, refreshId);
    this.metrics.refreshRuns.inc({ cluster: cluster.name, outcome: end.outcome });
    this.metrics.refreshDuration.observe({ cluster: cluster.name, outcome: end.outcome }, (performance.now() - started) / 1000);
    switch (end.outcome) {
      case 'done':
      case 'not-run':
      case 'stopped':
        return;
      case 'requeue':
        return this.handBack(job, token, 250);
      case 'lost': {
        // The attempt it was running is abandoned; it counts toward the retry policy like any other.
        const name = cluster.members.find((m) => m.id === conn.member.memberId)?.name ?? conn.member.memberId;
        const step = await this.lifecycle.attemptEnded(refreshId, { memberId: conn.member.memberId, status: 'abandoned', error: `member ${name} was lost while running it: ${end.message ?? 'its connection closed'}` });
        this.logger.warn(`member ${conn.member.memberId} of cluster ${clusterId} was lost running refresh ${refreshId}: ${end.message ?? ''}; ${step.next === 'retry' ? 'it goes to the next server' : `the refresh is ${step.status}`}`);
        return this.after(job, token, step);
      }
      case 'failed':
      case 'retry':
        return this.after(job, token, await this.lifecycle.nextStep(refreshId));
    }
  }

  /** The lifecycle decided: another attempt after its backoff, or the job is done (failed when the refresh failed). */
  private async after(job: Job, token: string | undefined, step: NextStep) {
    if (step.next === 'retry') return this.handBack(job, token, step.delayMs);
    if (step.status === 'failed') throw new UnrecoverableError('the refresh failed: see its attempts');
  }

  async onModuleDestroy() {
    this.stopping = true;
    await Promise.all([...this.workers.values()].map((w) => w.close(true).catch(() => undefined)));
    this.workers.clear();
    this.connection.disconnect();
  }
}
