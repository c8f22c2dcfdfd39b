import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { openFromCluster, publicKeyOf, type SealedBox } from '@gateway/domain/crypto';
import {
  type AgentProcess,
  type ApiProcess,
  createSampleSources,
  dumpDatabase,
  dumpRedis,
  eventually,
  firstAdminToken,
  gateway,
  installMember,
  json,
  QueryLoop,
  sleep,
  startAgent,
  startApiProcess,
  tempDir,
} from '@gateway/testing';

/**
 * Rotating the cluster key pair with real agents and no reinstall: the member host seals every credential again to
 * the new key and the new private key to each member's box key; the members online take it at once (queries keep
 * working), the one offline takes it when it reconnects, and nothing readable is left behind.
 */
const RECOVERY = 'rotation-recovery-key';
const PASSWORD = 'pg-password-never-in-plaintext';
type Member = { config: string; memberId: string; clusterId: string };

let api: ApiProcess;
let token: string;
let sources: Awaited<ReturnType<typeof createSampleSources>>;
const m: Record<'a' | 'b' | 'c', Member> = {} as never;
const agents: Partial<Record<'a' | 'b' | 'c', AgentProcess>> = {};
let dsId: string;
let oldKeyOfTest1 = '';

const configOf = (name: 'a' | 'b' | 'c') => JSON.parse(readFileSync(m[name].config, 'utf8')) as { clusterPrivateKey: string; memberBoxPrivateKey?: string };
const context = async () => (await json<{ generation: number; publicKey: string }>(`${api.url}/api/clusters/${m.a.clusterId}/key-rotation`, 'GET', undefined, token)).body;

beforeAll(async () => {
  [api, sources] = await Promise.all([startApiProcess({ HEARTBEAT_MS: '200', PRESENCE_TTL_MS: '800' }), createSampleSources()]);
  token = await firstAdminToken(api);
  for (const [i, name] of (['a', 'b', 'c'] as const).entries()) m[name] = await installMember(api, token, { ...(i === 0 ? { name: 'Rotating' } : { join: 'Rotating' }), member: name, recoveryKey: RECOVERY });
  // c connects once (it registers its box key), then is offline during the rotation.
  agents.c = await startAgent(m.c.config);
  agents.a = await startAgent(m.a.config);
  agents.b = await startAgent(m.b.config);
  // Each has registered its box key once connected.
  await eventually(async () => {
    const ctx = await json<{ members: { name: string; boxKey: string | null }[] }>(`${api.url}/api/clusters/${m.a.clusterId}/key-rotation`, 'GET', undefined, token);
    expect(ctx.body.members.filter((x) => !x.boxKey).map((x) => x.name)).toEqual([]);
  }, 10_000, 50);
  await agents.c.kill('SIGTERM');
  const ds = await json<{ id: string }>(`${api.url}/api/clusters/${m.a.clusterId}/datasources`, 'POST', { name: 'pg', type: 'postgres', connection: { host: sources.postgres.host, port: sources.postgres.port, database: sources.postgres.database }, credentials: { username: 'postgres', password: PASSWORD } }, token);
  dsId = ds.body.id;
}, 180_000);

afterAll(async () => {
  for (const a of Object.values(agents)) await a?.kill('SIGKILL');
  await api?.stop();
  await sources?.drop();
}, 60_000);

