import { Queue } from 'bullmq';
import { Client } from 'pg';
import { clusterKeys, QUEUES } from '@gateway/domain';
import {
  type AgentProcess,
  type ApiProcess,
  createSampleSources,
  dropRedisPrefix,
  eventually,
  firstAdminToken,
  gateway,
  installMember,
  json,
  REDIS_URL,
  sleep,
  startAgent,
  startApiProcess,
  tempDir,
} from '@gateway/testing';
import { RAW_BATCH_ROWS } from '../src/runtime/refresh-runner';

/** Scheduled refresh on real agents: datasets, schedules, history, snapshots, and no refresh ever lost. */
let api: ApiProcess;
let token: string;
let sources: Awaited<ReturnType<typeof createSampleSources>>;
let clusterId: string;
let dsId: string;
const members: Record<'a' | 'b', { config: string; memberId: string }> = {} as never;
const agents: Partial<Record<'a' | 'b', AgentProcess>> = {};

type Refresh = { id: string; status: string; trigger: string; triggeredBy: string | null; scheduledFor: string | null; startedAt: string | null; rows: number; bytes: number; error: string | null; attempts: { number: number; memberName: string; reason: string; status: string }[] };

const post = <T = Record<string, unknown>>(path: string, body?: unknown) => json<T>(`${api.url}/api${path}`, 'POST', body, token);
const get = <T = Record<string, unknown>>(path: string) => json<T>(`${api.url}/api${path}`, 'GET', undefined, token);
const patch = (path: string, body: unknown) => json(`${api.url}/api${path}`, 'PATCH', body, token);

async function dataset(name: string, query: string, extra: Record<string, unknown> = {}) {
  const r = await post<{ id: string }>('/datasets', { dataSourceId: dsId, name, query, ...extra });
  if (r.status !== 201) throw new Error(JSON.stringify(r.body));
  return r.body.id;
}

async function refreshAndWait(datasetId: string, timeoutMs = 15_000) {
  const r = await post<Refresh>(`/datasets/${datasetId}/refreshes`);
  expect(r.status).toBe(201);
  return eventually(async () => {
    const now = (await get<Refresh>(`/refreshes/${r.body.id}`)).body;
    expect(['succeeded', 'failed', 'cancelled']).toContain(now.status);
    return now;
  }, timeoutMs, 100);
}

/** The next scheduled refresh of a dataset while it waits, queued ahead of its tick (SCHEDULER_LEAD_MS, 3 s by default). */
async function staged(datasetId: string, marginMs = 700) {
  return eventually(async () => {
    const h = (await get<Refresh[]>(`/datasets/${datasetId}/refreshes?limit=100`)).body;
    const ahead = h.find((x) => x.status === 'queued' && Date.parse(x.scheduledFor!) > Date.now() + marginMs);
    expect(ahead).toBeDefined();
    return ahead!;
  }, 10_000, 50);
}

async function sql<T>(text: string, params: unknown[] = []) {
  const c = new Client({ connectionString: api.databaseUrl });
  await c.connect();
  try {
    return (await c.query(text, params)).rows as T[];
  } finally {
    await c.end();
  }
}

async function chunkCount(refreshId: string) {
  const c = new Client({ connectionString: api.databaseUrl });
  await c.connect();
  try {
    const r = await c.query('SELECT attempt, count(*)::int AS n FROM "SnapshotChunk" WHERE "refreshId" = $1 GROUP BY attempt', [refreshId]);
    return r.rows as { attempt: number; n: number }[];
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  [api, sources] = await Promise.all([
    startApiProcess({ HEARTBEAT_MS: '200', PRESENCE_TTL_MS: '800', SCHEDULER_INTERVAL_MS: '100', RECONCILE_INTERVAL_MS: '1000', REFRESH_STALL_MS: '5000', SNAPSHOT_MAX_BYTES: '3000000' }),
    createSampleSources(),
  ]);
  token = await firstAdminToken(api);
  const a = await installMember(api, token, { name: 'Reports', member: 'a', recoveryKey: 'reports-recovery' });
  clusterId = a.clusterId;
  members.a = a;
  members.b = await installMember(api, token, { join: 'Reports', member: 'b', recoveryKey: 'reports-recovery' });
  [agents.a, agents.b] = await Promise.all([startAgent(members.a.config), startAgent(members.b.config)]);
  const ds = await post<{ id: string }>(`/clusters/${clusterId}/datasources`, {
    name: 'pg',
    type: 'postgres',
    connection: { host: sources.postgres.host, port: sources.postgres.port, database: sources.postgres.database },
    credentials: { username: 'postgres', password: '' },
  });
  dsId = ds.body.id;
}, 180_000);

