import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { QUEUES } from '@gateway/domain';
import { CONFIG, type Config } from '../../infra/config/config';
import { PrismaService } from '../../infra/database/prisma.service';
import { RefreshQueueService } from '../../infra/queue/refresh-queue.service';
import { RefreshLifecycle } from './refresh-lifecycle.service';
import { Periodic } from '../../infra/common/periodic';
import { OutageWatch } from '../../infra/common/outage-watch';

/** Time a refresh may wait for a member beyond its retry policy before it fails. */
const QUEUE_ALLOWANCE_MS = 5 * 60_000;

/**
 * PostgreSQL is the source of truth for refreshes; Redis is the transport. The reconciler puts back on the
 * queue every queued refresh whose job is missing (Redis restarted empty, say), and every running one whose
 * member stopped reporting progress; and it fails, with a clear reason, refreshes that outlived their retry policy.
 */
@Injectable()
export class ReconcilerService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(ReconcilerService.name);
  private readonly periodic: Periodic;

  constructor(
    private readonly prisma: PrismaService,
    private readonly queues: RefreshQueueService,
    private readonly lifecycle: RefreshLifecycle,
    @Inject(CONFIG) config: Config,
  ) {
    const watch = new OutageWatch(this.logger, 'reconciler');
    this.periodic = new Periodic(config.RECONCILE_INTERVAL_MS, () => this.reconcile(), (e) => watch.failed(e), () => watch.succeeded());
    this.stallMs = config.REFRESH_STALL_MS;
  }

  private readonly stallMs: number;

  onApplicationBootstrap() {
    this.periodic.start();
  }

  onModuleDestroy() {
    this.periodic.stop();
  }

  async reconcile() {
    let requeued = 0;
    let failed = 0;
    const open = await this.prisma.refresh.findMany({ where: { status: { in: ['queued', 'running'] } }, include: { dataset: true }, take: 5000 });
    const now = Date.now();
    for (const r of open) {
      const d = r.dataset;
      const deadline = r.createdAt.getTime() + d.retryAttempts * (d.timeoutMs + d.retryBackoffMs * 2) + QUEUE_ALLOWANCE_MS;
      if (now > deadline) {
        await this.lifecycle.end(r.id, 'failed', `did not complete within its retry policy (${d.retryAttempts} attempts of at most ${d.timeoutMs} ms, plus waiting for a member)`, d.clusterId);
        failed += 1;
        continue;
      }
      const job = await this.queues.queue(d.clusterId, QUEUES.refresh).getJob(r.id);
      const state = job ? await job.getState() : 'missing';
      const stalled = r.status === 'running' && r.lastProgressAt !== null && now - r.lastProgressAt.getTime() > this.stallMs;
      if (state === 'missing' || state === 'unknown' || ((state === 'completed' || state === 'failed') && r.status === 'queued') || (stalled && state !== 'active')) {
        if (job && state !== 'missing') await job.remove().catch(() => undefined);
        // A scheduled refresh queued ahead of its tick goes back as a job held until the tick.
        await this.lifecycle.requeue(r, d);
        requeued += 1;
      }
    }
    if (requeued || failed) this.logger.log(`reconciled refreshes: ${requeued} queued again, ${failed} failed`);
  }
}
