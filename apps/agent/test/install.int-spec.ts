import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { Client } from 'pg';
import { type ApiProcess, type CliResult, dumpDatabase, firstAdminToken, gateway, startApiProcess, tempDir } from '@gateway/testing';

const RECOVERY_KEY = 'blue-harbour-42-lantern';
let api: ApiProcess;
let token: string;
const hostA = tempDir('host-a-');
const hostB = tempDir('host-b-');
const configA = path.join(hostA, 'agent.json');
const configB = path.join(hostB, 'agent.json');

async function counts() {
  const c = new Client({ connectionString: api.databaseUrl });
  await c.connect();
  try {
    const clusters = await c.query('SELECT id, name FROM "Cluster"');
    const members = await c.query('SELECT id, "clusterId", "isPrimary", name FROM "Member" ORDER BY "joinOrder"');
    return { clusters: clusters.rows, members: members.rows };
  } finally {
    await c.end();
  }
}

function expectOneLineFailure(r: CliResult, pattern: RegExp) {
  expect(r.status).not.toBe(0);
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^gateway: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr + r.stdout).not.toMatch(/\n\s+at /);
}

beforeAll(async () => {
  api = await startApiProcess();
  token = await firstAdminToken(api);
}, 90_000);

afterAll(async () => {
  await api?.stop();
});

