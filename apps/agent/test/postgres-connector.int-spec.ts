import { Client } from 'pg';
import { PostgresConnector } from '../src/connectors/postgres';
import { ConnectorError } from '../src/connectors/types';
import { createSampleSources } from './support/sources';

// The PostgreSQL connector on its own, against a real server: live queries go in one pipelined round trip
// (BEGIN READ ONLY, timeout, the statement with a row limit, ROLLBACK), so these check that nothing of the
// read-only guarantee, the limits or the connection's state was lost on the way.
describe('PostgreSQL connector (real server)', () => {
  let sources: Awaited<ReturnType<typeof createSampleSources>>;
  let pg: PostgresConnector;

  beforeAll(async () => {
    sources = await createSampleSources();
    pg = new PostgresConnector({ ...sources.postgres, password: '' });
  });
  afterAll(async () => {
    await pg.close();
    await sources.drop();
  });

  const failure = (p: Promise<unknown>) =>
    p.then(
      () => {
        throw new Error('expected the query to fail');
      },
      (e: ConnectorError) => ({ code: e.code, message: e.message }),
    );

  const count = async () => {
    const c = new Client({ ...sources.postgres, user: 'postgres' });
    await c.connect();
    const n = (await c.query('SELECT count(*)::int AS n FROM items')).rows[0].n as number;
    await c.end();
    return n;
  };

  it('returns typed columns and JSON-safe rows', async () => {
    const r = await pg.query(`SELECT id, name, id::bigint * 10000000000 AS big, now() AS at, NULL::text AS nothing FROM items WHERE id <= 2 ORDER BY id`, { maxRows: 10, timeoutMs: 5_000 });
    expect(r.columns).toEqual([
      { name: 'id', type: 'int4' },
      { name: 'name', type: 'text' },
      { name: 'big', type: 'int8' },
      { name: 'at', type: 'timestamptz' },
      { name: 'nothing', type: 'text' },
    ]);
    expect(r.rows.map((row) => row.slice(0, 3))).toEqual([
      [1, 'item 1', '10000000000'],
      [2, 'item 2', '20000000000'],
    ]);
    expect(typeof r.rows[0][3]).toBe('string');
    expect(r.rows[0][4]).toBeNull();
    expect(r.truncated).toBe(false);
  });

  it('stops at maxRows and says the result was truncated', async () => {
    const r = await pg.query('SELECT id FROM items ORDER BY id', { maxRows: 7, timeoutMs: 5_000 });
    expect(r.rows).toEqual([[1], [2], [3], [4], [5], [6], [7]]);
    expect(r.truncated).toBe(true);
    const exact = await pg.query('SELECT id FROM items WHERE id <= 7', { maxRows: 7, timeoutMs: 5_000 });
    expect(exact.truncated).toBe(false);
  });

  it('keeps columns of an empty result and runs SHOW and EXPLAIN', async () => {
    const empty = await pg.query('SELECT id, name FROM items WHERE false', { maxRows: 10, timeoutMs: 5_000 });
    expect(empty).toEqual({ columns: [{ name: 'id', type: 'int4' }, { name: 'name', type: 'text' }], rows: [], truncated: false });
    expect((await pg.query('SHOW transaction_read_only', { maxRows: 10, timeoutMs: 5_000 })).rows).toEqual([['on']]);
    expect((await pg.query('EXPLAIN SELECT * FROM items', { maxRows: 100, timeoutMs: 5_000 })).rows.length).toBeGreaterThan(0);
  });

  it('refuses writes, also hidden in a CTE, after a semicolon or as a session setting, and the data stays', async () => {
    expect(await failure(pg.query('WITH d AS (DELETE FROM items RETURNING id) SELECT * FROM d', { maxRows: 10, timeoutMs: 5_000 }))).toMatchObject({ code: 'read_only' });
    expect(await failure(pg.query('SELECT 1; COMMIT; DELETE FROM items', { maxRows: 10, timeoutMs: 5_000 }))).toMatchObject({ code: 'query_failed' });
    expect(await failure(pg.query('DELETE FROM items', { maxRows: 10, timeoutMs: 5_000 }))).toMatchObject({ code: 'read_only' });
    // A session setting changed by a SELECT is rolled back with the transaction, and every query opens its own
    // READ ONLY transaction anyway.
    await pg.query(`SELECT set_config('statement_timeout', '0', false), set_config('transaction_read_only', 'off', false)`, { maxRows: 1, timeoutMs: 5_000 }).catch(() => undefined);
    for (let i = 0; i < 10; i++) {
      expect((await pg.query('SELECT current_setting($$transaction_read_only$$), current_setting($$statement_timeout$$)', { maxRows: 1, timeoutMs: 5_000 })).rows).toEqual([['on', '5s']]);
      expect(await failure(pg.query('WITH d AS (DELETE FROM items RETURNING id) SELECT * FROM d', { maxRows: 10, timeoutMs: 5_000 }))).toMatchObject({ code: 'read_only' });
    }
    expect(await count()).toBe(100);
  });

  it('times out, passes the engine error on, and leaves every pooled connection usable', async () => {
    const started = Date.now();
    expect(await failure(pg.query('SELECT pg_sleep(3)', { maxRows: 1, timeoutMs: 300 }))).toMatchObject({ code: 'timeout' });
    expect(Date.now() - started).toBeLessThan(2_500);
    expect(await failure(pg.query('SELECT nope FROM items', { maxRows: 1, timeoutMs: 5_000 }))).toEqual({ code: 'query_failed', message: 'column "nope" does not exist' });
    // More failures than the pool has connections, then queries on every connection: none is left inside a
    // failed transaction or with a changed timeout.
    await Promise.all(Array.from({ length: 12 }, () => failure(pg.query('SELECT 1/0', { maxRows: 1, timeoutMs: 5_000 }))));
    const results = await Promise.all(Array.from({ length: 12 }, () => pg.query('SELECT current_setting($$transaction_read_only$$), pg_sleep(0.05)::text', { maxRows: 1, timeoutMs: 5_000 })));
    expect(results.map((r) => r.rows[0][0])).toEqual(Array(12).fill('on'));
    const outside = await pg.query('SELECT 1 AS one', { maxRows: 1, timeoutMs: 5_000 });
    expect(outside.rows).toEqual([[1]]);
  });
});
