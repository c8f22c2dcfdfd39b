import { readFileSync } from 'node:fs';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { AgentChallenge, AgentRedisCredentials, AgentToken, clusterKeys, memberAuthMessage, QUEUES } from '@gateway/domain';
import { openFromCluster, signMessage } from '@gateway/domain/crypto';
import { firstAdminToken, installMember, json, REDIS_URL, startAgent, startApiProcess, type AgentProcess, type ApiProcess } from './support/processes';
import { createSampleSources } from './support/sources';

/** With REDIS_AGENT_ACL=on, a member of cluster A can neither read nor consume cluster B's jobs. */
let api: ApiProcess;
let agent: AgentProcess;
let sources: Awaited<ReturnType<typeof createSampleSources>>;
let clusterA: string;
let clusterB: string;
let redis: Redis;
let token: string;

/** Authenticates as a member from its config file, exactly as an agent does, and gets its Redis credentials. */
async function memberRedis(configPath: string): Promise<Redis> {
  const config = JSON.parse(readFileSync(configPath, 'utf8'));
  const ch = AgentChallenge.parse((await json(`${api.url}/api/agents/challenge`, 'POST', { memberId: config.memberId })).body);
  const signature = signMessage(config.memberPrivateKey, memberAuthMessage(config.memberId, ch.nonce));
  const t = AgentToken.parse((await json(`${api.url}/api/agents/token`, 'POST', { challengeId: ch.challengeId, signature })).body);
  const creds = AgentRedisCredentials.parse((await json(`${api.url}/api/agents/redis-credentials`, 'POST', undefined, t.token)).body);
  expect(creds.username).toBeTruthy();
  const password = openFromCluster(config.clusterPrivateKey, creds.password!);
  return new Redis(REDIS_URL, { username: creds.username!, password, maxRetriesPerRequest: null, lazyConnect: true });
}

beforeAll(async () => {
  [api, sources] = await Promise.all([startApiProcess({ REDIS_AGENT_ACL: 'on' }), createSampleSources()]);
  token = await firstAdminToken(api);
  const a1 = await installMember(api, token, { name: 'A', member: 'a1', recoveryKey: 'recovery-key-A' });
  const a2 = await installMember(api, token, { join: 'A', member: 'a2', recoveryKey: 'recovery-key-A' });
  const b1 = await installMember(api, token, { name: 'B', member: 'b1', recoveryKey: 'recovery-key-B' });
  clusterA = a1.clusterId;
  clusterB = b1.clusterId;
  agent = await startAgent(a1.config);
  redis = await memberRedis(a2.config);
  await redis.connect();
}, 120_000);

afterAll(async () => {
  redis?.disconnect();
  await agent?.kill('SIGKILL');
  await api?.stop();
  await sources?.drop();
}, 60_000);

describe('per-cluster Redis ACL users', () => {
  it('lets a member use its own cluster keys', async () => {
    const a = clusterKeys(api.redisPrefix, clusterA);
    await expect(redis.get(a.configVersion)).resolves.not.toBeUndefined();
    await expect(redis.set(`${a.bullPrefix}:probe`, '1')).resolves.toBe('OK');
  });

  it('answers NOPERM when a member of A reads cluster B keys', async () => {
    const b = clusterKeys(api.redisPrefix, clusterB);
    await expect(redis.get(b.configVersion)).rejects.toThrow(/NOPERM/);
    await expect(redis.keys('*')).rejects.toThrow(/NOPERM/);
  });

  it("answers NOPERM when a member of A consumes or inspects cluster B's queue", async () => {
    const queue = new Queue(QUEUES.live, { connection: redis, prefix: clusterKeys(api.redisPrefix, clusterB).bullPrefix });
    try {
      await expect(queue.getJobCounts()).rejects.toThrow(/NOPERM/);
      await expect(queue.getWaiting()).rejects.toThrow(/NOPERM/);
    } finally {
      await queue.close();
    }
  });

  it("answers NOPERM when a member of A publishes on cluster B's reply channels", async () => {
    await expect(redis.publish(`${clusterKeys(api.redisPrefix, clusterB).bullPrefix}:reply:x`, 'forged')).rejects.toThrow(/NOPERM/);
  });

  it('still serves queries through an agent confined by its ACL user', async () => {
    const created = await json<{ id: string }>(`${api.url}/api/clusters/A/datasources`, 'POST', { name: 'file', type: 'sqlite', connection: { path: sources.sqlitePath } }, token);
    expect(created.status).toBe(201);
    const r = await json<{ rows: unknown[][]; servedBy: { memberName: string } }>(`${api.url}/api/datasources/${created.body.id}/query`, 'POST', { sql: 'SELECT count(*) FROM items' }, token);
    expect(r.status).toBe(200);
    expect(r.body.rows).toEqual([[100]]);
    expect(r.body.servedBy.memberName).toBe('a1');
  });
});
