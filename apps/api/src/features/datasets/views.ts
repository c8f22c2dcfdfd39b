import type { DatasetView, RefreshView } from '@gateway/domain';

type DatasetRow = {
  id: string; clusterId: string; dataSourceId: string | null; name: string; query: string; cron: string | null; timezone: string | null;
  enabled: boolean; retryAttempts: number; retryBackoffMs: number; timeoutMs: number; retention: number; nextRunAt: Date | null; createdAt: Date; updatedAt: Date;
};

export const toDatasetView = (d: DatasetRow): DatasetView => ({
  id: d.id,
  clusterId: d.clusterId,
  dataSourceId: d.dataSourceId,
  name: d.name,
  query: d.query,
  schedule: d.cron ? { cron: d.cron, timezone: d.timezone ?? 'UTC' } : null,
  enabled: d.enabled,
  retry: { attempts: d.retryAttempts, backoffMs: d.retryBackoffMs },
  retention: d.retention,
  timeoutMs: d.timeoutMs,
  nextRunAt: d.nextRunAt?.toISOString() ?? null,
  createdAt: d.createdAt.toISOString(),
  updatedAt: d.updatedAt.toISOString(),
});

type RefreshRow = {
  id: string; datasetId: string; status: RefreshView['status']; trigger: string; triggeredBy: string | null; scheduledFor: Date | null; rows: bigint; bytes: bigint;
  error: string | null; createdAt: Date; startedAt: Date | null; finishedAt: Date | null; cancelRequested: boolean;
  attempts: { number: number; memberId: string | null; memberName: string; reason: string; status: RefreshView['attempts'][number]['status']; error: string | null; startedAt: Date; finishedAt: Date | null }[];
};

export const toRefreshView = (r: RefreshRow): RefreshView => ({
  id: r.id,
  datasetId: r.datasetId,
  status: r.status,
  trigger: r.trigger as RefreshView['trigger'],
  triggeredBy: r.triggeredBy,
  scheduledFor: r.scheduledFor?.toISOString() ?? null,
  rows: Number(r.rows),
  bytes: Number(r.bytes),
  error: r.error,
  createdAt: r.createdAt.toISOString(),
  startedAt: r.startedAt?.toISOString() ?? null,
  finishedAt: r.finishedAt?.toISOString() ?? null,
  durationMs: r.startedAt && r.finishedAt ? r.finishedAt.getTime() - r.startedAt.getTime() : null,
  cancelRequested: r.cancelRequested,
  attempts: [...r.attempts]
    .sort((a, b) => a.number - b.number)
    .map((a) => ({ ...a, startedAt: a.startedAt.toISOString(), finishedAt: a.finishedAt?.toISOString() ?? null })),
});