afterAll(async () => {
  await Promise.all(Object.values(agents).map((x) => x?.kill('SIGKILL')));
  await api?.stop();
  await sources?.drop();
}, 60_000);

describe('refresh now, history and snapshot', () => {
  let id: string;

  it('refreshes on the primary and records the attempt, rows and bytes', async () => {
    id = await dataset('items', 'SELECT id, name FROM items ORDER BY id');
    const r = await refreshAndWait(id);
    expect(r).toMatchObject({ status: 'succeeded', trigger: 'manual', triggeredBy: 'admin@example.com', rows: 100, error: null });
    expect(r.bytes).toBeGreaterThan(0);
    expect(r.attempts).toEqual([expect.objectContaining({ number: 1, memberName: 'a', reason: 'primary', status: 'succeeded' })]);
    const history = await get<Refresh[]>(`/datasets/${id}/refreshes`);
    expect(history.body.map((h) => h.id)).toContain(r.id);
  });

  it('streams the latest snapshot as CSV and as NDJSON', async () => {
    const csv = await fetch(`${api.url}/api/datasets/${id}/data?format=csv`, { headers: { authorization: `Bearer ${token}` } });
    expect(csv.headers.get('content-type')).toContain('text/csv');
    const lines = (await csv.text()).trim().split('\r\n');
    expect(lines[0]).toBe('id,name');
    expect(lines).toHaveLength(101);
    expect(lines[1]).toBe('1,item 1');
    const nd = await fetch(`${api.url}/api/datasets/${id}/data?format=ndjson`, { headers: { authorization: `Bearer ${token}` } });
    const objects = (await nd.text()).trim().split('\n').map((l) => JSON.parse(l));
    expect(objects).toHaveLength(100);
    expect(objects[99]).toEqual({ id: 100, name: 'item 100' });
  });

  it('streams a large result in compressed chunks', async () => {
    // Two and a half batches of COPY text: three chunks, uploaded (up to two at a time) and read back in order.
    const n = RAW_BATCH_ROWS * 2 + RAW_BATCH_ROWS / 2;
    const big = await dataset('big', `SELECT g AS id, md5(g::text) AS h FROM generate_series(1, ${n}) g ORDER BY g`);
    const r = await refreshAndWait(big, 30_000);
    expect(r).toMatchObject({ status: 'succeeded', rows: n });
    expect((await chunkCount(r.id))).toEqual([{ attempt: 1, n: 3 }]);
    const nd = await fetch(`${api.url}/api/datasets/${big}/data`, { headers: { authorization: `Bearer ${token}` } });
    const lines = (await nd.text()).trim().split('\n');
    expect(lines).toHaveLength(n);
    expect(lines.map((l) => JSON.parse(l).id)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
  });

  it('refreshes from the CLI with --wait and a progress line', async () => {
    const home = tempDir('refresh-cli-');
    const env = { GATEWAY_HOME: home, GATEWAY_API: api.url, GATEWAY_TOKEN: token };
    const r = await gateway(['refresh', 'Reports/items', '--wait'], env);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^Refresh \S+ succeeded: 100 rows/);
    expect(r.stderr).toMatch(/(queued|running|succeeded): \d+ rows/);
    const bad = await gateway(['refresh', 'Reports/none', '--wait'], env);
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim()).toBe('gateway: no dataset named "none" in cluster "Reports"');
  }, 30_000);

  it('keeps only the configured number of snapshots', async () => {
    const kept = await dataset('kept', 'SELECT 1 AS one', { retention: 2 });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await refreshAndWait(kept)).id);
    expect(await chunkCount(ids[0])).toEqual([]);
    expect(await chunkCount(ids[2])).toEqual([{ attempt: 1, n: 1 }]);
  }, 30_000);
});

