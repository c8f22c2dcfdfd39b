import { createPool, type Pool, type PoolConnection, type FieldPacket } from 'mysql2/promise';
import { describedParamTypes, mysqlTypeOid, toAnonymousPlaceholders, toWireRows } from './wire';
import { assertReadOnly, cancelledError, checkDeadline, ConnectorError, toJsonValue, type BatchHandler, type Column, type Connector, type QueryOptions, type RowSet, type StreamOptions } from './types';

export interface MysqlSettings {
  host: string;
  port: number;
  database: string;
  username: string;
  password: string;
}

function classify(e: unknown, where: string): ConnectorError {
  if (e instanceof ConnectorError) return e;
  const err = e as { code?: string; errno?: number; message?: string };
  const code = err.code ?? '';
  if (code === 'ER_STATEMENT_TIMEOUT' || code === 'PROTOCOL_SEQUENCE_TIMEOUT' || err.errno === 1969 || err.errno === 3024) {
    return new ConnectorError('timeout', 'the query was cancelled after the statement timeout');
  }
  if (code === 'ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION') return new ConnectorError('read_only', `the gateway runs read-only queries: ${err.message}`);
  if (code === 'ER_ACCESS_DENIED_ERROR') return new ConnectorError('credentials', `authentication failed: ${err.message}`);
  if (['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'ER_BAD_DB_ERROR', 'PROTOCOL_CONNECTION_LOST'].includes(code)) {
    return new ConnectorError('unreachable', `cannot connect to ${where}: ${err.message || code}`);
  }
  return new ConnectorError('query_failed', err.message ?? String(e), { sqlstate: pgState(err) });
}

/** The PostgreSQL SQLSTATE of a MySQL error, for the front door: the common ones by number, else MySQL's own. */
function pgState(err: { errno?: number; sqlState?: string }): string | undefined {
  const byErrno: Record<number, string> = { 1064: '42601', 1146: '42P01', 1054: '42703', 1049: '3D000', 1305: '42883', 1052: '42702' };
  return (err.errno !== undefined ? byErrno[err.errno] : undefined) ?? (err.sqlState && /^[0-9A-Z]{5}$/.test(err.sqlState) ? err.sqlState : undefined);
}

/** MySQL and MariaDB: each query in a READ ONLY transaction with a server-side statement timeout. */
export class MysqlConnector implements Connector {
  /** Live queries and connection tests. */
  private readonly pool: Pool;
  /** Refreshes have connections of their own, so long refreshes never leave live queries waiting for one. */
  private readonly refreshPool: Pool;
  private readonly where: string;
  private mariadb: boolean | undefined;

  constructor(s: MysqlSettings, liveConnections = 16) {
    this.where = `${s.host}:${s.port}/${s.database}`;
    const pool = () =>
      createPool({
        host: s.host,
        port: s.port,
        database: s.database,
        user: s.username,
        password: s.password,
        connectionLimit: liveConnections + 1,
        connectTimeout: 5_000,
        multipleStatements: false,
        dateStrings: false,
        supportBigNumbers: true,
        bigNumberStrings: true,
      });
    this.pool = pool();
    this.refreshPool = pool();
  }

  private async connection(pool = this.pool): Promise<PoolConnection> {
    try {
      const c = await pool.getConnection();
      if (this.mariadb === undefined) {
        const [rows] = await c.query('SELECT VERSION() AS v');
        this.mariadb = /mariadb/i.test(String((rows as { v: string }[])[0].v));
      }
      return c;
    } catch (e) {
      throw classify(e, this.where);
    }
  }

  async test(timeoutMs: number) {
    const c = await this.connection();
    try {
      await c.query({ sql: 'SELECT 1', timeout: timeoutMs });
    } catch (e) {
      throw classify(e, this.where);
    } finally {
      c.release();
    }
  }

  async query(sql: string, { maxRows, timeoutMs, pg }: QueryOptions): Promise<RowSet> {
    assertReadOnly(sql);
    // The front door's $n placeholders become MySQL's ?; a describe runs the statement with NULLs for one row.
    const bound = pg ? toAnonymousPlaceholders(sql, pg.describe ? 'nulls' : (pg.params ?? [])) : null;
    if (pg?.describe) maxRows = 1;
    const c = await this.connection();
    let destroy = false;
    try {
      if (this.mariadb) await c.query(`SET SESSION max_statement_time = ${timeoutMs / 1000}`);
      else await c.query(`SET SESSION max_execution_time = ${Math.floor(timeoutMs)}`);
      await c.query('START TRANSACTION READ ONLY');
      // Client-side timeout as a backstop; mysql2 destroys the connection when it fires.
      const [rows, fields] = (await c.query(
        bound ? { sql: bound.sql, values: bound.values, rowsAsArray: true, timeout: timeoutMs + 1_000, dateStrings: true } : { sql, rowsAsArray: true, timeout: timeoutMs + 1_000 },
      )) as [unknown[][], FieldPacket[]];
      await c.query('ROLLBACK');
      const list = Array.isArray(rows) ? rows : [];
      if (pg) {
        const columns = (fields ?? []).map((f) => ({ name: f.name, type: String(f.type ?? ''), oid: mysqlTypeOid(f.type, f.characterSet), mod: -1, size: -1 }));
        const result = pg.describe ? [] : list.slice(0, maxRows);
        return { columns, rows: toWireRows(columns, result), truncated: !pg.describe && list.length > maxRows, ...(pg.describe ? { paramTypes: describedParamTypes(pg.paramTypes, bound!.count) } : {}) };
      }
      return {
        columns: (fields ?? []).map((f) => ({ name: f.name, type: String(f.type ?? '') || undefined })),
        rows: list.slice(0, maxRows).map((r) => r.map(toJsonValue)),
        truncated: list.length > maxRows,
      };
    } catch (e) {
      destroy = true;
      throw classify(e, this.where);
    } finally {
      if (destroy) c.destroy();
      else c.release();
    }
  }

  async stream(sql: string, { timeoutMs, batchRows, signal }: StreamOptions, onBatch: BatchHandler): Promise<Column[]> {
    assertReadOnly(sql);
    const c = await this.connection(this.refreshPool);
    // From the moment it has a connection (it may have waited for one behind other refreshes).
    const deadline = Date.now() + timeoutMs;
    if (signal?.aborted) {
      c.release();
      throw cancelledError();
    }
    const onAbort = () => c.destroy();
    signal?.addEventListener('abort', onAbort);
    let ok = false;
    try {
      if (this.mariadb) await c.query(`SET SESSION max_statement_time = ${timeoutMs / 1000}`);
      else await c.query(`SET SESSION max_execution_time = ${Math.floor(timeoutMs)}`);
      await c.query('START TRANSACTION READ ONLY');
      // The core (callback) connection streams rows; for-await pauses the socket while a batch is sent.
      const core = (c as unknown as { connection: { query(o: object): { on(e: string, f: (x: unknown) => void): void; stream(o: object): AsyncIterable<unknown[]> } } }).connection;
      const q = core.query({ sql, rowsAsArray: true });
      let columns: Column[] = [];
      q.on('fields', (fields) => {
        columns = ((fields as FieldPacket[]) ?? []).map((f) => ({ name: f.name, type: String(f.type ?? '') || undefined }));
      });
      let batch: unknown[][] = [];
      for await (const row of q.stream({ objectMode: true, highWaterMark: batchRows })) {
        batch.push((row as unknown[]).map(toJsonValue));
        if (batch.length >= batchRows) {
          checkDeadline(deadline);
          await onBatch(columns, batch);
          batch = [];
        }
      }
      if (batch.length) await onBatch(columns, batch);
      await c.query('ROLLBACK');
      ok = true;
      return columns;
    } catch (e) {
      if (signal?.aborted) throw cancelledError();
      throw classify(e, this.where);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      if (ok) c.release();
      else c.destroy();
    }
  }

  async close() {
    await Promise.all([this.pool.end(), this.refreshPool.end()]);
  }
}
