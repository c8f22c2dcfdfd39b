import { generateClusterKeyPair, generateMemberKeyPair, sealPrivateKey } from '@gateway/domain/crypto';
import { PrismaService } from '../src/infra/database/prisma.service';
import { call } from '@gateway/testing';
import { startTestApi, type TestApi } from './support/test-env';

/**
 * Who may do what: every route of the OpenAPI document is walked with the token of a user who has no role
 * on the cluster, and the admin-only ones with a User's token. A route without an example here fails the
 * walk, so a new route cannot slip past it.
 */
let api: TestApi;
const tokens: Record<'admin' | 'user' | 'stranger', string> = {} as never;
const ids: Record<string, string> = {};
/** A well-formed key and envelope, for the key routes' bodies (they are refused before anything is checked against them). */
const keys: { publicKey: string; keyEnvelope: unknown } = { publicKey: '', keyEnvelope: null };
const PASSWORD = 'long enough password';

async function inviteAndAccept(email: string) {
  const inv = await call<{ inviteToken: string }>(api.url, 'POST', '/api/users/invite', { token: tokens.admin, body: { email } });
  expect(inv.status).toBe(201);
  const accepted = await call<{ token: string }>(api.url, 'POST', '/api/auth/accept-invite', { body: { inviteToken: inv.body.inviteToken, password: PASSWORD } });
  expect(accepted.status).toBe(200);
  return accepted.body.token;
}

beforeAll(async () => {
  api = await startTestApi();
  tokens.admin = (await call<{ token: string }>(api.url, 'POST', '/api/auth/signup', { body: { email: 'admin@example.com', password: PASSWORD } })).body.token;
  const cluster = generateClusterKeyPair();
  const created = await call<{ clusterId: string; memberId: string }>(api.url, 'POST', '/api/clusters', {
    token: tokens.admin,
    body: {
      name: 'Finance',
      publicKey: cluster.publicKey,
      keyEnvelope: await sealPrivateKey(cluster.privateKey, 'recovery-key', { memoryKiB: 19456, iterations: 2, parallelism: 1 }),
      member: { name: 'm1', hostName: 'h', agentVersion: '0.1.0', publicKey: generateMemberKeyPair().publicKey },
    },
  });
  ids.cluster = created.body.clusterId;
  ids.member = created.body.memberId;
  const other = generateClusterKeyPair();
  Object.assign(keys, { publicKey: other.publicKey, keyEnvelope: await sealPrivateKey(other.privateKey, 'another-key', { memoryKiB: 19456, iterations: 2, parallelism: 1 }) });
  const ds = await call<{ id: string }>(api.url, 'POST', `/api/clusters/${ids.cluster}/datasources`, {
    token: tokens.admin,
    body: { name: 'pg', type: 'postgres', connection: { host: '127.0.0.1', port: 5432, database: 'x' }, credentials: { username: 'u', password: 'p' } },
  });
  ids.ds = ds.body.id;
  tokens.user = await inviteAndAccept('user@example.com');
  tokens.stranger = await inviteAndAccept('stranger@example.com');
  expect((await call(api.url, 'PUT', `/api/clusters/${ids.cluster}/roles`, { token: tokens.admin, body: { email: 'user@example.com', role: 'user' } })).status).toBe(200);
  expect((await call(api.url, 'PUT', `/api/datasources/${ids.ds}/users`, { token: tokens.admin, body: { email: 'user@example.com' } })).status).toBe(200);
  const dataset = await call<{ id: string }>(api.url, 'POST', '/api/datasets', { token: tokens.admin, body: { dataSourceId: ids.ds, name: 'daily', query: 'SELECT 1' } });
  expect(dataset.status).toBe(201);
  ids.dataset = dataset.body.id;
  const refresh = await call<{ id: string }>(api.url, 'POST', `/api/datasets/${ids.dataset}/refreshes`, { token: tokens.admin });
  ids.refresh = refresh.body.id;
  const pat = await call<{ id: string }>(api.url, 'POST', '/api/tokens', { token: tokens.admin, body: { name: 'walk' } });
  ids.token = pat.body.id;
}, 60_000);

afterAll(async () => {
  await api?.close();
});

