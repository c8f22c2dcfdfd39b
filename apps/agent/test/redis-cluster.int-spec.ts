import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { clusterKeyPrefix } from '@gateway/domain';
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
 * The control plane on a Redis Cluster of 3 masters started here (`redis-server --cluster-enabled yes` on free
 * ports, joined with `redis-cli --cluster create`), through REDIS_CLUSTER_NODES: the API and two agents on it; live
 * queries, a scheduled refresh, failover after SIGKILL of the primary, and the reconciler after the gateway
 * cluster's keys are deleted, all as on one node.
 */

const exec = promisify(execFile);
const nodes: ChildProcess[] = [];
let ports: number[];
let api: ApiProcess;
let token: string;
let sources: Awaited<ReturnType<typeof createSampleSources>>;
let agents: AgentProcess[] = [];
let clusterId: string;

beforeAll(async () => {
  const dir = tempDir('redis-cluster-');
  ports = [await freePort(), await freePort(), await freePort()];
  for (const port of ports) {
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '2000', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
    nodes.push(child);
  }
  await eventually(async () => {
    for (const p of ports) {
      const r = new Redis({ port: p, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      await r.connect();
      expect(await r.ping()).toBe('PONG');
      r.disconnect();
    }
  }, 10_000, 100);
  await exec('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes']);
  await eventually(async () => {
    for (const p of ports) {
      const r = new Redis({ port: p, host: '127.0.0.1' });
      const info = (await r.call('CLUSTER', 'INFO')) as string;
      r.disconnect();
      expect(info).toMatch(/cluster_state:ok/);
    }
  }, 20_000, 200);
  [api, sources] = await Promise.all([
    startApiProcess({ REDIS_CLUSTER_NODES: ports.map((p) => `127.0.0.1:${p}`).join(','), RECONCILE_INTERVAL_MS: '500', SCHEDULER_LEAD_MS: '500' }),
    createSampleSources(),
  ]);
  token = await firstAdminToken(api);
  const a = await installMember(api, token, { name: 'Sharded', member: 'alpha', recoveryKey: 'sharded-recovery' });
  const b = await installMember(api, token, { join: 'Sharded', member: 'bravo', recoveryKey: 'sharded-recovery' });
  clusterId = a.clusterId;
  agents = [await startAgent(a.config), await startAgent(b.config)];
}, 120_000);

afterAll(async () => {
  await Promise.all(agents.map((a) => a.kill('SIGTERM')));
  await api?.stop();
  for (const n of nodes) n.kill('SIGKILL');
  await sources?.drop();
});

const cluster = () => new Cluster(ports.map((port) => ({ host: '127.0.0.1', port })));

test('live queries, a scheduled refresh, failover after SIGKILL of the primary, and the reconciler, on a Redis Cluster', async () => {
  const ds = await json<{ id: string }>(`${api.url}/api/clusters/Sharded/datasources`, 'POST', { name: 'pg', type: 'postgres', connection: { host: '127.0.0.1', port: 5432, database: sources.name }, credentials: { username: 'postgres', password: '' } }, token);
  expect(ds.status).toBe(201);
  const query = () => json<{ rows: unknown[][]; servedBy: { memberName: string } }>(`${api.url}/api/datasources/${ds.body.id}/query`, 'POST', { sql: 'SELECT count(*) AS n FROM items' }, token);
  const first = await query();
  expect(first.status).toBe(200);
  expect(first.body.rows).toEqual([['100']]);
  expect(first.body.servedBy.memberName).toBe('alpha');

  // Every key of the gateway cluster is in one slot of the Redis Cluster (its hash tag), and they are there.
  const c = cluster();
  const tagged = async () => {
    const keys: string[] = [];
    for (const node of c.nodes('master')) keys.push(...(await node.keys(`${clusterKeyPrefix(api.redisPrefix, clusterId)}:*`)));
    return keys;
  };
  const keys = await eventually(async () => {
    const k = await tagged();
    expect(k.length).toBeGreaterThan(1);
    return k;
  }, 5_000);
  const slots = new Set(await Promise.all(keys.map((k) => c.call('CLUSTER', 'KEYSLOT', k))));
  expect(slots.size).toBe(1);

  // A scheduled refresh runs (BullMQ on the cluster, its queue under the hash-tagged prefix).
  const dataset = await json<{ id: string }>(`${api.url}/api/datasets`, 'POST', { dataSourceId: ds.body.id, name: 'ticking', query: 'SELECT * FROM items', schedule: { cron: '*/2 * * * * *', timezone: 'UTC' } }, token);
  expect(dataset.status).toBe(201);
  const refreshes = () => json<{ status: string; trigger: string }[]>(`${api.url}/api/datasets/${dataset.body.id}/refreshes?limit=100`, 'GET', undefined, token).then((r) => r.body);
  await eventually(async () => expect((await refreshes()).filter((r) => r.trigger === 'schedule' && r.status === 'succeeded').length).toBeGreaterThan(0), 15_000, 250);

  // The reconciler puts back what the gateway cluster's keys held (presence, config version, queued jobs).
  for (const k of await tagged()) await c.del(k);
  const succeededBefore = (await refreshes()).filter((r) => r.status === 'succeeded').length;
  await eventually(async () => expect((await refreshes()).filter((r) => r.status === 'succeeded').length).toBeGreaterThan(succeededBefore + 1), 15_000, 250);
  expect((await query()).status).toBe(200);
  await eventually(async () => expect((await tagged()).length).toBeGreaterThan(1), 5_000);

  // Failover: the primary SIGKILLed, queries go to bravo.
  await agents[0].kill('SIGKILL');
  await eventually(async () => expect((await query()).body.servedBy?.memberName).toBe('bravo'), 5_000, 50);
  for (let i = 0; i < 5; i++) expect((await query()).status).toBe(200);
  await json(`${api.url}/api/datasets/${dataset.body.id}`, 'PATCH', { enabled: false }, token);
  await sleep(500);
  c.disconnect();
  // No command spanned slots, nothing was refused by the cluster.
  expect(api.output()).not.toMatch(/CROSSSLOT|ClusterAllFailed|Failed to refresh slots|"level":50/);
}, 90_000);
