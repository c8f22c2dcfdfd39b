import { z } from 'zod';

const url = (protocols: string[]) =>
  z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    { error: `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}` },
  );

const bool = z.enum(['true', 'false', '1', '0', 'on', 'off']).transform((v) => ['true', '1', 'on'].includes(v));

/** Environment the API reads once at boot. Defaults work on a developer machine with local services. */
export const ConfigSchema = z.object({
  DATABASE_URL: url(['postgresql:', 'postgres:']).default('postgresql://postgres@127.0.0.1:5432/gateway'),
  REDIS_URL: url(['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
  /**
   * Redis under Sentinel: the sentinels (host:port, comma-separated) and the name of the master they watch. The API
   * follows a failover to the new master; REDIS_URL then gives only the password and database.
   */
  REDIS_SENTINELS: z
    .string()
    .regex(/^\s*[^\s,:]+:\d+(\s*,\s*[^\s,:]+:\d+)*\s*$/, { error: 'must be host:port pairs separated by commas' })
    .optional(),
  REDIS_SENTINEL_NAME: z.string().min(1).default('mymaster'),
  /** A Redis Cluster instead: some of its nodes (host:port, comma-separated); the rest are found from them. */
  REDIS_CLUSTER_NODES: z
    .string()
    .regex(/^\s*[^\s,:]+:\d+(\s*,\s*[^\s,:]+:\d+)*\s*$/, { error: 'must be host:port pairs separated by commas' })
    .optional(),
  /** Prefix of every Redis key the deployment uses, so several deployments (or test runs) can share one Redis. */
  REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, { error: 'must be 1-64 letters, digits, _ . or -' }).default('gw'),
  API_PORT: z.coerce.number({ error: 'must be a port number' }).int().min(0).max(65535).default(3000),
  API_HOST: z.string().min(1).default('127.0.0.1'),
  /**
   * Where clients reach the API, e.g. https://gateway.example.com behind a proxy or TLS terminator: the OpenAPI
   * document's `servers`. Default: http(s)://API_HOST:API_PORT.
   */
  API_PUBLIC_URL: url(['http:', 'https:'])
    .refine((v) => !v.endsWith('/'), { error: 'must not end with a slash' })
    .optional(),
  /** The PostgreSQL front door's port, at API_HOST (0 turns it off). */
  PG_PORT: z.coerce.number({ error: 'must be a port number' }).int().min(0).max(65535).default(5433),
  /** The bearer token Prometheus sends to scrape GET /api/metrics (unset: that route answers 404). */
  METRICS_TOKEN: z.string().min(16, { error: 'must be at least 16 characters' }).optional(),
  /** Serve the metrics, without a token, at /metrics on this port at API_HOST instead (0: not). */
  METRICS_PORT: z.coerce.number({ error: 'must be a port number' }).int().min(0).max(65535).default(0),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Lifetime of a sign-in token, in hours. */
  SESSION_TTL_HOURS: z.coerce.number().int().min(1).max(24 * 365).default(24 * 7),
  ALLOW_SIGNUP: bool.default(false),
  /**
   * Which peers may set X-Forwarded-For (the address sign-in rate limits count by): "loopback" (the portal's
   * proxy on the same host; the default), "none", or a comma-separated list of addresses and CIDR ranges.
   */
  TRUST_PROXY: z
    .string()
    .trim()
    .regex(/^(none|loopback|[0-9a-fA-F.:/]+(,\s*[0-9a-fA-F.:/]+)*)$/, { error: 'must be none, loopback, or addresses/CIDR ranges separated by commas' })
    .default('loopback'),
  /** How long an API instance remembers a valid sign-in token (a revocation elsewhere takes effect within it). */
  SESSION_CACHE_MS: z.coerce.number().int().min(0).max(60_000).default(5_000),
  /** Serve HTTPS (and the members' wss://) with this certificate chain and key, PEM files; both or neither. */
  TLS_CERT_FILE: z.string().min(1).optional(),
  TLS_KEY_FILE: z.string().min(1).optional(),
  /** The largest live result, in bytes of JSON rows, one query may return (past it: 413, and the query stops on the member). */
  LIVE_MAX_BYTES: z.coerce.number().int().min(1024).max(1024 * 1024 * 1024).default(64 * 1024 * 1024),
  /**
   * Members' heartbeat period and the presence TTL: a connected member that has sent nothing (heartbeat, pong,
   * result) for the TTL is taken for frozen or cut off: its connection is closed and it is offline.
   */
  HEARTBEAT_MS: z.coerce.number().int().min(50).max(10_000).default(300),
  PRESENCE_TTL_MS: z.coerce.number().int().min(200).max(60_000).default(1200),
  /** How often members check that they can reach each data source of their cluster (routing skips those that cannot). */
  SOURCE_CHECK_MS: z.coerce.number().int().min(250).max(600_000).default(10_000),
  /** The largest snapshot a refresh may store, in bytes (compressed). */
  SNAPSHOT_MAX_BYTES: z.coerce.number().int().min(1024).default(1024 * 1024 * 1024),
  /** How often the scheduler looks for due schedules, and the reconciler compares PostgreSQL with Redis. */
  SCHEDULER_INTERVAL_MS: z.coerce.number().int().min(50).max(60_000).default(250),
  /**
   * How far ahead of its tick the scheduler queues a scheduled refresh (as a job BullMQ holds until the tick), so
   * that a tick shared by many datasets starts on time instead of after all of them were written and queued.
   */
  SCHEDULER_LEAD_MS: z.coerce.number().int().min(0).max(60_000).default(3_000),
  RECONCILE_INTERVAL_MS: z.coerce.number().int().min(200).max(600_000).default(5_000),
  /** A running refresh with no progress for this long is handed to another member. */
  REFRESH_STALL_MS: z.coerce.number().int().min(1_000).max(3_600_000).default(15_000),
  /** Skip creating and migrating the database at boot (when a release job does it). */
  SKIP_MIGRATIONS: bool.default(false),
});

export type Config = z.infer<typeof ConfigSchema>;

export class ConfigError extends Error {}

/** Parses the environment; a bad value becomes one line naming the variable and what it must be. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const present = Object.fromEntries(Object.keys(ConfigSchema.shape).filter((k) => env[k] !== undefined && env[k] !== '').map((k) => [k, env[k]]));
  const result = ConfigSchema.safeParse(present);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ConfigError(`invalid environment: ${String(issue.path[0])} ${issue.message} (got ${JSON.stringify(present[String(issue.path[0])])})`);
  }
  if (result.data.REDIS_CLUSTER_NODES && result.data.REDIS_SENTINELS) {
    throw new ConfigError('invalid environment: REDIS_CLUSTER_NODES and REDIS_SENTINELS exclude each other: a Redis Cluster or a Sentinel group, not both');
  }
  if (!result.data.TLS_CERT_FILE !== !result.data.TLS_KEY_FILE) {
    throw new ConfigError('invalid environment: TLS_CERT_FILE and TLS_KEY_FILE go together: set both to serve HTTPS, or neither');
  }
  return result.data;
}

/** The API's URL as its clients see it: API_PUBLIC_URL, else the address it listens on. */
export const publicUrl = (config: Config) =>
  config.API_PUBLIC_URL ?? `${config.TLS_CERT_FILE ? 'https' : 'http'}://${config.API_HOST.includes(':') ? `[${config.API_HOST}]` : config.API_HOST}:${config.API_PORT}`;

export const CONFIG = Symbol('CONFIG');