type Example = { path?: string; body?: unknown } | 'not-cluster-scoped' | 'member-only' | 'public';
/** One request per route, aimed at the cluster under test. */
const examples = (): Record<string, Example> => ({
  'GET /api/health': 'public',
  'POST /api/auth/signup': 'public',
  'POST /api/auth/login': 'public',
  'POST /api/auth/accept-invite': 'public',
  'POST /api/auth/logout': 'not-cluster-scoped',
  'GET /api/auth/me': 'not-cluster-scoped',
  'POST /api/users/invite': 'not-cluster-scoped',
  'POST /api/tokens': 'not-cluster-scoped',
  'GET /api/tokens': 'not-cluster-scoped',
  'DELETE /api/tokens/{id}': { path: `/api/tokens/${ids.token}` },
  'POST /api/clusters': 'not-cluster-scoped',
  'GET /api/clusters': 'not-cluster-scoped',
  'POST /api/clusters/join': { body: { cluster: 'Finance' } },
  'POST /api/clusters/join/complete': { body: { challengeId: '00000000-0000-4000-8000-000000000000', signature: 'AAAA', member: { name: 'x', hostName: 'h', agentVersion: '1', publicKey: generateMemberKeyPair().publicKey } } },
  'GET /api/clusters/{id}': { path: `/api/clusters/${ids.cluster}` },
  'PATCH /api/clusters/{id}': { path: `/api/clusters/${ids.cluster}`, body: { description: 'changed' } },
  'GET /api/clusters/{id}/key-rotation': { path: `/api/clusters/${ids.cluster}/key-rotation` },
  'POST /api/clusters/{id}/key-rotation': { path: `/api/clusters/${ids.cluster}/key-rotation`, body: { generation: 1, publicKey: keys.publicKey, keyEnvelope: keys.keyEnvelope, credentials: [], memberKeys: [], signature: 'AAAA' } },
  'POST /api/clusters/{id}/recovery-key': { path: `/api/clusters/${ids.cluster}/recovery-key`, body: { keyEnvelope: keys.keyEnvelope, signature: 'AAAA' } },
  'DELETE /api/clusters/{id}': { path: `/api/clusters/${ids.cluster}` },
  'POST /api/clusters/{id}/ping': { path: `/api/clusters/${ids.cluster}/ping` },
  'GET /api/clusters/{id}/traffic': { path: `/api/clusters/${ids.cluster}/traffic` },
  'GET /api/clusters/{id}/members': { path: `/api/clusters/${ids.cluster}/members` },
  'GET /api/clusters/{id}/audit': { path: `/api/clusters/${ids.cluster}/audit` },
  'GET /api/clusters/{id}/roles': { path: `/api/clusters/${ids.cluster}/roles` },
  'PUT /api/clusters/{id}/roles': { path: `/api/clusters/${ids.cluster}/roles`, body: { email: 'stranger@example.com', role: 'admin' } },
  'DELETE /api/clusters/{id}/roles/{email}': { path: `/api/clusters/${ids.cluster}/roles/admin%40example.com` },
  'PATCH /api/members/{id}': { path: `/api/members/${ids.member}`, body: { enabled: false } },
  'POST /api/members/{id}/promote': { path: `/api/members/${ids.member}/promote` },
  'POST /api/members/{id}/drain': { path: `/api/members/${ids.member}/drain` },
  'POST /api/members/{id}/resume': { path: `/api/members/${ids.member}/resume` },
  'DELETE /api/members/{id}': { path: `/api/members/${ids.member}` },
  'POST /api/clusters/{id}/datasources': { path: `/api/clusters/${ids.cluster}/datasources`, body: { name: 'new', type: 'sqlite', connection: { path: '/x.db' } } },
  'GET /api/clusters/{id}/datasources': { path: `/api/clusters/${ids.cluster}/datasources` },
  'GET /api/datasources/{id}': { path: `/api/datasources/${ids.ds}` },
  'PATCH /api/datasources/{id}': { path: `/api/datasources/${ids.ds}`, body: { name: 'renamed' } },
  'DELETE /api/datasources/{id}': { path: `/api/datasources/${ids.ds}` },
  'GET /api/datasources/{id}/users': { path: `/api/datasources/${ids.ds}/users` },
  'PUT /api/datasources/{id}/users': { path: `/api/datasources/${ids.ds}/users`, body: { email: 'stranger@example.com' } },
  'DELETE /api/datasources/{id}/users/{email}': { path: `/api/datasources/${ids.ds}/users/user%40example.com` },
  'POST /api/datasources/{id}/query': { path: `/api/datasources/${ids.ds}/query`, body: { sql: 'SELECT 1' } },
  'POST /api/datasources/{id}/test': { path: `/api/datasources/${ids.ds}/test` },
  'POST /api/datasets': { body: { dataSourceId: ids.ds, name: 'another', query: 'SELECT 2' } },
  'GET /api/datasets': 'not-cluster-scoped',
  'GET /api/datasets/{id}': { path: `/api/datasets/${ids.dataset}` },
  'PATCH /api/datasets/{id}': { path: `/api/datasets/${ids.dataset}`, body: { query: 'SELECT 3' } },
  'DELETE /api/datasets/{id}': { path: `/api/datasets/${ids.dataset}` },
  'POST /api/datasets/{id}/refreshes': { path: `/api/datasets/${ids.dataset}/refreshes` },
  'GET /api/datasets/{id}/refreshes': { path: `/api/datasets/${ids.dataset}/refreshes` },
  'GET /api/datasets/{id}/data': { path: `/api/datasets/${ids.dataset}/data?format=csv` },
  'GET /api/refreshes/{id}': { path: `/api/refreshes/${ids.refresh}` },
  'POST /api/refreshes/{id}/cancel': { path: `/api/refreshes/${ids.refresh}/cancel` },
  'POST /api/agents/refreshes/{id}/start': 'member-only',
  'POST /api/agents/refreshes/{id}/chunks': 'member-only',
  'POST /api/agents/refreshes/{id}/status': 'member-only',
  'POST /api/agents/refreshes/{id}/complete': 'member-only',
  'POST /api/agents/refreshes/{id}/fail': 'member-only',
  'POST /api/agents/refreshes/{id}/cancelled': 'member-only',
  'POST /api/agents/challenge': 'member-only',
  'POST /api/agents/token': 'member-only',
  'GET /api/agents/config': 'member-only',
  'GET /api/agents/me': 'member-only',
});

