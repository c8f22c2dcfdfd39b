import { spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import path from 'node:path';
import { dropRedisPrefix, eventually, freePort, ROOT, tempDir, testDatabase, testRedisPrefix } from '@gateway/testing';

// `npm start` on a fresh deployment and again: the demo is created once, then reused; Ctrl-C stops it all.

describe('npm start: first run with a demo, second run reusing it', () => {
  const db = testDatabase('gw_test_start');
  const demo = testDatabase('gw_src_demo');
  const redisPrefix = testRedisPrefix();
  const demoDir = tempDir('gateway-demo-');
  let env: Record<string, string>;
  let apiUrl: string;

  beforeAll(async () => {
    const [apiPort, webPort] = [await freePort(), await freePort()];
    apiUrl = `http://127.0.0.1:${apiPort}`;
    env = {
      ...(process.env as Record<string, string>),
      API_PORT: String(apiPort),
      WEB_PORT: String(webPort),
      DATABASE_URL: db.url,
      REDIS_PREFIX: redisPrefix,
      DEMO_DIR: demoDir,
      DEMO_DATABASE: demo.name,
      LOG_LEVEL: 'warn',
    };
  });

  afterAll(async () => {
    await db.drop();
    await demo.drop();
    await dropRedisPrefix(redisPrefix);
  });

  /** Runs `npm start`'s script until it prints how to sign in; returns its output so far and the process. */
  async function start(): Promise<{ child: ChildProcess; out: () => string }> {
    const child = spawn(process.execPath, [path.join(ROOT, 'tools/start.js')], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`npm start did not finish starting in 120 s:\n${out}`)), 120_000);
      const check = () => {
        if (/Ctrl-C stops everything/.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on('data', check);
      child.once('exit', (code) => reject(new Error(`npm start exited with ${code}:\n${out}`)));
    });
    return { child, out: () => out };
  }

  const stop = (child: ChildProcess) =>
    new Promise<number | null>((resolve) => {
      child.once('exit', (code) => resolve(code));
      child.kill('SIGINT');
    });

  const api = async (method: string, p: string, token?: string, body?: unknown) => {
    const r = await fetch(`${apiUrl}/api${p}`, { method, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> & unknown[] };
  };

  it('creates a demo cluster that answers queries and schedules a refresh, then reuses it on the next start', async () => {
    const first = await start();
    const m = /Sign in to the portal as (\S+) with the password (\S+)/.exec(first.out());
    expect(m).not.toBeNull();
    const [, email, password] = m!;
    expect(first.out()).toMatch(/Portal: +http:\/\/127\.0\.0\.1:\d+/);
    expect(statSync(path.join(demoDir, 'state.json')).mode & 0o077).toBe(0);
    const login = await api('POST', '/auth/login', undefined, { email, password });
    expect(login.status).toBe(200);
    const token = login.body.token as string;
    const clusters = (await api('GET', '/clusters', token)).body as unknown as { id: string; name: string; memberCount: number; onlineCount: number }[];
    expect(clusters.map((c) => [c.name, c.memberCount])).toEqual([['demo', 2]]);
    await eventually(async () => {
      const c = (await api('GET', `/clusters/${clusters[0].id}`, token)).body;
      if (c.onlineCount !== 2) throw new Error(`${c.onlineCount} of 2 online`);
    }, 20_000, 250);
    const sources = (await api('GET', `/clusters/${clusters[0].id}/datasources`, token)).body as unknown as { id: string; name: string }[];
    expect(sources.map((s) => s.name)).toEqual(['demo-sales']);
    const q = await api('POST', `/datasources/${sources[0].id}/query`, token, { sql: 'SELECT count(*)::int AS n FROM sales' });
    expect(q.body.rows).toEqual([[1000]]);
    const datasets = (await api('GET', `/datasets?cluster=${clusters[0].id}`, token)).body as unknown as { name: string; schedule: { cron: string } | null; nextRunAt: string | null }[];
    expect(datasets.map((d) => [d.name, d.schedule?.cron])).toEqual([['sales by region', '*/5 * * * *']]);
    expect(datasets[0].nextRunAt).not.toBeNull();
    expect(await stop(first.child)).toBe(0);

    const second = await start();
    expect(second.out()).toContain(`Sign in to the portal as ${email} with the password ${password}`);
    const again = await api('POST', '/auth/login', undefined, { email, password });
    const after = (await api('GET', '/clusters', again.body.token as string)).body as unknown as { id: string }[];
    expect(after.map((c) => c.id)).toEqual([clusters[0].id]);
    expect(await stop(second.child)).toBe(0);
  }, 300_000);
});
