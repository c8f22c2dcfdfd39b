import { SealedBox } from '@gateway/domain';
import { generateClusterKeyPair, generateMemberKeyPair, openFromCluster, sealPrivateKey } from '@gateway/domain/crypto';
import { PrismaService } from '../src/infra/database/prisma.service';
import { call } from '@gateway/testing';
import { startTestApi, type TestApi } from './support/test-env';

let api: TestApi;
let token: string;
let clusterId: string;
let memberId: string;
const cluster = generateClusterKeyPair();

beforeAll(async () => {
  api = await startTestApi();
  token = (await call<{ token: string }>(api.url, 'POST', '/api/auth/signup', { body: { email: 'ds@example.com', password: 'long enough password' } })).body.token;
  const created = await call<{ clusterId: string; memberId: string }>(api.url, 'POST', '/api/clusters', {
    token,
    body: {
      name: 'Ops',
      publicKey: cluster.publicKey,
      keyEnvelope: await sealPrivateKey(cluster.privateKey, 'recovery-key', { memoryKiB: 19456, iterations: 2, parallelism: 1 }),
      member: { name: 'm1', hostName: 'h', agentVersion: '0.1.0', publicKey: generateMemberKeyPair().publicKey },
    },
  });
  clusterId = created.body.clusterId;
  memberId = created.body.memberId;
}, 60_000);

afterAll(async () => {
  await api?.close();
});

const pg = { name: 'warehouse', type: 'postgres', connection: { host: 'db.internal', port: 5432, database: 'dw' }, credentials: { username: 'reader', password: 's3cret-Δ-password' } };

describe('data sources', () => {
  let id: string;

  it('creates a data source with its credentials sealed to the cluster key', async () => {
    const r = await call<{ id: string }>(api.url, 'POST', `/api/clusters/${clusterId}/datasources`, { token, body: pg });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ name: 'warehouse', type: 'postgres', connection: pg.connection, hasCredentials: true });
    expect(JSON.stringify(r.body)).not.toContain('s3cret');
    id = r.body.id;
    const row = await api.handle.app.get(PrismaService).dataSource.findUniqueOrThrow({ where: { id } });
    expect(JSON.stringify(row)).not.toContain('s3cret');
    expect(JSON.parse(openFromCluster(cluster.privateKey, SealedBox.parse(row.credentials)))).toEqual(pg.credentials);
  });

  it('lists and reads data sources without credentials', async () => {
    const list = await call<unknown[]>(api.url, 'GET', `/api/clusters/Ops/datasources`, { token });
    expect(list.body).toHaveLength(1);
    const one = await call(api.url, 'GET', `/api/datasources/${id}`, { token });
    expect(one.body).not.toHaveProperty('credentials');
  });

  it('replaces credentials by sealing them again', async () => {
    const prisma = api.handle.app.get(PrismaService);
    const before = (await prisma.dataSource.findUniqueOrThrow({ where: { id } })).credentials;
    const r = await call(api.url, 'PATCH', `/api/datasources/${id}`, { token, body: { credentials: { username: 'reader', password: 'rotated-password' } } });
    expect(r.status).toBe(200);
    const after = (await prisma.dataSource.findUniqueOrThrow({ where: { id } })).credentials;
    expect(after).not.toEqual(before);
    expect(JSON.parse(openFromCluster(cluster.privateKey, SealedBox.parse(after))).password).toBe('rotated-password');
  });

  it('renames and moves a data source', async () => {
    const r = await call(api.url, 'PATCH', `/api/datasources/${id}`, { token, body: { name: 'dw', connection: { host: 'db2.internal', port: 6432, database: 'dw' } } });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ name: 'dw', connection: { host: 'db2.internal', port: 6432 } });
  });

  it('answers 503 at once when no member of the cluster is online', async () => {
    const started = Date.now();
    const r = await call(api.url, 'POST', `/api/datasources/${id}/query`, { token, body: { sql: 'SELECT 1' } });
    expect(r.status).toBe(503);
    expect(r.body).toMatchObject({ message: 'no member of cluster "Ops" can serve this now: no member of the cluster is online' });
    expect(Date.now() - started).toBeLessThan(1000);
    expect((await call(api.url, 'POST', `/api/datasources/${id}/test`, { token })).status).toBe(503);
  });

  it('deletes a data source', async () => {
    expect((await call(api.url, 'DELETE', `/api/datasources/${id}`, { token })).status).toBe(204);
    expect((await call(api.url, 'GET', `/api/datasources/${id}`, { token })).status).toBe(404);
  });
});

