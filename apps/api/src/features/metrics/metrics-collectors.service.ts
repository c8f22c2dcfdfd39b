import { Injectable, type OnModuleInit } from '@nestjs/common';
import { PrismaService } from '../../infra/database/prisma.service';
import { ClusterStateService } from '../../infra/cluster-state/cluster-state.service';
import { MemberHub } from '../member-channel/member-hub.service';
import { RefreshQueueService } from '../../infra/queue/refresh-queue.service';
import { MetricsService } from '../../infra/metrics/metrics.service';

/**
 * The gauges read when Prometheus scrapes: members online per cluster (the presence every instance routes by),
 * members connected to this instance, and each cluster's refresh queue (jobs by state, age of the oldest waiting).
 * A store that is out of reach leaves its gauges out of that scrape rather than failing it.
 */
/** Gauges collected within this long of each other share one read of the clusters. */
const SCRAPE_MS = 500;

@Injectable()
export class MetricsCollectors implements OnModuleInit {
  constructor(
    private readonly metrics: MetricsService,
    private readonly prisma: PrismaService,
    private readonly state: ClusterStateService,
    private readonly hub: MemberHub,
    private readonly queues: RefreshQueueService,
  ) {}

  private read: { at: number; clusters: Promise<{ id: string; name: string; members: { id: string }[] }[]> } | null = null;

  /** The clusters and their members, read once per scrape (the gauges below all need them). */
  private clusters() {
    if (!this.read || Date.now() - this.read.at > SCRAPE_MS) {
      this.read = { at: Date.now(), clusters: this.prisma.cluster.findMany({ select: { id: true, name: true, members: { select: { id: true } } } }) };
    }
    return this.read.clusters;
  }

  onModuleInit() {
    this.metrics.gauge('gateway_members_online', 'Members of each cluster online now (connected, not draining), as routing sees them', ['cluster'], async (set) => {
      for (const c of await this.clusters().catch(() => [])) {
        const view = await this.state.presenceView(c.id, c.members.map((m) => m.id)).catch(() => null);
        if (view) set({ cluster: c.name }, [...view.presence.values()].filter((p) => !p.draining).length);
      }
    });
    this.metrics.gauge('gateway_members', 'Members of each cluster', ['cluster'], async (set) => {
      for (const c of await this.clusters().catch(() => [])) set({ cluster: c.name }, c.members.length);
    });
    this.metrics.gauge('gateway_connected_members', 'Member connections held by this API instance', ['instance'], (set) => set({ instance: this.hub.instanceId }, this.hub.connectedCount));
    this.metrics.gauge('gateway_refresh_queue_jobs', "Refresh jobs in each cluster's queue, by state", ['cluster', 'state'], async (set) => {
      for (const c of await this.clusters().catch(() => [])) {
        const counts = await Promise.resolve()
          .then(() => this.queues.queue(c.id).getJobCounts('waiting', 'delayed', 'active', 'prioritized'))
          .catch(() => null);
        for (const [state, n] of Object.entries(counts ?? {})) set({ cluster: c.name, state }, n);
      }
    });
    this.metrics.gauge('gateway_refresh_queue_oldest_waiting_seconds', "Age of the oldest refresh waiting in each cluster's queue (0 when none waits)", ['cluster'], async (set) => {
      for (const c of await this.clusters().catch(() => [])) {
        const jobs = await Promise.resolve()
          .then(() => this.queues.queue(c.id).getJobs(['waiting', 'prioritized'], 0, 0, true))
          .catch(() => null);
        if (jobs) set({ cluster: c.name }, jobs[0] ? Math.max(0, (Date.now() - jobs[0].timestamp) / 1000) : 0);
      }
    });
  }
}
