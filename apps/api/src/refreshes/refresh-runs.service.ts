import { Inject, Injectable, Logger } from '@nestjs/common';
import type { RefreshStart, SnapshotFormat } from '@gateway/domain';
import { toJobDataSource } from '../datasources/datasources.service';
import type { AuthMember } from '../agents/agent-auth.service';
import { CONFIG, type Config } from '../config/config';
import { PrismaService } from '../database/prisma.service';
import { ApiError, notFound } from '../http/errors';
import { ClusterStateService } from '../cluster-state/cluster-state.service';

const TERMINAL = ['succeeded', 'failed', 'cancelled'];

/**
 * The agent's side of a refresh: it starts an attempt, streams chunks, and completes or fails it. Every
 * call is checked against PostgreSQL, so a member that lost its job (killed, cancelled, superseded by a
 * newer attempt) cannot overwrite the outcome: a refresh has exactly one snapshot.
 */
@Injectable()
export class RefreshRunsService {
  private readonly logger = new Logger(RefreshRunsService.name);

  constructor(
    private readonly prisma: PrismaService,
    private readonly state: ClusterStateService,
    @Inject(CONFIG) private readonly config: Config,
  ) {}

  private async refreshFor(member: AuthMember, id: string) {
    const refresh = await this.prisma.refresh.findUnique({ where: { id }, include: { dataset: { include: { dataSource: true, cluster: { include: { members: { orderBy: { joinOrder: 'asc' } } } } } } } });
    if (!refresh || refresh.dataset.clusterId !== member.clusterId) throw notFound(`no refresh ${id} in this member's cluster`, 'id');
    return refresh;
  }

  async start(member: AuthMember, id: string): Promise<RefreshStart> {
    const refresh = await this.refreshFor(member, id);
    if (TERMINAL.includes(refresh.status)) return { proceed: false, reason: `refresh is already ${refresh.status}` };
    if (refresh.cancelRequested) {
      await this.finish(id, 'cancelled', 'cancelled before it started');
      return { proceed: false, reason: 'cancelled' };
    }
    const ds = refresh.dataset.dataSource;
    if (!ds) {
      await this.finish(id, 'failed', `the data source of dataset "${refresh.dataset.name}" was deleted`);
      return { proceed: false, reason: 'data source deleted' };
    }
    const members = refresh.dataset.cluster.members;
    const me = members.find((m) => m.id === member.id);
    const decision = await this.state.decide(refresh.dataset.cluster, members);
    const served = decision.servers.find((s) => s.memberId === member.id);
    // An agent learns of routing changes within a heartbeat; until then it may still take a job. The API has
    // the last word: a disabled member, or one that routing passes over while another can serve, hands the
    // refresh back to the queue for the member that serves.
    if (!me?.enabled || (!served && decision.canServe)) {
      return { proceed: false, reason: !me?.enabled ? 'this member is disabled' : 'another member serves this cluster now', retry: true };
    }
    const reason = served?.reason ?? 'took the job from the cluster queue as routing changed';
    const attempt = await this.prisma.$transaction(async (tx) => {
      const last = await tx.refreshAttempt.findFirst({ where: { refreshId: id }, orderBy: { number: 'desc' } });
      if (last && last.status === 'running') {
        await tx.refreshAttempt.update({ where: { id: last.id }, data: { status: 'abandoned', finishedAt: new Date(), error: 'the member stopped answering; the refresh moved to another attempt' } });
      }
      const number = (last?.number ?? 0) + 1;
      await tx.refreshAttempt.create({ data: { refreshId: id, number, memberId: member.id, memberName: me?.name ?? member.id, reason, status: 'running' } });
      await tx.refresh.update({ where: { id }, data: { status: 'running', startedAt: refresh.startedAt ?? new Date(), lastProgressAt: new Date(), rows: 0, bytes: 0, error: null } });
      return number;
    });
    this.logger.log(`refresh ${id} attempt ${attempt} started on member ${member.id}`);
    return {
      proceed: true,
      attempt,
      query: refresh.dataset.query,
      timeoutMs: refresh.dataset.timeoutMs,
      maxBytes: this.config.SNAPSHOT_MAX_BYTES,
      dataSource: toJobDataSource(ds),
    };
  }

  /** Checks that the member runs the current attempt of a live refresh; tells it to stop otherwise. */
  private async current(member: AuthMember, id: string, attempt: number) {
    // On the path of every chunk: one light query, not the full refresh with its dataset and cluster.
    const refresh = await this.prisma.refresh.findUnique({
      where: { id },
      select: { id: true, status: true, cancelRequested: true, bytes: true, datasetId: true, dataset: { select: { clusterId: true, retention: true } }, attempts: { orderBy: { number: 'desc' }, take: 1, select: { number: true, memberId: true } } },
    });
    if (!refresh || refresh.dataset.clusterId !== member.clusterId) throw notFound(`no refresh ${id} in this member's cluster`, 'id');
    const latest = refresh.attempts[0];
    const live = refresh.status === 'running' && latest?.number === attempt && latest.memberId === member.id;
    return { refresh, live };
  }

