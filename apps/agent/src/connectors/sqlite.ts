import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { assertReadOnly, cancelledError, checkDeadline, ConnectorError, toJsonValue, type BatchHandler, type Column, type Connector, type QueryOptions, type RowSet, type StreamOptions } from './types';

/** Prepares a statement that returns rows (as arrays); anything else is refused. */
function readerStatement(db: Database.Database, sql: string): Database.Statement {
  let stmt: Database.Statement;
  try {
    stmt = db.prepare(sql);
  } catch (e) {
    throw new ConnectorError('query_failed', (e as Error).message);
  }
  if (!stmt.reader) throw new ConnectorError('read_only', 'the gateway runs read-only queries: this statement returns no rows');
  return stmt.raw(true);
}

/**
 * SQLite files on the agent's host, opened read-only. better-sqlite3 is synchronous, so the timeout is
 * checked between rows: a single step that runs long cannot be interrupted.
 */
export class SqliteConnector implements Connector {
  private db: Database.Database | null = null;

  constructor(private readonly path: string) {}

  private open(): Database.Database {
    if (this.db) return this.db;
    if (!existsSync(this.path)) throw new ConnectorError('unreachable', `no SQLite file at ${this.path} on this host`);
    try {
      this.db = new Database(this.path, { readonly: true, fileMustExist: true });
      return this.db;
    } catch (e) {
      throw new ConnectorError('unreachable', `cannot open ${this.path}: ${(e as Error).message}`);
    }
  }

  async test() {
    this.open().prepare('SELECT 1').get();
  }

  async query(sql: string, { maxRows, timeoutMs }: QueryOptions): Promise<RowSet> {
    assertReadOnly(sql);
    const stmt = readerStatement(this.open(), sql);
    const deadline = Date.now() + timeoutMs;
    const rows: unknown[][] = [];
    let truncated = false;
    try {
      for (const row of stmt.iterate() as IterableIterator<unknown[]>) {
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
    return { columns: stmt.columns().map((c) => ({ name: c.name, type: c.type ?? undefined })), rows, truncated };
  }

  async stream(sql: string, { timeoutMs, batchRows, signal }: StreamOptions, onBatch: BatchHandler): Promise<Column[]> {
    assertReadOnly(sql);
    this.open();
    // A connection of its own: an iterator keeps its connection busy between batches.
    const db = new Database(this.path, { readonly: true, fileMustExist: true });
    const deadline = Date.now() + timeoutMs;
    try {
      const stmt = readerStatement(db, sql);
      const columns = stmt.columns().map((c) => ({ name: c.name, type: c.type ?? undefined }));
      let batch: unknown[][] = [];
      for (const row of stmt.iterate() as IterableIterator<unknown[]>) {
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
