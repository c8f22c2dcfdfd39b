import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { Client } from 'pg';
import {
  type AgentProcess,
  type ApiProcess,
  chunksOf,
  connectionsOf,
  createSampleSources,
  dropDeployment,
  eventually,
  firstAdminToken,
  freePort,
  installMember,
  json,
  killAgent,
  logLines,
  memoryOf,
  QueryLoop,
  ROOT,
  sleep,
  startAgent,
  startApiProcess,
  workerPidOf,
} from '@gateway/testing';

/**
 * Resilience on real processes: a member frozen (SIGSTOP) under live queries and under a refresh, an API instance
 * SIGKILLed under its members, and a live result far over LIVE_MAX_BYTES next to small queries.
 */
const FAST_PRESENCE = { HEARTBEAT_MS: '200', PRESENCE_TTL_MS: '800' };
const FREEZE_MS = 6_000;

type Refresh = { id: string; status: string; rows: number; error: string | null; attempts: { number: number; memberName: string; status: string }[] };
type QueryReply = { columns: { name: string }[]; rows: unknown[][]; truncated: boolean; servedBy: { memberName: string; reason: string }; message?: string; field?: string };

let sources: Awaited<ReturnType<typeof createSampleSources>>;

beforeAll(async () => {
  sources = await createSampleSources();
}, 60_000);

afterAll(async () => {
  await sources?.drop();
}, 60_000);

/** Signs up, creates a cluster of the members named (the first one primary), starts their agents, adds the PostgreSQL source. */
async function deployment(api: ApiProcess, cluster: string, names: string[], apiUrls?: string[], agentEnv: Record<string, string> = {}) {
  const token = await firstAdminToken(api);
  const members: Record<string, { config: string; memberId: string; clusterId: string }> = {};
  for (const [i, member] of names.entries()) {
    members[member] = await installMember(api, token, { ...(i === 0 ? { name: cluster } : { join: cluster }), member, recoveryKey: `${cluster}-recovery`, apiUrls });
  }
  const clusterId = members[names[0]].clusterId;
  const started = await Promise.all(names.map((n) => startAgent(members[n].config, agentEnv)));
  const agents: Record<string, AgentProcess> = Object.fromEntries(names.map((n, i) => [n, started[i]]));
  const ds = await json<{ id: string }>(`${api.url}/api/clusters/${clusterId}/datasources`, 'POST', {
    name: 'pg',
    type: 'postgres',
    connection: { host: sources.postgres.host, port: sources.postgres.port, database: sources.postgres.database },
    credentials: { username: 'postgres', password: '' },
  }, token);
  if (ds.status !== 201) throw new Error(JSON.stringify(ds.body));
  return { token, clusterId, members, agents, dsId: ds.body.id };
}

/** Freezes an agent for `ms` (SIGSTOP), and continues it (SIGCONT) even if the wait is interrupted. */
async function freeze(agent: AgentProcess, ms: number) {
  const stoppedAt = Date.now();
  agent.child.kill('SIGSTOP');
  try {
    await sleep(ms);
  } finally {
    agent.child.kill('SIGCONT');
  }
  return { stoppedAt, continuedAt: Date.now() };
}

