import { z } from 'zod';
import { JobDataSource, SourceHealth } from './jobs';
import { SealedBox } from './crypto/envelopes';
import { MemberView } from './clusters';
import { RoutingSettings } from './routing';

/**
 * The member protocol: every message between a member and the control plane, both ways, on the member's one
 * outbound WebSocket (MEMBER_CONNECT_PATH). JSON text frames, each one message of the unions below, validated
 * on receipt at both ends.
 *
 * Versioned: the member says which protocol versions it speaks in `hello`; the control plane picks the highest
 * both speak, or closes the connection naming both ranges. Bump PROTOCOL_VERSION for a change an older peer
 * would misread, and keep PROTOCOL_MIN at the oldest version the code still speaks.
 */
export const PROTOCOL_VERSION = 2;
export const PROTOCOL_MIN = 1;

export const MEMBER_CONNECT_PATH = '/api/agents/connect';

/** Close codes (4000-4999 are the application's): the reason string says what went wrong and what to do. */
export const CLOSE = {
  /** A frame that is not JSON or not a message of the protocol. */
  malformed: 4400,
  /** The member could not prove who it is (unknown member, bad signature, replayed challenge). */
  unauthorized: 4401,
  /** The member was removed from its cluster, or its cluster deleted: do not reconnect. */
  removed: 4404,
  /** No protocol version both sides speak. */
  version: 4426,
  /** The member sent something about work that is not its own (another member's, or no longer its). */
  refused: 4403,
  /** A newer connection of the same member replaced this one. */
  replaced: 4409,
  /** The control plane is shutting down: reconnect (to another instance). */
  goingAway: 1001,
} as const;

/** The largest frame either side accepts. Result rows travel in frames well under it (LIVE_FRAME_BYTES). */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024;
/** A member cuts a live result into frames of about this size, so a large result never holds up small ones. */
export const LIVE_FRAME_BYTES = 256 * 1024;
/** The default byte limit of one live result (LIVE_MAX_BYTES). */
export const DEFAULT_LIVE_MAX_BYTES = 64 * 1024 * 1024;

/** The text a member signs to authenticate: the per-connection nonce, bound to the member and the protocol. */
export const memberConnectMessage = (memberId: string, nonce: string) => `gateway-member-connect:v1:${memberId}:${nonce}`;

const ReqId = z.string().min(1).max(100);
/**
 * Result rows: arrays of JSON values. Checked in place rather than parsed into copies: a live result frame holds up to
 * hundreds of KB of rows, and the copy would double what the receiver holds.
 */
const Rows = z.custom<unknown[][]>((v) => Array.isArray(v) && v.every((r) => Array.isArray(r)), { error: 'must be an array of row arrays' });
/** `oid`, `mod` and `size` (PostgreSQL's type id, modifier and length) come with results of work in wire form (`pg`). */
const Columns = z.array(z.object({ name: z.string(), type: z.string().optional(), oid: z.number().int().optional(), mod: z.number().int().optional(), size: z.number().int().optional() }));
export const LiveErrorCode = z.enum(['query_failed', 'read_only', 'timeout', 'unreachable', 'bad_request', 'credentials', 'too_large']);
export type LiveErrorCode = z.infer<typeof LiveErrorCode>;
/** What a member's connector reports when live work fails. */
export type QueryErrorCode = LiveErrorCode;

export const MemberSettings = z.object({
  member: MemberView,
  cluster: z.object({ id: z.string(), name: z.string(), routing: RoutingSettings }),
  members: z.array(z.object({ id: z.string(), name: z.string(), primary: z.boolean(), enabled: z.boolean(), joinOrder: z.number() })),
  heartbeatMs: z.number().int().positive(),
  /** The cluster's data sources (credentials sealed to the cluster key), which the member checks it can reach. */
  dataSources: z.array(JobDataSource).optional(),
  /** How often the member checks each data source (and once more right after a live query could not reach it). */
  sourceCheckMs: z.number().int().positive().optional(),
});
export type MemberSettings = z.infer<typeof MemberSettings>;

