import { Client } from 'pg';
import { Redis } from 'ioredis';
import { clusterKeys } from '@gateway/domain';
import {
  type AgentProcess,
  type ApiProcess,
  createSampleSources,
  dumpDatabase,
  dumpRedis,
  eventually,
  firstAdminToken,
  installMember,
  json,
  REDIS_URL,
  sleep,
  startAgent,
  startApiProcess,
} from '@gateway/testing';

/** Real API, real agent processes, real PostgreSQL, MariaDB and Redis. */
const RECOVERY_KEY = 'cluster-test-recovery-key';
const PASSWORD = `pw-${Date.now().toString(36)}-unique-secret`;
let api: ApiProcess;
let token: string;
let sources: Awaited<ReturnType<typeof createSampleSources>>;
let clusterId: string;
const members: Record<'a' | 'b' | 'c', { config: string; memberId: string }> = {} as never;
const agents: Partial<Record<'a' | 'b' | 'c', AgentProcess>> = {};
const ds: Record<'pg' | 'mysql' | 'sqlite' | 'refused', string> = {} as never;

type QueryReply = { columns: { name: string }[]; rows: unknown[][]; truncated: boolean; servedBy: { memberId: string; memberName: string; reason: string }; timings: { attempts: number } };

const query = (id: string, body: Record<string, unknown>) => json<QueryReply & { message?: string; field?: string }>(`${api.url}/api/datasources/${id}/query`, 'POST', body, token);
const patch = (path: string, body: unknown) => json(`${api.url}/api${path}`, 'PATCH', body, token);

beforeAll(async () => {
  [api, sources] = await Promise.all([startApiProcess({ HEARTBEAT_MS: '200', PRESENCE_TTL_MS: '800' }), createSampleSources()]);
  token = await firstAdminToken(api);
  const a = await installMember(api, token, { name: 'Warehouse', member: 'a', recoveryKey: RECOVERY_KEY });
  clusterId = a.clusterId;
  members.a = a;
  members.b = await installMember(api, token, { join: 'Warehouse', member: 'b', recoveryKey: RECOVERY_KEY });
  members.c = await installMember(api, token, { join: 'Warehouse', member: 'c', recoveryKey: RECOVERY_KEY });
  [agents.a, agents.b] = await Promise.all([startAgent(members.a.config), startAgent(members.b.config)]);
  const create = async (body: Record<string, unknown>) => {
    const r = await json<{ id: string }>(`${api.url}/api/clusters/${clusterId}/datasources`, 'POST', body, token);
    if (r.status !== 201) throw new Error(JSON.stringify(r.body));
    return r.body.id;
  };
  ds.pg = await create({ name: 'pg', type: 'postgres', connection: { host: sources.postgres.host, port: sources.postgres.port, database: sources.postgres.database }, credentials: { username: 'postgres', password: PASSWORD } });
  ds.mysql = await create({ name: 'maria', type: 'mysql', connection: { host: sources.mysql.host, port: sources.mysql.port, database: sources.mysql.database }, credentials: { username: 'root', password: '' } });
  ds.sqlite = await create({ name: 'file', type: 'sqlite', connection: { path: sources.sqlitePath } });
  ds.refused = await create({ name: 'down', type: 'postgres', connection: { host: '127.0.0.1', port: 1, database: 'x' }, credentials: { username: 'u', password: 'p' } });
}, 180_000);

afterAll(async () => {
  await Promise.all(Object.values(agents).map((a) => a?.kill('SIGKILL')));
  await api?.stop();
  await sources?.drop();
}, 60_000);

