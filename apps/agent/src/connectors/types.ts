import type { QueryErrorCode } from '@gateway/domain';

export interface QueryOptions {
  maxRows: number;
  timeoutMs: number;
}

export interface Column {
  name: string;
  type?: string;
}

export interface RowSet {
  columns: Column[];
  rows: unknown[][];
  truncated: boolean;
}

/**
 * One engine behind the gateway. Implementations run every query read-only, stop after maxRows (+1 to
 * know whether there was more) and give up after timeoutMs. SQL Server and Oracle can follow this shape.
 */
export interface StreamOptions {
  timeoutMs: number;
  batchRows: number;
  signal?: AbortSignal;
}

/** Receives one batch of rows; the next batch is read only after it resolves (backpressure). */
export type BatchHandler = (columns: Column[], rows: unknown[][]) => Promise<void>;

/** Receives one batch already encoded as NDJSON (one JSON array per row and line) and its row count. */
export type NdjsonHandler = (ndjson: string, rows: number) => Promise<void>;

export interface Connector {
  test(timeoutMs: number): Promise<void>;
  query(sql: string, options: QueryOptions): Promise<RowSet>;
  /** Reads the whole result in batches, never holding more than one batch; returns the columns. */
  stream(sql: string, options: StreamOptions, onBatch: BatchHandler): Promise<Column[]>;
  /** Like stream, with the rows encoded by the engine's fastest path (optional: stream is the fallback). */
  streamNdjson?(sql: string, options: StreamOptions, onBatch: NdjsonHandler): Promise<Column[]>;
  close(): Promise<void>;
}

export const cancelledError = () => new ConnectorError('bad_request', 'the refresh was cancelled');

/** Throws once the overall deadline of a stream has passed. */
export function checkDeadline(deadline: number) {
  if (Date.now() > deadline) throw new ConnectorError('timeout', 'the refresh ran longer than its timeout');
}

/** A failure the caller should see, with a code the API maps to an HTTP status. */
export class ConnectorError extends Error {
  constructor(
    readonly code: QueryErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ConnectorError';
  }
}

/** JSON-safe cell values: dates as ISO strings, bytes as base64, big integers as strings. */
export function toJsonValue(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString();
  if (Buffer.isBuffer(v)) return v.toString('base64');
  if (typeof v === 'bigint') return v.toString();
  return v;
}

const WRITE_KEYWORDS = /^\s*(insert|update|delete|merge|upsert|replace|create|drop|alter|truncate|grant|revoke|rename|call|do|copy|vacuum|reindex|cluster|comment|lock|set|reset|begin|start|commit|rollback|savepoint|release|prepare|execute|deallocate|load|handler|install|uninstall|attach|detach|pragma)\b/i;
const READ_KEYWORDS = /^\s*(\(\s*)*(select|with|values|table|show|describe|desc|explain)\b/i;

/** Strips leading comments so the first keyword can be read. */
export function firstStatement(sql: string): string {
  return sql.replace(/^(\s*(--[^\n]*\n|\/\*[\s\S]*?\*\/))*/, '').trim();
}

/** Refuses statements that are not reads, before they reach the engine (engines also enforce read-only). */
export function assertReadOnly(sql: string) {
  const s = firstStatement(sql);
  if (WRITE_KEYWORDS.test(s) || !READ_KEYWORDS.test(s)) {
    const word = /^\s*(\w+)/.exec(s)?.[1]?.toUpperCase() ?? 'this statement';
    throw new ConnectorError('read_only', `the gateway runs read-only queries: ${word} is refused (use SELECT, WITH, VALUES, SHOW, DESCRIBE or EXPLAIN)`);
  }
}

export const stripTrailingSemicolons = (sql: string) => sql.replace(/[;\s]+$/, '');