/**
 * The data source of live work: in full (its connection and sealed credentials) the first time a connection
 * carries work on it, and after it changed; afterwards only its id and version, which the member already holds.
 */
export const DataSourceRef = z.object({ id: z.string(), version: z.string() }).strict();
export type DataSourceRef = z.infer<typeof DataSourceRef>;
const DataSourceOnLink = z.union([JobDataSource, DataSourceRef]);
/** Whether live work carries its data source in full (else only its id and version). */
export const isFullDataSource = (ds: JobDataSource | DataSourceRef): ds is JobDataSource => 'type' in ds;

/**
 * A query from the PostgreSQL front door (protocol 2 and later): its parameters in text form (null for NULL) with
 * the type ids the client declared (0: unspecified), the session settings the client changed (applied with SET
 * LOCAL on PostgreSQL sources), and whether only to describe it. Its answer is in wire form: columns with their
 * PostgreSQL type ids, rows of text values as PostgreSQL would print them, errors with their SQLSTATE.
 */
export const PgWork = z.object({
  params: z.array(z.string().nullable()).max(65_535).optional(),
  paramTypes: z.array(z.number().int()).max(65_535).optional(),
  settings: z.record(z.string().max(64), z.string().max(1000)).optional(),
  describe: z.boolean().optional(),
});
export type PgWork = z.infer<typeof PgWork>;
/** The member protocol version from which members take PgWork. */
export const PG_WORK_PROTOCOL = 2;

/** Live work: a query, a connection test or a no-op, answered on the same connection. */
export const LiveWork = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('query'), dataSource: DataSourceOnLink, sql: z.string(), maxRows: z.number().int().positive(), timeoutMs: z.number().int().positive(), maxBytes: z.number().int().positive(), pg: PgWork.optional() }),
  z.object({ kind: z.literal('test-connection'), dataSource: DataSourceOnLink, timeoutMs: z.number().int().positive() }),
  z.object({ kind: z.literal('ping') }),
]);
export type LiveWork = z.infer<typeof LiveWork>;
export type LiveKind = LiveWork['kind'];

/** Control plane -> member. */
export const ServerMessage = z.discriminatedUnion('t', [
  /** First frame: the nonce to sign. */
  z.object({ t: z.literal('challenge'), nonce: z.string().min(16).max(200), protocol: z.object({ min: z.number().int(), max: z.number().int() }) }),
  /** Authenticated: the protocol picked, the cluster as the member needs it, a token for its HTTPS calls. */
  z.object({ t: z.literal('welcome'), protocol: z.number().int(), instanceId: z.string(), settings: MemberSettings, token: z.string(), tokenExpiresAt: z.string() }),
  /** The cluster's settings changed (routing, members). */
  z.object({ t: z.literal('settings'), settings: MemberSettings }),
  /** A fresh token for HTTPS calls (sent before the previous one expires). */
  z.object({ t: z.literal('token'), token: z.string(), tokenExpiresAt: z.string() }),
  z.object({ t: z.literal('live'), id: ReqId, work: LiveWork }),
  /** The caller went away or gave up: stop the live work `id`. */
  z.object({ t: z.literal('cancel'), id: ReqId }),
  /** Run one attempt of a refresh (its rows go up over HTTPS, see AGENT_ROUTES); answered with refresh-end. */
  z.object({ t: z.literal('refresh'), id: ReqId, refreshId: z.string() }),
  /**
   * The cluster key was rotated: the new private key sealed to this member's box key, and its public key. The member
   * keeps the previous key as well until its data sources all come sealed to the new one.
   */
  z.object({ t: z.literal('cluster-key'), generation: z.number().int(), publicKey: z.string(), box: SealedBox }),
  /** Stop the refresh run `id` (the member lost it: routing moved, the job went elsewhere). */
  z.object({ t: z.literal('refresh-stop'), id: ReqId }),
]);
export type ServerMessage = z.infer<typeof ServerMessage>;