describe('gateway cluster rotate-key', () => {
  it('rotates with one member offline: 0 query errors on the online members, the offline one serves after reconnecting, nothing readable left', async () => {
    const oldKey = configOf('a').clusterPrivateKey;
    oldKeyOfTest1 = oldKey;
    expect((await context()).generation).toBe(1);
    const loop = new QueryLoop(`${api.url}/api/datasources/${dsId}/query`, token, { sql: 'SELECT count(*)::int AS n FROM items' }, 20);
    try {
      await eventually(async () => expect(loop.answers.filter((x) => x.status === 200).length).toBeGreaterThanOrEqual(10), 10_000, 20);
      const r = await gateway(['cluster', 'rotate-key', 'Rotating', '--recovery-key', RECOVERY, '--config', m.a.config, '--api', api.url, '--token', token]);
      expect(r.stderr).toBe('');
      expect(r.stdout).toContain('Rotated the key of cluster "Rotating" (generation 2): 1 data source credential(s) sealed again to it; its 3 member(s) get it now');
      const after = await context();
      expect(after.generation).toBe(2);
      // The online members took it at once, into their configs.
      await eventually(async () => {
        for (const name of ['a', 'b'] as const) expect(publicKeyOf(configOf(name).clusterPrivateKey).trim()).toBe(after.publicKey.trim());
      }, 10_000, 100);
      expect(configOf('c').clusterPrivateKey).toBe(oldKey);
      await sleep(1_000);
    } finally {
      await loop.stop();
    }
    expect(loop.failures).toEqual([]);
    const newKey = configOf('a').clusterPrivateKey;
    expect(newKey).not.toBe(oldKey);

    // c was offline: it takes the new key when it connects, and serves alone.
    await agents.a!.kill('SIGTERM');
    await agents.b!.kill('SIGTERM');
    agents.c = await startAgent(m.c.config);
    await eventually(async () => expect(configOf('c').clusterPrivateKey).toBe(newKey), 10_000, 100);
    const q = await eventually(async () => {
      const x = await json<{ rows: unknown[][]; servedBy: { memberName: string } }>(`${api.url}/api/datasources/${dsId}/query`, 'POST', { sql: 'SELECT count(*)::int AS n FROM items' }, token);
      expect(x.status).toBe(200);
      return x.body;
    }, 10_000, 100);
    expect(q).toMatchObject({ rows: [[100]], servedBy: { memberName: 'c' } });
    // Nothing left to deliver.
    const db = new Client({ connectionString: api.databaseUrl });
    await db.connect();
    try {
      const pending = await db.query('SELECT name FROM "Member" WHERE "pendingClusterKey" IS NOT NULL');
      expect(pending.rows).toEqual([]);
      // Every credential opens with the new key, none with the old one.
      const creds = await db.query<{ credentials: SealedBox }>('SELECT credentials FROM "DataSource" WHERE credentials IS NOT NULL');
      expect(creds.rows.length).toBe(1);
      for (const { credentials } of creds.rows) {
        expect(JSON.parse(openFromCluster(newKey, credentials))).toMatchObject({ password: PASSWORD });
        expect(() => openFromCluster(oldKey, credentials)).toThrow();
      }
    } finally {
      await db.end();
    }
    // No plaintext credential or private key in the database, Redis or the API's log.
    const seen = [await dumpDatabase(api.databaseUrl), await dumpRedis(api.redisPrefix), api.output()].join('\n');
    const pemBody = (pem: string) => pem.split('\n').filter((l) => l && !l.startsWith('-----')).slice(1, 3).join('');
    for (const secret of [PASSWORD, pemBody(oldKey), pemBody(newKey), pemBody(configOf('a').memberBoxPrivateKey!), RECOVERY]) expect(seen).not.toContain(secret);
    // A member joining now gets the new key from the recovery key.
    const d = await installMember(api, token, { join: 'Rotating', member: 'd', recoveryKey: RECOVERY });
    expect((JSON.parse(readFileSync(d.config, 'utf8')) as { clusterPrivateKey: string }).clusterPrivateKey).toBe(newKey);
  }, 180_000);

  it('refuses a wrong recovery key, a host whose key is not the current one, and a member with no box key, changing nothing', async () => {
    const before = await context();
    const cli = (config: string, recovery = RECOVERY) => gateway(['cluster', 'rotate-key', 'Rotating', '--recovery-key', recovery, '--config', config, '--api', api.url, '--token', token]);
    const wrong = await cli(m.c.config, 'not-the-recovery-key');
    expect([wrong.status, wrong.stderr.trim()]).toEqual([1, 'gateway: the recovery key is wrong for cluster "Rotating": nothing was changed']);
    const stale = path.join(tempDir('stale-'), 'agent.json');
    writeFileSync(stale, JSON.stringify({ ...JSON.parse(readFileSync(m.c.config, 'utf8')), clusterPrivateKey: oldKeyOfTest1 }), { mode: 0o600 });
    const old = await cli(stale);
    expect([old.status, old.stderr.trim()]).toEqual([1, 'gateway: this host\'s cluster key is not the current one of "Rotating" (it was rotated since): run this on a member host that is up to date']);
    // d joined after the rotation and never connected: it has no box key yet.
    const keyless = await cli(m.c.config);
    expect([keyless.status, keyless.stderr.trim()]).toEqual([1, 'gateway: member(s) d of "Rotating" have no key to receive the new cluster key: start each once with this agent version (it registers one when it connects), then run this again']);
    expect(await context()).toEqual(before);
  }, 120_000);
});
