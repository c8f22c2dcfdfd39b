import { Injectable, Logger } from '@nestjs/common';
import { QUEUES } from '@gateway/domain';
import { PrismaService } from '../../infra/database/prisma.service';
import { isUniqueViolation } from '../../infra/database/errors';
import { RefreshQueueService } from '../../infra/queue/refresh-queue.service';
import { OutageWatch } from '../../infra/common/outage-watch';
import { outageOf } from '../../infra/http/outage';

export const REFRESH_INCLUDE = { attempts: { orderBy: { number: 'asc' } } } as const;

/** How long a refresh whose member was lost waits before its next attempt: it goes to the next server at once. */
const FAILOVER_DELAY_MS = 10;
const ABANDONED = 'the member stopped answering; the refresh moved to another attempt';
/** The error of a refresh whose attempts are spent: `all <n> ` before it, the last attempt's reason after it. */
const SPENT = ' attempts the retry policy allows ended without a snapshot; the last: ';

type Policy = { clusterId: string; dataSourceId: string | null };
type RefreshEnd = 'failed' | 'cancelled';

/** After an attempt ended: another one after delayMs, or none (the refresh ended, or is not this caller's to run). */
export type NextStep = { next: 'retry'; delayMs: number } | { next: 'none'; status: string };

/**
 * A live attempt's chunks become the snapshot, if they are all there ($5: the member did not say what it
 * uploaded, or $6 chunks numbered from 0 holding $7 rows); its other attempts' chunks and snapshots beyond the
 * dataset's retention go ($1 refresh, $2 its cluster, $3 attempt, $4 member, $8 the columns). The statement's
 * snapshot does not yet see this refresh as succeeded: retention keeps it and the newest (retention - 1) others.
 */
const COMPLETE_SQL = `
  WITH found AS (
    SELECT r.id, r.status, r."datasetId", d.retention FROM "Refresh" r JOIN "Dataset" d ON d.id = r."datasetId"
     WHERE r.id = $1::uuid AND d."clusterId" = $2::uuid
  ), live AS (
    SELECT f.* FROM found f
     WHERE f.status = 'running'
       AND (SELECT ROW(a.number, a."memberId") FROM "RefreshAttempt" a WHERE a."refreshId" = f.id ORDER BY a.number DESC LIMIT 1) = ROW($3::int, $4::uuid)
  ), totals AS (
    SELECT COALESCE(sum(rows), 0) AS rows, COALESCE(sum(bytes), 0) AS bytes, count(*) AS chunks, COALESCE(max(seq), -1) AS last
      FROM "SnapshotChunk" WHERE "refreshId" = $1::uuid AND attempt = $3::int
  ), whole AS (
    SELECT * FROM totals WHERE $5::boolean OR (chunks = $6::int AND last = $6::int - 1 AND rows = $7::bigint)
  ), done AS (
    UPDATE "Refresh" SET status = 'succeeded', "finishedAt" = now(), "snapshotAttempt" = $3::int, columns = $8::jsonb,
           rows = whole.rows, bytes = whole.bytes, error = NULL
      FROM whole WHERE id IN (SELECT id FROM live) AND status = 'running'
    RETURNING "Refresh".id, "Refresh"."datasetId"
  ), attempt_done AS (
    UPDATE "RefreshAttempt" SET status = 'succeeded', "finishedAt" = now() WHERE "refreshId" IN (SELECT id FROM done) AND number = $3::int
  ), others AS (
    DELETE FROM "SnapshotChunk" WHERE "refreshId" IN (SELECT id FROM done) AND attempt <> $3::int
  ), keep AS (
    SELECT o.id FROM "Refresh" o, live
     WHERE o."datasetId" = live."datasetId" AND o.status = 'succeeded' AND o.id <> live.id
     ORDER BY o."finishedAt" DESC LIMIT GREATEST((SELECT retention FROM live) - 1, 0)
  ), expired AS (
    DELETE FROM "SnapshotChunk" c USING "Refresh" o, done
     WHERE c."refreshId" = o.id AND o."datasetId" = done."datasetId" AND o.status = 'succeeded' AND o.id <> done.id AND o.id NOT IN (SELECT id FROM keep)
  )
  SELECT (SELECT count(*) FROM found)::int AS found, (SELECT count(*) FROM live)::int AS live, (SELECT count(*) FROM done)::int AS done`;

