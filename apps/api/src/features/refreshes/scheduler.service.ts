import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { nextTick } from '@gateway/domain';
import { CONFIG, type Config } from '../../infra/config/config';
import { PrismaService } from '../../infra/database/prisma.service';
import { RefreshLifecycle } from './refresh-lifecycle.service';
import { Periodic } from '../../infra/common/periodic';
import { OutageWatch } from '../../infra/common/outage-watch';

/**
 * Fires schedules. Each tick is claimed in PostgreSQL by moving the dataset's nextRunAt with a compare-and-set,
 * and the refresh row is unique per (dataset, tick): with several API instances a tick fires exactly once.
 *
 * A tick is claimed SCHEDULER_LEAD_MS before it comes: its refresh is written and queued as a delayed job that
 * BullMQ releases at the tick. Writing and queueing a hundred refreshes that share a tick takes a while; done
 * ahead, it no longer delays their start. Until the tick the refresh is "queued" with its scheduledFor in the
 * future; disabling the dataset or changing its schedule withdraws it (RefreshLifecycle.withdrawStaged), and an
 * agent that gets it anyway finds it cancelled (RefreshRunsService.start).
 */
const FIRE_AT_ONCE = 16;

@Injectable()
export class SchedulerService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(SchedulerService.name);
  private readonly periodic: Periodic;
  private readonly leadMs: number;

  constructor(
    private readonly prisma: PrismaService,
    private readonly lifecycle: RefreshLifecycle,
    @Inject(CONFIG) config: Config,
  ) {
    this.leadMs = config.SCHEDULER_LEAD_MS;
    const watch = new OutageWatch(this.logger, 'scheduler');
    this.periodic = new Periodic(config.SCHEDULER_INTERVAL_MS, () => this.tick(), (e) => watch.failed(e), () => watch.succeeded());
  }

  onApplicationBootstrap() {
    this.periodic.start();
  }

  onModuleDestroy() {
    this.periodic.stop();
  }

  private async fire(d: { id: string; cron: string | null; timezone: string | null; nextRunAt: Date | null; clusterId: string; dataSourceId: string | null }, now: Date) {
    const tick = d.nextRunAt!;
    // The tick after this one; ticks missed while no API ran are skipped, not fired late in a burst.
    const next = nextTick(d.cron!, d.timezone ?? 'UTC', tick > now ? tick : now);
    const claimed = await this.prisma.dataset.updateMany({ where: { id: d.id, nextRunAt: tick, enabled: true }, data: { nextRunAt: next } });
    if (claimed.count !== 1) return; // another API instance took this tick
    await this.lifecycle.queueTick(d, tick);
  }

  async tick(now = new Date()) {
    const horizon = new Date(now.getTime() + this.leadMs);
    const due = await this.prisma.dataset.findMany({ where: { enabled: true, nextRunAt: { lte: horizon }, cron: { not: null } }, orderBy: { nextRunAt: 'asc' }, take: 500 });
    // Many schedules share a tick (every dataset "at 06:00"): fire them side by side, a few at a time.
    for (let i = 0; i < due.length; i += FIRE_AT_ONCE) await Promise.all(due.slice(i, i + FIRE_AT_ONCE).map((d) => this.fire(d, now)));
  }
}