describe('bad input', () => {
  it.each([
    ['an invalid cron expression', { schedule: { cron: 'every day', timezone: 'UTC' } }, 'schedule.cron'],
    ['an unknown time zone', { schedule: { cron: '0 6 * * *', timezone: 'Mars/Olympus' } }, 'schedule.timezone'],
    ['a retry policy of 0 attempts', { retry: { attempts: 0, backoffMs: 0 } }, 'retry.attempts'],
    ['an empty query', { query: '' }, 'query'],
  ])('refuses %s with a 400 naming the field', async (_label, over, field) => {
    const r = await post('/datasets', { dataSourceId: dsId, name: `bad-${field}`, query: 'SELECT 1', ...over });
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ field });
  });

  it('ends a refresh whose query errors as failed, with the data source message, without retrying', async () => {
    const r = await refreshAndWait(await dataset('broken', 'SELECT * FROM missing_table'));
    expect(r.status).toBe('failed');
    expect(r.error).toContain('relation "missing_table" does not exist');
    expect(r.attempts).toHaveLength(1);
  });

  it('ends a refresh whose snapshot is over the size limit as failed', async () => {
    const r = await refreshAndWait(await dataset('huge', 'SELECT g, md5(g::text), md5((g+1)::text) FROM generate_series(1, 150000) g'), 30_000);
    expect(r.status).toBe('failed');
    expect(r.error).toContain('over the size limit of 3000000 bytes');
  }, 40_000);

  it('fails a refresh queued while its data source is deleted', async () => {
    const victim = await post<{ id: string }>(`/clusters/${clusterId}/datasources`, { name: 'doomed', type: 'sqlite', connection: { path: sources.sqlitePath } });
    const d = (await post<{ id: string }>('/datasets', { dataSourceId: victim.body.id, name: 'orphan', query: 'SELECT 1' })).body.id;
    await patch(`/members/${members.a.memberId}`, { enabled: false });
    await patch(`/members/${members.b.memberId}`, { enabled: false });
    await sleep(600);
    const queued = await post<Refresh>(`/datasets/${d}/refreshes`);
    const deleted = await fetch(`${api.url}/api/datasources/${victim.body.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
    expect(deleted.status).toBe(204);
    await sleep(300);
    await patch(`/members/${members.a.memberId}`, { enabled: true });
    await patch(`/members/${members.b.memberId}`, { enabled: true });
    const r = await eventually(async () => {
      const now = (await get<Refresh>(`/refreshes/${queued.body.id}`)).body;
      expect(now.status).toBe('failed');
      return now;
    }, 10_000);
    expect(r.error).toContain('data source of dataset "orphan" was deleted');
  }, 30_000);
});

describe('data source connections', () => {
  it('answers live queries while more long refreshes than connections run on one data source, and runs them all', async () => {
    const slow = await dataset('sleepy', 'SELECT pg_sleep(6) AS slept');
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push((await post<Refresh>(`/datasets/${slow}/refreshes`)).body.id);
    await eventually(async () => {
      const running = (await get<Refresh[]>(`/datasets/${slow}/refreshes?limit=20`)).body.filter((x) => x.status === 'running');
      expect(running.length).toBeGreaterThanOrEqual(9);
    }, 10_000, 100);
    // Eight refreshes hold the member's refresh connections; live queries have their own.
    const t0 = Date.now();
    const q = await post<{ rows: unknown[][] }>(`/datasources/${dsId}/query`, { sql: 'SELECT 42 AS answer' });
    expect(q.status).toBe(200);
    expect(q.body.rows).toEqual([[42]]);
    expect(Date.now() - t0).toBeLessThan(3_000);
    // The two beyond eight wait for a connection longer than the connect timeout (5 s) and still succeed.
    const done = await eventually(async () => {
      const h = (await get<Refresh[]>(`/datasets/${slow}/refreshes?limit=20`)).body;
      expect(h.every((x) => ['succeeded', 'failed', 'cancelled'].includes(x.status))).toBe(true);
      return h;
    }, 40_000, 250);
    expect(done.map((x) => [x.status, x.error, x.attempts.length])).toEqual(ids.map(() => ['succeeded', null, 1]));
  }, 60_000);
});

describe('snapshot integrity', () => {
  it('never completes a snapshot that lost a chunk (a database crash after an acknowledged chunk): the attempt runs again', async () => {
    const n = RAW_BATCH_ROWS * 2 + RAW_BATCH_ROWS / 2;
    // The first chunk goes up, then the query pauses (PostgreSQL may still hold the end of the second in its
    // send buffer): the first chunk is lost meanwhile.
    const d = await dataset('lossy', `SELECT g, md5(g::text) AS h, CASE WHEN g = ${RAW_BATCH_ROWS * 2 + 1} THEN pg_sleep(1.5) END AS pause FROM generate_series(1, ${n}) g`, {
      retry: { attempts: 2, backoffMs: 100 },
    });
    const r = await post<Refresh>(`/datasets/${d}/refreshes`);
    await eventually(async () => expect((await chunkCount(r.body.id)).find((c) => c.attempt === 1)?.n).toBeGreaterThanOrEqual(1), 10_000, 50);
    expect((await get<Refresh>(`/refreshes/${r.body.id}`)).body.status).toBe('running');
    await sql('DELETE FROM "SnapshotChunk" WHERE "refreshId" = $1 AND attempt = 1 AND seq = 0', [r.body.id]);
    const done = await eventually(async () => {
      const x = (await get<Refresh>(`/refreshes/${r.body.id}`)).body;
      expect(['succeeded', 'failed', 'cancelled']).toContain(x.status);
      return x;
    }, 30_000);
    expect(done).toMatchObject({ status: 'succeeded', rows: n });
    expect(done.attempts.map((a) => a.status)).toEqual(['failed', 'succeeded']);
    expect((done.attempts[0] as unknown as { error: string }).error).toMatch(/does not hold the 3 chunks/);
    const lines = (await (await fetch(`${api.url}/api/datasets/${d}/data`, { headers: { authorization: `Bearer ${token}` } })).text()).trim().split('\n');
    expect(lines).toHaveLength(n);
  }, 60_000);
});

describe('cancel', () => {
  it('stops a running refresh on its agent', async () => {
    const slow = await dataset('slow', 'SELECT g, pg_sleep(0.01) FROM generate_series(1, 2000) g');
    const r = await post<Refresh>(`/datasets/${slow}/refreshes`);
    await eventually(async () => expect((await get<Refresh>(`/refreshes/${r.body.id}`)).body.status).toBe('running'), 5_000);
    expect((await post(`/refreshes/${r.body.id}/cancel`)).status).toBe(200);
    const done = await eventually(async () => {
      const now = (await get<Refresh>(`/refreshes/${r.body.id}`)).body;
      expect(now.status).toBe('cancelled');
      return now;
    }, 5_000);
    expect(done.attempts[0].status).toBe('cancelled');
    // The agent really stopped: its PostgreSQL session no longer runs the query.
    const c = new Client({ connectionString: `postgresql://postgres@127.0.0.1:5432/${sources.name}` });
    await c.connect();
    await eventually(async () => expect((await c.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE '%pg_sleep(0.01)%' AND state = 'active' AND pid <> pg_backend_pid()`)).rows[0].n).toBe(0), 3_000);
    await c.end();
    expect((await post(`/refreshes/${r.body.id}/cancel`)).status).toBe(409);
  }, 30_000);
});

describe('schedules and failover', () => {
  it('runs a scheduled refresh on the primary, and on the other member while the primary is disabled', async () => {
    const every = await dataset('ticking', 'SELECT now() AS at', { schedule: { cron: '* * * * * *', timezone: 'Europe/Paris' } });
    const first = await eventually(async () => {
      const h = (await get<Refresh[]>(`/datasets/${every}/refreshes`)).body.filter((x) => x.status === 'succeeded');
      expect(h.length).toBeGreaterThan(0);
      return h[0];
    }, 10_000);
    expect(first.trigger).toBe('schedule');
    expect(first.attempts.at(-1)!.memberName).toBe('a');
    await patch(`/members/${members.a.memberId}`, { enabled: false });
    await sleep(700);
    const since = Date.now();
    const onB = await eventually(async () => {
      const h = (await get<(Refresh & { createdAt: string })[]>(`/datasets/${every}/refreshes`)).body.filter((x) => x.status === 'succeeded' && Date.parse(x.createdAt) > since);
      expect(h.length).toBeGreaterThan(0);
      return h[0];
    }, 10_000);
    expect(onB.attempts.at(-1)).toMatchObject({ memberName: 'b', reason: expect.stringContaining('primary a is disabled') });
    await patch(`/datasets/${every}`, { enabled: false });
    await patch(`/members/${members.a.memberId}`, { enabled: true });
    await sleep(700);
  }, 40_000);

  it('queues a scheduled refresh ahead of its tick and starts it at the tick, not before, even when its job was lost meanwhile', async () => {
    const d = await dataset('ahead', 'SELECT 1 AS one', { schedule: { cron: '*/5 * * * * *', timezone: 'UTC' } });
    const r = await staged(d, 2_000);
    expect(r).toMatchObject({ trigger: 'schedule', startedAt: null, attempts: [] });
    // Redis loses the job while it waits: the reconciler queues it again, still held until its tick.
    const queue = new Queue(QUEUES.refresh, { connection: { url: REDIS_URL }, prefix: clusterKeys(api.redisPrefix, clusterId).bullPrefix });
    try {
      expect(await queue.getJobState(r.id)).toBe('delayed');
      await queue.remove(r.id);
      expect(await queue.getJobState(r.id)).toBe('unknown');
      await eventually(async () => expect(await queue.getJobState(r.id)).toBe('delayed'), 5_000, 50);
    } finally {
      await queue.close();
    }
    const done = await eventually(async () => {
      const x = (await get<Refresh>(`/refreshes/${r.id}`)).body;
      expect(x.status).toBe('succeeded');
      return x;
    }, 15_000);
    expect(Date.parse(done.startedAt!)).toBeGreaterThanOrEqual(Date.parse(r.scheduledFor!));
    expect(Date.parse(done.startedAt!) - Date.parse(r.scheduledFor!)).toBeLessThan(1_000);
    await patch(`/datasets/${d}`, { enabled: false });
  }, 30_000);

  it('does not start a scheduled refresh before its time even when an agent gets its job early (a clock running ahead)', async () => {
    const d = await dataset('early', 'SELECT 1 AS one', { schedule: { cron: '0 0 1 1 *', timezone: 'UTC' } });
    const [{ id, at }] = await sql<{ id: string; at: Date }>(
      `INSERT INTO "Refresh" (id, "datasetId", status, trigger, "scheduledFor") VALUES (gen_random_uuid(), $1, 'queued', 'schedule', now() + interval '2 seconds') RETURNING id, "scheduledFor" AS at`,
      [d],
    );
    // Released at once, as a delayed job is by an agent whose clock is 2 s ahead.
    const queue = new Queue(QUEUES.refresh, { connection: { url: REDIS_URL }, prefix: clusterKeys(api.redisPrefix, clusterId).bullPrefix });
    try {
      await queue.add('refresh', { refreshId: id }, { jobId: id, attempts: 3 });
    } finally {
      await queue.close();
    }
    const done = await eventually(async () => {
      const x = (await get<Refresh>(`/refreshes/${id}`)).body;
      expect(x.status).toBe('succeeded');
      return x;
    }, 15_000);
    expect(Date.parse(done.startedAt!)).toBeGreaterThanOrEqual(at.getTime());
    expect(done.attempts).toHaveLength(1);
  }, 30_000);

  it('withdraws the refresh queued ahead of a tick when the dataset is disabled, and cancels one that an agent gets anyway', async () => {
    const d = await dataset('withdrawn', 'SELECT 1 AS one', { schedule: { cron: '*/5 * * * * *', timezone: 'UTC' } });
    const r = await staged(d);
    await patch(`/datasets/${d}`, { enabled: false });
    expect((await get(`/refreshes/${r.id}`)).status).toBe(404);
    await sleep(Date.parse(r.scheduledFor!) - Date.now() + 1_000);
    expect((await get<Refresh[]>(`/datasets/${d}/refreshes?limit=100`)).body.filter((x) => x.scheduledFor === r.scheduledFor)).toEqual([]);

    // A dataset disabled between the queueing and the tick without the API's withdrawal (the two racing):
    // the start finds the schedule off, and the refresh ends cancelled instead of running.
    await patch(`/datasets/${d}`, { enabled: true });
    const late = await staged(d);
    await sql('UPDATE "Dataset" SET enabled = false WHERE id = $1', [d]);
    const done = await eventually(async () => {
      const x = (await get<Refresh>(`/refreshes/${late.id}`)).body;
      expect(x.status).toBe('cancelled');
      return x;
    }, 15_000);
    expect(done.error).toMatch(/was disabled or lost its schedule before this run/);
    expect(done.attempts).toEqual([]);
  }, 40_000);

  it('never runs a refresh on a member disabled a moment before, even before its agent heard of it', async () => {
    const now = await dataset('right-after-disable', 'SELECT 1 AS one');
    for (const [off, on] of [['a', 'b'], ['b', 'a'], ['a', 'b'], ['b', 'a']] as const) {
      // No pause between the two calls: the agent of the disabled member may still be consuming.
      await patch(`/members/${members[off].memberId}`, { enabled: false });
      await patch(`/members/${members[on].memberId}`, { enabled: true });
      const r = await post<Refresh>(`/datasets/${now}/refreshes`);
      const done = await eventually(async () => {
        const x = (await get<Refresh>(`/refreshes/${r.body.id}`)).body;
        expect(x.status).toBe('succeeded');
        return x;
      }, 10_000);
      expect(done.attempts.map((x) => x.memberName)).toEqual([on]);
    }
    await patch(`/members/${members.a.memberId}`, { enabled: true });
    await patch(`/members/${members.b.memberId}`, { enabled: true });
    await sleep(700);
  }, 60_000);

  it('completes a refresh on another member within 15 s when its member is SIGKILLed, with exactly one snapshot', async () => {
    const slow = await dataset('slow-kill', 'SELECT g, pg_sleep(0.002) FROM generate_series(1, 1500) g');
    const r = await post<Refresh>(`/datasets/${slow}/refreshes`);
    await eventually(async () => expect((await get<Refresh>(`/refreshes/${r.body.id}`)).body.status).toBe('running'), 5_000);
    const killedAt = Date.now();
    await agents.a!.kill('SIGKILL');
    const done = await eventually(async () => {
      const now = (await get<Refresh>(`/refreshes/${r.body.id}`)).body;
      expect(now.status).toBe('succeeded');
      return now;
    }, 20_000, 200);
    expect(Date.now() - killedAt).toBeLessThan(15_000);
    expect(done.rows).toBe(1500);
    expect(done.attempts.map((x) => [x.memberName, x.status])).toEqual([
      ['a', 'abandoned'],
      ['b', 'succeeded'],
    ]);
    expect(await chunkCount(r.body.id)).toEqual([{ attempt: 2, n: 1 }]);
    agents.a = await startAgent(members.a.config);
  }, 40_000);

  it('ends a refresh whose member is killed on every attempt failed after exactly its 3 attempts, each listed with why it ended', async () => {
    const d = await dataset('killed-always', 'SELECT g, pg_sleep(0.01) FROM generate_series(1, 3000) g', { retry: { attempts: 3, backoffMs: 100 } });
    const r = await post<Refresh>(`/datasets/${d}/refreshes`);
    const killed: string[] = [];
    for (let n = 1; n <= 3; n++) {
      // Wait for attempt n to run, then kill its member and start it again (a crash loop on whichever host serves).
      const running = await eventually(async () => {
        const x = (await get<Refresh>(`/refreshes/${r.body.id}`)).body;
        expect(x.status).toBe('running');
        expect(x.attempts).toHaveLength(n);
        expect(x.attempts[n - 1].status).toBe('running');
        return x.attempts[n - 1];
      }, 20_000, 50);
      const name = running.memberName as 'a' | 'b';
      killed.push(name);
      await agents[name]!.kill('SIGKILL');
      agents[name] = await startAgent(members[name].config);
    }
    const done = await eventually(async () => {
      const x = (await get<Refresh>(`/refreshes/${r.body.id}`)).body;
      expect(x.status).toBe('failed');
      return x;
    }, 20_000, 100);
    expect(done.attempts.map((x) => [x.number, x.memberName, x.status])).toEqual(killed.map((name, i) => [i + 1, name, 'abandoned']));
    for (const a of done.attempts as unknown as { memberName: string; error: string }[]) expect(a.error).toMatch(new RegExp(`^member ${a.memberName} was lost while running it: |^the member stopped answering`));
    expect(done.error).toMatch(/^all 3 attempts the retry policy allows ended without a snapshot; the last: /);
    expect(await chunkCount(r.body.id)).toEqual([]);
    // And no fourth attempt later.
    await sleep(1_500);
    expect((await get<Refresh>(`/refreshes/${r.body.id}`)).body.attempts).toHaveLength(3);
  }, 90_000);

  it('completes all of 50 refreshes when Redis loses every key of the deployment mid-run', async () => {
    const d = await dataset('fifty', 'SELECT g FROM generate_series(1, 2000) g, pg_sleep(0.5) s');
    const ids: string[] = [];
    for (let i = 0; i < 50; i++) ids.push((await post<Refresh>(`/datasets/${d}/refreshes`)).body.id);
    await eventually(async () => {
      const h = (await get<Refresh[]>(`/datasets/${d}/refreshes?limit=100`)).body;
      expect(h.filter((x) => x.status === 'succeeded').length).toBeGreaterThanOrEqual(5);
    }, 20_000, 50);
    await dropRedisPrefix(api.redisPrefix); // as if Redis restarted empty
    const atDrop = (await get<Refresh[]>(`/datasets/${d}/refreshes?limit=100`)).body;
    expect(atDrop.filter((x) => x.status !== 'succeeded').length).toBeGreaterThan(10); // many were still in flight
    const final = await eventually(async () => {
      const h = (await get<Refresh[]>(`/datasets/${d}/refreshes?limit=100`)).body;
      expect(h.filter((x) => x.status === 'succeeded')).toHaveLength(50);
      return h;
    }, 60_000, 500);
    expect(final.map((x) => x.id).sort()).toEqual(ids.sort());
    expect(final.filter((x) => x.rows !== 2000)).toEqual([]);
  }, 90_000);

  it('fires a 5-second schedule once per tick with two API instances, for 30 s', async () => {
    const second = await startApiProcess({ SCHEDULER_INTERVAL_MS: '100', RECONCILE_INTERVAL_MS: '1000' }, api);
    try {
      const d = await dataset('twice', 'SELECT 1 AS one', { schedule: { cron: '*/5 * * * * *', timezone: 'UTC' } });
      const start = Date.now();
      await sleep(30_000);
      await patch(`/datasets/${d}`, { enabled: false });
      const end = Date.now();
      await sleep(1_000);
      const h = (await get<(Refresh & { scheduledFor: string })[]>(`/datasets/${d}/refreshes?limit=100`)).body;
      const ticks = h.map((x) => x.scheduledFor);
      expect(new Set(ticks).size).toBe(ticks.length); // never two for one tick
      expect(h.length).toBeGreaterThanOrEqual(5);
      expect(h.length).toBeLessThanOrEqual(7);
      expect(ticks.every((t) => Date.parse(t) >= start - 5_000 && Date.parse(t) <= end)).toBe(true);
    } finally {
      await second.stop();
    }
  }, 60_000);
});