describe('gateway install', () => {
  let clusterId: string;

  it('creates a cluster with this host as its primary and writes a 0600 config', async () => {
    const r = await gateway(['install', '--api', api.url, '--token', token, '--name', 'Finance', '--recovery-key', RECOVERY_KEY, '--config', configA, '--member-name', 'host-a']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const ids = /cluster id: (\S+)\nmember id:\s+(\S+)/.exec(r.stdout);
    expect(ids).not.toBeNull();
    clusterId = ids![1];
    expect(statSync(configA).mode & 0o777).toBe(0o600);
    const config = JSON.parse(readFileSync(configA, 'utf8'));
    expect(config).toMatchObject({ apiUrl: api.url, clusterId, memberId: ids![2], clusterName: 'Finance', memberName: 'host-a' });
  }, 60_000);

  it('joins a second host to the cluster as a secondary member', async () => {
    const r = await gateway(['install', '--api', api.url, '--token', token, '--join', 'Finance', '--recovery-key', RECOVERY_KEY, '--member-name', 'host-b', '--config', configB]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`cluster id: ${clusterId}`);
    const { clusters, members } = await counts();
    expect(clusters).toHaveLength(1);
    expect(members).toHaveLength(2);
    expect(members.filter((m) => m.isPrimary).map((m) => m.name)).toEqual(['host-a']);
    expect(members.every((m) => m.clusterId === clusterId)).toBe(true);
    expect(JSON.parse(readFileSync(configB, 'utf8')).clusterPrivateKey).toBe(JSON.parse(readFileSync(configA, 'utf8')).clusterPrivateKey);
  }, 60_000);

  it('keeps the recovery key and every private key out of the database and the API logs', async () => {
    const dump = await dumpDatabase(api.databaseUrl);
    expect(dump.length).toBeGreaterThan(1000);
    const secrets = [RECOVERY_KEY, token];
    for (const file of [configA, configB]) {
      const config = JSON.parse(readFileSync(file, 'utf8'));
      for (const pem of [config.clusterPrivateKey, config.memberPrivateKey] as string[]) {
        // Every base64 line of the PEM body; any one of them in the database would be a leak.
        secrets.push(...pem.split('\n').filter((l) => l && !l.startsWith('-----')));
      }
    }
    expect(secrets.length).toBeGreaterThan(10);
    for (const s of secrets) {
      expect(dump).not.toContain(s);
      expect(api.output()).not.toContain(s);
    }
    expect(dump).not.toContain('PRIVATE KEY');
  });

  it('refuses a wrong recovery key, says so, and registers nothing', async () => {
    const before = await counts();
    const config = path.join(tempDir('host-c-'), 'agent.json');
    const r = await gateway(['install', '--api', api.url, '--token', token, '--join', clusterId, '--recovery-key', 'not-the-right-key', '--member-name', 'host-c', '--config', config]);
    expectOneLineFailure(r, /recovery key is wrong/);
    expect((await counts()).members).toHaveLength(before.members.length);
    expect(existsSync(config)).toBe(false);
  }, 60_000);

  it('joins by cluster id as well as by name', async () => {
    const r = await gateway(['install', '--api', api.url, '--token', token, '--join', clusterId, '--recovery-key', RECOVERY_KEY, '--member-name', 'host-d', '--config', path.join(tempDir('host-d-'), 'agent.json')]);
    expect(r.status).toBe(0);
    expect((await counts()).members).toHaveLength(3);
  }, 60_000);

  it('replaces an existing config with --force', async () => {
    const r = await gateway(['install', '--api', api.url, '--token', token, '--name', 'Finance-2', '--recovery-key', RECOVERY_KEY, '--config', configB, '--force', '--json']);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(JSON.parse(readFileSync(configB, 'utf8')).clusterId).toBe(out.clusterId);
    expect(out).toMatchObject({ clusterName: 'Finance-2', primary: true });
  }, 60_000);
});

describe('gateway install refuses bad input with one clear line and a non-zero exit', () => {
  let htmlServer: Server;
  let htmlUrl: string;

  beforeAll(async () => {
    htmlServer = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>hello</html>'));
    await new Promise<void>((r) => htmlServer.listen(0, '127.0.0.1', r));
    htmlUrl = `http://127.0.0.1:${(htmlServer.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise((r) => htmlServer.close(r)));

  const fresh = () => path.join(tempDir('host-x-'), 'agent.json');
  const base = (over: Record<string, string | null> = {}) => {
    const opts: Record<string, string | null> = { '--api': api.url, '--token': token, '--join': 'Finance', '--recovery-key': RECOVERY_KEY, '--config': fresh(), '--member-name': 'host-x', ...over };
    return Object.entries(opts).flatMap(([k, v]) => (v === null ? [] : v === '' ? [k] : [k, v]));
  };

  const cases: [string, () => string[], RegExp][] = [
    ['a short recovery key', () => ['install', ...base({ '--recovery-key': 'short' })], /at least 8 characters/],
    ['an unknown cluster', () => ['install', ...base({ '--join': 'no-such-cluster' })], /no cluster "no-such-cluster"/],
    ['a missing token', () => ['install', ...base({ '--token': null })], /--token is required/],
    ['a bad token', () => ['install', ...base({ '--token': 'gwu_not-a-real-token' })], /refused the credentials/],
    ['a malformed API URL', () => ['install', ...base({ '--api': 'not a url' })], /is not a URL/],
    ['an API URL of another scheme', () => ['install', ...base({ '--api': 'ftp://127.0.0.1' })], /http:\/\/ or https:\/\//],
    ['an unreachable API', () => ['install', ...base({ '--api': 'http://127.0.0.1:9' })], /nothing is listening at 127\.0\.0\.1:9 .*check --api/],
    ['plain http to a non-loopback address', () => ['install', ...base({ '--api': 'http://10.255.255.1:3000' })], /not encrypted: use https:\/\/, or pass --insecure-http/],
    ['a --ca file that is missing', () => ['install', ...base({ '--ca': '/nonexistent/ca.pem' })], /cannot read the --ca file \/nonexistent\/ca.pem: ENOENT/],
    ['a URL that is not the API', () => ['install', ...base({ '--api': htmlUrl })], /not JSON/],
    ['a duplicate cluster name', () => ['install', ...base({ '--join': null, '--name': 'Finance' })], /already exists/],
    ['a config already present', () => ['install', ...base({ '--config': configA })], /already has an agent config.*--force/],
    ['both --name and --join', () => ['install', ...base({ '--name': 'X' })], /either --name .* or --join/],
    ['neither --name nor --join', () => ['install', ...base({ '--join': null })], /give --name/],
    ['a duplicate member name', () => ['install', ...base({ '--member-name': 'host-a' })], /already has a member named "host-a"/],
    ['a member name with control characters', () => ['install', ...base({ '--member-name': 'bad\u0007name' })], /control characters/],
    ['an unknown option', () => ['install', ...base(), '--colour'], /unknown option/],
    ['an unknown command', () => ['instal'], /unknown command 'instal'/],
  ];

  it.each(cases)('%s', async (_label, args, pattern) => {
    const before = (await counts()).members.length;
    expectOneLineFailure(await gateway(args()), pattern);
    expect((await counts()).members.length).toBe(before);
  }, 60_000);

  it('a corrupt config is reported, not a stack trace', async () => {
    // `install --force` over a corrupt file works; reading one (by `run`, later) must fail clearly too.
    const file = fresh();
    writeFileSync(file, '{not json');
    const r = await gateway(['install', ...base({ '--config': file })]);
    expectOneLineFailure(r, /already has an agent config/);
  }, 60_000);

  it.each([
    [['--live-concurrency', '0'], /--live-concurrency must be a whole number from 1 to 256, not "0"/],
    [['--live-concurrency', '2.5'], /--live-concurrency must be a whole number from 1 to 256, not "2\.5"/],
    [['--live-slow-ms', 'fast'], /--live-slow-ms must be a number from 0\.01 to 60000, not "fast"/],
  ])('gateway run refuses a bad live setting (%j) before it starts', async (flags, pattern) => {
    const r = await gateway(['run', '--config', fresh(), ...flags]);
    expectOneLineFailure(r, pattern);
    expect(r.status).toBe(2); // a usage error, as for every other bad flag
  }, 60_000);

  it('never answered a CLI call with a 500', () => {
    expect(api.output()).not.toContain('"status":500');
  });
});

describe('gateway --help', () => {
  it('lists the commands and exits 0', async () => {
    const r = await gateway(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('install');
  });
});
