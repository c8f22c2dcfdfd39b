import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import {
  type AgentProcess,
  type ApiProcess,
  createOnPremHost,
  createSampleSources,
  envWithoutProxies,
  eventually,
  firstAdminToken,
  freePort,
  gateway,
  type GatewayProcess,
  installMember,
  json,
  type OnPremHost,
  runAgent,
  startAgent,
  startApiProcess,
  stopAllGateways,
} from '@gateway/testing';

/**
 * Health-aware routing, with real agents, API and PostgreSQL: each member checks that it can reach each data source
 * of its cluster and says so in its presence; routing skips a member that cannot reach a source while a peer can,
 * and says why; when none can, queries fail at once naming the source and what each member found.
 *
 * The primary "alpha" runs in a network namespace of its own (an on-prem host, when the test runs as root, as CI
 * does): it reaches the control plane and data source T through the host's end of its link, and has no route to data
 * source S (127.0.0.1 there is its own loopback, where nothing listens). "bravo" runs on this host and reaches both.
 */

const isRoot = process.getuid?.() === 0;
type Reply = { status: number; body: { rows?: unknown[][]; servedBy?: { memberName: string; reason: string }; message?: string; error?: string } };
type Member = { name: string; online: boolean; sources: { dataSourceId: string; name: string; ok: boolean; error: string | null; checkedAt: string }[] };

let api: ApiProcess;
let token: string;
let sources: Awaited<ReturnType<typeof createSampleSources>>;
let clusterId: string;
let host: OnPremHost | undefined;
const relays: net.Server[] = [];
let alpha: GatewayProcess | AgentProcess | undefined;
let bravo: AgentProcess | undefined;

/** A TCP relay on `listen` (the host's end of the namespace's link) to 127.0.0.1:`port`. */
async function relay(listen: string, port: number): Promise<number> {
  const server = net.createServer((inbound) => {
    const out = net.connect(port, '127.0.0.1');
    inbound.pipe(out).pipe(inbound);
    const close = () => {
      inbound.destroy();
      out.destroy();
    };
    inbound.on('error', close);
    out.on('error', close);
  });
  await new Promise<void>((resolve) => server.listen(0, listen, resolve));
  relays.push(server);
  return (server.address() as net.AddressInfo).port;
}

const query = (dataSourceId: string, sql = 'SELECT 1 AS one') => json<Reply['body']>(`${api.url}/api/datasources/${dataSourceId}/query`, 'POST', { sql }, token);
const members = async () => (await json<Member[]>(`${api.url}/api/clusters/${clusterId}/members`, 'GET', undefined, token)).body;
async function dataSource(name: string, host: string, port: number) {
  const r = await json<{ id: string }>(`${api.url}/api/clusters/${clusterId}/datasources`, 'POST', { name, type: 'postgres', connection: { host, port, database: sources.postgres.database }, credentials: { username: 'postgres', password: '' } }, token);
  if (r.status !== 201) throw new Error(`data source ${name}: ${JSON.stringify(r.body)}`);
  return r.body.id;
}

beforeAll(async () => {
  [api, sources] = await Promise.all([startApiProcess({ SOURCE_CHECK_MS: '1000' }), createSampleSources()]);
  token = await firstAdminToken(api);
  const a = await installMember(api, token, { name: 'Health', member: 'alpha', recoveryKey: 'health-recovery' });
  const b = await installMember(api, token, { join: 'Health', member: 'bravo', recoveryKey: 'health-recovery' });
  clusterId = a.clusterId;
  if (isRoot) {
    host = createOnPremHost();
    // alpha's way to the control plane: the host's end of its link, relayed to the API (plain HTTP on a private link).
    const apiRelay = await relay(host.hostAddress, Number(new URL(api.url).port));
    const config = JSON.parse(readFileSync(a.config, 'utf8')) as Record<string, unknown>;
    const url = `http://${host.hostAddress}:${apiRelay}`;
    writeFileSync(a.config, JSON.stringify({ ...config, apiUrl: url, apiUrls: [url], insecureHttp: true }, null, 2), { mode: 0o600 });
    alpha = await runAgent(a.config, { env: envWithoutProxies(), host });
  } else {
    alpha = await startAgent(a.config);
  }
  bravo = await startAgent(b.config);
}, 180_000);

afterAll(async () => {
  await stopAllGateways();
  if (alpha && 'kill' in alpha) await alpha.kill('SIGTERM');
  await bravo?.kill('SIGTERM');
  for (const r of relays) r.close();
  host?.remove();
  await api?.stop();
  await sources?.drop();
}, 60_000);

