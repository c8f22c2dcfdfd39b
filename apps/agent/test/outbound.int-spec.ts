import { readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Client } from 'pg';
import {
  type ApiProcess,
  createOnPremHost,
  createSampleSources,
  envWithoutProxies,
  eventually,
  type GatewayProcess,
  httpsJson,
  makePrivatePki,
  type OnPremHost,
  type PrivatePki,
  REDIS_URL,
  runAgent,
  runGateway,
  spawnGateway,
  startApiProcess,
  startTinyproxy,
  stopAllGateways,
  tcpConnectionsOf,
  type TcpSocket,
  tempDir,
  type Tinyproxy,
} from '@gateway/testing';
import { BATCH_ROWS, RAW_BATCH_ROWS } from '../src/runtime/refresh-runner';

/**
 * How a member reaches the control plane from a real network: one outbound WebSocket (and HTTPS for refresh
 * chunks) to an API serving TLS with a private CA, directly, through a corporate proxy (tinyproxy), and from a
 * host (a network namespace) whose only way out is that proxy. Real API, agents, PostgreSQL, proxy; no mocks.
 */

const isRoot = process.getuid?.() === 0;
const RECOVERY_KEY = 'outbound-test-recovery-key';
const REDIS_PORT = Number(new URL(REDIS_URL).port || 6379);
const PG_PORT = 5432;

type QueryReply = { columns: { name: string }[]; rows: unknown[][]; servedBy: { memberId: string; memberName: string; reason: string }; message?: string };
type Refresh = { id: string; status: string; rows: number; error: string | null; attempts: { memberName: string; status: string }[] };

const dirs: string[] = [];
function dir(prefix: string): string {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
}

let pki: PrivatePki;
let api: ApiProcess;
let apiPort: number;
/** host:port of the API, as a proxy's CONNECT and the agent's messages name it. */
let apiTarget: string;
let token: string;
let sources: Awaited<ReturnType<typeof createSampleSources>> | undefined;

/** The test's own calls to the API: HTTPS trusting the private CA, never through a proxy. */
const call = <T = Record<string, unknown>>(method: string, route: string, body?: unknown) => httpsJson<T>(`${api.url}/api${route}`, method, body, token, pki.caPem);

