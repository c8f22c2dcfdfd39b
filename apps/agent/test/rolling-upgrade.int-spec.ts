import { spawn } from 'node:child_process';
import path from 'node:path';
import {
  type AgentProcess,
  type ApiProcess,
  chunksOf,
  createSampleSources,
  eventually,
  firstAdminToken,
  gateway,
  installMember,
  json,
  QueryLoop,
  ROOT,
  sleep,
  startAgent,
  startApiProcess,
  tempDir,
} from '@gateway/testing';

/**
 * A rolling upgrade of a three-member cluster with real agents: each member in turn is drained (`gateway member
 * drain --wait`), stopped, started again (as after an upgrade) and resumed; the secondaries first, then the
 * primary after another was promoted. Meanwhile a client queries every 20 ms and a refresh runs on the primary.
 */
type Member = { name: string; online: boolean; draining: boolean; drained: boolean; drainRequestedAt: string | null; primary: boolean };

let api: ApiProcess;
let token: string;
let sources: Awaited<ReturnType<typeof createSampleSources>>;
let clusterId: string;
const configs: Record<string, string> = {};
const agents: Record<string, AgentProcess> = {};
let dsId: string;

const cli = async (...args: string[]) => {
  const r = await gateway([...args, '--api', api.url, '--token', token]);
  if (r.status !== 0) throw new Error(`gateway ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
};
const members = async () => (await json<Member[]>(`${api.url}/api/clusters/${clusterId}/members`, 'GET', undefined, token)).body;
const member = async (name: string) => (await members()).find((m) => m.name === name)!;

beforeAll(async () => {
  [api, sources] = await Promise.all([startApiProcess({ HEARTBEAT_MS: '200', PRESENCE_TTL_MS: '800' }), createSampleSources()]);
  token = await firstAdminToken(api);
  for (const [i, name] of ['a', 'b', 'c'].entries()) {
    const m = await installMember(api, token, { ...(i === 0 ? { name: 'Rolling' } : { join: 'Rolling' }), member: name, recoveryKey: 'rolling-recovery' });
    configs[name] = m.config;
    clusterId = m.clusterId;
  }
  for (const name of ['a', 'b', 'c']) agents[name] = await startAgent(configs[name]);
  const ds = await json<{ id: string }>(`${api.url}/api/clusters/${clusterId}/datasources`, 'POST', { name: 'pg', type: 'postgres', connection: { host: sources.postgres.host, port: sources.postgres.port, database: sources.postgres.database }, credentials: { username: 'postgres', password: '' } }, token);
  dsId = ds.body.id;
}, 180_000);

afterAll(async () => {
  for (const a of Object.values(agents)) await a.kill('SIGKILL');
  await api?.stop();
  await sources?.drop();
}, 60_000);

describe('drain and resume', () => {
  it('a drained member takes no new work, finishes what it runs, shows as draining then drained, and takes work again when resumed', async () => {
    const slow = json<{ servedBy: { memberName: string } }>(`${api.url}/api/datasources/${dsId}/query`, 'POST', { sql: 'SELECT pg_sleep(1.5), 1 AS one' }, token);
    await eventually(async () => expect((await member('a')).online).toBe(true), 5_000, 50);
    await sleep(200); // the query is running on a
    const drained = JSON.parse(await cli('member', 'drain', 'Rolling/a', '--json')) as Member;
    expect(drained.drainRequestedAt).not.toBeNull();
    expect(await member('a')).toMatchObject({ online: true, draining: true, drained: false });
    // New work goes elsewhere at once, and says why.
    const next = await json<{ servedBy: { memberName: string; reason: string } }>(`${api.url}/api/datasources/${dsId}/query`, 'POST', { sql: 'SELECT 1' }, token);
    expect(next.body.servedBy).toEqual(expect.objectContaining({ memberName: 'b', reason: expect.stringContaining('primary a is draining') }));
    // What it ran finishes there.
    expect((await slow).body.servedBy.memberName).toBe('a');
    await eventually(async () => expect(await member('a')).toMatchObject({ drained: true, draining: false }), 5_000, 50);
    const text = await cli('members', 'Rolling');
    expect(text).toMatch(/^a\s+\S+\s+drained\s/m);
    await cli('member', 'resume', 'Rolling/a');
    await eventually(async () => {
      const r = await json<{ servedBy: { memberName: string } }>(`${api.url}/api/datasources/${dsId}/query`, 'POST', { sql: 'SELECT 1' }, token);
      expect(r.body.servedBy.memberName).toBe('a');
    }, 5_000, 50);
    expect(await member('a')).toMatchObject({ drainRequestedAt: null, drained: false, draining: false });
  }, 60_000);

  it('a rolling restart of all three members in the planned order (upgrade-plan --wait): 0 client errors, and the refresh running on the primary completes once', async () => {
    const d = await json<{ id: string }>(`${api.url}/api/datasets`, 'POST', { dataSourceId: dsId, name: 'during-upgrade', query: 'SELECT g, md5(g::text) AS h FROM generate_series(1, 3000) g, pg_sleep(3) s' }, token);
    const loop = new QueryLoop(`${api.url}/api/datasources/${dsId}/query`, token, { sql: 'SELECT 1' }, 20);
    try {
      await eventually(async () => expect(loop.answers.length).toBeGreaterThanOrEqual(10), 10_000, 20);
      const r = await json<{ id: string }>(`${api.url}/api/datasets/${d.body.id}/refreshes`, 'POST', undefined, token);
      await eventually(async () => expect((await json<{ status: string }>(`${api.url}/api/refreshes/${r.body.id}`, 'GET', undefined, token)).body.status).toBe('running'), 5_000, 50);
      // The plan: secondaries first, then the primary once another is promoted.
      const plan = await cli('cluster', 'upgrade-plan', 'Rolling');
      expect(plan.split('\n').filter((l) => /^\d+\. /.test(l))).toEqual(['1. b (secondary, now 0.1.0)', '2. c (secondary, now 0.1.0)', '3. a (primary, now 0.1.0)']);
      expect(plan).toContain('gateway member promote Rolling/b');
      // Walked through with --wait: it drains each member and waits; the test plays the admin who restarts it.
      const walk = spawn(process.execPath, [path.join(ROOT, 'tools/gateway.js'), 'cluster', 'upgrade-plan', 'Rolling', '--wait', '--timeout', '60', '--api', api.url, '--token', token], { env: { ...process.env, GATEWAY_HOME: tempDir('walk-') }, stdio: ['ignore', 'pipe', 'pipe'] });
      let said = '';
      walk.stdout!.on('data', (d) => (said += d));
      walk.stderr!.on('data', (d) => (said += d));
      const exited = new Promise<number | null>((r) => walk.once('close', r));
      for (const name of ['b', 'c', 'a']) {
        await eventually(async () => expect(said).toContain(`Stop ${name} now`), 60_000, 50);
        expect(await member(name)).toMatchObject({ drained: true });
        await agents[name].kill('SIGTERM');
        agents[name] = await startAgent(configs[name]); // the upgraded agent
        await eventually(async () => expect(said).toContain(`${name} is back on 0.1.0 and takes work again`), 30_000, 50);
      }
      expect(await exited).toBe(0);
      expect(said).toContain('Promoted b to primary: it serves while a is upgraded.');
      expect(said).toContain('Done: every member of "Rolling" was upgraded.');
      const done = await eventually(async () => {
        const x = (await json<{ status: string; attempts: { memberName: string; status: string; number: number }[] }>(`${api.url}/api/refreshes/${r.body.id}`, 'GET', undefined, token)).body;
        expect(x.status).toBe('succeeded');
        return x;
      }, 30_000, 100);
      expect(done.attempts.map((x) => [x.memberName, x.status])).toEqual([['a', 'succeeded']]);
      expect(await chunksOf(api.databaseUrl, r.body.id)).toEqual([{ attempt: 1, n: 1 }]);
      await sleep(500);
    } finally {
      await loop.stop();
    }
    console.log(`rolling restart: ${loop.answers.length} answers, ${loop.failures.length} errors, by member ${JSON.stringify(loop.byMember())}, longest gap ${loop.longestGap().ms} ms`);
    expect(loop.failures).toEqual([]);
    // Primary routing: a served until it was drained, then b, promoted for it.
    expect(Object.keys(loop.byMember()).sort()).toEqual(['a', 'b']);
    expect((await members()).map((m) => [m.name, m.primary, m.online])).toEqual([['a', false, true], ['b', true, true], ['c', false, true]]);
  }, 180_000);
});