describe('health-aware routing', () => {
  (isRoot ? it : it.skip)('[root only: skipped when not root] serves S from bravo with 0 errors while alpha cannot reach it, keeps T on alpha, and says why', async () => {
    const pgRelay = await relay(host!.hostAddress, 5432);
    // S as bravo sees it; from alpha's namespace 127.0.0.1:5432 is its own loopback: connection refused.
    const s = await dataSource('sales-db', '127.0.0.1', 5432);
    const t = await dataSource('other-db', host!.hostAddress, pgRelay);
    // From the first query on, before alpha has even checked S: a member that cannot reach it hands over to one that can.
    const answers: Reply[] = [];
    const deadline = Date.now() + 6_000;
    while (Date.now() < deadline) {
      const [onS, onT] = await Promise.all([query(s), query(t)]);
      answers.push({ ...onS, body: { ...onS.body, message: `S ${onS.body.message ?? ''}` } }, { ...onT, body: { ...onT.body, message: `T ${onT.body.message ?? ''}` } });
      expect(onS).toMatchObject({ status: 200, body: { rows: [[1]], servedBy: { memberName: 'bravo' } } });
      expect(onT).toMatchObject({ status: 200, body: { rows: [[1]], servedBy: { memberName: 'alpha', reason: 'primary' } } });
    }
    expect(answers.length).toBeGreaterThanOrEqual(20);
    expect(answers.filter((a) => a.status !== 200)).toEqual([]);
    // The decision names the source alpha cannot reach and why.
    const last = await query(s);
    expect(last.body.servedBy!.reason).toMatch(/^failover: alpha cannot reach sales-db: .*ECONNREFUSED.*; bravo serves$/);
    // The members list and the CLI show each member's reachability per source.
    const list = await eventually(async () => {
      const m = await members();
      const a = m.find((x) => x.name === 'alpha')!;
      expect(a.sources.find((x) => x.name === 'sales-db')).toMatchObject({ ok: false, error: expect.stringContaining('ECONNREFUSED') });
      expect(a.sources.find((x) => x.name === 'other-db')).toMatchObject({ ok: true, error: null });
      return m;
    }, 10_000, 200);
    expect(list.find((x) => x.name === 'bravo')!.sources.map((x) => [x.name, x.ok])).toEqual([['other-db', true], ['sales-db', true]]);
    const cli = await gateway(['members', clusterId, '--api', api.url, '--token', token]);
    expect(cli.status).toBe(0);
    expect(cli.stdout).toMatch(/alpha\s.*1\/2 reachable/);
    expect(cli.stdout).toMatch(/bravo\s.*2\/2 reachable/);
    expect(cli.stdout).toMatch(/^alpha cannot reach data source "sales-db": .*ECONNREFUSED.* \(checked [\d.]+ s ago\)$/m);
    // A refresh of S runs on bravo too.
    const d = await json<{ id: string }>(`${api.url}/api/datasets`, 'POST', { dataSourceId: s, name: 'sales', query: 'SELECT 1 AS one' }, token);
    const r = await json<{ id: string }>(`${api.url}/api/datasets/${d.body.id}/refreshes`, 'POST', undefined, token);
    const done = await eventually(async () => {
      const x = await json<{ status: string; attempts: { memberName: string; reason: string }[] }>(`${api.url}/api/refreshes/${r.body.id}`, 'GET', undefined, token);
      expect(x.body.status).toBe('succeeded');
      return x.body;
    }, 20_000, 200);
    expect(done.attempts.map((x) => x.memberName)).toEqual(['bravo']);
    expect(done.attempts[0].reason).toMatch(/alpha cannot reach sales-db/);
  }, 90_000);

  it('fails a query at once when no member can reach its source, naming the source and what each member found', async () => {
    // Nothing listens on this port, for anyone.
    const dead = await dataSource('dead-db', '127.0.0.1', await freePort());
    const refused = await eventually(async () => {
      const started = Date.now();
      const r = await query(dead);
      expect(r.status).toBe(503);
      return { ...r, ms: Date.now() - started };
    }, 15_000, 200);
    expect(refused.body.message).toMatch(/^no member of cluster "Health" can serve this now: no online member can reach data source "dead-db" \(alpha: .*ECONNREFUSED.*; bravo: .*ECONNREFUSED.*\)$/);
    expect(refused.ms).toBeLessThan(1_000);
    // A source that comes back is used again (checks continue while a source is unreachable).
    const m = await members();
    for (const name of ['alpha', 'bravo']) expect(m.find((x) => x.name === name)!.sources.find((x) => x.name === 'dead-db')).toMatchObject({ ok: false });
  }, 60_000);

  it('a source that becomes reachable is routed to again within a few seconds', async () => {
    const port = await freePort();
    const later = await dataSource('later-db', '127.0.0.1', port);
    await eventually(async () => expect((await query(later)).status).toBe(503), 15_000, 200);
    const server = net.createServer((inbound) => {
      const out = net.connect(5432, '127.0.0.1');
      inbound.pipe(out).pipe(inbound);
      inbound.on('error', () => out.destroy());
      out.on('error', () => inbound.destroy());
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    relays.push(server);
    const back = await eventually(async () => {
      const r = await query(later);
      expect(r.status).toBe(200);
      return r;
    }, 10_000, 200);
    expect(back.body.rows).toEqual([[1]]);
  }, 60_000);
});
