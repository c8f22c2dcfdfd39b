import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  type AgentProcess,
  type ApiProcess,
  createSampleSources,
  eventually,
  firstAdminToken,
  freePort,
  installMember,
  json,
  sleep,
  startAgent,
  startApiProcess,
  tempDir,
} from '@gateway/testing';

/**
 * Two API instances of one deployment behind a real HAProxy (Debian's package, started here): HTTP and the members'
 * WebSockets balanced by least connections with health checks on /api/health, the PostgreSQL front door in TCP
 * mode. One instance is SIGKILLed: its members reconnect through the balancer to the other, live queries through
 * the balancer keep succeeding after a brief gap, and a schedule fires once per tick throughout.
 */

const exec = promisify(execFile);
const METRICS_TOKEN = 'balancer-metrics-token-0123456789';
let api1: ApiProcess;
let api2: ApiProcess;
let haproxy: ChildProcess;
let balancer: string;
let pgPort: number;
let token: string;
let sources: Awaited<ReturnType<typeof createSampleSources>>;
const agents: AgentProcess[] = [];

const connected = async (api: ApiProcess) => {
  const text = await (await fetch(`${api.url}/api/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
  return Number(/^gateway_connected_members\{[^}]*\} (\d+)$/m.exec(text)?.[1] ?? NaN);
};

beforeAll(async () => {
  sources = await createSampleSources();
  const env = { METRICS_TOKEN, HEARTBEAT_MS: '300', SCHEDULER_LEAD_MS: '500' };
  api1 = await startApiProcess({ ...env, PG_PORT: String(await freePort()) });
  api2 = await startApiProcess({ ...env, PG_PORT: String(await freePort()) }, api1);
  const port = await freePort();
  pgPort = await freePort();
  balancer = `http://127.0.0.1:${port}`;
  const dir = tempDir('haproxy-');
  const server = (api: ApiProcess, i: number) => `  server api${i} ${new URL(api.url).host} check`;
  const pgServer = (api: ApiProcess, i: number) => `  server api${i} 127.0.0.1:${api.pgPort} check`;
  writeFileSync(
    path.join(dir, 'haproxy.cfg'),
    [
      'global',
      '  maxconn 2000',
      'defaults',
      '  timeout connect 2s',
      '  timeout client 60s',
      '  timeout server 60s',
      // The members' WebSockets live long: the tunnel timeout covers them between pings.
      '  timeout tunnel 1h',
      '  default-server inter 500ms fall 2 rise 1',
      'frontend api',
      '  mode http',
      `  bind 127.0.0.1:${port}`,
      '  default_backend apis',
      'backend apis',
      '  mode http',
      '  balance leastconn',
      '  option httpchk GET /api/health',
      '  http-check expect status 200',
      '  retry-on conn-failure empty-response',
      '  option redispatch',
      server(api1, 1),
      server(api2, 2),
      'frontend pg',
      '  mode tcp',
      `  bind 127.0.0.1:${pgPort}`,
      '  default_backend pgs',
      'backend pgs',
      '  mode tcp',
      '  balance leastconn',
      pgServer(api1, 1),
      pgServer(api2, 2),
      '',
    ].join('\n'),
  );
  await exec('haproxy', ['-c', '-f', path.join(dir, 'haproxy.cfg')]);
  haproxy = spawn('haproxy', ['-db', '-f', path.join(dir, 'haproxy.cfg')], { stdio: 'ignore' });
  await eventually(async () => expect((await fetch(`${balancer}/api/health`)).status).toBe(200), 10_000, 100);
  token = await firstAdminToken(api1);
  const a = await installMember(api1, token, { name: 'Balanced', member: 'alpha', recoveryKey: 'balanced-recovery', apiUrls: [balancer] });
  const b = await installMember(api1, token, { join: 'Balanced', member: 'bravo', recoveryKey: 'balanced-recovery', apiUrls: [balancer] });
  agents.push(await startAgent(a.config));
  agents.push(await startAgent(b.config));
}, 120_000);

afterAll(async () => {
  await Promise.all(agents.map((a) => a.kill('SIGTERM')));
  haproxy?.kill('SIGTERM');
  await api2?.stop();
  await api1?.stop();
  await sources?.drop();
});

test('SIGKILL of one instance behind HAProxy: members reconnect, queries keep succeeding, schedules fire once per tick', async () => {
  // The members' connections are spread over the instances (least connections).
  await eventually(async () => expect([await connected(api1), await connected(api2)]).toEqual([1, 1]), 10_000, 200);
  const ds = await json<{ id: string }>(`${balancer}/api/clusters/Balanced/datasources`, 'POST', { name: 'pg', type: 'postgres', connection: { host: '127.0.0.1', port: 5432, database: sources.name }, credentials: { username: 'postgres', password: '' } }, token);
  expect(ds.status).toBe(201);
  const dataset = await json<{ id: string }>(`${balancer}/api/datasets`, 'POST', { dataSourceId: ds.body.id, name: 'ticking', query: 'SELECT now() AS at', schedule: { cron: '*/2 * * * * *', timezone: 'UTC' } }, token);
  expect(dataset.status).toBe(201);
  // The front door through the balancer (TCP mode).
  const psql = () =>
    exec('psql', ['-X', '-At', `host=127.0.0.1 port=${pgPort} user=admin@example.com dbname=Balanced/pg`, '-c', 'SELECT count(*) FROM items'], { env: { ...process.env, PGPASSWORD: 'correct horse battery staple', PGSSLMODE: 'disable' } }).then((r) => r.stdout.trim());
  expect(await psql()).toBe('100');

  const answers: { at: number; ok: boolean }[] = [];
  let looping = true;
  const loop = (async () => {
    while (looping) {
      const r = await json(`${balancer}/api/datasources/${ds.body.id}/query`, 'POST', { sql: 'SELECT 1 AS one' }, token).catch(() => ({ status: 0 }));
      answers.push({ at: Date.now(), ok: r.status === 200 });
      await sleep(50);
    }
  })();
  await sleep(3_000);
  api1.child.kill('SIGKILL');
  const killedAt = Date.now();
  // Its member reconnects through the balancer to the other instance.
  await eventually(async () => expect(await connected(api2)).toBe(2), 15_000, 200);
  await sleep(5_000);
  looping = false;
  await loop;
  const after = answers.filter((a) => a.at > killedAt);
  const lastFailure = Math.max(0, ...after.filter((a) => !a.ok).map((a) => a.at));
  // A brief gap at most; then every answer succeeds.
  expect(lastFailure === 0 ? 0 : lastFailure - killedAt).toBeLessThan(3_000);
  expect(after.filter((a) => a.at > killedAt + 3_000).every((a) => a.ok)).toBe(true);
  expect(after.filter((a) => a.ok).length).toBeGreaterThan(50);
  expect(await psql()).toBe('100');

  // Once per tick: no tick refreshed twice, and (but for the one or two around the kill) none missed.
  const history = (await json<{ scheduledFor: string | null; status: string }[]>(`${balancer}/api/datasets/${dataset.body.id}/refreshes?limit=100`, 'GET', undefined, token)).body;
  const ticks = history.map((h) => h.scheduledFor).filter((t): t is string => !!t && Date.parse(t) <= Date.now() - 2_000);
  expect(new Set(ticks).size).toBe(ticks.length);
  const span = (Math.max(...ticks.map(Date.parse)) - Math.min(...ticks.map(Date.parse))) / 2_000 + 1;
  expect(ticks.length).toBeGreaterThanOrEqual(span - 2);
}, 120_000);