  async chunk(member: AuthMember, id: string, q: { attempt: number; seq: number; rows: number; format: SnapshotFormat }, data: Buffer) {
    const { refresh, live } = await this.current(member, id, q.attempt);
    if (!live || refresh.cancelRequested) return { cancel: true };
    if (Number(refresh.bytes) + data.length > this.config.SNAPSHOT_MAX_BYTES) {
      throw new ApiError(413, `the snapshot is over the size limit of ${this.config.SNAPSHOT_MAX_BYTES} bytes`);
    }
    // One statement for the chunk and the progress: chunks are the bulk of a refresh's traffic.
    await this.prisma.$executeRaw`
      WITH progress AS (
        UPDATE "Refresh" SET rows = rows + ${q.rows}, bytes = bytes + ${data.length}, "lastProgressAt" = now() WHERE id = ${id}::uuid RETURNING id
      )
      INSERT INTO "SnapshotChunk" ("refreshId", attempt, seq, rows, bytes, format, data)
      SELECT id, ${q.attempt}, ${q.seq}, ${q.rows}, ${data.length}, ${q.format}, ${new Uint8Array(data)} FROM progress
      ON CONFLICT ("refreshId", attempt, seq) DO UPDATE SET rows = EXCLUDED.rows, bytes = EXCLUDED.bytes, format = EXCLUDED.format, data = EXCLUDED.data`;
    return { cancel: false };
  }

  async status(member: AuthMember, id: string, attempt: number) {
    const { refresh, live } = await this.current(member, id, attempt);
    if (live) await this.prisma.refresh.update({ where: { id }, data: { lastProgressAt: new Date() } });
    return { cancel: !live || refresh.cancelRequested };
  }

  /** The attempt's chunks become the snapshot; other attempts' chunks and snapshots beyond retention go. */
  async complete(member: AuthMember, id: string, attempt: number, columns: { name: string; type?: string; oid?: number }[]) {
    const { refresh, live } = await this.current(member, id, attempt);
    if (!live) return { ok: false, reason: 'this attempt is no longer the live one' };
    await this.prisma.$transaction(async (tx) => {
      const totals = await tx.snapshotChunk.aggregate({ where: { refreshId: id, attempt }, _sum: { rows: true, bytes: true } });
      await tx.snapshotChunk.deleteMany({ where: { refreshId: id, attempt: { not: attempt } } });
      await tx.refreshAttempt.updateMany({ where: { refreshId: id, number: attempt }, data: { status: 'succeeded', finishedAt: new Date() } });
      await tx.refresh.update({
        where: { id },
        data: { status: 'succeeded', finishedAt: new Date(), snapshotAttempt: attempt, columns, rows: totals._sum.rows ?? 0, bytes: totals._sum.bytes ?? 0, error: null },
      });
      // Retention: keep the newest N snapshots of the dataset.
      const keep = await tx.refresh.findMany({ where: { datasetId: refresh.datasetId, status: 'succeeded' }, orderBy: { finishedAt: 'desc' }, take: refresh.dataset.retention, select: { id: true } });
      await tx.snapshotChunk.deleteMany({ where: { refresh: { datasetId: refresh.datasetId, status: 'succeeded' }, refreshId: { notIn: keep.map((k) => k.id) } } });
    });
    this.logger.log(`refresh ${id} succeeded with attempt ${attempt} on member ${member.id}`);
    return { ok: true };
  }

  async fail(member: AuthMember, id: string, attempt: number, error: string, final: boolean) {
    const { live } = await this.current(member, id, attempt);
    if (!live) return { ok: false };
    await this.prisma.refreshAttempt.updateMany({ where: { refreshId: id, number: attempt }, data: { status: 'failed', error, finishedAt: new Date() } });
    await this.prisma.snapshotChunk.deleteMany({ where: { refreshId: id, attempt } });
    if (final) await this.finish(id, 'failed', error);
    else await this.prisma.refresh.updateMany({ where: { id, status: 'running' }, data: { status: 'queued', error } });
    return { ok: true };
  }

  /** The member stopped its attempt: because a user cancelled the refresh, or because a newer attempt took over. */
  async cancelled(member: AuthMember, id: string, attempt: number) {
    const refresh = await this.refreshFor(member, id);
    const superseded = !refresh.cancelRequested;
    await this.prisma.refreshAttempt.updateMany({
      where: { refreshId: id, number: attempt, status: 'running' },
      data: { status: superseded ? 'abandoned' : 'cancelled', finishedAt: new Date(), ...(superseded ? { error: 'superseded by a newer attempt' } : {}) },
    });
    await this.prisma.snapshotChunk.deleteMany({ where: { refreshId: id, attempt } });
    if (!superseded) await this.finish(id, 'cancelled', 'cancelled while running');
    return { ok: true };
  }

  async finish(id: string, status: 'failed' | 'cancelled', error: string) {
    await this.prisma.refresh.updateMany({ where: { id, status: { notIn: TERMINAL } }, data: { status, error, finishedAt: new Date() } });
  }
}
