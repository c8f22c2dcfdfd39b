import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { clusterKeys, type ClusterTrafficView } from '@gateway/domain';
import { CONFIG, type Config } from '../../infra/config/config';
import { RedisService } from '../../infra/redis/redis.service';
import { PrismaService } from '../../infra/database/prisma.service';

const MINUTE_MS = 60_000;
/** Minute counts are kept this long in Redis. */
const KEEP_S = 2 * 3600;
const FLUSH_MS = 1_000;

/**
 * Live queries per minute, cluster and member, for the portal's traffic chart: counted in memory by each API
 * instance and added to Redis (one hash per cluster and minute, shared by every instance) once a second, so a
 * query costs no Redis round trip of its own. Counts not yet written when Redis is out of reach wait for the next
 * flush.
 */
@Injectable()
export class QueryStatsService implements OnModuleDestroy {
  private pending = new Map<string, Map<number, Map<string, number>>>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly redis: RedisService,
    private readonly prisma: PrismaService,
    @Inject(CONFIG) private readonly config: Config,
  ) {
    this.timer = setInterval(() => void this.flush(), FLUSH_MS);
    this.timer.unref();
  }

  count(clusterId: string, memberId: string | undefined, ok: boolean) {
    this.add(clusterId, Math.floor(Date.now() / MINUTE_MS), `${memberId ?? '-'}:${ok ? 'ok' : 'failed'}`, 1);
  }

  async flush() {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    // One transaction per cluster: its keys share its hash tag (one Redis Cluster slot).
    await Promise.all(
      [...batch].map(async ([clusterId, byMinute]) => {
        const multi = this.redis.client.multi();
        for (const [minute, fields] of byMinute) {
          const key = clusterKeys(this.config.REDIS_PREFIX, clusterId).queryMinute(minute);
          for (const [field, n] of fields) multi.hincrby(key, field, n);
          multi.expire(key, KEEP_S);
        }
        try {
          await multi.exec();
        } catch {
          // Kept for the next flush (merged with what came meanwhile).
          for (const [minute, fields] of byMinute) for (const [field, n] of fields) this.add(clusterId, minute, field, n);
        }
      }),
    );
  }

  private add(clusterId: string, minute: number, field: string, n: number) {
    let byMinute = this.pending.get(clusterId);
    if (!byMinute) this.pending.set(clusterId, (byMinute = new Map()));
    let fields = byMinute.get(minute);
    if (!fields) byMinute.set(minute, (fields = new Map()));
    fields.set(field, (fields.get(field) ?? 0) + n);
  }

  /** The last hour of a cluster's traffic (this instance's unwritten counts included). */
  async traffic(cluster: { id: string; members: { id: string; name: string }[] }): Promise<ClusterTrafficView> {
    const now = Math.floor(Date.now() / MINUTE_MS);
    const minutes = Array.from({ length: 60 }, (_, i) => now - 59 + i);
    const pipeline = this.redis.client.pipeline();
    for (const m of minutes) pipeline.hgetall(clusterKeys(this.config.REDIS_PREFIX, cluster.id).queryMinute(m));
    const replies = (await pipeline.exec()) ?? [];
    const local = this.pending.get(cluster.id);
    const nameOf = (id: string) => cluster.members.find((m) => m.id === id)?.name ?? (id === '-' ? 'no member' : 'a removed member');
    let queries = 0;
    let failed = 0;
    const view = minutes.map((minute, i) => {
      const counts = new Map<string, { ok: number; failed: number }>();
      const fields: [string, number][] = [...Object.entries((replies[i]?.[1] as Record<string, string> | null) ?? {}).map(([k, v]) => [k, Number(v)] as [string, number]), ...(local?.get(minute) ?? new Map())];
      for (const [field, n] of fields) {
        const [memberId, outcome] = field.split(':');
        const c = counts.get(memberId) ?? { ok: 0, failed: 0 };
        if (outcome === 'ok') c.ok += n;
        else c.failed += n;
        counts.set(memberId, c);
        queries += n;
        if (outcome !== 'ok') failed += n;
      }
      return { at: new Date(minute * MINUTE_MS).toISOString(), members: [...counts].map(([memberId, c]) => ({ memberId, memberName: nameOf(memberId), ...c })) };
    });
    const since = new Date((now - 59) * MINUTE_MS);
    const ended = await this.prisma.refresh.groupBy({ by: ['status'], where: { dataset: { clusterId: cluster.id }, finishedAt: { gte: since } }, _count: { _all: true } });
    const refreshes = { succeeded: 0, failed: 0, cancelled: 0 };
    for (const e of ended) if (e.status in refreshes) refreshes[e.status as keyof typeof refreshes] = e._count._all;
    return { from: since.toISOString(), to: new Date().toISOString(), minutes: view, totals: { queries, failed, errorRate: queries ? Math.round((failed / queries) * 10_000) / 10_000 : 0 }, refreshes };
  }

  async onModuleDestroy() {
    clearInterval(this.timer);
    await this.flush().catch(() => undefined);
  }
}
