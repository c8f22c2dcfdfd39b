import { joinProofMessage, memberAuthMessage } from '@gateway/domain';
import { generateClusterKeyPair, generateMemberKeyPair, sealPrivateKey, signMessage } from '@gateway/domain/crypto';
import { call } from '@gateway/testing';
import { startTestApi, type TestApi } from './support/test-env';

let api: TestApi;
let token: string;
const FAST_KDF = { memoryKiB: 19456, iterations: 2, parallelism: 1 };
const cluster = generateClusterKeyPair();
const memberKeys = generateMemberKeyPair();

const member = (name: string, publicKey = memberKeys.publicKey) => ({ name, hostName: 'host-1', agentVersion: '0.1.0', publicKey });

beforeAll(async () => {
  api = await startTestApi();
  const signup = await call<{ token: string }>(api.url, 'POST', '/api/auth/signup', { body: { email: 'Admin@Example.com', password: 'long enough password' } });
  expect(signup.status).toBe(201);
  token = signup.body.token;
}, 60_000);

afterAll(async () => {
  await api?.close();
});

describe('health and documentation', () => {
  it('reports PostgreSQL and Redis as up', async () => {
    const r = await call(api.url, 'GET', '/api/health');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: 'ok', database: { status: 'up' }, redis: { status: 'up' } });
  });

  it('serves an OpenAPI document describing every route with its schemas', async () => {
    const r = await call<{ openapi: string; paths: Record<string, Record<string, { summary: string; responses: Record<string, unknown>; requestBody?: unknown }>> }>(api.url, 'GET', '/api/openapi.json');
    expect(r.status).toBe(200);
    expect(r.body.openapi).toMatch(/^3\./);
    const documented = Object.entries(r.body.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    expect(documented).toEqual(expect.arrayContaining(['POST /api/clusters', 'POST /api/clusters/join', 'GET /api/clusters/{id}/members', 'POST /api/auth/login', 'GET /api/health']));
    for (const op of Object.values(r.body.paths).flatMap((ops) => Object.values(ops))) {
      expect(op.summary).toBeTruthy();
      expect(Object.keys(op.responses).length).toBeGreaterThan(0);
    }
    expect(r.body.paths['/api/clusters'].post.requestBody).toBeDefined();
    // Every route documents its success response with a schema (204 has no body), and every body it takes.
    for (const [path, ops] of Object.entries(r.body.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const [status, success] = Object.entries(op.responses).find(([code]) => code.startsWith('2'))! as [string, { content?: Record<string, { schema: unknown }> }];
        const described = Object.values(success.content ?? {}).some((c) => !!c.schema);
        if (status !== '204') expect({ route: `${method} ${path}`, described }).toEqual({ route: `${method} ${path}`, described: true });
        if (['post', 'put', 'patch'].includes(method) && (op as { requestBody?: unknown }).requestBody) {
          expect(Object.values((op as { requestBody: { content: Record<string, { schema: unknown }> } }).requestBody.content)[0].schema).toBeDefined();
        }
      }
    }
  });

  it('serves every documented operation, and documents every /api route it serves', async () => {
    const r = await call<{ paths: Record<string, Record<string, unknown>> }>(api.url, 'GET', '/api/openapi.json');
    const documented = Object.entries(r.body.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`));
    const routes = api.handle.routes.filter((route) => route.url.startsWith('/api/'));
    // Fastify answers HEAD for every GET by itself: those are not operations of their own.
    const served = routes.filter((route) => route.method !== 'HEAD' || !routes.some((get) => get.method === 'GET' && get.url === route.url)).map((route) => `${route.method} ${route.url}`);
    // Not operations of the API: the document itself, its explorer (HTML and assets), Prometheus' scrape (text, a token of its own).
    const notOperations = ['GET /api/openapi.json', 'GET /api/docs', 'GET /api/docs/:file', 'GET /api/metrics'];
    expect(served).toEqual(expect.arrayContaining(notOperations));
    expect([...documented].sort()).toEqual(served.filter((route) => !notOperations.includes(route)).sort());
    const fastify = api.handle.app.getHttpAdapter().getInstance();
    for (const route of documented) {
      const [method, url] = route.split(' ');
      expect([route, fastify.hasRoute({ method: method as 'GET', url })]).toEqual([route, true]);
    }
  });

  it('serves the API explorer UI', async () => {
    const r = await fetch(`${api.url}/api/docs`);
    expect(r.status).toBe(200);
    expect(await r.text()).toContain('swagger-ui-bundle.js');
    expect((await fetch(`${api.url}/api/docs/swagger-ui-bundle.js`)).status).toBe(200);
    for (const name of ['constructor', 'package.json', '..%2Fpackage.json', 'index.js']) expect([name, (await fetch(`${api.url}/api/docs/${name}`)).status]).toEqual([name, 404]);
  });
});

describe('accounts', () => {
  it('closes sign-up once the first account exists', async () => {
    const r = await call(api.url, 'POST', '/api/auth/signup', { body: { email: 'second@example.com', password: 'long enough password' } });
    expect(r.status).toBe(403);
    expect(r.body).toMatchObject({ message: expect.stringContaining('sign-up is closed') });
  });

  it('signs in with the email in any case, and refuses a wrong password', async () => {
    expect((await call(api.url, 'POST', '/api/auth/login', { body: { email: 'admin@example.com', password: 'long enough password' } })).status).toBe(200);
    const wrong = await call(api.url, 'POST', '/api/auth/login', { body: { email: 'admin@example.com', password: 'not the password' } });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toMatchObject({ message: 'wrong email or password' });
  });

  it('revokes a token on logout', async () => {
    const login = await call<{ token: string }>(api.url, 'POST', '/api/auth/login', { body: { email: 'admin@example.com', password: 'long enough password' } });
    expect((await call(api.url, 'POST', '/api/auth/logout', { token: login.body.token })).status).toBe(200);
    expect((await call(api.url, 'GET', '/api/clusters', { token: login.body.token })).status).toBe(401);
  });

  it('stores passwords as argon2id hashes and sign-in tokens only as hashes', async () => {
    const { PrismaService } = await import('../src/infra/database/prisma.service');
    const prisma = api.handle.app.get(PrismaService);
    const user = await prisma.user.findUniqueOrThrow({ where: { email: 'admin@example.com' } });
    expect(user.passwordHash).toMatch(/^\$argon2id\$/);
    const sessions = await prisma.session.findMany();
    expect(sessions.every((s) => /^[0-9a-f]{64}$/.test(s.tokenHash) && s.tokenHash !== token)).toBe(true);
  });
});

describe('clusters: create, join, member authentication', () => {
  let clusterId: string;
  let primaryId: string;

  it('creates a cluster with the installing member as primary', async () => {
    const keyEnvelope = await sealPrivateKey(cluster.privateKey, 'recovery-key-1', FAST_KDF);
    const r = await call<{ clusterId: string; memberId: string }>(api.url, 'POST', '/api/clusters', {
      token,
      body: { name: 'Sales', publicKey: cluster.publicKey, keyEnvelope, member: member('primary-host') },
    });
    expect(r.status).toBe(201);
    clusterId = r.body.clusterId;
    primaryId = r.body.memberId;
    const members = await call<{ id: string; primary: boolean }[]>(api.url, 'GET', `/api/clusters/Sales/members`, { token });
    expect(members.body).toEqual([expect.objectContaining({ id: primaryId, primary: true, enabled: true, name: 'primary-host', hostName: 'host-1', agentVersion: '0.1.0' })]);
    const list = await call<unknown[]>(api.url, 'GET', '/api/clusters', { token });
    expect(list.body).toEqual([expect.objectContaining({ id: clusterId, name: 'Sales', memberCount: 1 })]);
    expect(JSON.stringify(list.body)).not.toContain('keyEnvelope');
  });

  it('joins a member that proves it opened the cluster key, once per challenge', async () => {
    const start = await call<{ challengeId: string; nonce: string; clusterId: string }>(api.url, 'POST', '/api/clusters/join', { token, body: { cluster: clusterId } });
    expect(start.status).toBe(201);
    const signature = signMessage(cluster.privateKey, joinProofMessage(clusterId, start.body.nonce));
    const done = await call(api.url, 'POST', '/api/clusters/join/complete', { token, body: { challengeId: start.body.challengeId, signature, member: member('second-host') } });
    expect(done.status).toBe(201);
    const replay = await call(api.url, 'POST', '/api/clusters/join/complete', { token, body: { challengeId: start.body.challengeId, signature, member: member('third-host') } });
    expect(replay.status).toBe(401);
    const members = await call<{ primary: boolean }[]>(api.url, 'GET', `/api/clusters/${clusterId}/members`, { token });
    expect(members.body.map((m) => m.primary)).toEqual([true, false]);
  });

  it('refuses a join signed by another key and registers nothing', async () => {
    const start = await call<{ challengeId: string; nonce: string }>(api.url, 'POST', '/api/clusters/join', { token, body: { cluster: 'Sales' } });
    const forged = signMessage(generateClusterKeyPair().privateKey, joinProofMessage(clusterId, start.body.nonce));
    const r = await call(api.url, 'POST', '/api/clusters/join/complete', { token, body: { challengeId: start.body.challengeId, signature: forged, member: member('intruder') } });
    expect(r.status).toBe(401);
    expect(r.body).toMatchObject({ message: expect.stringContaining('recovery key is wrong') });
    const members = await call<unknown[]>(api.url, 'GET', `/api/clusters/${clusterId}/members`, { token });
    expect(members.body).toHaveLength(2);
  });

  it('gives a member a short-lived token for a nonce signed with its own key', async () => {
    const ch = await call<{ challengeId: string; nonce: string }>(api.url, 'POST', '/api/agents/challenge', { body: { memberId: primaryId } });
    const signature = signMessage(memberKeys.privateKey, memberAuthMessage(primaryId, ch.body.nonce));
    const t = await call<{ token: string }>(api.url, 'POST', '/api/agents/token', { body: { challengeId: ch.body.challengeId, signature } });
    expect(t.status).toBe(201);
    const me = await call(api.url, 'GET', '/api/agents/me', { token: t.body.token });
    expect(me.body).toMatchObject({ member: { id: primaryId, primary: true }, cluster: { id: clusterId, name: 'Sales' } });
    // A user token is not a member token, nor the other way round.
    expect((await call(api.url, 'GET', '/api/agents/me', { token })).status).toBe(401);
    expect((await call(api.url, 'GET', '/api/clusters', { token: t.body.token })).status).toBe(401);
  });

  it('refuses a member signature made with the wrong key', async () => {
    const ch = await call<{ challengeId: string; nonce: string }>(api.url, 'POST', '/api/agents/challenge', { body: { memberId: primaryId } });
    const signature = signMessage(generateMemberKeyPair().privateKey, memberAuthMessage(primaryId, ch.body.nonce));
    expect((await call(api.url, 'POST', '/api/agents/token', { body: { challengeId: ch.body.challengeId, signature } })).status).toBe(401);
  });

  it("refuses a removed member's token at once, though it was verified (and remembered) a moment before", async () => {
    const start = await call<{ challengeId: string; nonce: string }>(api.url, 'POST', '/api/clusters/join', { token, body: { cluster: clusterId } });
    const proof = signMessage(cluster.privateKey, joinProofMessage(clusterId, start.body.nonce));
    const joined = await call<{ memberId: string }>(api.url, 'POST', '/api/clusters/join/complete', { token, body: { challengeId: start.body.challengeId, signature: proof, member: member('doomed-host') } });
    expect(joined.status).toBe(201);
    const ch = await call<{ challengeId: string; nonce: string }>(api.url, 'POST', '/api/agents/challenge', { body: { memberId: joined.body.memberId } });
    const signature = signMessage(memberKeys.privateKey, memberAuthMessage(joined.body.memberId, ch.body.nonce));
    const t = await call<{ token: string }>(api.url, 'POST', '/api/agents/token', { body: { challengeId: ch.body.challengeId, signature } });
    for (let i = 0; i < 2; i++) expect((await call(api.url, 'GET', '/api/agents/me', { token: t.body.token })).status).toBe(200);
    expect((await call(api.url, 'DELETE', `/api/members/${joined.body.memberId}`, { token })).status).toBe(204);
    expect((await call(api.url, 'GET', '/api/agents/me', { token: t.body.token })).status).toBe(401);
  });

  it('hides clusters of other users as not found', async () => {
    const { PrismaService } = await import('../src/infra/database/prisma.service');
    const { hashPassword } = await import('../src/features/auth/passwords');
    const prisma = api.handle.app.get(PrismaService);
    await prisma.user.create({ data: { email: 'other@example.com', passwordHash: await hashPassword('long enough password') } });
    const other = await call<{ token: string }>(api.url, 'POST', '/api/auth/login', { body: { email: 'other@example.com', password: 'long enough password' } });
    expect((await call(api.url, 'GET', `/api/clusters/${clusterId}/members`, { token: other.body.token })).status).toBe(404);
    expect((await call(api.url, 'POST', '/api/clusters/join', { token: other.body.token, body: { cluster: 'Sales' } })).status).toBe(404);
    expect((await call<unknown[]>(api.url, 'GET', '/api/clusters', { token: other.body.token })).body).toEqual([]);
  });
});

/** A sign-in token written straight into the database, expired or revoked as asked. */
async function sessionToken(over: { expiresAt?: Date; revokedAt?: Date }) {
  const { PrismaService } = await import('../src/infra/database/prisma.service');
  const { hashToken, newToken, USER_TOKEN_PREFIX } = await import('../src/features/auth/tokens');
  const prisma = api.handle.app.get(PrismaService);
  const user = await prisma.user.findUniqueOrThrow({ where: { email: 'admin@example.com' } });
  const t = newToken(USER_TOKEN_PREFIX);
  await prisma.session.create({ data: { userId: user.id, tokenHash: hashToken(t), expiresAt: over.expiresAt ?? new Date(Date.now() + 3600_000), revokedAt: over.revokedAt } });
  return t;
}

describe('bad input is a 4xx naming the problem, never a 500', () => {
  const validCluster = async (over: Record<string, unknown>) => ({
    name: 'Bad-' + Math.random().toString(36).slice(2),
    publicKey: cluster.publicKey,
    keyEnvelope: await sealPrivateKey(cluster.privateKey, 'recovery-key-1', FAST_KDF),
    member: member('m'),
    ...over,
  });

  const cases: [string, () => Promise<{ method: string; path: string; token?: string | null; body?: unknown; raw?: string; headers?: Record<string, string> }>, number, string | undefined][] = [
    ['malformed JSON', async () => ({ method: 'POST', path: '/api/auth/login', raw: '{"email":' }), 400, 'body'],
    ['a JSON array instead of an object', async () => ({ method: 'POST', path: '/api/auth/login', raw: '[]' }), 400, 'body'],
    ['no body', async () => ({ method: 'POST', path: '/api/auth/login' }), 400, 'body'],
    ['a wrong type', async () => ({ method: 'POST', path: '/api/auth/login', body: { email: 5, password: 'x'.repeat(12) } }), 400, 'email'],
    ['an invalid email', async () => ({ method: 'POST', path: '/api/auth/signup', body: { email: 'nope', password: 'x'.repeat(12) } }), 400, 'email'],
    ['a short password', async () => ({ method: 'POST', path: '/api/auth/signup', body: { email: 'a@b.co', password: 'short' } }), 400, 'password'],
    ['an unknown field', async () => ({ method: 'POST', path: '/api/auth/login', body: { email: 'a@b.co', password: 'x'.repeat(12), admin: true } }), 400, 'admin'],
    ['an oversized body', async () => ({ method: 'POST', path: '/api/auth/login', raw: JSON.stringify({ email: 'a@b.co', password: 'x'.repeat(2 * 1024 * 1024) }) }), 413, 'body'],
    ['a non-JSON content type', async () => ({ method: 'POST', path: '/api/auth/login', raw: 'email=a', headers: { 'content-type': 'text/plain' } }), 415, 'body'],
    ['no token', async () => ({ method: 'GET', path: '/api/clusters', token: null }), 401, undefined],
    ['a made-up token', async () => ({ method: 'GET', path: '/api/clusters', token: 'gwu_made-up' }), 401, undefined],
    ['a token of an unknown kind', async () => ({ method: 'GET', path: '/api/clusters', token: 'abc.def.ghi' }), 401, undefined],
    ['a malformed Authorization header', async () => ({ method: 'GET', path: '/api/clusters', token: null, headers: { authorization: 'Basic dXNlcjpwYXNz' } }), 401, undefined],
    ['an expired token', async () => ({ method: 'GET', path: '/api/clusters', token: await sessionToken({ expiresAt: new Date(Date.now() - 1000) }) }), 401, undefined],
    ['a revoked token', async () => ({ method: 'GET', path: '/api/clusters', token: await sessionToken({ revokedAt: new Date() }) }), 401, undefined],
    ['a member token on a user route', async () => ({ method: 'GET', path: '/api/clusters', token: 'gwm_not-for-users' }), 401, undefined],
    ['a query parameter out of range', async () => ({ method: 'GET', path: '/api/clusters/Sales/audit?limit=0' }), 400, 'limit'],
    ['an unknown query parameter', async () => ({ method: 'GET', path: '/api/clusters/Sales/audit?sort=asc' }), 400, 'sort'],
    ['an invalid role', async () => ({ method: 'PUT', path: '/api/clusters/Sales/roles', body: { email: 'admin@example.com', role: 'owner' } }), 400, 'role'],
    ['an email path parameter that is not an email', async () => ({ method: 'DELETE', path: '/api/clusters/Sales/roles/not-an-email' }), 400, 'email'],
    ['a token name that is empty', async () => ({ method: 'POST', path: '/api/tokens', body: { name: '' } }), 400, 'name'],
    ['a token lifetime of zero days', async () => ({ method: 'POST', path: '/api/tokens', body: { name: 'x', expiresInDays: 0 } }), 400, 'expiresInDays'],
    ['a malformed member id', async () => ({ method: 'POST', path: '/api/agents/challenge', body: { memberId: 'not-a-uuid' } }), 400, 'memberId'],
    ['an unknown member id', async () => ({ method: 'POST', path: '/api/agents/challenge', body: { memberId: '00000000-0000-4000-8000-000000000000' } }), 404, 'memberId'],
    ['an unknown cluster', async () => ({ method: 'POST', path: '/api/clusters/join', body: { cluster: 'no-such-cluster' } }), 404, 'cluster'],
    ['an unknown cluster id in the path', async () => ({ method: 'GET', path: '/api/clusters/00000000-0000-4000-8000-000000000000/members' }), 404, 'id'],
    ['a duplicate cluster name', async () => ({ method: 'POST', path: '/api/clusters', body: await validCluster({ name: 'Sales' }) }), 409, 'name'],
    ['a cluster key that is not RSA', async () => ({ method: 'POST', path: '/api/clusters', body: await validCluster({ publicKey: generateMemberKeyPair().publicKey }) }), 400, 'publicKey'],
    ['a member key that is not Ed25519', async () => ({ method: 'POST', path: '/api/clusters', body: await validCluster({ member: member('m', cluster.publicKey) }) }), 400, 'member.publicKey'],
    ['a garbage public key', async () => ({ method: 'POST', path: '/api/clusters', body: await validCluster({ publicKey: 'hello' }) }), 400, 'publicKey'],
    ['a key envelope of another version', async () => ({ method: 'POST', path: '/api/clusters', body: await validCluster({ keyEnvelope: { v: 2 } }) }), 400, 'keyEnvelope.v'],
    ['an empty cluster name', async () => ({ method: 'POST', path: '/api/clusters', body: await validCluster({ name: '  ' }) }), 400, 'name'],
    ['a bogus join challenge', async () => ({ method: 'POST', path: '/api/clusters/join/complete', body: { challengeId: '00000000-0000-4000-8000-000000000000', signature: 'AAAA', member: member('x') } }), 404, 'challengeId'],
    ['an unknown route', async () => ({ method: 'GET', path: '/api/nothing-here' }), 404, undefined],
  ];

  it('has at least 25 cases', () => expect(cases.length).toBeGreaterThanOrEqual(25));

  it.each(cases)('%s', async (_label, make, status, field) => {
    const req = await make();
    const r = await call<{ statusCode: number; message: string; field?: string }>(api.url, req.method, req.path, {
      token: req.token === null ? undefined : (req.token ?? token),
      body: req.body,
      raw: req.raw,
      headers: req.headers,
    });
    expect(r.status).toBe(status);
    expect(r.body).toMatchObject({ statusCode: status, message: expect.any(String) });
    if (field) expect(r.body.field).toBe(field);
    expect(JSON.stringify(r.body)).not.toMatch(/\n\s+at /);
  });

  it('logged no 500 and no secret', () => {
    const text = api.logs.join('');
    expect(text).not.toContain('"status":500');
    expect(text).not.toContain('long enough password');
    expect(text).not.toContain(token);
  });
});
