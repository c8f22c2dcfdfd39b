import { Redis } from 'ioredis';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import {
  type AgentProcess,
  type ApiProcess,
  eventually,
  firstAdminToken,
  gateway,
  installMember,
  json,
  REDIS_URL,
  startAgent,
  startApiProcess,
  tempDir,
} from '@gateway/testing';

/** The admin commands (the reference product's PowerShell scripts) against a real API, in table and JSON form. */
const PASSWORD = 'correct horse battery staple';
let api: ApiProcess;
let home: string;
let agent: AgentProcess | undefined;
let clusterId: string;
const member: Record<string, string> = {};

const gw = (...args: string[]) => gateway(args, { GATEWAY_HOME: home });
async function ok(...args: string[]) {
  const r = await gw(...args);
  if (r.status !== 0) throw new Error(`gateway ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  expect(r.stderr).toBe('');
  return r.stdout;
}
async function okJson<T>(...args: string[]): Promise<T> {
  return JSON.parse(await ok(...args, '--json')) as T;
}
async function fails(pattern: RegExp, ...args: string[]) {
  const r = await gw(...args);
  expect(r.status).not.toBe(0);
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^gateway: /);
  expect(lines[0]).toMatch(pattern);
  return r;
}

beforeAll(async () => {
  api = await startApiProcess();
  home = tempDir('admin-home-');
  const token = await firstAdminToken(api, 'admin@example.com', PASSWORD);
  const a = await installMember(api, token, { name: 'Payroll', member: 'alpha', recoveryKey: 'payroll-recovery' });
  const b = await installMember(api, token, { join: 'Payroll', member: 'beta', recoveryKey: 'payroll-recovery' });
  clusterId = a.clusterId;
  member.alpha = a.memberId;
  member.beta = b.memberId;
  member.alphaConfig = a.config;
  member.betaConfig = b.config;
  agent = await startAgent(a.config);
  const inv = await json<{ inviteToken: string }>(`${api.url}/api/users/invite`, 'POST', { email: 'ops@example.com' }, token);
  await json(`${api.url}/api/auth/accept-invite`, 'POST', { inviteToken: inv.body.inviteToken, password: PASSWORD });
}, 120_000);

afterAll(async () => {
  await agent?.kill('SIGKILL');
  await api?.stop();
}, 60_000);

describe('gateway admin commands', () => {
  it('refuses commands before login with one clear line', async () => {
    await fails(/not signed in/, 'clusters');
  });

  it('logs in and keeps the token in a 0600 file', async () => {
    expect(await ok('login', '--api', api.url, '--email', 'admin@example.com', '--password', PASSWORD)).toMatch(/^Signed in to .* as admin@example.com/);
    expect(statSync(path.join(home, 'credentials.json')).mode & 0o777).toBe(0o600);
    await fails(/wrong email or password/, 'login', '--api', api.url, '--email', 'admin@example.com', '--password', 'not the password');
  });

  it('lists clusters with members online and routing, as a table and as JSON', async () => {
    const text = await ok('clusters');
    expect(text.split('\n')[0]).toMatch(/^NAME\s+ID\s+ROLE\s+ONLINE\s+ROUTING/);
    expect(text).toMatch(new RegExp(`Payroll\\s+${clusterId}\\s+admin\\s+1/2\\s+primary`));
    const list = await okJson<{ name: string; memberCount: number; onlineCount: number }[]>('clusters');
    expect(list).toEqual([expect.objectContaining({ name: 'Payroll', memberCount: 2, onlineCount: 1 })]);
  });

  it('lists members with their status, by cluster name or id', async () => {
    const text = await ok('members', 'Payroll');
    expect(text).toMatch(/alpha\s+\S+\s+online\s+true\s+true/);
    expect(text).toMatch(/beta\s+\S+\s+offline\s+true\s+false/);
    const list = await okJson<{ name: string; online: boolean; lastHeartbeat: string | null; cpu: number | null }[]>('members', clusterId);
    const alpha = list.find((m) => m.name === 'alpha')!;
    expect(alpha.online).toBe(true);
    expect(alpha.lastHeartbeat).not.toBeNull();
    expect(typeof alpha.cpu).toBe('number');
  });

  it('disables and enables a member named <cluster>/<name> or by id', async () => {
    expect(await ok('member', 'set', 'Payroll/beta', '--enabled', 'false')).toContain('enabled false');
    expect((await okJson<{ enabled: boolean }>('member', 'set', member.beta, '--enabled', 'true', '--description', 'standby')).enabled).toBe(true);
    await fails(/--enabled must be true or false/, 'member', 'set', 'beta', '--enabled', 'maybe');
    await fails(/nothing to change/, 'member', 'set', 'beta');
    await fails(/no member named "gamma"/, 'member', 'set', 'gamma', '--enabled', 'false');
  });

  it('changes the routing and thresholds of a cluster', async () => {
    expect(await ok('cluster', 'set', 'Payroll', '--routing', 'distribute', '--cpu-threshold', '90')).toContain('routing distribute, CPU threshold 90');
    expect((await okJson<{ routing: { mode: string; memoryThreshold: number } }>('cluster', 'set', clusterId, '--routing', 'primary', '--memory-threshold', '85')).routing).toEqual({ mode: 'primary', cpuThreshold: 90, memoryThreshold: 85 });
    await fails(/--routing must be primary or distribute/, 'cluster', 'set', 'Payroll', '--routing', 'random');
    await fails(/--cpu-threshold must be a whole number from 0/, 'cluster', 'set', 'Payroll', '--cpu-threshold', '150');
    await fails(/no cluster "Nowhere"/, 'cluster', 'set', 'Nowhere', '--routing', 'primary');
  });

  it('grants, lists and revokes administrators, never the last one', async () => {
    expect(await ok('admins', 'add', 'Payroll', 'ops@example.com')).toContain('ops@example.com is now an Admin');
    const text = await ok('admins', 'list', 'Payroll');
    expect(text).toMatch(/admin@example.com\s+admin/);
    expect(text).toMatch(/ops@example.com\s+admin/);
    expect((await okJson<{ email: string }[]>('admins', 'list', 'Payroll')).map((r) => r.email).sort()).toEqual(['admin@example.com', 'ops@example.com']);
    expect(await ok('admins', 'remove', 'Payroll', 'ops@example.com')).toContain('no role on cluster');
    await fails(/last admin/, 'admins', 'remove', 'Payroll', 'admin@example.com');
    await fails(/no account for nobody@example.com/, 'admins', 'add', 'Payroll', 'nobody@example.com');
  });

  it('lists data sources without credentials', async () => {
    const token = JSON.parse(readFileSync(path.join(home, 'credentials.json'), 'utf8')).token;
    await json(`${api.url}/api/clusters/${clusterId}/datasources`, 'POST', { name: 'hr', type: 'postgres', connection: { host: 'db', port: 5432, database: 'hr' }, credentials: { username: 'u', password: 'cli-secret-password' } }, token);
    const text = await ok('datasources', 'Payroll');
    expect(text).toMatch(/hr\s+\S+\s+postgres\s+db:5432\/hr\s+sealed/);
    const list = await okJson<unknown[]>('datasources', 'Payroll');
    expect(list).toHaveLength(1);
    expect(JSON.stringify(list) + text).not.toContain('cli-secret-password');
  });

  it('promotes a member and removes the former primary', async () => {
    await fails(/is the primary of cluster "Payroll": promote another member first/, 'member', 'remove', 'Payroll/alpha');
    expect(await ok('member', 'promote', 'beta')).toContain('"beta" is now the primary');
    const removed = await okJson<{ removed: string }>('member', 'remove', `Payroll/alpha`);
    expect(removed.removed).toBe(member.alpha);
    // The removed member's agent notices within a heartbeat and stops with a clear message.
    await eventually(async () => expect(agent!.child.exitCode).not.toBeNull(), 10_000);
    expect(agent!.output()).toContain('was removed from its cluster');
    expect((await okJson<{ name: string; primary: boolean }[]>('members', 'Payroll')).map((m) => [m.name, m.primary])).toEqual([['beta', true]]);
  }, 30_000);

  it('shows the audit log of every management operation', async () => {
    const text = await ok('audit', 'Payroll', '--limit', '100');
    expect(text.split('\n')[0]).toMatch(/^WHEN\s+WHO\s+ACTION\s+TARGET/);
    const events = await okJson<{ action: string; actor: string }[]>('audit', 'Payroll');
    const actions = events.map((e) => e.action);
    for (const a of ['cluster.create', 'member.join', 'member.update', 'cluster.update', 'role.grant', 'role.revoke', 'datasource.create', 'member.promote', 'member.remove']) expect(actions).toContain(a);
    expect(events.every((e) => e.actor === 'admin@example.com')).toBe(true);
    await fails(/--limit must be a whole number/, 'audit', 'Payroll', '--limit', 'all');
  });

  it('removes a cluster only with --yes, and with it its keys in Redis', async () => {
    agent = await startAgent(member.betaConfig);
    const redis = new Redis(REDIS_URL);
    try {
      const pattern = `${api.redisPrefix}:{${clusterId}}:*`;
      expect((await redis.keys(pattern)).length).toBeGreaterThan(0);
      await fails(/add --yes to confirm/, 'cluster', 'remove', 'Payroll');
      expect(await ok('cluster', 'remove', 'Payroll', '--yes')).toContain('Deleted cluster "Payroll"');
      await eventually(async () => expect(agent!.child.exitCode).not.toBeNull(), 10_000);
      // Whatever the stopping agent wrote meanwhile is swept shortly after.
      await eventually(async () => expect(await redis.keys(pattern)).toEqual([]), 15_000, 250);
      expect(await okJson<unknown[]>('clusters')).toEqual([]);
    } finally {
      redis.disconnect();
    }
  }, 45_000);

  it('shows --help on every command', async () => {
    for (const args of [['login'], ['logout'], ['clusters'], ['members'], ['member', 'set'], ['member', 'remove'], ['member', 'promote'], ['cluster', 'set'], ['cluster', 'remove'], ['admins', 'list'], ['admins', 'add'], ['admins', 'remove'], ['datasources'], ['audit'], ['install'], ['run']]) {
      const r = await gw(...args, '--help');
      expect({ args, status: r.status }).toEqual({ args, status: 0 });
      expect(r.stdout).toMatch(/^Usage: gateway /);
    }
  }, 60_000);

  it('logs out: the token is revoked and forgotten', async () => {
    const token = JSON.parse(readFileSync(path.join(home, 'credentials.json'), 'utf8')).token;
    expect(await ok('logout')).toContain('Signed out');
    expect((await json(`${api.url}/api/auth/me`, 'GET', undefined, token)).status).toBe(401);
    await fails(/not signed in/, 'clusters');
  });
});
