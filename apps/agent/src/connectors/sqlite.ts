import { existsSync } from 'node:fs';
import { sqliteDriver, type SqliteDatabase, type SqliteStatement } from './sqlite-driver';
import { describedParamTypes, sqliteTypeOid, toAnonymousPlaceholders, toWireRows } from './wire';
import { assertReadOnly, cancelledError, checkDeadline, ConnectorError, toJsonValue, type BatchHandler, type Column, type Connector, type QueryOptions, type RowSet, type StreamOptions } from './types';

/** Prepares a statement that returns rows (as arrays); anything else is refused. */
function readerStatement(db: SqliteDatabase, sql: string): SqliteStatement {
  let stmt: SqliteStatement;
  try {
    stmt = db.prepare(sql);
  } catch (e) {
    const message = (e as Error).message;
    // The SQLSTATE PostgreSQL gives the same mistakes, for the front door.
    const sqlstate = /syntax error|incomplete input/.test(message) ? '42601' : /no such table/.test(message) ? '42P01' : /no such column/.test(message) ? '42703' : undefined;
    throw new ConnectorError('query_failed', message, { sqlstate });
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

  async query(sql: string, { maxRows, timeoutMs, pg }: QueryOptions): Promise<RowSet> {
    assertReadOnly(sql);
    // The front door's $n placeholders become SQLite's ?; a describe runs the statement with NULLs for one row.
    const bound = pg ? toAnonymousPlaceholders(sql, pg.describe ? 'nulls' : (pg.params ?? [])) : null;
    if (pg?.describe) maxRows = 1;
    const stmt = readerStatement(this.open(), bound ? bound.sql : sql);
    const deadline = Date.now() + timeoutMs;
    const rows: unknown[][] = [];
    let truncated = false;
    try {
      for (const row of stmt.iterate(bound?.values)) {
        if (rows.length === maxRows) {
          truncated = true;
          break;
        }
        rows.push(pg ? row : row.map(toJsonValue));
        if ((rows.length & 1023) === 0 && Date.now() > deadline) throw new ConnectorError('timeout', 'the query was cancelled after the statement timeout');
      }
    } catch (e) {
      if (e instanceof ConnectorError) throw e;
      throw new ConnectorError('query_failed', (e as Error).message);
    }
    if (pg) {
      const columns = stmt.columns().map((c, i) => ({ name: c.name, type: c.type, oid: sqliteTypeOid(c.type, rows.map((r) => r[i])), mod: -1, size: -1 }));
      if (pg.describe) return { columns, rows: [], truncated: false, paramTypes: describedParamTypes(pg.paramTypes, bound!.count) };
      return { columns, rows: toWireRows(columns, rows), truncated };
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
