import type { PgWork, QueryErrorCode } from '@gateway/domain';

/** Takes a live result's rows as they come (engines that can stream); a promise returned holds the engine back. */
export interface RowSink {
  columns(columns: Column[]): void;
  rows(batch: unknown[][], rawBytes?: number): void | Promise<void>;
}

export interface QueryOptions {
  maxRows: number;
  timeoutMs: number;
  /** Aborting stops the query on the engine. */
  signal?: AbortSignal;
  /** Where an engine that streams puts the rows (the result it returns then has none). */
  sink?: RowSink;
  /**
   * A query of the PostgreSQL front door: parameters, session settings, describe only; the answer in wire form
   * (columns with PostgreSQL type ids, rows of PostgreSQL text values, see wire.ts).
   */
  pg?: PgWork;
}

export interface Column {
  name: string;
  type?: string;
  /** In wire form: the PostgreSQL type id, modifier and length. */
  oid?: number;
  mod?: number;
  size?: number;
}

export interface RowSet {
  columns: Column[];
  rows: unknown[][];
  truncated: boolean;
  /** A described statement's parameter types (PgWork.describe). */
  paramTypes?: number[];
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

/** Receives one batch in the engine's own dump format, and its row count. */
export type RawBatchHandler = (data: Buffer, rows: number) => Promise<void>;

/** Column with the engine's type id, which reading a raw snapshot needs. */
export interface TypedColumn extends Column {
  oid: number;
}

export interface Connector {
  test(timeoutMs: number): Promise<void>;
  query(sql: string, options: QueryOptions): Promise<RowSet>;
  /** Reads the whole result in batches, never holding more than one batch; returns the columns. */
  stream(sql: string, options: StreamOptions, onBatch: BatchHandler): Promise<Column[]>;
  /**
   * Like stream, with the rows in the engine's own dump format, untouched (optional: stream is the fallback).
   * Returns the format's name, as snapshots record it, and the columns with their type ids.
   */
  streamRaw?(sql: string, options: StreamOptions, onBatch: RawBatchHandler): Promise<{ format: 'pgcopy'; columns: TypedColumn[] }>;
  close(): Promise<void>;
}

export const cancelledError = () => new ConnectorError('bad_request', 'the refresh was cancelled');

/** Throws once the overall deadline of a stream has passed. */
export function checkDeadline(deadline: number) {
  if (Date.now() > deadline) throw new ConnectorError('timeout', 'the refresh ran longer than its timeout');
}

/** What a PostgreSQL source said about an error, passed on by the front door. */
export interface SourceErrorFields {
  sqlstate?: string;
  detail?: string;
  hint?: string;
  position?: string;
}

/** A failure the caller should see, with a code the API maps to an HTTP status. */
export class ConnectorError extends Error {
  constructor(
    readonly code: QueryErrorCode,
    message: string,
    readonly fields: SourceErrorFields = {},
  ) {
    super(message);
    this.name = 'ConnectorError';
  }
}

/** JSON-safe cell values (the same mapping the API applies when it reads a COPY snapshot). */
export { toJsonValue } from '@gateway/domain';

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

const ESCAPES_TRANSACTION = /^\s*(commit|end|rollback|abort|begin|start|set|reset|savepoint|release|prepare|discard|checkpoint|vacuum|copy|call|do|lock|listen|notify|unlisten|load)\b/i;

/**
 * For PostgreSQL, which refuses every write inside the READ ONLY transaction a query runs in (with SQLSTATE 25006 and
 * its own message): only the statements that could end that transaction, or act outside it, are refused here.
 */
export function assertStaysInTransaction(sql: string) {
  const s = firstStatement(sql);
  if (ESCAPES_TRANSACTION.test(s)) {
    const word = /^\s*(\w+)/.exec(s)![1].toUpperCase();
    throw new ConnectorError('read_only', `the gateway runs read-only queries: ${word} is refused`, { sqlstate: '25006' });
  }
}

export const stripTrailingSemicolons = (sql: string) => sql.replace(/[;\s]+$/, '');