describe('live queries on every engine', () => {
  it.each([
    ['PostgreSQL', 'pg'],
    ['MariaDB', 'mysql'],
    ['SQLite', 'sqlite'],
  ] as const)('runs a query on %s through the primary', async (_engine, key) => {
    const r = await query(ds[key], { sql: 'SELECT id, name FROM items WHERE id <= 3 ORDER BY id' });
    expect(r.status).toBe(200);
    expect(r.body.columns.map((c) => c.name)).toEqual(['id', 'name']);
    expect(r.body.rows).toEqual([[1, 'item 1'], [2, 'item 2'], [3, 'item 3']]);
    expect(r.body.truncated).toBe(false);
    expect(r.body.servedBy).toEqual({ memberId: members.a.memberId, memberName: 'a', reason: 'primary' });
  });

  it('answers a ping through the whole path from the primary', async () => {
    const r = await json<{ servedBy: { memberName: string; reason: string }; timings: { attempts: number } }>(`${api.url}/api/clusters/${clusterId}/ping`, 'POST', undefined, token);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ servedBy: { memberName: 'a', reason: 'primary' }, timings: { attempts: 1 } });
  });

  it('tests a connection through the cluster', async () => {
    const r = await json<{ ok: boolean; servedBy: { memberName: string } }>(`${api.url}/api/datasources/${ds.pg}/test`, 'POST', undefined, token);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ ok: true, servedBy: { memberName: 'a' } });
  });
});

