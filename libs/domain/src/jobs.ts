import { z } from 'zod';
import { SealedBox } from './crypto/envelopes';
import { DataSourceType } from './datasources';

/**
 * Queue and key names. NEVER RENAME: API instances of an older version read the same Redis during an upgrade.
 * Every key of a cluster shares the hash tag {clusterId}, so a cluster lives on one Redis Cluster shard. Only
 * the control plane uses Redis: members never get its address.
 */
export const QUEUES = { refresh: 'refresh' } as const;

/** Keys of one API instance (its hash tag is the instance id): work forwarded to it, and replies to its requests. */
export const instanceKeys = (prefix: string, instanceId: string) => ({
  inbox: `${prefix}:instance:{${instanceId}}:inbox`,
  replies: `${prefix}:instance:{${instanceId}}:replies`,
});

export const clusterKeyPrefix = (prefix: string, clusterId: string) => `${prefix}:{${clusterId}}`;
export const clusterKeys = (prefix: string, clusterId: string) => {
  const base = clusterKeyPrefix(prefix, clusterId);
  return {
    /** BullMQ's prefix for the cluster's queues: keys are `<bullPrefix>:<queue>:...`. */
    bullPrefix: base,
    presence: (memberId: string) => `${base}:presence:${memberId}`,
    configVersion: `${base}:config-version`,
    /** Presence and config changes as they happen (ClusterEvent), for the API instances' in-memory mirror. */
    events: `${base}:events`,
    /** Live queries of one minute (ms since the epoch / 60,000), by member and outcome, for the portal's chart. */
    queryMinute: (minute: number) => `${base}:stats:queries:${minute}`,
  };
};

/** What a member found when it last checked that it can reach a data source (connect and `SELECT 1`). */
export const SourceHealth = z.object({
  id: z.string().max(100),
  ok: z.boolean(),
  /** Why it could not, as the connector said it (no secrets: the connector's messages never carry credentials). */
  error: z.string().max(500).optional(),
  /** When it checked (ms since the epoch, the member's clock). */
  at: z.number(),
});
export type SourceHealth = z.infer<typeof SourceHealth>;

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

/**
 * A connected member's presence, as the API instance holding its connection stores it (with each heartbeat the
 * member sends) for every instance to route by.
 */
export const Presence = z.object({
  memberId: z.string(),
  version: z.string(),
  cpu: z.number(),
  memory: z.number(),
  activeJobs: z.number().int(),
  at: z.number(),
  /** Set while the member shuts down: it takes no new work but is still finishing what it started. */
  draining: z.boolean().optional(),
  /** The API instance holding the member's connection: work for the member that reaches another instance goes there. */
  instanceId: z.string().optional(),
  /** Live slots in use and in all. */
  busy: z.number().int().optional(),
  slots: z.number().int().optional(),
  /** When the API holding the connection received the member's last report (ms since the epoch, its clock). */
  reportedAt: z.number().optional(),
  /** The member protocol version of its connection. */
  protocol: z.number().int().optional(),
  /** Whether the member could reach each data source of its cluster when it last checked. */
  sources: z.array(SourceHealth).optional(),
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