/** Member -> control plane. */
export const MemberMessage = z.discriminatedUnion('t', [
  /** First frame: who the member says it is, and what it speaks. */
  z.object({
    t: z.literal('hello'),
    memberId: z.string().min(1).max(100),
    protocol: z.object({ min: z.number().int(), max: z.number().int() }),
    agentVersion: z.string().max(50),
    /** The member's key to receive a rotated cluster key with (RSA SPKI PEM); agents without one send none. */
    boxKey: z.string().max(2000).optional(),
  }),
  /** The challenge's nonce signed with the member key (memberConnectMessage). */
  z.object({ t: z.literal('auth'), signature: z.string().min(1).max(1000) }),
  /** Every heartbeat: load and busy slots (the connection itself says the member is online). */
  z.object({ t: z.literal('presence'), cpu: z.number(), memory: z.number(), busy: z.number().int().min(0), slots: z.number().int().min(0), draining: z.boolean().optional(), sources: z.array(SourceHealth).max(1000).optional() }),
  /** A whole live result in one frame (most results). */
  z.object({ t: z.literal('result'), id: ReqId, columns: Columns, rows: Rows, truncated: z.boolean(), executeMs: z.number() }),
  /** A large live result: its columns first, then rows frames, then end. */
  z.object({ t: z.literal('columns'), id: ReqId, columns: Columns }),
  z.object({ t: z.literal('rows'), id: ReqId, rows: Rows }),
  z.object({ t: z.literal('end'), id: ReqId, truncated: z.boolean(), executeMs: z.number() }),
  /** `sqlstate` and the fields after it: what the data source said, for the PostgreSQL front door to pass on. */
  z.object({ t: z.literal('error'), id: ReqId, code: LiveErrorCode, message: z.string().max(10_000), executeMs: z.number(), sqlstate: z.string().max(5).optional(), detail: z.string().max(10_000).optional(), hint: z.string().max(10_000).optional(), position: z.string().max(20).optional() }),
  /** What a describe-only query (PgWork.describe) found: the types of its parameters (and its columns, in `result`). */
  z.object({ t: z.literal('params'), id: ReqId, types: z.array(z.number().int()).max(65_535) }),
  /** How a refresh run ended on the member: done, to retry (transient), final failure, handed back, or stopped. */
  z.object({ t: z.literal('refresh-end'), id: ReqId, outcome: z.enum(['done', 'retry', 'failed', 'requeue', 'stopped', 'not-run']), message: z.string().max(10_000).optional() }),
  /** Asks for a fresh token for HTTPS calls. */
  z.object({ t: z.literal('token-request') }),
  /** The member holds the cluster key of this generation now (see cluster-key). */
  z.object({ t: z.literal('cluster-key-ack'), generation: z.number().int() }),
]);
export type MemberMessage = z.infer<typeof MemberMessage>;

export type ServerMessageOf<T extends ServerMessage['t']> = Extract<ServerMessage, { t: T }>;
export type MemberMessageOf<T extends MemberMessage['t']> = Extract<MemberMessage, { t: T }>;

/** Names the first problem of a frame that is not a valid message, for the close reason (at most 123 bytes). */
export function describeInvalid(error: z.ZodError): string {
  const issue = error.issues[0];
  const where = issue?.path.length ? issue.path.join('.') : 'message';
  return `invalid ${where}: ${issue?.message ?? 'not a protocol message'}`.slice(0, 120);
}

/** Parses one frame; the error names what is wrong. */
export function parseFrame<T>(schema: z.ZodType<T>, data: string): { ok: true; message: T } | { ok: false; reason: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(data);
  } catch {
    return { ok: false, reason: 'malformed frame: not JSON' };
  }
  const parsed = schema.safeParse(raw);
  return parsed.success ? { ok: true, message: parsed.data } : { ok: false, reason: describeInvalid(parsed.error) };
}