describe('a frozen member', () => {
  let api: ApiProcess;
  let d: Awaited<ReturnType<typeof deployment>>;

  const post = <T = Record<string, unknown>>(path: string, body?: unknown) => json<T>(`${api.url}/api${path}`, 'POST', body, d.token);
  const get = <T = Record<string, unknown>>(path: string) => json<T>(`${api.url}/api${path}`, 'GET', undefined, d.token);
  const query = (body: Record<string, unknown>) => post<QueryReply>(`/datasources/${d.dsId}/query`, body);

  beforeAll(async () => {
    api = await startApiProcess(FAST_PRESENCE);
    d = await deployment(api, 'Frozen', ['a', 'b']);
    await eventually(async () => expect((await query({ sql: 'SELECT 1' })).body.servedBy?.memberName).toBe('a'), 10_000);
  }, 180_000);

  afterAll(async () => {
    await Promise.all(Object.values(d?.agents ?? {}).map(killAgent));
    await api?.stop();
  }, 60_000);

  it('a frozen member (SIGSTOP 6 s) during a query loop: 0 client errors; it comes back and serves again', async () => {
    const a = d.agents.a;
    const connectedBefore = connectionsOf(a).length;
    const loop = new QueryLoop(`${api.url}/api/datasources/${d.dsId}/query`, d.token, { sql: 'SELECT 1' }, 20);
    let frozen = { stoppedAt: 0, continuedAt: 0 };
    try {
      await eventually(async () => expect(loop.answers.filter((x) => x.member === 'a').length).toBeGreaterThanOrEqual(20), 10_000, 20);
      frozen = await freeze(a, FREEZE_MS);
      // Back: a second connection (it finds its old one closed by the control plane), then the primary again.
      await eventually(async () => expect(connectionsOf(a).length).toBe(connectedBefore + 1), 15_000, 50);
      await eventually(async () => expect(loop.answers.filter((x) => x.endedAt > frozen.continuedAt && x.member === 'a').length).toBeGreaterThanOrEqual(20), 20_000, 50);
    } finally {
      await loop.stop();
    }
    const gap = loop.longestGap();
    const during = loop.answers.filter((x) => x.startedAt >= frozen.stoppedAt && x.endedAt <= frozen.continuedAt);
    const after = loop.answers.filter((x) => x.startedAt > frozen.continuedAt);
    console.log(
      `frozen member under a query loop: ${loop.answers.length} answers, ${loop.failures.length} errors, longest gap ${gap.ms} ms ` +
        `(starting ${gap.after - frozen.stoppedAt} ms after SIGSTOP); during the freeze ${JSON.stringify(loop.byMember(during))}, after SIGCONT ${JSON.stringify(loop.byMember(after))}`,
    );
    expect(loop.failures).toEqual([]);
    expect(gap.ms).toBeLessThan(2_000);
    // Every query asked and answered while a was frozen was answered by b.
    expect(during.length).toBeGreaterThanOrEqual(50);
    expect(during.filter((x) => x.member !== 'b')).toEqual([]);
    // a connected again, after SIGCONT, and serves again as the primary.
    expect(connectionsOf(a)).toHaveLength(connectedBefore + 1);
    expect(after.some((x) => x.member === 'a')).toBe(true);
    expect(loop.last?.member).toBe('a');
  }, 90_000);

  it('a frozen member during a refresh: the refresh completes on the other member with exactly one snapshot, and what the frozen member sends after waking is refused', async () => {
    const a = d.agents.a;
    // 4000 rows, a sleep of 1 ms per row (the lateral subquery depends on g, so it runs for every row): several seconds.
    const created = await post<{ id: string }>('/datasets', {
      dataSourceId: d.dsId,
      name: 'slow-freeze',
      query: 'SELECT g, md5(g::text) AS h FROM generate_series(1, 4000) g, LATERAL (SELECT pg_sleep(0.001) WHERE g > 0) s',
    });
    expect(created.status).toBe(201);
    const datasetId = created.body.id;
    const logMark = a.output().length;
    const r = await post<Refresh>(`/datasets/${datasetId}/refreshes`);
    expect(r.status).toBe(201);
    const refreshId = r.body.id;
    await eventually(async () => {
      const now = (await get<Refresh>(`/refreshes/${refreshId}`)).body;
      expect(now.status).toBe('running');
      expect(now.attempts[0]?.memberName).toBe('a');
    }, 10_000, 50);
    const { continuedAt } = await freeze(a, FREEZE_MS);

    const done = await eventually(async () => {
      const now = (await get<Refresh>(`/refreshes/${refreshId}`)).body;
      expect(['succeeded', 'failed', 'cancelled']).toContain(now.status);
      return now;
    }, 60_000, 200);
    console.log(`refresh across a frozen member: ${done.status}, ${done.rows} rows, attempts ${JSON.stringify(done.attempts.map((x) => [x.number, x.memberName, x.status]))}`);
    expect(done).toMatchObject({ status: 'succeeded', rows: 4000, error: null });
    const winner = done.attempts.at(-1)!;
    expect(winner).toMatchObject({ memberName: 'b', status: 'succeeded' });
    expect(done.attempts[0].memberName).toBe('a');
    expect(['abandoned', 'cancelled']).toContain(done.attempts[0].status);
    expect(done.attempts.filter((x) => x.status === 'succeeded')).toHaveLength(1);
    expect(await chunksOf(api.databaseUrl, refreshId)).toEqual([{ attempt: winner.number, n: 1 }]);
    const readData = async () => {
      const res = await fetch(`${api.url}/api/datasets/${datasetId}/data?format=ndjson`, { headers: { authorization: `Bearer ${d.token}` } });
      expect(res.status).toBe(200);
      return (await res.text()).trim().split('\n');
    };
    const lines = await readData();
    expect(lines).toHaveLength(4000);
    expect(lines.map((l) => (JSON.parse(l) as { g: number }).g)).toEqual(Array.from({ length: 4000 }, (_, i) => i + 1));

    // After waking, the frozen member stops its attempt (its connection was closed, or the control plane refuses
    // its chunks and status as not the live attempt's) without ever being taken for the live one.
    const stopped = await eventually(async () => {
      const line = logLines(a.output().slice(logMark)).find((l) => l.refreshId === refreshId && String(l.msg).startsWith('refresh stopped: '));
      expect(line).toBeDefined();
      return line!;
    }, 15_000, 100);
    console.log(`the frozen member after waking: "${String(stopped.msg)}"`);
    const late = logLines(a.output().slice(logMark)).filter((l) => l.refreshId === refreshId && /refresh done|refresh attempt failed/.test(String(l.msg)));
    expect(late).toEqual([]);

    // Nothing changes afterwards: one snapshot, still the winner's.
    await sleep(Math.max(0, continuedAt + 3_000 - Date.now()));
    const again = (await get<Refresh>(`/refreshes/${refreshId}`)).body;
    expect(again).toMatchObject({ status: 'succeeded', rows: 4000 });
    expect(again.attempts.map((x) => [x.number, x.memberName, x.status])).toEqual(done.attempts.map((x) => [x.number, x.memberName, x.status]));
    expect(await chunksOf(api.databaseUrl, refreshId)).toEqual([{ attempt: winner.number, n: 1 }]);
    const history = (await get<Refresh[]>(`/datasets/${datasetId}/refreshes`)).body;
    expect(history.map((h) => [h.id, h.status])).toEqual([[refreshId, 'succeeded']]);
    expect(await readData()).toHaveLength(4000);
    // The control plane completed the refresh once, with the winner's attempt.
    const completions = api.output().split('\n').filter((l) => l.includes(`refresh ${refreshId} succeeded with attempt`));
    expect(completions).toHaveLength(1);
    expect(completions[0]).toContain(`succeeded with attempt ${winner.number} on member ${d.members.b.memberId}`);
  }, 120_000);
});