beforeAll(async () => {
  pki = makePrivatePki(dir('outbound-pki-'));
  // Both started at once, each kept as soon as it exists: afterAll cleans up whatever did start.
  const started = await Promise.allSettled([
    startApiProcess({ TLS_CERT_FILE: pki.certFile, TLS_KEY_FILE: pki.keyFile }).then((a) => (api = a)),
    createSampleSources().then((s) => (sources = s)),
  ]);
  for (const s of started) if (s.status === 'rejected') throw s.reason;
  expect(api.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  apiPort = Number(new URL(api.url).port);
  apiTarget = `127.0.0.1:${apiPort}`;
  const signup = await httpsJson<{ token: string }>(`${api.url}/api/auth/signup`, 'POST', { email: 'admin@example.com', password: 'correct horse battery staple' }, undefined, pki.caPem);
  if (signup.status !== 201) throw new Error(`signup failed: ${JSON.stringify(signup.body)}`);
  token = signup.body.token;
}, 180_000);

afterAll(async () => {
  await stopAllGateways();
  await api?.stop();
  await sources?.drop();
  if (sources) rmSync(path.dirname(sources.sqlitePath), { recursive: true, force: true });
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}, 60_000);

/** `gateway install` creating cluster `cluster` with member `member`, inside `host` when given. */
async function install(cluster: string, member: string, opts: { extra?: string[]; env?: Record<string, string>; host?: OnPremHost } = {}) {
  const config = path.join(dir(`outbound-${member}-`), 'agent.json');
  const args = ['install', '--api', api.url, '--token', token, '--name', cluster, '--recovery-key', RECOVERY_KEY, '--member-name', member, '--config', config, '--json', ...(opts.extra ?? [])];
  const result = await runGateway(args, { env: envWithoutProxies({ GATEWAY_HOME: dir('outbound-home-'), ...opts.env }), host: opts.host });
  return { ...result, config };
}

async function installed(cluster: string, member: string, opts: Parameters<typeof install>[2] = {}) {
  const r = await install(cluster, member, opts);
  if (r.status !== 0) throw new Error(`install of ${member} failed (${r.status}): ${r.stderr}`);
  return { config: r.config, ...(JSON.parse(r.stdout) as { clusterId: string; memberId: string }) };
}

async function createDataSource(clusterId: string, body: Record<string, unknown>): Promise<string> {
  const r = await call<{ id: string }>('POST', `/clusters/${clusterId}/datasources`, body);
  if (r.status !== 201) throw new Error(`data source: ${JSON.stringify(r.body)}`);
  return r.body.id;
}

const postgresSource = (name: string) => ({
  name,
  type: 'postgres',
  connection: { host: sources!.postgres.host, port: sources!.postgres.port, database: sources!.postgres.database },
  credentials: { username: 'postgres', password: '' },
});

/** A live query, retried while the just-connected member is not yet routable; the last answer must be a 200. */
async function liveQuery(dataSourceId: string, sql: string): Promise<QueryReply> {
  return eventually(async () => {
    const r = await call<QueryReply>('POST', `/datasources/${dataSourceId}/query`, { sql });
    if (r.status !== 200) throw new Error(`query answered ${r.status}: ${JSON.stringify(r.body)}`);
    return r.body;
  }, 20_000, 250);
}

/** Runs a refresh of a new dataset to its end; returns it and how many chunks the member uploaded. */
async function refresh(dataSourceId: string, name: string, query: string) {
  const ds = await call<{ id: string }>('POST', '/datasets', { dataSourceId, name, query });
  if (ds.status !== 201) throw new Error(`dataset: ${JSON.stringify(ds.body)}`);
  const started = await call<{ id: string }>('POST', `/datasets/${ds.body.id}/refreshes`);
  expect(started.status).toBe(201);
  const done = await eventually(async () => {
    const now = await call<Refresh>('GET', `/refreshes/${started.body.id}`);
    expect(['succeeded', 'failed', 'cancelled']).toContain(now.body.status);
    return now.body;
  }, 60_000, 200);
  const db = new Client({ connectionString: api.databaseUrl });
  await db.connect();
  try {
    const chunks = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM "SnapshotChunk" WHERE "refreshId" = $1', [done.id]);
    return { refresh: done, chunks: chunks.rows[0].n };
  } finally {
    await db.end();
  }
}

/** Samples a process's TCP connections every 50 ms while `during` runs: what it connected to, even briefly. */
async function watchConnections<T>(pid: number, netns: string | undefined, during: () => Promise<T>): Promise<{ result: T; seen: TcpSocket[] }> {
  const seen: TcpSocket[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      seen.push(...tcpConnectionsOf(pid, netns));
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  try {
    return { result: await during(), seen };
  } finally {
    sampling = false;
    await sampler;
  }
}

const peers = (sockets: TcpSocket[]) => [...new Set(sockets.map((s) => s.peer))].sort();
const established = (sockets: TcpSocket[]) => sockets.filter((s) => s.state === 'ESTAB');

/** A config file like `config` without its `ca` field: a host that lost (or never had) the private CA. */
function withoutCa(config: string): string {
  const json = JSON.parse(readFileSync(config, 'utf8')) as Record<string, unknown>;
  expect(typeof json.ca).toBe('string');
  delete json.ca;
  const file = path.join(dir('outbound-no-ca-'), 'agent.json');
  writeFileSync(file, JSON.stringify(json, null, 2), { mode: 0o600 });
  return file;
}

describe('an HTTPS control plane whose certificate is signed by a private CA', () => {
  let member: { config: string; clusterId: string; memberId: string };
  let agent: GatewayProcess;
  let pg: string;

  beforeAll(async () => {
    member = await installed('Direct', 'direct-a', { extra: ['--ca', pki.caFile] });
    agent = await runAgent(member.config, { env: envWithoutProxies() });
    pg = await createDataSource(member.clusterId, postgresSource('pg-direct'));
  }, 120_000);

  afterAll(() => agent?.stop(), 30_000);

  it('installs with --ca, connects over wss:// trusting that CA, and serves a live PostgreSQL query', async () => {
    // The PEM text itself is kept: the file given to install may be deleted afterwards.
    const config = JSON.parse(readFileSync(member.config, 'utf8')) as { apiUrl: string; ca?: string };
    expect(config.apiUrl).toBe(api.url);
    expect(config.ca).toBe(pki.caPem);
    expect(agent.logLines().find((l) => l.msg === 'connected to the control plane')).toMatchObject({ api: api.url });
    const r = await liveQuery(pg, 'SELECT id, name FROM items WHERE id <= 3 ORDER BY id');
    expect(r.rows).toEqual([[1, 'item 1'], [2, 'item 2'], [3, 'item 3']]);
    expect(r.servedBy).toMatchObject({ memberId: member.memberId, memberName: 'direct-a', reason: 'primary' });
  }, 60_000);

  it('refuses to install without --ca: a non-zero exit code and one stderr line naming the host, the certificate and --ca', async () => {
    const r = await install('NoCa', 'no-ca');
    expect(r.status).not.toBe(0);
    const lines = r.stderr.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^gateway: /);
    expect(lines[0]).toContain(apiTarget);
    expect(lines[0]).toContain('certificate');
    expect(lines[0]).toContain('--ca');
    // It failed before registering anything, and wrote no config.
    expect(existsSync(r.config)).toBe(false);
    const clusters = await call<{ name: string }[]>('GET', '/clusters');
    expect(clusters.body.map((c) => c.name)).not.toContain('NoCa');
  }, 60_000);

  it('a member whose config lost its CA cannot connect: it logs one line naming the host and the certificate problem, and keeps retrying', async () => {
    const broken = spawnGateway(['run', '--config', withoutCa(member.config)], { env: envWithoutProxies() });
    try {
      const isRetry = (l: Record<string, unknown>) => l.msg === 'could not connect to the control plane: retrying';
      const first = await broken.waitForLog(isRetry, 'a failed connection in the log');
      expect(first).toMatchObject({ api: api.url });
      const reason = String(first.reason);
      expect(reason).not.toMatch(/[\r\n]/);
      expect(reason).toContain(apiTarget);
      expect(reason).toMatch(/certificate/);
      expect(reason).toContain('--ca');
      // The same line install prints, once: not wrapped again in a vaguer one ("the TLS connection … failed (…)").
      expect(reason).toBe(`cannot verify the TLS certificate of ${apiTarget} (unable to verify the first certificate: UNABLE_TO_VERIFY_LEAF_SIGNATURE): pass --ca <file> with the CA that signed it`);
      // It does not give up: a second attempt fails the same way, and it is never on duty.
      await eventually(async () => expect(broken.logLines().filter(isRetry).length).toBeGreaterThanOrEqual(2), 20_000, 100);
      expect(broken.running()).toBe(true);
      expect(broken.output()).not.toContain('is on duty');
    } finally {
      await broken.stop();
    }
  }, 60_000);

  it('holds exactly one connection, to the API, and none to Redis', async () => {
    // gateway.js runs the CLI in its own process; tcpConnectionsOf also counts any child it might start.
    await liveQuery(pg, 'SELECT 1');
    const sockets = established(tcpConnectionsOf(agent.pid));
    expect(sockets.filter((s) => s.peerPort === REDIS_PORT)).toEqual([]);
    // The WebSocket is its one link to the control plane (no HTTPS call happens without a refresh).
    expect(sockets.filter((s) => s.peerPort === apiPort).map((s) => s.peer)).toEqual([apiTarget]);
    // What else it holds is the data source (pooled for a while after the query).
    expect(peers(sockets.filter((s) => s.peerPort !== apiPort))).toEqual([`127.0.0.1:${PG_PORT}`]);
  }, 60_000);
});

describe('through a corporate HTTP proxy (HTTPS_PROXY, no NO_PROXY)', () => {
  let proxy: Tinyproxy;
  let member: { config: string; clusterId: string; memberId: string };
  let agent: GatewayProcess;
  let pg: string;
  let connectsByInstall: number;

  beforeAll(async () => {
    proxy = await startTinyproxy({ dir: dir('outbound-proxy-') });
    // The install goes through the proxy as well: the environment is the same for every gateway command.
    member = await installed('Proxied', 'proxied-a', { extra: ['--ca', pki.caFile], env: { HTTPS_PROXY: proxy.url } });
    connectsByInstall = proxy.connects(apiTarget);
    agent = await runAgent(member.config, { env: envWithoutProxies({ HTTPS_PROXY: proxy.url }) });
    pg = await createDataSource(member.clusterId, postgresSource('pg-proxied'));
  }, 120_000);

  afterAll(async () => {
    await agent?.stop();
    await proxy?.stop();
  }, 30_000);

  it('serves a query through a corporate proxy: the WebSocket tunnels through it, the database is reached directly', async () => {
    expect(connectsByInstall).toBeGreaterThanOrEqual(1);
    // The agent's WebSocket is a CONNECT of its own, after the install's.
    expect(proxy.connects(apiTarget)).toBeGreaterThan(connectsByInstall);
    const r = await liveQuery(pg, 'SELECT id, name FROM items WHERE id <= 2 ORDER BY id');
    expect(r.rows).toEqual([[1, 'item 1'], [2, 'item 2']]);
    expect(r.servedBy).toMatchObject({ memberId: member.memberId, memberName: 'proxied-a' });
    // Every tunnel the proxy opened was to the control plane: PostgreSQL on :5432 never went through it…
    expect([...new Set(proxy.connectTargets())]).toEqual([apiTarget]);
    // …but straight from the agent, whose one link to the API is the tunnel through the proxy.
    const sockets = established(tcpConnectionsOf(agent.pid));
    expect(peers(sockets)).toEqual([`127.0.0.1:${PG_PORT}`, `127.0.0.1:${proxy.port}`].sort());
    expect(sockets.filter((s) => s.peerPort === apiPort)).toEqual([]);
  }, 60_000);

  it('refreshes through the proxy: the refresh calls and every chunk upload tunnel through it, the rows come straight from PostgreSQL', async () => {
    const before = proxy.connects(apiTarget);
    // Two and a half batches of COPY text: three chunk uploads.
    const n = RAW_BATCH_ROWS * 2 + RAW_BATCH_ROWS / 2;
    const { result, seen } = await watchConnections(agent.pid, undefined, () => refresh(pg, 'proxied-big', `SELECT g AS id, md5(g::text) AS h FROM generate_series(1, ${n}) g ORDER BY g`));
    expect(result.refresh).toMatchObject({ status: 'succeeded', rows: n, error: null });
    expect(result.refresh.attempts).toEqual([expect.objectContaining({ memberName: 'proxied-a', status: 'succeeded' })]);
    expect(result.chunks).toBe(3);
    // The HTTPS calls cannot ride on the WebSocket's tunnel: they opened at least one tunnel of their own…
    expect(proxy.connects(apiTarget)).toBeGreaterThan(before);
    // …and at no moment of the refresh did the agent hold a connection to the API itself, only to the proxy.
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.filter((s) => s.peerPort === apiPort)).toEqual([]);
    expect(peers(seen).filter((p) => p !== `127.0.0.1:${PG_PORT}`)).toEqual([`127.0.0.1:${proxy.port}`]);
    expect(proxy.connectTargets().filter((t) => t.endsWith(`:${PG_PORT}`))).toEqual([]);
  }, 90_000);

  it('holds no connection to Redis, and reaches the control plane only through the proxy', async () => {
    const sockets = established(tcpConnectionsOf(agent.pid));
    expect(sockets.filter((s) => s.peerPort === REDIS_PORT)).toEqual([]);
    expect(sockets.filter((s) => s.peerPort === apiPort)).toEqual([]);
    expect(sockets.filter((s) => s.peerPort === proxy.port).length).toBeGreaterThanOrEqual(1);
  }, 30_000);
});

