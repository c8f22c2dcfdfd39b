import { Pool, type PoolClient, type QueryResult } from 'pg';
import { DEFAULT_QUERY_TIMEOUT_MS } from '@gateway/domain';
import { CopyOut } from './pg-copy';
import { DescribePipeline, ReadOnlyPipeline, wireColumnsOf } from './pg-pipeline';
import { Slots } from './slots';
import { pgTypeName } from './pg-types';
import { assertReadOnly, assertStaysInTransaction, cancelledError, checkDeadline, ConnectorError, stripTrailingSemicolons, toJsonValue, type BatchHandler, type Column, type Connector, type RawBatchHandler, type QueryOptions, type RowSet, type StreamOptions } from './types';

/** Connections per data source on a member for refreshes; live queries get as many as the member runs at once. */
const REFRESH_POOL_SIZE = 8;


export interface PostgresSettings {
  host: string;
  port: number;
  database: string;
  username: string;
  password: string;
}

function classify(e: unknown, where: string): ConnectorError {
  if (e instanceof ConnectorError) return e;
  const err = e as { code?: string; message?: string; detail?: string; hint?: string; position?: string };
  const code = err.code ?? '';
  // What the source said, for the front door to pass on as it is.
  const fields = /^[0-9A-Z]{5}$/.test(code) ? { sqlstate: code, detail: err.detail, hint: err.hint, position: err.position } : {};
  if (code === '57014') return new ConnectorError('timeout', `the query was cancelled after the statement timeout`, fields);
  if (code === '25006') return new ConnectorError('read_only', `the gateway runs read-only queries: ${err.message}`, fields);
  if (code === '28P01' || code === '28000') return new ConnectorError('credentials', `authentication failed: ${err.message}`);
  if (['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ECONNRESET', '3D000'].includes(code) || /timeout exceeded when trying to connect|Connection terminated/i.test(err.message ?? '')) {
    return new ConnectorError('unreachable', `cannot connect to ${where}: ${err.message || code}`);
  }
  return new ConnectorError('query_failed', err.message ?? String(e), fields);
}

/**
 * PostgreSQL: each query in a READ ONLY transaction. Live queries go in one round trip with a row limit of
 * maxRows+1 (see ReadOnlyPipeline); refreshes read through a cursor, a batch at a time.
 */
export class PostgresConnector implements Connector {
  /** Live queries, connection tests and cancels: a connection within 5 s, or a clear error. */
  private readonly pool: Pool;
  /**
   * Refreshes have connections of their own, so long refreshes never leave live queries without one; a
   * refresh waits its turn for one of them (see Slots), and the 5 s bound applies to connecting only.
   */
  private readonly refreshPool: Pool;
  private readonly refreshSlots = new Slots(REFRESH_POOL_SIZE);
  private readonly where: string;

  constructor(s: PostgresSettings, liveConnections = 16) {
    this.where = `${s.host}:${s.port}/${s.database}`;
    const pool = (max: number) => {
      const p = new Pool({
        // Live queries with the default timeout need no SET LOCAL of their own (see ReadOnlyPipeline).
        statement_timeout: DEFAULT_QUERY_TIMEOUT_MS,
        host: s.host,
        port: s.port,
        database: s.database,
        user: s.username,
        password: s.password,
        max,
        connectionTimeoutMillis: 5_000,
        idleTimeoutMillis: 60_000,
        application_name: 'gateway-agent',
      });
      p.on('error', () => undefined); // idle clients dropped by the server; the next checkout reconnects
      return p;
    };
    // One more than the live slots: a cancel (pg_cancel_backend) must find a connection while every slot is busy.
    this.pool = pool(liveConnections + 1);
    this.refreshPool = pool(REFRESH_POOL_SIZE);
  }

  private async client(pool = this.pool): Promise<PoolClient> {
    try {
      return await pool.connect();
    } catch (e) {
      throw classify(e, this.where);
    }
  }

  async test(timeoutMs: number) {
    const c = await this.client();
    let broken = false;
    try {
      // Local to a transaction, so the session keeps the timeout the live pipeline relies on.
      await c.query(`BEGIN READ ONLY; SET LOCAL statement_timeout = ${Math.floor(timeoutMs)}; SELECT 1; ROLLBACK`);
    } catch (e) {
      await c.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw classify(e, this.where);
    } finally {
      c.release(broken);
    }
  }

  async query(sql: string, { maxRows, timeoutMs, signal, sink, pg }: QueryOptions): Promise<RowSet> {
    // The front door passes on what the source says about a write (25006) or a typo (42601), so only what could
    // leave the READ ONLY transaction is refused before it.
    if (pg) assertStaysInTransaction(sql);
    else assertReadOnly(sql);
    if (pg?.describe) return this.describe(stripTrailingSemicolons(sql), pg.paramTypes ?? []);
    const c = await this.client();
    const pid = (c as unknown as { processID: number }).processID;
    const cancel = () => void this.pool.query('SELECT pg_cancel_backend($1)', [pid]).catch(() => undefined);
    // PostgreSQL before 13 times a pipeline from its first message, not per statement: a cancel from another
    // connection is the backstop that keeps the timeout on every version.
    const backstop = setTimeout(cancel, timeoutMs + 1_000);
    signal?.addEventListener('abort', cancel);
    let broken = false;
    try {
      const wire = pg ? { params: pg.params ?? [], types: pg.paramTypes ?? [], settings: pg.settings ?? {} } : undefined;
      const pipeline = new ReadOnlyPipeline(stripTrailingSemicolons(sql), maxRows + 1, timeoutMs, sink, DEFAULT_QUERY_TIMEOUT_MS, wire);
      void c.query(pipeline);
      const res = await pipeline.done;
      if (sink) return { columns: [], rows: [], truncated: res.suspended };
      if (wire) return { columns: wireColumnsOf(res.fields), rows: res.rows.slice(0, maxRows), truncated: res.rows.length > maxRows };
      return {
        columns: res.fields.map((f) => ({ name: f.name, type: pgTypeName(f.dataTypeID) })),
        rows: res.rows.slice(0, maxRows).map((r) => r.map(toJsonValue)),
        truncated: res.rows.length > maxRows,
      };
    } catch (e) {
      await c.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw classify(e, this.where);
    } finally {
      clearTimeout(backstop);
      signal?.removeEventListener('abort', cancel);
      c.release(broken);
    }
  }