/** What a User of the cluster may do; everything else cluster-scoped is for Admins. */
const USER_ALLOWED = new Set([
  'GET /api/clusters/{id}',
  'POST /api/clusters/{id}/ping',
  'GET /api/clusters/{id}/traffic',
  'GET /api/clusters/{id}/datasources',
  'GET /api/datasources/{id}',
  'POST /api/datasources/{id}/query',
  'POST /api/datasources/{id}/test',
  'GET /api/datasets/{id}',
  'POST /api/datasets/{id}/refreshes',
  'GET /api/datasets/{id}/refreshes',
  'GET /api/datasets/{id}/data',
  'GET /api/refreshes/{id}',
  'POST /api/refreshes/{id}/cancel',
]);

async function routes() {
  const doc = await call<{ paths: Record<string, Record<string, unknown>> }>(api.url, 'GET', '/api/openapi.json');
  return Object.entries(doc.body.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
}

describe('access control over every route', () => {
  it('has an example for every documented route', async () => {
    const missing = (await routes()).filter((r) => !(r in examples()));
    expect(missing).toEqual([]);
  });

  it('answers no 2xx to a user with no role on the cluster', async () => {
    const answered: string[] = [];
    for (const route of await routes()) {
      const ex = examples()[route];
      if (typeof ex === 'string') continue;
      const [method, template] = route.split(' ');
      const r = await call(api.url, method, ex.path ?? template, { token: tokens.stranger, body: ex.body });
      answered.push(`${route} -> ${r.status}`);
      expect({ route, status: r.status, ok: r.status >= 200 && r.status < 300 }).toMatchObject({ route, ok: false });
      expect({ route, status: r.status }).toEqual({ route, status: 404 });
    }
    expect(answered.length).toBeGreaterThanOrEqual(25);
    const list = await call<{ id: string }[]>(api.url, 'GET', '/api/clusters', { token: tokens.stranger });
    expect(list.body).toEqual([]);
  });

  it('answers no 2xx to a User on admin-only routes', async () => {
    let checked = 0;
    for (const route of await routes()) {
      const ex = examples()[route];
      if (typeof ex === 'string' || USER_ALLOWED.has(route) || route.startsWith('DELETE /api/tokens')) continue;
      const [method, template] = route.split(' ');
      const r = await call(api.url, method, ex.path ?? template, { token: tokens.user, body: ex.body });
      expect({ route, ok: r.status >= 200 && r.status < 300 }).toEqual({ route, ok: false });
      expect([403, 404]).toContain(r.status);
      checked += 1;
    }
    expect(checked).toBeGreaterThanOrEqual(15);
  });

  it('lets a User use what the role allows', async () => {
    expect((await call(api.url, 'GET', `/api/clusters/${ids.cluster}`, { token: tokens.user })).body).toMatchObject({ role: 'user' });
    expect((await call<unknown[]>(api.url, 'GET', `/api/clusters/${ids.cluster}/datasources`, { token: tokens.user })).body).toHaveLength(1);
    // No member online: the query reaches routing (so access passed) and gets a clear 503.
    expect((await call(api.url, 'POST', `/api/datasources/${ids.ds}/query`, { token: tokens.user, body: { sql: 'SELECT 1' } })).status).toBe(503);
  });

  it('keeps the cluster intact after the walks', async () => {
    const c = await call<{ description: string; memberCount: number }>(api.url, 'GET', `/api/clusters/${ids.cluster}`, { token: tokens.admin });
    expect(c.status).toBe(200);
    expect(c.body.description).toBe('');
    expect(c.body.memberCount).toBe(1);
    const d = await call<{ query: string }>(api.url, 'GET', `/api/datasets/${ids.dataset}`, { token: tokens.admin });
    expect(d.body.query).toBe('SELECT 1');
  });
});

describe('roles', () => {
  it('never removes the last admin of a cluster', async () => {
    const r = await call(api.url, 'DELETE', `/api/clusters/${ids.cluster}/roles/admin%40example.com`, { token: tokens.admin });
    expect(r.status).toBe(409);
    expect(r.body).toMatchObject({ message: expect.stringContaining('last admin'), field: 'email' });
    const demote = await call(api.url, 'PUT', `/api/clusters/${ids.cluster}/roles`, { token: tokens.admin, body: { email: 'admin@example.com', role: 'user' } });
    expect(demote.status).toBe(409);
  });

  it('grants and revokes for the whole cluster', async () => {
    expect((await call(api.url, 'PUT', `/api/clusters/${ids.cluster}/roles`, { token: tokens.admin, body: { email: 'stranger@example.com', role: 'admin' } })).status).toBe(200);
    expect((await call(api.url, 'GET', `/api/clusters/${ids.cluster}/members`, { token: tokens.stranger })).status).toBe(200);
    expect((await call(api.url, 'DELETE', `/api/clusters/${ids.cluster}/roles/stranger%40example.com`, { token: tokens.admin })).status).toBe(204);
    expect((await call(api.url, 'GET', `/api/clusters/${ids.cluster}/members`, { token: tokens.stranger })).status).toBe(404);
  });

  it('refuses a grant to an email without an account', async () => {
    const r = await call(api.url, 'PUT', `/api/clusters/${ids.cluster}/roles`, { token: tokens.admin, body: { email: 'nobody@example.com' } });
    expect(r.status).toBe(404);
    expect(r.body).toMatchObject({ field: 'email' });
  });
});

describe('members', () => {
  it('refuses to remove the primary, and removes it once another member was promoted', async () => {
    const prisma = api.handle.app.get(PrismaService);
    const second = await prisma.member.create({ data: { clusterId: ids.cluster, name: 'm2', hostName: 'h2', agentVersion: '0.1.0', publicKey: generateMemberKeyPair().publicKey } });
    const refused = await call(api.url, 'DELETE', `/api/members/${ids.member}`, { token: tokens.admin });
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ message: expect.stringContaining('promote another member first') });
    expect((await call(api.url, 'POST', `/api/members/${second.id}/promote`, { token: tokens.admin })).body).toMatchObject({ primary: true });
    const members = await call<{ id: string; primary: boolean }[]>(api.url, 'GET', `/api/clusters/${ids.cluster}/members`, { token: tokens.admin });
    expect(members.body.filter((m) => m.primary).map((m) => m.id)).toEqual([second.id]);
    expect((await call(api.url, 'DELETE', `/api/members/${ids.member}`, { token: tokens.admin })).status).toBe(204);
    ids.member = second.id;
  });
});