/** Tries a direct TCP connection from inside `host`; prints `connected` or the error code. */
function probeFrom(host: OnPremHost, address: string, port: number): string {
  const script = `const s = require('net').connect(${port}, ${JSON.stringify(address)});
s.on('connect', () => { console.log('connected'); process.exit(0); });
s.on('error', (e) => { console.log(e.code); process.exit(0); });
setTimeout(() => { console.log('timeout'); process.exit(0); }, 5000);`;
  return host.exec(process.execPath, ['-e', script]).trim();
}

function canConnectHere(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

describe('an on-premises host whose only way out is the proxy (a network namespace)', () => {
  let host: OnPremHost | undefined;
  let proxy: Tinyproxy | undefined;
  let agent: GatewayProcess | undefined;

  // Also on a failed test: no namespace, link or process outlives the run.
  afterAll(async () => {
    await agent?.stop();
    await proxy?.stop();
    host?.remove();
  }, 30_000);

  (isRoot ? it : it.skip)('[root only: skipped when not root] installs, connects, serves a live SQLite query and refreshes through the proxy alone', async () => {
    host = createOnPremHost();
    // The host: no default route, and the API's port on 127.0.0.1 is the namespace's own loopback, where nothing listens.
    expect(host.exec('ip', ['route', 'show', 'default']).trim()).toBe('');
    expect(await canConnectHere(apiPort)).toBe(true);
    expect(probeFrom(host, '127.0.0.1', apiPort)).toBe('ECONNREFUSED');
    expect(probeFrom(host, '203.0.113.1', 443)).toBe('ENETUNREACH');

    proxy = await startTinyproxy({ dir: dir('outbound-netns-proxy-'), listen: host.hostAddress, allow: [host.address] });
    const env = { HTTPS_PROXY: proxy.url };
    const member = await installed('OnPrem', 'onprem-a', { extra: ['--ca', pki.caFile], env, host });
    agent = await runAgent(member.config, { env: envWithoutProxies(env), host });
    // Every client of the proxy was the namespace, and every tunnel went to the API (127.0.0.1 as the proxy sees it).
    expect([...new Set(proxy.clients())]).toEqual([host.address]);
    expect([...new Set(proxy.connectTargets())]).toEqual([apiTarget]);
    expect(proxy.connects(apiTarget)).toBeGreaterThanOrEqual(2); // the install's and the WebSocket's

    const sqlite = await createDataSource(member.clusterId, { name: 'file', type: 'sqlite', connection: { path: sources!.sqlitePath } });
    const r = await liveQuery(sqlite, 'SELECT id, name FROM items WHERE id <= 3 ORDER BY id');
    expect(r.rows).toEqual([[1, 'item 1'], [2, 'item 2'], [3, 'item 3']]);
    expect(r.servedBy).toMatchObject({ memberId: member.memberId, memberName: 'onprem-a' });

    // A refresh's HTTPS calls have no other way to the API either: three chunks arriving proves they tunnelled.
    const n = BATCH_ROWS * 2 + BATCH_ROWS / 2;
    const rows = `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < ${n}) SELECT n AS id, printf('row %d', n) AS name FROM g`;
    const { result, seen } = await watchConnections(agent.pid, host.name, () => refresh(sqlite, 'onprem-big', rows));
    expect(result.refresh).toMatchObject({ status: 'succeeded', rows: n, error: null });
    expect(result.refresh.attempts).toEqual([expect.objectContaining({ memberName: 'onprem-a', status: 'succeeded' })]);
    expect(result.chunks).toBe(3);

    // Inside the namespace, the agent's only connections are to the proxy: none to Redis, none anywhere else.
    const now = tcpConnectionsOf(agent.pid, host.name);
    expect(established(now).length).toBeGreaterThanOrEqual(1);
    expect(now.filter((s) => s.peerPort === REDIS_PORT)).toEqual([]);
    expect(peers([...seen, ...now])).toEqual([`${host.hostAddress}:${proxy.port}`]);
  }, 150_000);
});