describe("the control plane's Redis down", () => {
  let api: ApiProcess;
  let d: Awaited<ReturnType<typeof deployment>>;
  let redis: ChildProcess | null = null;
  let port = 0;

  /** A Redis of this test's own, keeping nothing on disk: the shared one is never stopped. */
  const startRedis = async () => {
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'ignore'] });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (c) => {
        out += c;
        if (out.includes('Ready to accept connections')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${out}`)));
    });
    return child;
  };
  const stopRedis = async () => {
    if (!redis || redis.exitCode !== null || redis.signalCode !== null) return;
    const exited = new Promise((r) => redis!.once('exit', r));
    redis.kill('SIGKILL');
    await exited;
  };

  beforeAll(async () => {
    port = await freePort();
    redis = await startRedis();
    api = await startApiProcess({ ...FAST_PRESENCE, REDIS_URL: `redis://127.0.0.1:${port}`, RECONCILE_INTERVAL_MS: '1000', REFRESH_STALL_MS: '4000' });
    d = await deployment(api, 'NoRedis', ['a']);
    await eventually(async () => expect((await json(`${api.url}/api/datasources/${d.dsId}/query`, 'POST', { sql: 'SELECT 1' }, d.token)).status).toBe(200), 10_000);
  }, 180_000);

  afterAll(async () => {
    await Promise.all(Object.values(d?.agents ?? {}).map(killAgent));
    await api?.stop();
    await stopRedis();
  }, 60_000);

  it('keeps serving live queries on the member connected to the instance while Redis is down for 3 s: 0 errors', async () => {
    const loop = new QueryLoop(`${api.url}/api/datasources/${d.dsId}/query`, d.token, { sql: 'SELECT 1' }, 20);
    let downAt = 0;
    let upAt = 0;
    try {
      await eventually(async () => expect(loop.answers.length).toBeGreaterThanOrEqual(20), 10_000, 20);
      downAt = Date.now();
      await stopRedis();
      await sleep(3_000);
      redis = await startRedis();
      upAt = Date.now();
      await sleep(1_000);
    } finally {
      await loop.stop();
    }
    const during = loop.answers.filter((x) => x.startedAt >= downAt && x.endedAt <= upAt);
    console.log(`queries with the control plane's Redis down: ${during.length} answered during the outage, ${loop.failures.length} errors, longest gap ${loop.longestGap().ms} ms`);
    expect(loop.failures).toEqual([]);
    expect(during.length).toBeGreaterThanOrEqual(50);
    expect(during.every((x) => x.status === 200 && x.member === 'a')).toBe(true);
  }, 60_000);

  it('Redis down for 10 s during a query loop and a run of 30 refreshes: only 200 or 503, sign-in and the cluster list 200 throughout, and 30 of 30 refreshes succeed with one snapshot each', async () => {
    const datasets: string[] = [];
    for (let i = 0; i < 30; i++) {
      const r = await json<{ id: string }>(`${api.url}/api/datasets`, 'POST', { dataSourceId: d.dsId, name: `outage-${i}`, query: 'SELECT g, md5(g::text) AS h FROM generate_series(1, 2000) g, pg_sleep(1.5) s' }, d.token);
      expect(r.status).toBe(201);
      datasets.push(r.body.id);
    }
    const loop = new QueryLoop(`${api.url}/api/datasources/${d.dsId}/query`, d.token, { sql: 'SELECT 1' }, 20);
    // Sign-in and the cluster list, side by side with the query loop: they need only PostgreSQL.
    const management: { what: string; status: number; at: number }[] = [];
    let managing = true;
    const manage = (async () => {
      while (managing) {
        const login = await fetch(`${api.url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'admin@example.com', password: 'correct horse battery staple' }) });
        management.push({ what: 'sign-in', status: login.status, at: Date.now() });
        const clusters = await fetch(`${api.url}/api/clusters`, { headers: { authorization: `Bearer ${d.token}` } });
        management.push({ what: 'clusters', status: clusters.status, at: Date.now() });
        await sleep(100);
      }
    })();
    const refreshes: string[] = [];
    let downAt = 0;
    let upAt = 0;
    try {
      const refresh = async (id: string) => {
        const r = await json<{ id: string }>(`${api.url}/api/datasets/${id}/refreshes`, 'POST', undefined, d.token);
        expect(r.status).toBe(201);
        refreshes.push(r.body.id);
      };
      // 20 running on the member when Redis goes; 10 asked for while it is gone (kept in PostgreSQL, queued after).
      for (const id of datasets.slice(0, 20)) await refresh(id);
      await sleep(300);
      downAt = Date.now();
      await stopRedis();
      for (const id of datasets.slice(20)) await refresh(id);
      await sleep(10_000 - (Date.now() - downAt));
      redis = await startRedis();
      upAt = Date.now();
      await sleep(2_000);
    } finally {
      await loop.stop();
      managing = false;
      await manage;
    }
    const statuses = new Set(loop.answers.map((a) => a.status));
    console.log(`Redis down 10 s: ${loop.answers.length} live answers (${[...statuses].join(', ')}), ${management.length} sign-ins and cluster lists`);
    expect([...statuses].filter((x) => x !== 200 && x !== 503)).toEqual([]);
    // Answers resume (the member held here kept answering): none of the last 2 s after Redis came back failed.
    expect(loop.answers.filter((a) => a.startedAt >= upAt).map((a) => a.status).filter((x) => x !== 200)).toEqual([]);
    expect(loop.longestGap(upAt).ms).toBeLessThan(2_000);
    expect(management.filter((m) => m.at >= downAt && m.at <= upAt).length).toBeGreaterThanOrEqual(20);
    expect(management.filter((m) => m.status !== 200)).toEqual([]);
    const done = await eventually(async () => {
      const all = await Promise.all(refreshes.map(async (id) => (await json<Refresh & { snapshotAttempt?: number }>(`${api.url}/api/refreshes/${id}`, 'GET', undefined, d.token)).body));
      expect(all.filter((r) => r.status !== 'succeeded').map((r) => [r.id, r.status, r.error])).toEqual([]);
      return all;
    }, 60_000, 500);
    expect(done.map((r) => r.rows)).toEqual(refreshes.map(() => 2000));
    for (const r of done) {
      const chunks = await chunksOf(api.databaseUrl, r.id);
      const winner = r.attempts.find((a) => a.status === 'succeeded')!;
      expect(chunks.map((c) => c.attempt)).toEqual([winner.number]);
      expect(r.attempts.filter((a) => a.status === 'succeeded')).toHaveLength(1);
    }
  }, 150_000);
});

describe('two API instances', () => {
  let api1: ApiProcess;
  let api2: ApiProcess;
  let d: Awaited<ReturnType<typeof deployment>> | undefined;

  beforeAll(async () => {
    api1 = await startApiProcess(FAST_PRESENCE);
    api2 = await startApiProcess(FAST_PRESENCE, api1);
    d = await deployment(api1, 'Twin', ['a', 'b'], [api1.url, api2.url]);
  }, 180_000);

  afterAll(async () => {
    await Promise.all(Object.values(d?.agents ?? {}).map(killAgent));
    await api2?.stop();
    if (api1?.child.exitCode === null && api1.child.signalCode === null) {
      await api1.stop();
    } else if (api1) {
      await dropDeployment(api1); // the owner of the database and the prefix was killed: its stop() would wait for an exit that already happened
    }
  }, 60_000);

  it('two API instances, the agent configured with both: SIGKILL the one it is connected to; it reconnects to the other and queries keep succeeding', async () => {
    const { agents, token, dsId } = d!;
    for (const agent of Object.values(agents)) expect(connectionsOf(agent)).toEqual([api1.url]);
    const ask = (url: string) => json<QueryReply>(`${url}/api/datasources/${dsId}/query`, 'POST', { sql: 'SELECT 1' }, token);
    await eventually(async () => expect((await ask(api2.url)).body.servedBy?.memberName).toBe('a'), 10_000);

    const loop = new QueryLoop(`${api2.url}/api/datasources/${dsId}/query`, token, { sql: 'SELECT 1' }, 20);
    let killedAt = 0;
    try {
      await eventually(async () => expect(loop.answers.filter((x) => x.status === 200).length).toBeGreaterThanOrEqual(20), 10_000, 20);
      killedAt = Date.now();
      api1.child.kill('SIGKILL');
      for (const agent of Object.values(agents)) await eventually(async () => expect(connectionsOf(agent)).toEqual([api1.url, api2.url]), 15_000, 50);
      await eventually(async () => expect(loop.answers.filter((x) => x.startedAt > killedAt && x.status === 200 && x.member === 'a').length).toBeGreaterThanOrEqual(50), 20_000, 50);
    } finally {
      await loop.stop();
    }
    const gap = loop.longestGap();
    const after = loop.answers.filter((x) => x.startedAt > killedAt);
    const reconnects = Object.entries(agents).map(([name, agent]) => {
      const up = logLines(agent.output()).filter((l) => l.msg === 'connected to the control plane').at(-1)!;
      return `${name} at +${Number(up.time) - killedAt} ms`;
    });
    console.log(
      `SIGKILL of the API instance holding the members: ${loop.answers.length} answers through the other, ${loop.failures.length} not 200, longest gap ${gap.ms} ms ` +
        `(starting ${gap.after - killedAt} ms after the kill); reconnected to ${api2.url}: ${reconnects.join(', ')}; after the kill ${JSON.stringify(loop.byMember(after))}`,
    );
    expect(loop.failures).toEqual([]);
    expect(gap.ms).toBeLessThan(5_000);
    expect(after.length).toBeGreaterThanOrEqual(50);
    expect(loop.last?.member).toBe('a');
    // Each member is held by the survivor now: a query asked there runs on its own connection.
    expect((await ask(api2.url)).body.servedBy.memberName).toBe('a');
  }, 90_000);
});

describe('a live result over LIVE_MAX_BYTES', () => {
  let api: ApiProcess;
  let d: Awaited<ReturnType<typeof deployment>>;
  const query = (body: Record<string, unknown>) => json<QueryReply>(`${api.url}/api/datasources/${d.dsId}/query`, 'POST', body, d.token);

  beforeAll(async () => {
    // Memory is measured as deployed: built (no TypeScript compiler in the process), with MALLOC_ARENA_MAX=2 and the
    // API with MALLOC_MMAP_THRESHOLD_=131072, as "Running in production" in the README says.
    for (const project of ['apps/api', 'apps/agent']) execFileSync(process.execPath, [path.join(ROOT, 'tools/build.js'), project], { stdio: 'ignore' });
    const deployed = { GATEWAY_RUN_FROM: 'dist', MALLOC_ARENA_MAX: '2' };
    api = await startApiProcess({ ...FAST_PRESENCE, ...deployed, MALLOC_MMAP_THRESHOLD_: '131072' });
    d = await deployment(api, 'Large', ['a'], undefined, deployed);
    await eventually(async () => expect((await query({ sql: 'SELECT 1' })).status).toBe(200), 10_000);
  }, 180_000);

  afterAll(async () => {
    await Promise.all(Object.values(d?.agents ?? {}).map(killAgent));
    await api?.stop();
  }, 60_000);

  it('a live result of 200 MB is refused with the clear error while small queries at the same time answer in under 1 s; the agent and the API, as deployed, stay under 300 MB', async () => {
    const apiPid = workerPidOf(api.child.pid!);
    const agentPid = workerPidOf(d.agents.a.child.pid!);
    const before = { api: memoryOf(apiPid), agent: memoryOf(agentPid) };
    console.log(`before the large query: API (pid ${apiPid}) RSS ${before.api.rssMb} MB, peak so far ${before.api.peakMb} MB; agent (pid ${agentPid}) RSS ${before.agent.rssMb} MB, peak so far ${before.agent.peakMb} MB`);

    const big = 'SELECT g, repeat(\'x\', 2000) AS pad FROM generate_series(1, 100000) g';
    const t0 = Date.now();
    let bigEndedAt = 0;
    const pending = query({ sql: big, maxRows: 100_000, timeoutMs: 60_000 }).then((r) => {
      bigEndedAt = Date.now();
      return r;
    });
    // The large query is running at the database (so the small ones really run beside it).
    const pg = new Client({ connectionString: `postgresql://postgres@${sources.postgres.host}:${sources.postgres.port}/${sources.postgres.database}` });
    await pg.connect();
    try {
      await eventually(async () => {
        const n = (await pg.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE '%repeat(''x'', 2000)%' AND pid <> pg_backend_pid()`)).rows[0].n;
        expect(n === 1 || bigEndedAt > 0).toBe(true);
      }, 10_000, 10);
    } finally {
      await pg.end();
    }
    // 20 small queries, four at a time, each timed; "while the large one ran" means asked before it answered.
    const small: { ms: number; status: number; whileBig: boolean }[] = [];
    await Promise.all(
      [0, 1, 2, 3].map(async (w) => {
        for (let i = w; i < 20; i += 4) {
          const s = Date.now();
          const whileBig = bigEndedAt === 0;
          const r = await query({ sql: `SELECT ${i} AS n` });
          small.push({ ms: Date.now() - s, status: r.status, whileBig });
          expect(r.body.rows).toEqual([[i]]);
        }
      }),
    );
    const r = await pending;
    const after = { api: memoryOf(apiPid), agent: memoryOf(agentPid) };
    const overlapping = small.filter((s) => s.whileBig);
    console.log(
      `large live result: ${r.status} after ${bigEndedAt - t0} ms: "${r.body.message}"; 20 small queries (4 at a time): ${small.map((s) => s.ms).join(', ')} ms ` +
        `(${overlapping.length} of them asked while the large one ran, slowest ${Math.max(...small.map((s) => s.ms))} ms); ` +
        `peak RSS: API ${after.api.peakMb} MB (RSS now ${after.api.rssMb} MB, before ${before.api.rssMb} MB), agent ${after.agent.peakMb} MB (RSS now ${after.agent.rssMb} MB)`,
    );
    expect(r.status).toBe(413);
    expect(r.body.field).toBe('maxRows');
    expect(r.body.message).toContain('LIVE_MAX_BYTES');
    expect(r.body.message).toContain('maxRows');
    expect(r.body.message).toContain('64 MiB');
    expect(small.map((s) => s.status)).toEqual(small.map(() => 200));
    expect(small.filter((s) => s.ms >= 1_000)).toEqual([]);
    expect(overlapping.length).toBeGreaterThanOrEqual(10);
    expect(after.agent.peakMb).toBeLessThan(300);
    expect(after.api.peakMb).toBeLessThan(300);
    // Both still serve.
    expect((await query({ sql: 'SELECT 1' })).status).toBe(200);
  }, 120_000);

  it('a live result just under the limit (60 MB) is answered whole, and the API holds it about once (it grows by under 100 MB)', async () => {
    const apiPid = workerPidOf(api.child.pid!);
    const rows = 30_000;
    const before = memoryOf(apiPid);
    const t0 = Date.now();
    const r = await query({ sql: `SELECT g, repeat('y', 2000) AS pad FROM generate_series(1, ${rows}) g`, maxRows: rows, timeoutMs: 60_000 });
    const after = memoryOf(apiPid);
    // VmHWM counts from the process's start: the growth over this result is the peak past what it held before it.
    const grewMb = Math.max(0, after.peakMb - before.rssMb);
    console.log(`a ${rows}-row live result of about 60 MB: ${r.status} after ${Date.now() - t0} ms; API RSS before ${before.rssMb} MB, peak ${after.peakMb} MB: grew ${grewMb.toFixed(1)} MB`);
    expect(r.status).toBe(200);
    expect(r.body.rows).toHaveLength(rows);
    expect(r.body.rows[rows - 1]).toEqual([rows, 'y'.repeat(2000)]);
    expect(r.body.truncated).toBe(false);
    expect(r.body.columns.map((c) => c.name)).toEqual(['g', 'pad']);
    expect(r.body.servedBy.memberName).toBe('a');
    // Serialized whole (one string of the reply and its buffer besides the rows) it grew by about 260 MB.
    expect(grewMb).toBeLessThan(100);
  }, 120_000);
});