describe('tokens and sessions', () => {
  it('creates, lists and revokes personal access tokens, shown once and stored hashed', async () => {
    const created = await call<{ id: string; token: string }>(api.url, 'POST', '/api/tokens', { token: tokens.admin, body: { name: 'ci', expiresInDays: 30 } });
    expect(created.status).toBe(201);
    expect(created.body.token).toMatch(/^gwp_/);
    expect((await call(api.url, 'GET', '/api/auth/me', { token: created.body.token })).body).toMatchObject({ email: 'admin@example.com' });
    const list = await call<{ id: string; name: string; token?: string; lastUsedAt: string | null }[]>(api.url, 'GET', '/api/tokens', { token: tokens.admin });
    const mine = list.body.find((t) => t.id === created.body.id)!;
    expect(mine).toMatchObject({ name: 'ci', revoked: false });
    expect(mine.lastUsedAt).not.toBeNull();
    expect(JSON.stringify(list.body)).not.toContain(created.body.token);
    const rows = await api.handle.app.get(PrismaService).session.findMany();
    expect(JSON.stringify(rows)).not.toContain(created.body.token);
    expect((await call(api.url, 'DELETE', `/api/tokens/${created.body.id}`, { token: tokens.admin })).status).toBe(204);
    expect((await call(api.url, 'GET', '/api/auth/me', { token: created.body.token })).status).toBe(401);
  });

  it('signs the portal in with an httpOnly, SameSite=Strict cookie, and out again', async () => {
    const res = await fetch(`${api.url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'admin@example.com', password: PASSWORD }) });
    const cookie = res.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^gw_session=gwu_/);
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Strict');
    const pair = cookie.split(';')[0];
    expect((await call(api.url, 'GET', '/api/auth/me', { headers: { cookie: pair } })).status).toBe(200);
    const out = await fetch(`${api.url}/api/auth/logout`, { method: 'POST', headers: { cookie: pair } });
    expect(out.headers.get('set-cookie')).toContain('Max-Age=0');
    expect((await call(api.url, 'GET', '/api/auth/me', { headers: { cookie: pair } })).status).toBe(401);
  });

  it('rate-limits failed sign-ins per email', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await call(api.url, 'POST', '/api/auth/login', { body: { email: 'user@example.com', password: 'wrong password!' } })).status);
    expect(statuses.slice(0, 10).every((s) => s === 401)).toBe(true);
    expect(statuses[10]).toBe(429);
    // Even the right password waits out the window.
    const r = await call(api.url, 'POST', '/api/auth/login', { body: { email: 'user@example.com', password: PASSWORD } });
    expect(r.status).toBe(429);
    expect(r.body).toMatchObject({ message: expect.stringMatching(/too many failed sign-ins: try again in \d+ minute/) });
  });

  it('refuses an invitation token twice', async () => {
    const inv = await call<{ inviteToken: string }>(api.url, 'POST', '/api/users/invite', { token: tokens.admin, body: { email: 'once@example.com' } });
    expect((await call(api.url, 'POST', '/api/auth/accept-invite', { body: { inviteToken: inv.body.inviteToken, password: PASSWORD } })).status).toBe(200);
    expect((await call(api.url, 'POST', '/api/auth/accept-invite', { body: { inviteToken: inv.body.inviteToken, password: PASSWORD } })).status).toBe(401);
  });

  it('lets only admins invite', async () => {
    expect((await call(api.url, 'POST', '/api/users/invite', { token: tokens.user, body: { email: 'x@example.com' } })).status).toBe(403);
  });
});

describe('audit log', () => {
  it('records every management operation with who, what, when and target', async () => {
    const events = await call<{ actor: string; action: string; targetType: string; at: string }[]>(api.url, 'GET', `/api/clusters/${ids.cluster}/audit?limit=200`, { token: tokens.admin });
    expect(events.status).toBe(200);
    const actions = new Set(events.body.map((e) => e.action));
    for (const a of ['cluster.create', 'datasource.create', 'role.grant', 'role.revoke', 'datasource.user.add', 'member.promote', 'member.remove']) expect(actions).toContain(a);
    expect(events.body.every((e) => e.actor && e.at && e.targetType)).toBe(true);
    expect(JSON.stringify(events.body)).not.toMatch(/"password"/);
  });
});