describe('bad queries get clear answers', () => {
  it('passes back the data source error for invalid SQL', async () => {
    const r = await query(ds.pg, { sql: 'SELECT * FROM no_such_table' });
    expect(r.status).toBe(422);
    expect(r.body).toMatchObject({ field: 'sql', message: expect.stringContaining('relation "no_such_table" does not exist') });
  });

  it.each(['pg', 'mysql', 'sqlite'] as const)('refuses a write statement on %s', async (key) => {
    const r = await query(ds[key], { sql: 'DELETE FROM items' });
    expect(r.status).toBe(422);
    expect(r.body.message).toMatch(/read-only/);
    expect((await query(ds[key], { sql: 'SELECT count(*) FROM items' })).body.rows[0].map(Number)).toEqual([100]);
  });

  it('refuses a write hidden behind a CTE or a second statement', async () => {
    const cte = await query(ds.pg, { sql: 'WITH gone AS (DELETE FROM items RETURNING id) SELECT count(*) FROM gone' });
    expect(cte.status).toBe(422);
    const smuggled = await query(ds.pg, { sql: 'SELECT 1; COMMIT; DELETE FROM items' });
    expect(smuggled.status).toBe(422);
    expect((await query(ds.pg, { sql: 'SELECT count(*) FROM items' })).body.rows[0].map(Number)).toEqual([100]);
  });

  it.each(['pg', 'mysql', 'sqlite'] as const)('truncates an oversized result on %s', async (key) => {
    const r = await query(ds[key], { sql: 'SELECT id FROM items ORDER BY id', maxRows: 10 });
    expect(r.status).toBe(200);
    expect(r.body.rows).toHaveLength(10);
    expect(r.body.truncated).toBe(true);
  });

  it('answers 404 for an unknown data source', async () => {
    const r = await query('00000000-0000-4000-8000-000000000000', { sql: 'SELECT 1' });
    expect(r.status).toBe(404);
    expect(r.body.field).toBe('id');
  });

  it.each([
    ['pg', 'SELECT pg_sleep(3)'],
    ['mysql', 'SELECT SLEEP(3)'],
  ] as const)('stops a query on %s at its timeout with a clear error', async (key, sql) => {
    const started = Date.now();
    const r = await query(ds[key], { sql, timeoutMs: 500 });
    expect(Date.now() - started).toBeLessThan(2_500);
    expect(r.status).toBe(408);
    expect(r.body.message).toMatch(/statement timeout/);
  });

  it('names the data source whose host refuses connections, and once the members have checked it, what each found', async () => {
    // Before a member's health check has seen it: 502 from the member that tried; after: 503 at once, from routing.
    const seen: { status: number; message: string }[] = [];
    await eventually(async () => {
      const r = await query(ds.refused, { sql: 'SELECT 1' });
      seen.push({ status: r.status, message: r.body.message ?? '' });
      expect(r.status).toBe(503);
    }, 15_000, 200);
    for (const r of seen) {
      if (r.status === 502) expect(r.message).toMatch(/^data source "down": cannot connect to 127\.0\.0\.1:1\/x/);
      else expect(r.message).toMatch(/can serve this now: no online member can reach data source "down" \(a: cannot connect to 127\.0\.0\.1:1\/x.*; b: cannot connect to 127\.0\.0\.1:1\/x/);
    }
    expect(seen.map((r) => r.status).filter((s) => s !== 502 && s !== 503)).toEqual([]);
  }, 30_000);
});

describe('a member runs as many live queries at once as it is told to', () => {
  it('runs --live-concurrency queries at once on one data source and queues the rest in order', async () => {
    // a runs with the default 16 slots: 24 queries of 0.4 s take two rounds, and PostgreSQL never sees more than 16.
    const pg = new Client({ connectionString: `postgresql://postgres@${sources.postgres.host}:${sources.postgres.port}/${sources.postgres.database}` });
    await pg.connect();
    let most = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const r = await pg.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'gateway-agent' AND query LIKE '%pg_sleep(0.4)%' AND state = 'active'`);
        most = Math.max(most, r.rows[0].n);
        await sleep(20);
      }
    })();
    const started = Date.now();
    try {
      const results = await Promise.all(Array.from({ length: 24 }, (_, i) => query(ds.pg, { sql: `SELECT pg_sleep(0.4), ${i} AS n`, timeoutMs: 10_000 })));
      expect(results.map((r) => [r.status, r.body.rows?.[0]?.[1]])).toEqual(Array.from({ length: 24 }, (_, i) => [200, i]));
    } finally {
      sampling = false;
      await sampler;
      await pg.end();
    }
    const took = Date.now() - started;
    expect(most).toBeLessThanOrEqual(16);
    expect(most).toBeGreaterThanOrEqual(12);
    expect(took).toBeGreaterThanOrEqual(800);
    expect(took).toBeLessThan(2_500);
  }, 30_000);

  it('runs eight 1 s queries side by side', async () => {
    const started = Date.now();
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => query(ds.pg, { sql: `SELECT pg_sleep(1), ${i} AS n`, timeoutMs: 10_000 })));
    const took = Date.now() - started;
    expect(results.map((r) => [r.status, r.body.rows?.[0]?.[1], r.body.servedBy?.memberName])).toEqual(Array.from({ length: 8 }, (_, i) => [200, i, 'a']));
    expect(took).toBeLessThan(1_800);
  }, 30_000);
});

describe('routing to the primary, failover, and no member', () => {
  it('routes to the other member while the primary is disabled, and back', async () => {
    expect((await patch(`/members/${members.a.memberId}`, { enabled: false })).status).toBe(200);
    const served = await eventually(async () => {
      const r = await query(ds.pg, { sql: 'SELECT 1' });
      expect(r.body.servedBy.memberName).toBe('b');
      return r.body.servedBy;
    });
    expect(served.reason).toContain('primary a is disabled');
    expect((await patch(`/members/${members.a.memberId}`, { enabled: true })).status).toBe(200);
    await eventually(async () => expect((await query(ds.pg, { sql: 'SELECT 1' })).body.servedBy.memberName).toBe('a'));
  }, 30_000);

  it('a second API instance follows changes made through the first at once, also after losing its event subscription', async () => {
    // Routing in an API instance reads presence and config versions from its in-memory mirror, which the
    // clusters' event channels keep current: a change through one instance must reach the other at once.
    const second = await startApiProcess({ HEARTBEAT_MS: '200', PRESENCE_TTL_MS: '800' }, api);
    // Who served, and why the second instance sent it there (a stale view would still be served, by the agents'
    // own routing, but with "took the job from the cluster queue as routing changed").
    const viaSecond = async () => {
      const s = (await json<QueryReply>(`${second.url}/api/datasources/${ds.pg}/query`, 'POST', { sql: 'SELECT 1' }, token)).body.servedBy;
      return `${s?.memberName}: ${s?.reason}`;
    };
    const redis = new Redis(REDIS_URL);
    try {
      expect(await viaSecond()).toBe('a: primary');
      for (const round of ['subscribed', 'after its subscription was cut']) {
        if (round !== 'subscribed') {
          const clients = String(await redis.call('CLIENT', 'LIST')).split('\n');
          const mine = clients.filter((l) => l.includes(`name=gateway-api-events:${second.redisPrefix}:${second.child.pid} `));
          expect(mine).toHaveLength(1);
          await redis.call('CLIENT', 'KILL', 'ID', /id=(\d+)/.exec(mine[0])![1]);
        }
        expect((await patch(`/members/${members.a.memberId}`, { enabled: false })).status).toBe(200);
        await eventually(async () => expect(await viaSecond()).toMatch(/^b: .*primary a is disabled/), 1_000, 20);
        expect((await patch(`/members/${members.a.memberId}`, { enabled: true })).status).toBe(200);
        await eventually(async () => expect(await viaSecond()).toBe('a: primary'), 1_000, 20);
      }
      // Both agents follow the last change within a heartbeat or two; the next tests expect only a to consume.
      await sleep(1_000);
    } finally {
      redis.disconnect();
      await second.stop();
    }
  }, 60_000);

  it('retries a query once on the next server when its member dies mid-query, unseen by the caller', async () => {
    const pending = query(ds.pg, { sql: 'SELECT pg_sleep(1.5), 42 AS answer', timeoutMs: 10_000 });
    // The member reports the query in its busy slots (the API stores what it says with its presence).
    const redis = new Redis(REDIS_URL);
    await eventually(async () => expect(JSON.parse((await redis.get(clusterKeys(api.redisPrefix, clusterId).presence(members.a.memberId)))!).busy).toBe(1), 2_000, 20).finally(() => redis.disconnect());
    await sleep(400);
    await agents.a!.kill('SIGKILL');
    const r = await pending;
    expect(r.status).toBe(200);
    expect(r.body.rows).toEqual([['', 42]]);
    expect(r.body.servedBy.memberName).toBe('b');
    expect(r.body.timings.attempts).toBe(2);
    agents.a = await startAgent(members.a.config);
    await eventually(async () => expect((await query(ds.pg, { sql: 'SELECT 1' })).body.servedBy.memberName).toBe('a'), 10_000);
  }, 30_000);

  it('keeps answering when the serving member is SIGKILLed', async () => {
    const results: { status: number; member?: string }[] = [];
    let stop = false;
    const client = (async () => {
      while (!stop) {
        try {
          const r = await query(ds.pg, { sql: 'SELECT pg_sleep(0.02), 1' });
          results.push({ status: r.status, member: r.body.servedBy?.memberName });
        } catch (e) {
          results.push({ status: 0, member: `${(e as Error).message}: ${String((e as { cause?: unknown }).cause)}` });
        }
        await sleep(20);
      }
    })();
    await sleep(500);
    await agents.a!.kill('SIGKILL');
    await eventually(async () => expect(results.at(-1)?.member).toBe('b'), 10_000);
    await sleep(500);
    stop = true;
    await client;
    expect(results.filter((r) => r.status !== 200)).toEqual([]);
    expect(results.some((r) => r.member === 'a')).toBe(true);
    expect(results.at(-1)!.member).toBe('b');
  }, 30_000);

  it('on SIGTERM withdraws from routing at once, finishes the active query, then removes its presence', async () => {
    const redis = new Redis(REDIS_URL);
    try {
      const key = clusterKeys(api.redisPrefix, clusterId).presence(members.b.memberId);
      expect(JSON.parse((await redis.get(key))!).draining).toBeUndefined();
      const pending = query(ds.pg, { sql: 'SELECT pg_sleep(2), 7 AS n', timeoutMs: 10_000 });
      await sleep(300);
      const exited = agents.b!.kill('SIGTERM');
      await eventually(async () => expect(JSON.parse((await redis.get(key))!).draining).toBe(true), 2_000, 20);
      // Marked draining (not expired: the key is still there); nobody else is online, and the draining member
      // takes no new work, so a new query gets 503 now.
      expect((await query(ds.pg, { sql: 'SELECT 1' })).status).toBe(503);
      const r = await pending;
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ rows: [['', 7]], servedBy: { memberName: 'b' }, timings: { attempts: 1 } });
      await exited;
      expect(await redis.exists(key)).toBe(0);
    } finally {
      redis.disconnect();
    }
    expect(agents.b!.output()).toContain('stopping: draining');
  }, 30_000);

  it('answers 503 within 1 s when no member is online', async () => {
    const started = Date.now();
    const r = await query(ds.pg, { sql: 'SELECT 1' });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(r.status).toBe(503);
    expect(r.body.message).toMatch(/no member of cluster "Warehouse" can serve this now: no member of the cluster is online/);
  });
});

describe('distribute mode', () => {
  it('spreads 300 queries over all three members', async () => {
    [agents.a, agents.b, agents.c] = await Promise.all([startAgent(members.a.config), startAgent(members.b.config), startAgent(members.c.config)]);
    expect((await patch(`/clusters/${clusterId}`, { routing: { mode: 'distribute' } })).status).toBe(200);
    const counts: Record<string, number> = {};
    await eventually(async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 30; i++) seen.add((await query(ds.pg, { sql: 'SELECT 1' })).body.servedBy.memberName);
      expect(seen.size).toBe(3);
    }, 10_000, 0);
    for (let i = 0; i < 300; i++) {
      const r = await query(ds.pg, { sql: 'SELECT 1' });
      expect(r.status).toBe(200);
      expect(r.body.servedBy.reason).toMatch(/^distribute/);
      counts[r.body.servedBy.memberName] = (counts[r.body.servedBy.memberName] ?? 0) + 1;
    }
    expect(Object.keys(counts).sort()).toEqual(['a', 'b', 'c']);
    for (const n of Object.values(counts)) expect(n).toBeGreaterThanOrEqual(60);
  }, 120_000);
});

describe('load thresholds', () => {
  it('steers work away from a primary over the CPU threshold while another member can serve', async () => {
    expect((await patch(`/clusters/${clusterId}`, { routing: { mode: 'primary', cpuThreshold: 90 } })).status).toBe(200);
    await agents.a!.kill('SIGTERM');
    agents.a = await startAgent(members.a.config, { GATEWAY_REPORT_CPU: '95' });
    const served = await eventually(async () => {
      const r = await query(ds.pg, { sql: 'SELECT 1' });
      expect(r.body.servedBy.memberName).toBe('b');
      expect(r.body.servedBy.reason).toContain('primary a is overloaded (CPU 95% >= 90%)');
      return r.body.servedBy;
    }, 10_000);
    expect(served.reason).toMatch(/^failover/);
    expect((await patch(`/clusters/${clusterId}`, { routing: { cpuThreshold: 0 } })).status).toBe(200);
    await eventually(async () => expect((await query(ds.pg, { sql: 'SELECT 1' })).body.servedBy.memberName).toBe('a'), 10_000);
  }, 60_000);
});

describe('credential secrecy', () => {
  it('keeps the data source password out of the database, the logs and Redis', async () => {
    expect((await query(ds.pg, { sql: 'SELECT 1' })).status).toBe(200);
    const read = await json(`${api.url}/api/datasources/${ds.pg}`, 'GET', undefined, token);
    expect(JSON.stringify(read.body)).not.toContain(PASSWORD);
    expect(read.body).toMatchObject({ hasCredentials: true });
    expect(await dumpDatabase(api.databaseUrl)).not.toContain(PASSWORD);
    expect(api.output()).not.toContain(PASSWORD);
    for (const a of Object.values(agents)) expect(a!.output()).not.toContain(PASSWORD);
    const redis = await dumpRedis(api.redisPrefix);
    expect(redis.length).toBeGreaterThan(0);
    expect(redis).not.toContain(PASSWORD);
  });
});
