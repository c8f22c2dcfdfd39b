import {
  type AgentProcess,
  type ApiProcess,
  createSampleSources,
  eventually,
  firstAdminToken,
  installMember,
  json,
  startAgent,
  startApiProcess,
} from '@gateway/testing';

/**
 * Concurrency that means what it says: a member runs --live-concurrency queries at once on one data source (its
 * pools follow from it), and in `distribute` mode work goes to the member with free slots.
 */
let api: ApiProcess;
let token: string;
let sources: Awaited<ReturnType<typeof createSampleSources>>;
let clusterId: string;
let ds: string;
const agents: AgentProcess[] = [];

type Reply = { rows: unknown[][]; servedBy: { memberName: string; reason: string } };
const query = (sql: string) => json<Reply>(`${api.url}/api/datasources/${ds}/query`, 'POST', { sql, timeoutMs: 10_000 }, token);

beforeAll(async () => {
  [api, sources] = await Promise.all([startApiProcess({ HEARTBEAT_MS: '200', PRESENCE_TTL_MS: '800' }), createSampleSources()]);
  token = await firstAdminToken(api);
  const a = await installMember(api, token, { name: 'Busy', member: 'a', recoveryKey: 'busy-recovery-key' });
  const b = await installMember(api, token, { join: 'Busy', member: 'b', recoveryKey: 'busy-recovery-key' });
  clusterId = a.clusterId;
  agents.push(await startAgent(a.config, { GATEWAY_LIVE_CONCURRENCY: '32' }), await startAgent(b.config));
  const r = await json<{ id: string }>(`${api.url}/api/clusters/${clusterId}/datasources`, 'POST', {
    name: 'pg',
    type: 'postgres',
    connection: { host: sources.postgres.host, port: sources.postgres.port, database: sources.postgres.database },
    credentials: { username: 'postgres', password: '' },
  }, token);
  ds = r.body.id;
  await eventually(async () => expect((await query('SELECT 1')).body.servedBy.memberName).toBe('a'), 10_000);
}, 120_000);

afterAll(async () => {
  await Promise.all(agents.map((a) => a.kill('SIGKILL')));
  await api?.stop();
  await sources?.drop();
}, 60_000);

it('runs 32 queries of 0.5 s at once on one member with --live-concurrency 32: all done in under 1.5 s', async () => {
  const started = Date.now();
  const results = await Promise.all(Array.from({ length: 32 }, (_, i) => query(`SELECT pg_sleep(0.5), ${i} AS n`)));
  const took = Date.now() - started;
  expect(results.map((r) => [r.status, r.body.rows?.[0]?.[1], r.body.servedBy?.memberName])).toEqual(Array.from({ length: 32 }, (_, i) => [200, i, 'a']));
  expect(took).toBeLessThan(1_500);
}, 30_000);

it('in distribute mode sends work to the member with free slots while the other is busy', async () => {
  expect((await json(`${api.url}/api/clusters/${clusterId}`, 'PATCH', { routing: { mode: 'distribute' } }, token)).status).toBe(200);
  // Busy slots come with each member's heartbeat: wait until both report the last test's work done.
  await eventually(async () => {
    const members = (await json<{ name: string; activeJobs: number | null }[]>(`${api.url}/api/clusters/${clusterId}/members`, 'GET', undefined, token)).body;
    expect(members.map((m) => [m.name, m.activeJobs]).sort()).toEqual([['a', 0], ['b', 0]]);
  }, 5_000);
  // Both members serve; hold a few slots of whichever member takes the long queries...
  const long = Array.from({ length: 6 }, () => query('SELECT pg_sleep(1.5), 1'));
  await new Promise((r) => setTimeout(r, 300));
  // ...then short queries one after another go to the least busy member: never the one holding them all.
  const served: string[] = [];
  for (let i = 0; i < 10; i++) served.push((await query('SELECT 1')).body.servedBy.memberName);
  const longServedBy = (await Promise.all(long)).map((r) => r.body.servedBy.memberName);
  const counts = (names: string[]) => names.reduce<Record<string, number>>((m, n) => ({ ...m, [n]: (m[n] ?? 0) + 1 }), {});
  // The long ones spread over both (3 and 3, each going to the least busy); short ones fill in where slots are free,
  // so no member ends up with all the long work, and the short ones do not pile onto one member either.
  expect(Object.values(counts(longServedBy)).sort()).toEqual([3, 3]);
  expect(Object.keys(counts(served)).sort()).toEqual(['a', 'b']);
  expect((await json(`${api.url}/api/clusters/${clusterId}`, 'PATCH', { routing: { mode: 'primary' } }, token)).status).toBe(200);
}, 30_000);
