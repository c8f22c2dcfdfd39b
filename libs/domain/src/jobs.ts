import { z } from 'zod';
import { SealedBox } from './crypto/envelopes';
import { DataSourceType } from './datasources';

/**
 * Queue and key names. NEVER RENAME: agents of an older version read the same Redis.
 * Every key of a cluster shares the hash tag {clusterId}, so a cluster lives on one Redis Cluster shard,
 * and ACLs can confine a member to `<prefix>:{<clusterId>}:*`.
 */
export const QUEUES = { live: 'live', refresh: 'refresh' } as const;

export const clusterKeyPrefix = (prefix: string, clusterId: string) => `${prefix}:{${clusterId}}`;
export const clusterKeys = (prefix: string, clusterId: string) => {
  const base = clusterKeyPrefix(prefix, clusterId);
  return {
    /** BullMQ's prefix for the cluster's queues: keys are `<bullPrefix>:<queue>:...`. */
    bullPrefix: base,
    presence: (memberId: string) => `${base}:presence:${memberId}`,
    configVersion: `${base}:config-version`,
    replyChannel: (apiInstance: string) => `${base}:reply:${apiInstance}`,
    /** Presence and config changes as they happen (ClusterEvent), for the API instances' in-memory mirror. */
    events: `${base}:events`,
  };
};

/** What a job carries about its data source: credentials stay sealed to the cluster key. */
export const JobDataSource = z.object({
  id: z.string(),
  name: z.string(),
  type: DataSourceType,
  connection: z.record(z.string(), z.unknown()),
  credentials: SealedBox.nullable(),
  version: z.string(),
});
export type JobDataSource = z.infer<typeof JobDataSource>;

export const QueryJob = z.object({
  requestId: z.string(),
  attempt: z.number().int(),
  dataSource: JobDataSource,
  sql: z.string(),
  maxRows: z.number().int(),
  timeoutMs: z.number().int(),
  replyChannel: z.string(),
  enqueuedAt: z.number(),
});
export type QueryJob = z.infer<typeof QueryJob>;

export const TestConnectionJob = QueryJob.omit({ sql: true, maxRows: true });
export type TestConnectionJob = z.infer<typeof TestConnectionJob>;

/** A no-op the serving member answers at once: proves the cluster's whole path works (and measures it). */
export const PingJob = QueryJob.pick({ requestId: true, attempt: true, timeoutMs: true, replyChannel: true, enqueuedAt: true });
export type PingJob = z.infer<typeof PingJob>;

/** Job payloads keyed by job name: producer and worker compile against one contract. */
export interface JobPayloads {
  query: QueryJob;
  'test-connection': TestConnectionJob;
  ping: PingJob;
}
export type JobName = keyof JobPayloads;
export const JOB_SCHEMAS: { [K in JobName]: z.ZodType<JobPayloads[K]> } = { query: QueryJob, 'test-connection': TestConnectionJob, ping: PingJob };

/** Messages an agent publishes on a job's reply channel. */
export type Reply =
  | { jobId: string; kind: 'started'; memberId: string; at: number }
  | { jobId: string; kind: 'result'; memberId: string; executeMs: number; result: { columns: { name: string; type?: string }[]; rows: unknown[][]; truncated: boolean } }
  | { jobId: string; kind: 'error'; memberId: string; executeMs: number; code: QueryErrorCode; message: string };

export type QueryErrorCode = 'query_failed' | 'read_only' | 'timeout' | 'unreachable' | 'bad_request' | 'credentials';

/** Presence an agent publishes with every heartbeat. */
export const Presence = z.object({
  memberId: z.string(),
  version: z.string(),
  cpu: z.number(),
  memory: z.number(),
  activeJobs: z.number().int(),
  at: z.number(),
  /** Set while the member shuts down: it takes no new work but is still finishing what it started. */
  draining: z.boolean().optional(),
});
export type Presence = z.infer<typeof Presence>;

/**
 * Published on a cluster's events channel: a member's heartbeat (the presence it just stored, valid for ttlMs),
 * its withdrawal when it stops, and the API's config version bumps.
 */
export const ClusterEvent = z.discriminatedUnion('t', [
  z.object({ t: z.literal('presence'), presence: Presence, ttlMs: z.number().int().positive() }),
  z.object({ t: z.literal('gone'), memberId: z.string() }),
  z.object({ t: z.literal('version'), version: z.number().int() }),
]);
export type ClusterEvent = z.infer<typeof ClusterEvent>;

export const DEFAULT_HEARTBEAT_MS = 300;
export const DEFAULT_PRESENCE_TTL_MS = 1200;