  /** The parameter types and columns of a statement, without running it. */
  private async describe(sql: string, types: number[]): Promise<RowSet> {
    const c = await this.client();
    let broken = false;
    try {
      const d = new DescribePipeline(sql, types);
      void c.query(d);
      const { paramTypes, fields } = await d.done;
      return { columns: wireColumnsOf(fields), rows: [], truncated: false, paramTypes };
    } catch (e) {
      broken = !(e as { code?: string }).code;
      throw classify(e, this.where);
    } finally {
      c.release(broken);
    }
  }

  /**
   * The refresh paths' frame: a pooled connection in a READ ONLY transaction with the statement timeout, the
   * query declared as a cursor through the extended protocol (which accepts one statement only), a cancel
   * from another connection when the signal aborts (it interrupts even a running FETCH or COPY), and the
   * transaction rolled back whatever happens.
   */
  private async inReadOnlyCursor<T>(sql: string, timeoutMs: number, signal: AbortSignal | undefined, body: (c: PoolClient, statement: string) => Promise<T>): Promise<T> {
    assertReadOnly(sql);
    const release = await this.refreshSlots.acquire();
    let c: PoolClient;
    try {
      // Cancelled while it waited for a connection: it never starts.
      if (signal?.aborted) throw cancelledError();
      c = await this.client(this.refreshPool);
    } catch (e) {
      release();
      throw signal?.aborted ? cancelledError() : e;
    }
    const pid = (c as unknown as { processID: number }).processID;
    const onAbort = () => void this.pool.query('SELECT pg_cancel_backend($1)', [pid]).catch(() => undefined);
    signal?.addEventListener('abort', onAbort);
    let broken = false;
    try {
      const statement = stripTrailingSemicolons(sql);
      await c.query(`BEGIN READ ONLY; SET LOCAL statement_timeout = ${Math.floor(timeoutMs)}`);
      await c.query({ text: `DECLARE gw_cursor NO SCROLL CURSOR FOR ${statement}`, queryMode: 'extended' } as never);
      const result = await body(c, statement);
      await c.query('ROLLBACK');
      return result;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => {
        broken = true;
      });
      if (signal?.aborted) throw cancelledError();
      throw classify(e, this.where);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      c.release(broken);
      release();
    }
  }

  async stream(sql: string, { timeoutMs, batchRows, signal }: StreamOptions, onBatch: BatchHandler): Promise<Column[]> {
    return this.inReadOnlyCursor(sql, timeoutMs, signal, async (c) => {
      // From the moment it has a connection, like the statement timeout.
      const deadline = Date.now() + timeoutMs;
      let columns: Column[] | null = null;
      for (;;) {
        if (signal?.aborted) throw cancelledError();
        checkDeadline(deadline);
        const res = await c.query({ text: `FETCH ${batchRows} FROM gw_cursor`, rowMode: 'array' });
        columns ??= res.fields.map((f) => ({ name: f.name, type: pgTypeName(f.dataTypeID) }));
        if (res.rows.length) await onBatch(columns, (res.rows as unknown[][]).map((r) => r.map(toJsonValue)));
        if (res.rows.length < batchRows) break;
      }
      return columns ?? [];
    });
  }

  /**
   * The refresh path: the rows exactly as `COPY (query) TO STDOUT` writes them, several times faster than
   * decoding row messages. The cursor (see inReadOnlyCursor) proves the query is one read statement and gives
   * the columns; then the query is copied inside the same READ ONLY transaction.
   */
  async streamRaw(sql: string, { timeoutMs, batchRows, signal }: StreamOptions, onBatch: RawBatchHandler) {
    return this.inReadOnlyCursor(sql, timeoutMs, signal, async (c, statement) => {
      const described = await c.query({ text: 'FETCH 0 FROM gw_cursor; CLOSE gw_cursor', rowMode: 'array' });
      const fields = (described as unknown as QueryResult[])[0].fields;
      const columns = fields.map((f) => ({ name: f.name, type: pgTypeName(f.dataTypeID), oid: f.dataTypeID }));
      if (signal?.aborted) throw cancelledError();
      // The newlines keep a trailing comment of the query from swallowing the closing parenthesis.
      const copy = new CopyOut(`COPY (\n${statement}\n) TO STDOUT`, batchRows, onBatch);
      void c.query(copy);
      await copy.done;
      return { format: 'pgcopy' as const, columns };
    });
  }

  async close() {
    await Promise.all([this.pool.end(), this.refreshPool.end()]);
  }
}