/**
 * The one owner of a refresh's life. Every status a refresh or an attempt takes (queued, running, succeeded,
 * failed, cancelled; an attempt also abandoned) is written here, each with the queue call that goes with it, and
 * nowhere else. PostgreSQL is the source of truth; the cluster's BullMQ queue only carries the refresh to the
 * instance that hands it to a member.
 *
 * The retry policy (the dataset's `retryAttempts`, counting the first) is kept here, in PostgreSQL, not by BullMQ:
 * every attempt counts, the ones abandoned because their member was lost or froze included, and each attempt
 * records why it ended. A failed attempt is retried after the dataset's backoff (doubling each time); an
 * abandoned one goes to the next server at once.
 */
@Injectable()
export class RefreshLifecycle {
  private readonly logger = new Logger(RefreshLifecycle.name);
  private readonly queueWatch = new OutageWatch(this.logger, 'queueing of refreshes (they stay queued in PostgreSQL and go on the queue when it is back)');

  constructor(
    private readonly prisma: PrismaService,
    private readonly queues: RefreshQueueService,
  ) {}

  /** queued: a refresh asked for now, written to PostgreSQL, then carried by the cluster's queue. */
  async queueNow(dataset: Policy & { id: string }, triggeredBy: string) {
    const refresh = await this.prisma.refresh.create({ data: { datasetId: dataset.id, status: 'queued', trigger: 'manual', triggeredBy }, include: REFRESH_INCLUDE });
    await this.carry(dataset, refresh.id);
    return refresh;
  }

  /**
   * Onto the cluster's queue. While Redis is out of reach the refresh stays queued in PostgreSQL, and the
   * reconciler puts it on the queue once Redis is back (a missing job): the caller is not told of a failure that
   * loses nothing.
   */
  private async carry(dataset: Policy, refreshId: string, runAt?: Date) {
    try {
      await this.queues.addRefresh(dataset.clusterId, refreshId, dataset.dataSourceId, runAt);
      this.queueWatch.succeeded();
    } catch (e) {
      if (outageOf(e) !== 'redis') throw e;
      this.queueWatch.failed(e as Error);
    }
  }

  /**
   * queued: the refresh of a schedule tick, held by the queue until the tick. Null when the tick's refresh exists
   * already (another API instance wrote it: the row is unique per dataset and tick).
   */
  async queueTick(dataset: Policy & { id: string }, tick: Date) {
    const refresh = await this.prisma.refresh
      .create({ data: { datasetId: dataset.id, status: 'queued', trigger: 'schedule', scheduledFor: tick } })
      .catch((e: unknown) => (isUniqueViolation(e) ? null : Promise.reject(e)));
    if (refresh) await this.carry(dataset, refresh.id, tick);
    return refresh;
  }

  /** A queued refresh whose job is missing (Redis lost it) goes back on the queue, held until its tick if it has one. */
  async requeue(refresh: { id: string; status: string; scheduledFor: Date | null }, dataset: Policy) {
    await this.queues.addRefresh(dataset.clusterId, refresh.id, dataset.dataSourceId, refresh.status === 'queued' ? refresh.scheduledFor : null);
  }

  /**
   * Takes back the scheduled refreshes queued ahead of ticks that have not come yet: the dataset was disabled,
   * deleted or given another schedule, so those ticks will not fire. A job an instance already holds (its tick
   * came meanwhile) is left to run.
   */
  async withdrawStaged(datasetId: string, clusterId: string) {
    const staged = await this.prisma.refresh.findMany({ where: { datasetId, trigger: 'schedule', status: 'queued', scheduledFor: { gt: new Date() } }, select: { id: true } });
    for (const { id } of staged) {
      try {
        const queue = this.queues.queue(clusterId, QUEUES.refresh);
        // 0 when a worker holds the job (locked): then it is left to run. A job that is gone will not run either.
        const removed = (await queue.remove(id).catch(() => 0)) === 1 || !(await queue.getJob(id));
        if (removed) await this.prisma.refresh.deleteMany({ where: { id, status: 'queued' } });
      } catch (e) {
        // Redis out of reach: left queued; its start finds the schedule off and cancels it (RefreshRunsService.start).
        if (outageOf(e) !== 'redis') throw e;
        this.queueWatch.failed(e as Error);
        return;
      }
    }
  }

  /**
   * cancelled: a queued refresh at once (its job leaves the queue); a running one is asked to stop, and its member
   * stops at its next check (see attemptStopped). 'ended' when it had ended already.
   */
  async cancel(id: string, clusterId: string, by: string): Promise<'cancelled' | 'requested' | 'ended'> {
    const queued = await this.prisma.refresh.updateMany({ where: { id, status: 'queued' }, data: { status: 'cancelled', cancelRequested: true, finishedAt: new Date(), error: `cancelled by ${by}` } });
    if (queued.count === 1) {
      await this.removeJob(clusterId, id);
      return 'cancelled';
    }
    const running = await this.prisma.refresh.updateMany({ where: { id, status: 'running' }, data: { cancelRequested: true } });
    return running.count === 1 ? 'requested' : 'ended';
  }

