import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
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
 * The control plane on Redis Sentinel (REDIS_SENTINELS, REDIS_SENTINEL_NAME), all started here on free ports: a
 * master, a replica and three sentinels. The master is SIGKILLed during a loop of live queries: answers resume within
 * 10 s of the failover, and a refresh asked for around it is not lost.
 */

const NAME = 'gwtest';
const servers: ChildProcess[] = [];
let dir: string;
let ports: { master: number; replica: number; sentinels: number[] };
let api: ApiProcess;
let token: string;
let sources: Awaited<ReturnType<typeof createSampleSources>>;
let agents: AgentProcess[] = [];
let master: ChildProcess;

function redisServer(args: string[]): ChildProcess {
  const child = spawn('redis-server', args, { stdio: 'ignore' });
  servers.push(child);
  return child;
}

const ping = (port: number) => {
  const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  return r
    .connect()
    .then(() => r.ping())
    .finally(() => r.disconnect());
};

beforeAll(async () => {
  dir = tempDir('sentinel-');
  ports = { master: await freePort(), replica: await freePort(), sentinels: [await freePort(), await freePort(), await freePort()] };
  const common = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
  master = redisServer(['--port', String(ports.master), ...common, '--dbfilename', 'master.rdb']);
  redisServer(['--port', String(ports.replica), ...common, '--dbfilename', 'replica.rdb', '--replicaof', '127.0.0.1', String(ports.master)]);
  for (const port of ports.sentinels) {
    const conf = path.join(dir, `sentinel-${port}.conf`);
    writeFileSync(conf, `port ${port}\nbind 127.0.0.1\ndir ${dir}\nsentinel monitor ${NAME} 127.0.0.1 ${ports.master} 2\nsentinel down-after-milliseconds ${NAME} 1000\nsentinel failover-timeout ${NAME} 5000\nsentinel parallel-syncs ${NAME} 1\n`);
    redisServer([conf, '--sentinel']);
  }
  await eventually(async () => {
    for (const p of [ports.master, ports.replica, ...ports.sentinels]) expect(await ping(p)).toBe('PONG');
    const m = new Redis({ port: ports.master, host: '127.0.0.1' });
    const info = await m.info('replication');
    m.disconnect();
    expect(info).toMatch(/connected_slaves:1/);
    const s = new Redis({ port: ports.sentinels[0], host: '127.0.0.1' });
    const replicas = (await s.call('SENTINEL', 'replicas', NAME)) as unknown[];
    const others = (await s.call('SENTINEL', 'sentinels', NAME)) as unknown[];
    s.disconnect();
    expect(replicas.length).toBe(1);
    expect(others.length).toBe(2);
  }, 30_000, 250);
  [api, sources] = await Promise.all([
    startApiProcess({ REDIS_SENTINELS: ports.sentinels.map((p) => `127.0.0.1:${p}`).join(','), REDIS_SENTINEL_NAME: NAME, RECONCILE_INTERVAL_MS: '1000' }),
    createSampleSources(),
  ]);
  token = await firstAdminToken(api);
  const a = await installMember(api, token, { name: 'Sentinel', member: 'alpha', recoveryKey: 'sentinel-recovery' });
  const b = await installMember(api, token, { join: 'Sentinel', member: 'bravo', recoveryKey: 'sentinel-recovery' });
  agents = await Promise.all([startAgent(a.config), startAgent(b.config)]);
}, 120_000);

afterAll(async () => {
  await Promise.all(agents.map((a) => a.kill('SIGTERM')));
  await api?.stop();
  for (const s of servers) s.kill('SIGKILL');
  await sources?.drop();
});

test('the master is killed during a query loop: answers resume within 10 s of the failover, no refresh lost', async () => {
  const ds = await json<{ id: string }>(`${api.url}/api/clusters/Sentinel/datasources`, 'POST', { name: 'pg', type: 'postgres', connection: { host: '127.0.0.1', port: 5432, database: sources.name }, credentials: { username: 'postgres', password: '' } }, token);
  expect(ds.status).toBe(201);
  const dataset = await json<{ id: string }>(`${api.url}/api/datasets`, 'POST', { dataSourceId: ds.body.id, name: 'items', query: 'SELECT * FROM items' }, token);
  expect(dataset.status).toBe(201);
  // The data lives in Redis on the master: the API really uses it.
  const m = new Redis({ port: ports.master, host: '127.0.0.1' });
  expect((await m.keys(`${api.redisPrefix}:*`)).length).toBeGreaterThan(0);
  m.disconnect();

  const answers: { at: number; ok: boolean }[] = [];
  let looping = true;
  const loop = (async () => {
    while (looping) {
      const r = await json(`${api.url}/api/datasources/${ds.body.id}/query`, 'POST', { sql: 'SELECT 1 AS one' }, token).catch(() => ({ status: 0 }));
      answers.push({ at: Date.now(), ok: r.status === 200 });
      await sleep(50);
    }
  })();
  await sleep(1_000);
  master.kill('SIGKILL');
  const killedAt = Date.now();
  // A refresh asked for while the master is gone: kept in PostgreSQL, queued again once Redis answers.
  const refresh = await json<{ id: string }>(`${api.url}/api/datasets/${dataset.body.id}/refreshes`, 'POST', undefined, token);
  expect([201, 202, 503]).toContain(refresh.status);
  // The sentinels promote the replica.
  const sentinel = new Redis({ port: ports.sentinels[0], host: '127.0.0.1' });
  await eventually(async () => expect(((await sentinel.call('SENTINEL', 'get-master-addr-by-name', NAME)) as string[])[1]).toBe(String(ports.replica)), 30_000, 200);
  const failedOverAt = Date.now();
  sentinel.disconnect();
  await eventually(async () => expect(answers.filter((a) => a.at > failedOverAt && a.ok).length).toBeGreaterThan(5), 10_000, 100);
  const firstOk = answers.find((a) => a.at > killedAt && a.ok && answers.filter((b) => b.at > a.at).every((b) => b.ok));
  looping = false;
  await loop;
  expect(firstOk).toBeDefined();
  expect(firstOk!.at - failedOverAt).toBeLessThan(10_000);
  // The refresh (asked for during the outage, or again now if that was refused) succeeds.
  const id = refresh.status === 503 ? (await json<{ id: string }>(`${api.url}/api/datasets/${dataset.body.id}/refreshes`, 'POST', undefined, token)).body.id : refresh.body.id;
  await eventually(async () => expect((await json<{ status: string }>(`${api.url}/api/refreshes/${id}`, 'GET', undefined, token)).body.status).toBe('succeeded'), 30_000, 250);
  // And the new master holds the deployment's keys.
  const replica = new Redis({ port: ports.replica, host: '127.0.0.1' });
  expect((await replica.keys(`${api.redisPrefix}:*`)).length).toBeGreaterThan(0);
  replica.disconnect();
}, 120_000);
