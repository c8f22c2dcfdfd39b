import { Inject, Injectable, Logger } from '@nestjs/common';
import type { RefreshStart, SnapshotEncoding, SnapshotFormat } from '@gateway/domain';
import { toJobDataSource } from '../datasources/datasources.service';
import type { AuthMember } from '../../infra/http/principal';
import { CONFIG, type Config } from '../../infra/config/config';
import { PrismaService } from '../../infra/database/prisma.service';
import { ApiError, notFound } from '../../infra/http/errors';
import { ClusterStateService, type MemberRow } from '../../infra/cluster-state/cluster-state.service';
import { routingOf } from '../clusters/views';
import { AuditService } from '../audit/audit.service';
import { RefreshLifecycle } from './refresh-lifecycle.service';

const TERMINAL = ['succeeded', 'failed', 'cancelled'];

/**
 * The refresh $1 if it belongs to the member's cluster $2 (`found`), and that row again if the member $4 runs its
 * live attempt $3 (`live`): the one definition of "live" for the chunk and complete statements below.
 */
const LIVE_ATTEMPT = `
  found AS (
    SELECT r.id, r.status, r."cancelRequested", r.bytes, r."datasetId", d.retention FROM "Refresh" r JOIN "Dataset" d ON d.id = r."datasetId"
     WHERE r.id = $1::uuid AND d."clusterId" = $2::uuid
  ), live AS (
    SELECT f.* FROM found f
     WHERE f.status = 'running'
       AND (SELECT ROW(a.number, a."memberId") FROM "RefreshAttempt" a WHERE a."refreshId" = f.id ORDER BY a.number DESC LIMIT 1) = ROW($3::int, $4::uuid)
  )`;

/**
 * A snapshot chunk: is this the live attempt, is there room, and if so the chunk and the progress, in one
 * statement ($1-$4 as in LIVE_ATTEMPT, $5 rows, $6 bytes, $7 size limit, $8 seq, $9 format, $10 data, $11 encoding).
 */
const CHUNK_SQL = `
  WITH ${LIVE_ATTEMPT}, progress AS (
    UPDATE "Refresh" SET rows = rows + $5::int, bytes = bytes + $6::int, "lastProgressAt" = now()
     WHERE id IN (SELECT id FROM live WHERE NOT "cancelRequested") AND status = 'running' AND NOT "cancelRequested" AND bytes + $6::int <= $7::bigint
    RETURNING id
  ), stored AS (
    INSERT INTO "SnapshotChunk" ("refreshId", attempt, seq, rows, bytes, format, encoding, data)
    SELECT id, $3::int, $8::int, $5::int, $6::int, $9::text, $11::text, $10::bytea FROM progress
    ON CONFLICT ("refreshId", attempt, seq) DO UPDATE SET rows = EXCLUDED.rows, bytes = EXCLUDED.bytes, format = EXCLUDED.format, encoding = EXCLUDED.encoding, data = EXCLUDED.data
    RETURNING 1
  )
  SELECT (SELECT count(*) FROM found)::int AS found, (SELECT count(*) FROM live)::int AS live,
         (SELECT "cancelRequested" FROM live) AS cancel, (SELECT count(*) FROM stored)::int AS stored`;

