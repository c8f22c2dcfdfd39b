import { spawn, type ChildProcess } from 'node:child_process';
import { generateClusterKeyPair, generateMemberKeyPair, sealPrivateKey } from '@gateway/domain/crypto';
import { freePort } from '@gateway/testing';
import { startTestApi, type TestApi } from './support/test-env';

/**
 * Expected outcomes and outages, as an operator sees them in the answers and the log: "no member can serve" is an
 * answer, not a fault (warn, no stack trace), and a store out of reach answers 503 naming it with Retry-After, never
 * 500, and is logged once. The Redis that goes down is a private one started by this test, never the shared one.
 */
const PASSWORD = 'long enough password';


/** A Redis of this test's own, on `port`, keeping nothing on disk. */
async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${out}`)), 10_000);
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}:\n${out}`)));
  });
  return child;
}

async function stopRedis(child: ChildProcess) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

type Answer = { status: number; body: { statusCode?: number; error?: string; message?: string; detail?: string }; retryAfter: string | null };

async function post(api: TestApi, path: string, token: string): Promise<Answer> {
  const res = await fetch(api.url + path, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: (await res.json()) as Answer['body'], retryAfter: res.headers.get('retry-after') };
}

/** A signed-up admin and a cluster whose only member has never connected. */
async function clusterWithoutMembers(api: TestApi) {
  const signup = await fetch(`${api.url}/api/auth/signup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'ops@example.com', password: PASSWORD }) });
  const { token } = (await signup.json()) as { token: string };
  const keys = generateClusterKeyPair();
  const created = await fetch(`${api.url}/api/clusters`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 'Plant',
      publicKey: keys.publicKey,
      keyEnvelope: await sealPrivateKey(keys.privateKey, 'recovery-key', { memoryKiB: 19456, iterations: 2, parallelism: 1 }),
      member: { name: 'm1', hostName: 'h', agentVersion: '0.1.0', publicKey: generateMemberKeyPair().publicKey },
    }),
  });
  const { clusterId } = (await created.json()) as { clusterId: string };
  return { token, clusterId };
}

const logLines = (api: TestApi) => api.logs.join('').split('\n').filter(Boolean);

describe('expected outcomes are answers, not faults', () => {
  let api: TestApi;
  afterAll(async () => api?.close());

  it('logs a run of 100 "no member can serve" answers at warn, without one stack trace', async () => {
    api = await startTestApi();
    const { token, clusterId } = await clusterWithoutMembers(api);
    const before = logLines(api).length;
    for (let i = 0; i < 100; i++) {
      const r = await post(api, `/api/clusters/${clusterId}/ping`, token);
      expect([r.status, r.body.message]).toEqual([503, expect.stringMatching(/^no member of cluster "Plant" can serve this now: /)]);
    }
    const lines = logLines(api).slice(before).map((l) => JSON.parse(l) as { level: number; msg: string; stack?: string });
    const answers = lines.filter((l) => /answered 503: no member of cluster/.test(l.msg));
    expect(answers).toHaveLength(100);
    expect(answers.every((l) => l.level === 40)).toBe(true);
    expect(lines.filter((l) => l.level >= 50)).toEqual([]);
    expect(lines.filter((l) => l.stack !== undefined || /\n\s+at /.test(l.msg))).toEqual([]);
  }, 60_000);
});

describe('a store out of reach', () => {
  let api: TestApi;
  let redis: ChildProcess;
  let port: number;
  afterAll(async () => {
    if (redis) await stopRedis(redis);
    // Its Redis is gone with its keys: close() would try to sweep them on the private server.
    if (redis) redis = await startRedis(port);
    await api?.close();
    if (redis) await stopRedis(redis);
  }, 60_000);

  it('answers 503 naming Redis with Retry-After while its Redis is down (never 500), logs it once, keeps routing, sign-in and the cluster lists working (presence unknown), and answers again once it is back', async () => {
    port = await freePort();
    redis = await startRedis(port);
    api = await startTestApi({ REDIS_URL: `redis://127.0.0.1:${port}` });
    const { token, clusterId } = await clusterWithoutMembers(api);
    expect((await post(api, `/api/clusters/${clusterId}/ping`, token)).status).toBe(503);
    await stopRedis(redis);
    const before = logLines(api).length;
    // Routing needs no Redis (it knows the members connected to this instance): the answer is still the cluster's own.
    const pings: Answer[] = [];
    for (let i = 0; i < 10; i++) pings.push(await post(api, `/api/clusters/${clusterId}/ping`, token));
    expect(new Set(pings.map((r) => `${r.status} ${r.body.message?.split(':')[0]}`))).toEqual(new Set(['503 no member of cluster "Plant" can serve this now']));
    // A change to the cluster is stored (PostgreSQL is the source of truth): 200; the other instances hear of it once
    // Redis is back.
    const send = async (method: string, body?: unknown): Promise<Answer> => {
      const res = await fetch(`${api.url}/api/clusters/${clusterId}`, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
      return { status: res.status, body: (res.status === 204 ? {} : await res.json()) as Answer['body'], retryAfter: res.headers.get('retry-after') };
    };
    const changes: Answer[] = [];
    for (let i = 0; i < 30; i++) changes.push(await send('PATCH', { contact: `ops${i}@example.com` }));
    expect(changes.map((r) => r.status)).toEqual(Array(30).fill(200));
    expect((await send('GET')).body).toMatchObject({ contact: 'ops29@example.com' });
    // Deleting a cluster must remove its queue and keys from Redis: 503 naming it, and the cluster is untouched.
    const during: Answer[] = [];
    for (let i = 0; i < 30; i++) during.push(await send('DELETE'));
    expect(during.filter((r) => r.status === 500)).toEqual([]);
    const outage = during.filter((r) => r.body.detail);
    expect(outage.length).toBeGreaterThanOrEqual(25);
    expect((await send('GET')).status).toBe(200);
    expect(outage[0]).toEqual({
      status: 503,
      body: { statusCode: 503, error: 'unavailable', message: 'the queue store (Redis) is unreachable; try again shortly', detail: 'the queue store (Redis) is unreachable' },
      retryAfter: '2',
    });
    const said = logLines(api).slice(before).filter((l) => l.includes('is unreachable:') && l.includes('answered 503'));
    expect(said).toHaveLength(1);
    expect(said[0]).not.toMatch(/"stack"|\\n\s+at /);
    // The cluster and member lists need only PostgreSQL: 200, with presence unknown rather than everyone offline.
    const get = async (path: string) => {
      const res = await fetch(api.url + path, { headers: { authorization: `Bearer ${token}` } });
      return { status: res.status, body: (await res.json()) as unknown };
    };
    expect(await get('/api/clusters')).toEqual({ status: 200, body: [expect.objectContaining({ id: clusterId, onlineCount: 0, presenceKnown: false })] });
    expect(await get(`/api/clusters/${clusterId}/members`)).toEqual({ status: 200, body: [expect.objectContaining({ name: 'm1', online: false, presenceKnown: false })] });
    // Data sources, datasets, refreshes and their history need only PostgreSQL: a refresh asked for now is kept queued.
    const req = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(api.url + path, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> & { id?: string } };
    };
    const ds = await req('POST', `/api/clusters/${clusterId}/datasources`, { name: 'pg', type: 'postgres', connection: { host: '127.0.0.1', port: 5432, database: 'postgres' }, credentials: { username: 'postgres', password: 'pw' } });
    expect(ds.status).toBe(201);
    expect((await req('GET', `/api/clusters/${clusterId}/datasources`)).status).toBe(200);
    const dataset = await req('POST', '/api/datasets', { dataSourceId: ds.body.id, name: 'daily', query: 'SELECT 1' });
    expect(dataset.status).toBe(201);
    const refresh = await req('POST', `/api/datasets/${dataset.body.id}/refreshes`);
    expect(refresh).toMatchObject({ status: 201, body: { status: 'queued' } });
    expect((await req('GET', `/api/datasets/${dataset.body.id}/refreshes`)).status).toBe(200);
    expect((await req('GET', '/api/datasets')).status).toBe(200);
    // Sign-in needs only PostgreSQL: it keeps working, its limits counted by this instance alone (said once).
    const login = (password: string) => fetch(`${api.url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'ops@example.com', password }) });
    expect((await login(PASSWORD)).status).toBe(200);
    const wrong: number[] = [];
    for (let i = 0; i < 11; i++) wrong.push((await login('not the password')).status);
    expect(wrong).toEqual([...Array(10).fill(401), 429]);
    expect(logLines(api).filter((l) => l.includes('sign-in limits are counted by this API instance alone'))).toHaveLength(1);
    // Back on the same port: the API reconnects by itself, and what needs Redis works again.
    redis = await startRedis(port);
    const backAt = Date.now();
    let last: { status: number; body: unknown };
    do {
      last = await get('/api/clusters');
      if ((last.body as { presenceKnown?: boolean }[])[0]?.presenceKnown) break;
      await new Promise((r) => setTimeout(r, 100));
    } while (Date.now() - backAt < 10_000);
    expect(last).toEqual({ status: 200, body: [expect.objectContaining({ id: clusterId, presenceKnown: true })] });
    expect(Date.now() - backAt).toBeLessThan(5_000);
    // The changes stored meanwhile were announced: the cluster's config version moved in the new Redis.
    await new Promise((r) => setTimeout(r, 1_500));
    expect(logLines(api).filter((l) => l.includes('is back: the announcement of config changes to the other API instances resumed'))).toHaveLength(1);
    expect((await send('DELETE')).status).toBe(204);
    expect(logLines(api).filter((l) => l.includes('"level":50'))).toEqual([]);
  }, 60_000);
});