describe('cluster routing settings and members', () => {
  it('sets the routing mode and thresholds, and shows them', async () => {
    const r = await call(api.url, 'PATCH', `/api/clusters/${clusterId}`, { token, body: { routing: { mode: 'distribute', cpuThreshold: 90 } } });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ routing: { mode: 'distribute', cpuThreshold: 90, memoryThreshold: 0 } });
  });

  it('disables and enables a member', async () => {
    expect((await call(api.url, 'PATCH', `/api/members/${memberId}`, { token, body: { enabled: false } })).body).toMatchObject({ enabled: false });
    expect((await call(api.url, 'PATCH', `/api/members/${memberId}`, { token, body: { enabled: true, description: 'rack 4' } })).body).toMatchObject({ enabled: true, description: 'rack 4' });
  });
});

describe('bad input', () => {
  const cases: [string, string, string, unknown, number, string][] = [
    ['an unknown type', 'POST', `/clusters/CLUSTER/datasources`, { ...pg, name: 'x1', type: 'oracle' }, 400, 'type'],
    ['postgres without credentials', 'POST', `/clusters/CLUSTER/datasources`, { name: 'x2', type: 'postgres', connection: pg.connection }, 400, 'credentials'],
    ['sqlite with credentials', 'POST', `/clusters/CLUSTER/datasources`, { name: 'x3', type: 'sqlite', connection: { path: '/x.db' }, credentials: pg.credentials }, 400, 'credentials'],
    ['a port out of range', 'POST', `/clusters/CLUSTER/datasources`, { ...pg, name: 'x4', connection: { ...pg.connection, port: 70000 } }, 400, 'connection.port'],
    ['a port as a string', 'POST', `/clusters/CLUSTER/datasources`, { ...pg, name: 'x5', connection: { ...pg.connection, port: '5432' } }, 400, 'connection.port'],
    ['an unknown cluster', 'POST', `/clusters/nope/datasources`, { ...pg, name: 'x6' }, 404, 'id'],
    ['a bad routing mode', 'PATCH', `/clusters/CLUSTER`, { routing: { mode: 'random' } }, 400, 'routing.mode'],
    ['a threshold over 100', 'PATCH', `/clusters/CLUSTER`, { routing: { cpuThreshold: 101 } }, 400, 'routing.cpuThreshold'],
    ['an unknown member', 'PATCH', `/members/00000000-0000-4000-8000-000000000000`, { enabled: false }, 404, 'id'],
    ['enabled as a string', 'PATCH', `/members/MEMBER`, { enabled: 'no' }, 400, 'enabled'],
    ['an empty query', 'POST', `/datasources/00000000-0000-4000-8000-000000000000/query`, { sql: '  ' }, 400, 'sql'],
    ['maxRows of 0', 'POST', `/datasources/00000000-0000-4000-8000-000000000000/query`, { sql: 'SELECT 1', maxRows: 0 }, 400, 'maxRows'],
    ['a timeout over the limit', 'POST', `/datasources/00000000-0000-4000-8000-000000000000/query`, { sql: 'SELECT 1', timeoutMs: 3_600_000 }, 400, 'timeoutMs'],
    ['a data source id that is not a UUID', 'POST', `/datasources/42/query`, { sql: 'SELECT 1' }, 400, 'id'],
  ];

  it.each(cases)('%s', async (_label, method, path, body, status, field) => {
    const r = await call<{ field?: string }>(api.url, method, `/api${path.replace('CLUSTER', clusterId).replace('MEMBER', memberId)}`, { token, body });
    expect(r.status).toBe(status);
    expect(r.body.field).toBe(field);
  });

  it('refuses a duplicate data source name with 409', async () => {
    expect((await call(api.url, 'POST', `/api/clusters/${clusterId}/datasources`, { token, body: { ...pg, name: 'dup' } })).status).toBe(201);
    const r = await call(api.url, 'POST', `/api/clusters/${clusterId}/datasources`, { token, body: { ...pg, name: 'dup' } });
    expect(r.status).toBe(409);
    expect(r.body).toMatchObject({ field: 'name' });
  });

  it('never logged the credentials', () => {
    const logs = api.logs.join('');
    expect(logs).not.toContain('s3cret');
    expect(logs).not.toContain('rotated-password');
    expect(logs).not.toContain('"status":500');
  });
});
