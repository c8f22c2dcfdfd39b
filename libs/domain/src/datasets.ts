import { z } from 'zod';
import parser from 'cron-parser';
import { Id, Name } from './common';
import { JobDataSource } from './jobs';

export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** The next tick of a cron expression in a time zone, strictly after `after`. */
export function nextTick(cron: string, timezone: string, after: Date): Date {
  return parser.parseExpression(cron, { currentDate: after, tz: timezone }).next().toDate();
}

export const Schedule = z
  .object({
    cron: z.string().trim().min(1).max(200),
    timezone: z.string().trim().min(1).max(100).default('UTC'),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (!isTimeZone(s.timezone)) ctx.addIssue({ code: 'custom', path: ['timezone'], message: `"${s.timezone}" is not a known time zone (use an IANA name such as Europe/Paris)` });
    try {
      parser.parseExpression(s.cron, { tz: isTimeZone(s.timezone) ? s.timezone : 'UTC' });
      if (s.cron.split(/\s+/).length < 5) throw new Error('too few fields');
    } catch (e) {
      ctx.addIssue({ code: 'custom', path: ['cron'], message: `is not a valid cron expression (${(e as Error).message}); e.g. "0 6 * * *" for 06:00 daily` });
    }
  });
export type Schedule = z.infer<typeof Schedule>;

export const RetryPolicy = z
  .object({ attempts: z.number().int().min(1).max(10), backoffMs: z.number().int().min(0).max(3_600_000) })
  .strict();

const datasetFields = {
  name: Name,
  query: z.string().trim().min(1, { error: 'must not be empty' }).max(100_000),
  schedule: Schedule.nullable().optional(),
  enabled: z.boolean().optional(),
  retry: RetryPolicy.optional(),
  retention: z.number().int().min(1).max(100).optional(),
  timeoutMs: z.number().int().min(1_000).max(24 * 3_600_000).optional(),
};

export const CreateDatasetRequest = z.object({ dataSourceId: Id, ...datasetFields }).strict();
export type CreateDatasetRequest = z.infer<typeof CreateDatasetRequest>;

export const UpdateDatasetRequest = z
  .object({
    name: datasetFields.name.optional(),
    query: datasetFields.query.optional(),
    schedule: datasetFields.schedule,
    enabled: datasetFields.enabled,
    retry: datasetFields.retry,
    retention: datasetFields.retention,
    timeoutMs: datasetFields.timeoutMs,
  })
  .strict();
export type UpdateDatasetRequest = z.infer<typeof UpdateDatasetRequest>;

export const RefreshStatus = z.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled']);
export type RefreshStatus = z.infer<typeof RefreshStatus>;

export const DatasetView = z.object({
  id: z.string(),
  clusterId: z.string(),
  dataSourceId: z.string().nullable(),
  name: z.string(),
  query: z.string(),
  schedule: z.object({ cron: z.string(), timezone: z.string() }).nullable(),
  enabled: z.boolean(),
  retry: z.object({ attempts: z.number(), backoffMs: z.number() }),
  retention: z.number(),
  timeoutMs: z.number(),
  nextRunAt: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type DatasetView = z.infer<typeof DatasetView>;

/** abandoned: its member was lost, froze, or was superseded; counted toward the retry policy like any other. */
export const AttemptStatus = z.enum(['running', 'succeeded', 'failed', 'abandoned', 'cancelled']);
export type AttemptStatus = z.infer<typeof AttemptStatus>;

export const RefreshAttemptView = z.object({
  number: z.number(),
  memberId: z.string().nullable(),
  memberName: z.string(),
  /** Why this member ran it (the routing decision). */
  reason: z.string(),
  status: AttemptStatus,
  /** Why it ended, when it did not succeed. */
  error: z.string().nullable(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
});

export const RefreshView = z.object({
  id: z.string(),
  datasetId: z.string(),
  status: RefreshStatus,
  trigger: z.enum(['schedule', 'manual']),
  triggeredBy: z.string().nullable(),
  scheduledFor: z.string().nullable(),
  rows: z.number(),
  bytes: z.number(),
  error: z.string().nullable(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  durationMs: z.number().nullable(),
  cancelRequested: z.boolean(),
  attempts: z.array(RefreshAttemptView),
});
export type RefreshView = z.infer<typeof RefreshView>;

export const RefreshListQuery = z.object({ limit: z.coerce.number().int().min(1).max(500).default(50) }).strict();
export const DataExportQuery = z.object({ format: z.enum(['csv', 'ndjson'], { error: 'must be csv or ndjson' }).default('ndjson') }).strict();

/** The refresh job on the cluster's refresh queue: just the id; everything else comes from the API at start. */
/** A refresh job on a cluster's queue; its data source lets the instance route it to a member that can reach it. */
export const RefreshJob = z.object({ refreshId: z.string(), dataSourceId: z.string().nullable().optional() });
export type RefreshJob = z.infer<typeof RefreshJob>;

export const RefreshStartRequest = z.object({}).strict();
export const RefreshStart = z.discriminatedUnion('proceed', [
  // retry: the refresh goes back to the queue for another member (this one does not serve now).
  z.object({ proceed: z.literal(false), reason: z.string(), retry: z.boolean().optional() }),
  z.object({ proceed: z.literal(true), attempt: z.number().int(), query: z.string(), timeoutMs: z.number(), maxBytes: z.number(), dataSource: JobDataSource }),
]);
export type RefreshStart = z.infer<typeof RefreshStart>;
/** How a chunk's rows are written: NDJSON arrays, or PostgreSQL's COPY text format (see pgcopy.ts). */
export const SnapshotFormat = z.enum(['ndjson', 'pgcopy'], { error: 'must be ndjson or pgcopy' });
export type SnapshotFormat = z.infer<typeof SnapshotFormat>;

/** How a chunk is compressed: Brotli (what agents send) or gzip (agents before 2026-11-24). */
export const SnapshotEncoding = z.enum(['br', 'gzip'], { error: 'must be br or gzip' });
export type SnapshotEncoding = z.infer<typeof SnapshotEncoding>;

export const ChunkQuery = z
  .object({
    attempt: z.coerce.number().int().min(1),
    seq: z.coerce.number().int().min(0),
    rows: z.coerce.number().int().min(0),
    format: SnapshotFormat.default('ndjson'),
    encoding: SnapshotEncoding.default('gzip'),
  })
  .strict();
export const ChunkAck = z.object({ cancel: z.boolean() });
/** A snapshot's columns; oid is PostgreSQL's type id, which reading a pgcopy snapshot needs. */
export const RefreshComplete = z
  .object({
    attempt: z.number().int().min(1),
    columns: z.array(z.object({ name: z.string(), type: z.string().optional(), oid: z.number().int().optional() }).strict()),
    /** What the member uploaded: the API completes only if it holds exactly that (agents before 2026-11-24 omit it). */
    chunks: z.number().int().min(0).optional(),
    rows: z.number().int().min(0).optional(),
  })
  .strict();
/** `permanent`: trying again cannot help (the query itself is wrong, the snapshot too large); the API decides whether attempts remain. */
export const RefreshFail = z.object({ attempt: z.number().int().min(1), error: z.string().max(10_000), permanent: z.boolean() }).strict();
export const RefreshAttemptRef = z.object({ attempt: z.number().int().min(1) }).strict();