  /**
   * Takes a refresh's job off the queue, as far as Redis lets it: while it is out of reach the job stays, and runs
   * into the refresh's ended status when it is handed out (RefreshRunsService.start).
   */
  private async removeJob(clusterId: string, id: string) {
    try {
      await this.queues.queue(clusterId, QUEUES.refresh).remove(id);
    } catch (e) {
      if (outageOf(e) === 'redis') this.queueWatch.failed(e as Error);
    }
  }

  /** failed or cancelled, from any open status, with the reason; its job, if still queued, leaves the queue. */
  async end(id: string, status: RefreshEnd, error: string, clusterId?: string) {
    const ended = await this.prisma.refresh.updateMany({ where: { id, status: { in: ['queued', 'running'] } }, data: { status, error, finishedAt: new Date() } });
    if (ended.count && clusterId) await this.removeJob(clusterId, id);
    if (ended.count) this.logger.log(`refresh ${id} ${status}: ${error}`);
    return ended.count === 1;
  }

  /**
   * running: the next attempt, on this member, in one statement. The refresh row is locked; a previous attempt
   * still marked running is abandoned (its member stopped answering); and when every attempt the policy allows has
   * been spent, the refresh fails instead, naming the count. Null when the refresh is no longer open, or another
   * member opened the same attempt first.
   */
  async openAttempt(id: string, memberId: string, memberName: string, reason: string): Promise<{ attempt: number } | { spent: number } | null> {
    try {
      const rows = await this.prisma.$queryRaw<{ number: number | null; spent: number; used: number }[]>`
        WITH r AS (
          SELECT r.id, d."retryAttempts" AS allowed FROM "Refresh" r JOIN "Dataset" d ON d.id = r."datasetId"
           WHERE r.id = ${id}::uuid AND r.status IN ('queued', 'running') AND NOT r."cancelRequested" FOR UPDATE OF r
        ), last AS (
          SELECT id, number, status, error FROM "RefreshAttempt" WHERE "refreshId" = ${id}::uuid ORDER BY number DESC LIMIT 1
        ), used AS (
          SELECT COALESCE((SELECT number FROM last), 0) AS n
        ), abandoned AS (
          UPDATE "RefreshAttempt" SET status = 'abandoned', "finishedAt" = now(), error = ${ABANDONED}
           WHERE id IN (SELECT id FROM last WHERE status = 'running') AND status = 'running' AND EXISTS (SELECT 1 FROM r)
        ), attempt AS (
          INSERT INTO "RefreshAttempt" (id, "refreshId", number, "memberId", "memberName", reason, status, "startedAt")
          SELECT gen_random_uuid(), r.id, (SELECT n FROM used) + 1, ${memberId}::uuid, ${memberName}, ${reason}, 'running', now() FROM r
           WHERE (SELECT n FROM used) < r.allowed
          RETURNING number
        ), running AS (
          UPDATE "Refresh" SET status = 'running', "startedAt" = COALESCE("startedAt", now()), "lastProgressAt" = now(), rows = 0, bytes = 0, error = NULL
           WHERE id IN (SELECT id FROM r WHERE (SELECT n FROM used) < r.allowed)
        ), spent AS (
          UPDATE "Refresh" SET status = 'failed', "finishedAt" = now(),
                 error = 'all ' || (SELECT n FROM used) || ${SPENT} ||
                         COALESCE(CASE WHEN (SELECT status FROM last) = 'running' THEN ${ABANDONED} END, (SELECT error FROM last), 'no reason recorded')
           WHERE id IN (SELECT id FROM r WHERE (SELECT n FROM used) >= r.allowed)
          RETURNING 1
        )
        SELECT (SELECT number FROM attempt) AS number, (SELECT count(*) FROM spent)::int AS spent, (SELECT n FROM used)::int AS used`;
      const row = rows[0];
      if (row?.number) return { attempt: row.number };
      if (row?.spent) {
        this.logger.log(`refresh ${id} failed: its ${row.used} attempts are spent`);
        return { spent: row.used };
      }
      return null;
    } catch (e) {
      if (isUniqueViolation(e)) return null;
      throw e;
    }
  }

  /** succeeded: the attempt's chunks become the snapshot (see COMPLETE_SQL), when it is the live attempt. */
  async succeed(id: string, clusterId: string, attempt: number, memberId: string, columns: unknown, uploaded?: { chunks: number; rows: number }) {
    const [r] = await this.prisma.$queryRawUnsafe<{ found: number; live: number; done: number }[]>(
      COMPLETE_SQL,
      id,
      clusterId,
      attempt,
      memberId,
      uploaded === undefined,
      uploaded?.chunks ?? 0,
      uploaded?.rows ?? 0,
      JSON.stringify(columns),
    );
    return r;
  }

