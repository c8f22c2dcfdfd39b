import { existsSync } from 'node:fs';
import { Client, types } from 'pg';
import { copyEncoderFor, copyLineToJson, type CopyEncoder } from '@gateway/domain';
import { PostgresConnector } from '../src/connectors/postgres';
import { ConnectorError } from '../src/connectors/types';
import { createSampleSources } from '@gateway/testing';

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

  it('keeps the default timeout of every pooled connection whatever a statement or a connection test tries, so default-timeout queries need no SET', async () => {
    // A statement that tries to change its session's settings: undone with its read-only transaction.
    await Promise.all(Array.from({ length: 20 }, () => pg.query(`SELECT set_config('statement_timeout', '0', false), set_config('default_transaction_read_only', 'off', false)`, { maxRows: 1, timeoutMs: 30_000 })));
    await Promise.all(Array.from({ length: 20 }, () => pg.test(1_234)));
    const seen = await Promise.all(
      Array.from({ length: 20 }, () => pg.query(`SELECT current_setting('statement_timeout'), current_setting('default_transaction_read_only'), current_setting('transaction_read_only'), pg_sleep(0.02)::text`, { maxRows: 1, timeoutMs: 30_000 })),
    );
    expect(new Set(seen.map((r) => JSON.stringify(r.rows[0].slice(0, 3))))).toEqual(new Set([JSON.stringify(['30s', 'off', 'on'])]));
    // A query with its own timeout still gets it.
    expect((await pg.query(`SELECT current_setting('statement_timeout')`, { maxRows: 1, timeoutMs: 1_500 })).rows).toEqual([['1500ms']]);
  });

  it('reads a COPY snapshot back exactly as decoding the rows would give, for every common type and awkward text', async () => {
    const sql = `SELECT g AS i4, g::int2 AS i2, (g * 10000000000)::int8 AS i8, (g / 3.0)::numeric(20, 10) AS num, g::float8 / 3 AS f8, g::float4 / 7 AS f4,
        CASE g WHEN 1 THEN 'NaN'::float8 WHEN 2 THEN 'Infinity'::float8 WHEN 3 THEN '-Infinity'::float8 ELSE -g::float8 END AS special,
        g % 2 = 0 AS b, E'tab\\there\\nnew "quoted" back\\\\slash é ✓ ' || g AS t, 'x'::char(3) AS bp, md5(g::text)::uuid AS u,
        timestamp '2026-03-29 01:30:00.123456' + g * interval '1 hour' AS ts, timestamptz '2026-01-01 00:00:00.5+00' + g * interval '1 day' AS tstz,
        date '2026-01-01' + g AS d, time '12:34:56' AS tm, interval '1 day 2 hours' AS iv, decode(md5(g::text), 'hex') AS by,
        json_build_object('g', g, 's', E'a\\tb') AS j, jsonb_build_object('k', ARRAY[g, g + 1]) AS jb, ARRAY[g, g * 2] AS arr, ARRAY['a,b', E'c"d'] AS tarr,
        NULL::text AS nothing, '' AS empty, E'\\\\N' AS backslash_n, 'infinity'::timestamp AS inf
      FROM generate_series(1, 2500) g
      UNION ALL SELECT 0, 0, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, timestamp '0044-03-15 12:00:00 BC', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
      -- a trailing comment`;
    const decoded: string[] = [];
    const decodedColumns = await pg.stream(sql, { timeoutMs: 10_000, batchRows: 1000 }, async (_c, rows) => {
      decoded.push(...rows.map((r) => JSON.stringify(r)));
    });
    const copied: string[] = [];
    const batches: number[] = [];
    let encoders: CopyEncoder[] = [];
    const raw: Buffer[] = [];
    const { format, columns } = await pg.streamRaw!(sql, { timeoutMs: 10_000, batchRows: 1000 }, async (data, rows) => {
      batches.push(rows);
      raw.push(data);
    });
    expect(format).toBe('pgcopy');
    expect(columns.map(({ name, type }) => ({ name, type }))).toEqual(decodedColumns);
    // Read back the way the API reads a snapshot.
    encoders = columns.map((c) => copyEncoderFor(c.oid, (oid) => types.getTypeParser(oid, 'text') as (v: string) => unknown));
    for (const data of raw) {
      const lines = data.toString('utf8').split('\n');
      expect(lines.pop()).toBe('');
      copied.push(...lines.map((line) => copyLineToJson(line, encoders)));
    }
    expect(copied).toHaveLength(2501);
    expect(batches).toEqual([1000, 1000, 501]);
    for (const line of copied) JSON.parse(line);
    const first = copied.findIndex((line, i) => line !== decoded[i]);
    expect(first >= 0 ? { row: first, copied: copied[first], decoded: decoded[first] } : 'all equal').toBe('all equal');
  });

  it('copies only what a single read statement gives: no way out of the parentheses', async () => {
    const tries = [
      `SELECT 1) TO PROGRAM 'touch /tmp/gw-owned' --`,
      `SELECT 1) TO STDOUT; COPY (SELECT 2`,
      `SELECT 1 /* ) TO PROGRAM 'touch /tmp/gw-owned' */`,
      `SELECT 1; DELETE FROM items`,
    ];
    for (const sql of tries) {
      const out: string[] = [];
      const result = await pg.streamRaw!(sql, { timeoutMs: 5_000, batchRows: 10 }, async (data) => void out.push(data.toString())).then(
        () => 'ran',
        (e: ConnectorError) => e.code,
      );
      if (result === 'ran') expect(out.join('')).toBe('1\n');
      else expect(result).toBe('query_failed');
    }
    expect(await count()).toBe(100);
    expect(existsSync('/tmp/gw-owned')).toBe(false);
  });

  it('stops a COPY at its timeout and when cancelled', async () => {
    expect(await failure(pg.streamRaw!('SELECT g, pg_sleep(0.01) FROM generate_series(1, 1000) g', { timeoutMs: 300, batchRows: 10 }, async () => undefined))).toMatchObject({ code: 'timeout' });
    const abort = new AbortController();
    let seen = 0;
    const cancelled = await failure(
      pg.streamRaw!('SELECT g, repeat($$x$$, 100) FROM generate_series(1, 5000000) g', { timeoutMs: 30_000, batchRows: 1000, signal: abort.signal }, async (_d, rows) => {
        seen += rows;
        if (seen >= 5000) abort.abort();
      }),
    );
    expect(cancelled.message).toMatch(/cancelled/);
    expect(seen).toBeLessThan(1_000_000);
    expect((await pg.query('SELECT 1', { maxRows: 1, timeoutMs: 1_000 })).rows).toEqual([[1]]);
  });
});