interface StartContext {
  status: string;
  trigger: string;
  cancelRequested: boolean;
  early: boolean | null;
  datasetName: string;
  query: string;
  timeoutMs: number;
  enabled: boolean;
  cron: string | null;
  clusterId: string;
  routingMode: string;
  cpuThreshold: number;
  memoryThreshold: number;
  dsId: string | null;
  dsName: string | null;
  dsType: string | null;
  dsConnection: unknown;
  dsCredentials: unknown;
  dsUpdatedAt: Date | null;
  members: MemberRow[] | null;
}

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
    private readonly audit: AuditService,
    private readonly lifecycle: RefreshLifecycle,
    @Inject(CONFIG) private readonly config: Config,
  ) {}

  /**
   * A member reported on a refresh that is not its cluster's (or does not exist): refused with 404, and audited in
   * the member's cluster, since a member of one tenant probing another's work is worth an admin's eye.
   */
  private async foreign(member: AuthMember, id: string) {
    this.logger.warn(`member ${member.id} of cluster ${member.clusterId} reported on refresh ${id}, which is not its cluster's: refused`);
    await this.audit
      .recordMember({ id: member.id, name: member.id }, { clusterId: member.clusterId, action: 'member.refresh.refused', targetType: 'refresh', targetId: id, detail: { reason: 'not a refresh of this member\'s cluster' } })
      .catch((e: Error) => this.logger.error(`could not audit a refused report of member ${member.id} of cluster ${member.clusterId} on refresh ${id}: ${e.message}`));
    return notFound(`no refresh ${id} in this member's cluster`, 'id');
  }

  private async refreshFor(member: AuthMember, id: string) {
    const refresh = await this.prisma.refresh.findUnique({ where: { id }, select: { id: true, cancelRequested: true, dataset: { select: { clusterId: true } } } });
    if (!refresh || refresh.dataset.clusterId !== member.clusterId) throw await this.foreign(member, id);
    return refresh;
  }

  /**
   * Everything a start decides on, in one statement: the refresh, its dataset, data source, cluster settings and
   * members. Starts come in bursts (a hundred datasets on the same minute), so each costs one round trip here,
   * one to Redis for presence, and one for the attempt.
   */
  private async startContext(member: AuthMember, id: string) {
    const rows = await this.prisma.$queryRaw<StartContext[]>`
      SELECT r.status, r.trigger, r."cancelRequested", r."scheduledFor" > now() AS early, d.name AS "datasetName", d.query, d."timeoutMs", d.enabled, d.cron,
             c.id AS "clusterId", c."routingMode", c."cpuThreshold", c."memoryThreshold",
             ds.id AS "dsId", ds.name AS "dsName", ds.type AS "dsType", ds.connection AS "dsConnection", ds.credentials AS "dsCredentials", ds."updatedAt" AS "dsUpdatedAt",
             (SELECT json_agg(json_build_object('id', m.id, 'name', m.name, 'isPrimary', m."isPrimary", 'enabled', m.enabled, 'joinOrder', m."joinOrder", 'drainRequestedAt', m."drainRequestedAt") ORDER BY m."joinOrder")
                FROM "Member" m WHERE m."clusterId" = c.id) AS members
        FROM "Refresh" r JOIN "Dataset" d ON d.id = r."datasetId" JOIN "Cluster" c ON c.id = d."clusterId" LEFT JOIN "DataSource" ds ON ds.id = d."dataSourceId"
       WHERE r.id = ${id}::uuid AND d."clusterId" = ${member.clusterId}::uuid`;
    if (!rows[0]) throw await this.foreign(member, id);
    return rows[0];
  }

  async start(member: AuthMember, id: string): Promise<RefreshStart> {
    const r = await this.startContext(member, id);
    if (TERMINAL.includes(r.status)) return { proceed: false, reason: `refresh is already ${r.status}` };
    if (r.cancelRequested) {
      await this.lifecycle.end(id, 'cancelled', 'cancelled before it started');
      return { proceed: false, reason: 'cancelled' };
    }
    // Queued ahead of its tick, then the schedule was turned off (see SchedulerService).
    if (r.trigger === 'schedule' && (!r.enabled || !r.cron)) {
      await this.lifecycle.end(id, 'cancelled', `dataset "${r.datasetName}" was disabled or lost its schedule before this run`);
      return { proceed: false, reason: 'schedule turned off' };
    }
    // BullMQ releases a delayed job by the agent's clock: one running ahead of the database's would start a
    // scheduled refresh before its tick. Not before its time, by the database's clock.
    if (r.trigger === 'schedule' && r.early) return { proceed: false, reason: 'its scheduled time has not come', retry: true };
    if (!r.dsId) {
      await this.lifecycle.end(id, 'failed', `the data source of dataset "${r.datasetName}" was deleted`);
      return { proceed: false, reason: 'data source deleted' };
    }
    const members = r.members ?? [];
    const me = members.find((m) => m.id === member.id);
    const source = { id: r.dsId, name: r.dsName ?? r.dsId };
    const decision = await this.state.decide(r.clusterId, routingOf(r), members, source);
    const served = decision.servers.find((s) => s.memberId === member.id);
    // An agent learns of routing changes within a heartbeat; until then it may still take a job. The API has
    // the last word: a disabled member, or one that routing passes over while another can serve, hands the
    // refresh back to the queue for the member that serves.
    if (!me?.enabled || (!served && decision.canServe)) {
      return { proceed: false, reason: !me?.enabled ? 'this member is disabled' : 'another member serves this cluster now', retry: true };
    }
    const reason = served?.reason ?? 'took the job from the cluster queue as routing changed';
    const opened = await this.lifecycle.openAttempt(id, member.id, me?.name ?? member.id, reason);
    if (opened === null) return { proceed: false, reason: 'the refresh was finished, cancelled or started by another member meanwhile' };
    if ('spent' in opened) return { proceed: false, reason: `its ${opened.spent} attempts are spent: the refresh failed` };
    const { attempt } = opened;
    this.logger.log(`refresh ${id} attempt ${attempt} started on member ${member.id}`);
    return {
      proceed: true,
      attempt,
      query: r.query,
      timeoutMs: r.timeoutMs,
      maxBytes: this.config.SNAPSHOT_MAX_BYTES,
      dataSource: toJobDataSource({ id: r.dsId, name: r.dsName!, type: r.dsType!, connection: r.dsConnection, credentials: r.dsCredentials, updatedAt: r.dsUpdatedAt! }),
    };
  }

  /** Checks that the member runs the current attempt of a live refresh; tells it to stop otherwise. */
  private async current(member: AuthMember, id: string, attempt: number) {
    // On the path of every chunk: one light query, not the full refresh with its dataset and cluster.
    const refresh = await this.prisma.refresh.findUnique({
      where: { id },
      select: { id: true, status: true, cancelRequested: true, bytes: true, datasetId: true, dataset: { select: { clusterId: true, retention: true } }, attempts: { orderBy: { number: 'desc' }, take: 1, select: { number: true, memberId: true } } },
    });
    if (!refresh || refresh.dataset.clusterId !== member.clusterId) throw await this.foreign(member, id);
    const latest = refresh.attempts[0];
    const live = refresh.status === 'running' && latest?.number === attempt && latest.memberId === member.id;
    return { refresh, live };
  }

  async chunk(member: AuthMember, id: string, q: { attempt: number; seq: number; rows: number; format: SnapshotFormat; encoding: SnapshotEncoding }, data: Buffer) {
    const max = this.config.SNAPSHOT_MAX_BYTES;
    // One statement per chunk, the bulk of a refresh's traffic: is this the live attempt, is there room, and if
    // so the chunk and the progress. The checks and the write see the same row (locked by the update).
    const { rows } = await this.prisma.chunkPool.query<{ found: number; live: number; cancel: boolean | null; stored: number }>(CHUNK_SQL, [
      id,
      member.clusterId,
      q.attempt,
      member.id,
      q.rows,
      data.length,
      max,
      q.seq,
      q.format,
      data,
      q.encoding,
    ]);
    const r = rows[0];
    if (!r.found) throw await this.foreign(member, id);
    if (!r.live || r.cancel) return { cancel: true };
    if (!r.stored) {
      // Not stored although live when the statement began: over the limit, or cancelled or superseded while it
      // waited for the row (another chunk of the same refresh held it). The row as it is now tells which.
      const [now] = await this.prisma.$queryRaw<{ running: boolean; cancelRequested: boolean; bytes: bigint }[]>`
        SELECT status = 'running' AS running, "cancelRequested", bytes FROM "Refresh" WHERE id = ${id}::uuid`;
      if (!now?.running || now.cancelRequested || Number(now.bytes) + data.length <= max) return { cancel: true };
      throw new ApiError(413, `the snapshot is over the size limit of ${max} bytes`);
    }
    return { cancel: false };
  }

  async status(member: AuthMember, id: string, attempt: number) {
    const { refresh, live } = await this.current(member, id, attempt);
    if (live) await this.prisma.refresh.update({ where: { id }, data: { lastProgressAt: new Date() } });
    return { cancel: !live || refresh.cancelRequested };
  }

  /**
   * The attempt's chunks become the snapshot; other attempts' chunks and snapshots beyond the dataset's retention
   * go. One statement, which does nothing unless the member runs the live attempt.
   */
  async complete(member: AuthMember, id: string, attempt: number, columns: { name: string; type?: string; oid?: number }[], uploaded?: { chunks: number; rows: number }) {
    // Chunks are committed without waiting for the WAL flush (see PrismaService.chunkPool): after a database
    // crash some may be gone although acknowledged. The member says what it uploaded; anything else is not a snapshot.
    const r = await this.lifecycle.succeed(id, member.clusterId, attempt, member.id, columns, uploaded);
    if (!r.found) throw await this.foreign(member, id);
    if (!r.done && r.live && uploaded) {
      throw new ApiError(409, `the snapshot does not hold the ${uploaded.chunks} chunks (${uploaded.rows} rows) this attempt uploaded: the attempt must run again`);
    }
    if (!r.done) return { ok: false, reason: 'this attempt is no longer the live one' };
    this.logger.log(`refresh ${id} succeeded with attempt ${attempt} on member ${member.id}`);
    return { ok: true };
  }

  /** The member's attempt failed; `permanent` when trying again cannot help (the query itself is wrong, say). */
  async fail(member: AuthMember, id: string, attempt: number, error: string, permanent: boolean) {
    const { live } = await this.current(member, id, attempt);
    if (!live) return { ok: false, reason: 'this attempt is no longer the live one' };
    const step = await this.lifecycle.attemptEnded(id, { attempt, memberId: member.id, status: 'failed', error, permanent });
    return { ok: true, reason: step.next === 'retry' ? 'another attempt follows' : `the refresh is ${step.status}` };
  }

  /** The member stopped its attempt: because a user cancelled the refresh, or because a newer attempt took over. */
  async cancelled(member: AuthMember, id: string, attempt: number) {
    const refresh = await this.refreshFor(member, id);
    await this.lifecycle.attemptStopped(id, attempt, refresh.cancelRequested);
    return { ok: true };
  }
}