  /**
   * An attempt ended without a snapshot: `failed` (its member says why) or `abandoned` (its member was lost; the
   * attempt is the member's running one when no number is given). Its chunks go. Then, in the same statement, the
   * refresh is queued again while the policy allows another attempt and the error may pass, else it fails.
   * Nothing changes when the attempt had ended already (reported twice, or superseded).
   */
  async attemptEnded(id: string, end: { attempt?: number; memberId?: string; status: 'failed' | 'abandoned'; error: string; permanent?: boolean }): Promise<NextStep> {
    const permanent = !!end.permanent;
    const rows = await this.prisma.$queryRaw<{ status: string; used: number }[]>`
      WITH ended AS (
        UPDATE "RefreshAttempt" SET status = ${end.status}::"AttemptStatus", error = ${end.error}, "finishedAt" = now()
         WHERE "refreshId" = ${id}::uuid AND status = 'running'
           AND (${end.attempt ?? null}::int IS NULL OR number = ${end.attempt ?? null}::int)
           AND (${end.memberId ?? null}::uuid IS NULL OR "memberId" = ${end.memberId ?? null}::uuid)
        RETURNING number
      ), r AS (
        SELECT r.id, d."retryAttempts" AS allowed, (SELECT max(number) FROM "RefreshAttempt" a WHERE a."refreshId" = r.id) AS used
          FROM "Refresh" r JOIN "Dataset" d ON d.id = r."datasetId"
         WHERE r.id = ${id}::uuid AND r.status = 'running'
           AND (SELECT max(number) FROM ended) = (SELECT max(number) FROM "RefreshAttempt" a WHERE a."refreshId" = r.id)
           FOR UPDATE OF r
      ), chunks AS (
        DELETE FROM "SnapshotChunk" WHERE "refreshId" = ${id}::uuid AND attempt IN (SELECT number FROM ended)
      ), next AS (
        UPDATE "Refresh" SET
               status = (CASE WHEN ${permanent}::boolean OR r.used >= r.allowed THEN 'failed' ELSE 'queued' END)::"RefreshStatus",
               "finishedAt" = CASE WHEN ${permanent}::boolean OR r.used >= r.allowed THEN now() END,
               error = CASE WHEN ${permanent}::boolean OR r.used < r.allowed THEN ${end.error}
                            ELSE 'all ' || r.used || ${SPENT} || ${end.error} END
          FROM r WHERE "Refresh".id = r.id
        RETURNING "Refresh".status::text AS status, r.used
      )
      SELECT status, used::int FROM next`;
    if (rows[0]?.status === 'failed') this.logger.log(`refresh ${id} failed after attempt ${rows[0].used}: ${end.error}`);
    return this.nextStep(id);
  }

  /**
   * What the instance holding a refresh's job does after a run on a member ended: another attempt once the backoff
   * has passed (failed attempts double the dataset's backoff each time; a lost member's goes on at once), or
   * nothing when the refresh has ended.
   */
  async nextStep(id: string): Promise<NextStep> {
    const refresh = await this.prisma.refresh.findUnique({
      where: { id },
      select: { status: true, dataset: { select: { retryBackoffMs: true } }, attempts: { orderBy: { number: 'desc' }, take: 1, select: { status: true } }, _count: { select: { attempts: { where: { status: 'failed' } } } } },
    });
    if (!refresh || refresh.status !== 'queued') return { next: 'none', status: refresh?.status ?? 'deleted' };
    const failed = refresh._count.attempts;
    const last = refresh.attempts[0]?.status;
    const delayMs = last === 'failed' ? refresh.dataset.retryBackoffMs * 2 ** Math.max(0, failed - 1) : FAILOVER_DELAY_MS;
    return { next: 'retry', delayMs };
  }

  /**
   * The member stopped its attempt: `cancelled` because a user cancelled the refresh (which then ends cancelled),
   * or abandoned because a newer attempt took over.
   */
  async attemptStopped(id: string, attempt: number, cancelRequested: boolean) {
    await this.prisma.refreshAttempt.updateMany({
      where: { refreshId: id, number: attempt, status: 'running' },
      data: { status: cancelRequested ? 'cancelled' : 'abandoned', finishedAt: new Date(), error: cancelRequested ? 'cancelled while running' : 'superseded by a newer attempt' },
    });
    await this.prisma.snapshotChunk.deleteMany({ where: { refreshId: id, attempt } });
    if (cancelRequested) await this.end(id, 'cancelled', 'cancelled while running');
  }
}
