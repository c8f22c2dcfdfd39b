import { existsSync } from 'node:fs';
import { sqliteDriver, type SqliteDatabase, type SqliteStatement } from './sqlite-driver';
import { assertReadOnly, cancelledError, checkDeadline, ConnectorError, toJsonValue, type BatchHandler, type Column, type Connector, type QueryOptions, type RowSet, type StreamOptions } from './types';

/** Prepares a statement that returns rows (as arrays); anything else is refused. */
function readerStatement(db: SqliteDatabase, sql: string): SqliteStatement {
  let stmt: SqliteStatement;
  try {
    stmt = db.prepare(sql);
  } catch (e) {
    throw new ConnectorError('query_failed', (e as Error).message);
  }
  if (!stmt.reader) throw new ConnectorError('read_only', 'the gateway runs read-only queries: this statement returns no rows');
  return stmt;
}

/**
 * SQLite files on the agent's host, opened read-only (with better-sqlite3, or Node's own node:sqlite: see
 * sqliteDriver). Both are synchronous, so the timeout is checked between rows: a single step that runs long cannot
 * be interrupted.
 */
export class SqliteConnector implements Connector {
  private db: SqliteDatabase | null = null;

  constructor(private readonly path: string) {}

  private connect(): SqliteDatabase {
    const { open } = sqliteDriver();
    if (!existsSync(this.path)) throw new ConnectorError('unreachable', `no SQLite file at ${this.path} on this host`);
    try {
      return open(this.path);
    } catch (e) {
      throw new ConnectorError('unreachable', `cannot open ${this.path}: ${(e as Error).message}`);
    }
  }

  private open(): SqliteDatabase {
    if (this.db) return this.db;
    try {
      this.db = this.connect();
      return this.db;
    } catch (e) {
      if (e instanceof ConnectorError) throw e;
      throw new ConnectorError('unreachable', `cannot open ${this.path}: ${(e as Error).message}`);
    }
  }

  async test() {
    for (const _ of this.open().prepare('SELECT 1').iterate()) break;
  }

  async query(sql: string, { maxRows, timeoutMs }: QueryOptions): Promise<RowSet> {
    assertReadOnly(sql);
    const stmt = readerStatement(this.open(), sql);
    const deadline = Date.now() + timeoutMs;
    const rows: unknown[][] = [];
    let truncated = false;
    try {
      for (const row of stmt.iterate()) {
        if (rows.length === maxRows) {
          truncated = true;
          break;
        }
        rows.push(row.map(toJsonValue));
        if ((rows.length & 1023) === 0 && Date.now() > deadline) throw new ConnectorError('timeout', 'the query was cancelled after the statement timeout');
      }
    } catch (e) {
      if (e instanceof ConnectorError) throw e;
      throw new ConnectorError('query_failed', (e as Error).message);
    }
    return { columns: stmt.columns(), rows, truncated };
  }

  async stream(sql: string, { timeoutMs, batchRows, signal }: StreamOptions, onBatch: BatchHandler): Promise<Column[]> {
    assertReadOnly(sql);
    this.open();
    // A connection of its own: an iterator keeps its connection busy between batches.
    const db = this.connect();
    const deadline = Date.now() + timeoutMs;
    try {
      const stmt = readerStatement(db, sql);
      const columns = stmt.columns();
      let batch: unknown[][] = [];
      for (const row of stmt.iterate()) {
        batch.push(row.map(toJsonValue));
        if (batch.length >= batchRows) {
          if (signal?.aborted) throw cancelledError();
          checkDeadline(deadline);
          await onBatch(columns, batch);
          batch = [];
        }
      }
      if (batch.length) await onBatch(columns, batch);
      return columns;
    } finally {
      db.close();
    }
  }

  async close() {
    this.db?.close();
    this.db = null;
  }
}
