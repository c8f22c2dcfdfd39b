import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  type AgentProcess,
  type ApiProcess,
  createSampleSources,
  eventually,
  firstAdminToken,
  freePort,
  installMember,
  json,
  startAgent,
  startApiProcess,
  tempDir,
} from '@gateway/testing';

/**
 * The metrics as an operator sees them: a real Prometheus (Debian's package, started here with a 1 s scrape
 * interval) scrapes the API (bearer token) and both agents (`gateway run --metrics-port`); after 20 live queries and
 * a failover (SIGKILL of the primary), PromQL through Prometheus' HTTP API returns the counts that happened.
 */

const METRICS_TOKEN = 'metrics-token-0123456789abcdef';
let api: ApiProcess;
let token: string;
let sources: Awaited<ReturnType<typeof createSampleSources>>;
let alpha: AgentProcess;
let bravo: AgentProcess;
let prometheus: ChildProcess | undefined;
let promUrl: string;
let dataSourceId: string;
let ports: { alpha: number; bravo: number };

async function promql(query: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const r = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(query)}`);
  const body = (await r.json()) as { status: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
  if (body.status !== 'success') throw new Error(`PromQL ${query}: ${JSON.stringify(body)}`);
  return body.data.result;
}
const scalar = async (query: string) => Number((await promql(query))[0]?.value[1] ?? NaN);

beforeAll(async () => {
  [api, sources] = await Promise.all([startApiProcess({ METRICS_TOKEN }), createSampleSources()]);
  token = await firstAdminToken(api);
  const a = await installMember(api, token, { name: 'Metrics', member: 'alpha', recoveryKey: 'metrics-recovery' });
  const b = await installMember(api, token, { join: 'Metrics', member: 'bravo', recoveryKey: 'metrics-recovery' });
  ports = { alpha: await freePort(), bravo: await freePort() };
  [alpha, bravo] = await Promise.all([startAgent(a.config, { GATEWAY_METRICS_PORT: String(ports.alpha) }), startAgent(b.config, { GATEWAY_METRICS_PORT: String(ports.bravo) })]);
  const ds = await json<{ id: string }>(`${api.url}/api/clusters/Metrics/datasources`, 'POST', { name: 'pg', type: 'postgres', connection: { host: '127.0.0.1', port: 5432, database: sources.name }, credentials: { username: 'postgres', password: '' } }, token);
  dataSourceId = ds.body.id;
  const dir = tempDir('prometheus-');
  const promPort = await freePort();
  promUrl = `http://127.0.0.1:${promPort}`;
  writeFileSync(
    path.join(dir, 'prometheus.yml'),
    `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n` +
      `  - job_name: api\n    metrics_path: /api/metrics\n    authorization:\n      credentials: ${METRICS_TOKEN}\n    static_configs:\n      - targets: ['${new URL(api.url).host}']\n` +
      `  - job_name: agents\n    static_configs:\n      - targets: ['127.0.0.1:${ports.alpha}', '127.0.0.1:${ports.bravo}']\n`,
  );
  prometheus = spawn('prometheus', [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`], { stdio: 'ignore' });
  await eventually(async () => expect((await promql('up')).filter((r) => r.value[1] === '1')).toHaveLength(3), 30_000, 500);
}, 180_000);

afterAll(async () => {
  prometheus?.kill('SIGTERM');
  await Promise.all([alpha?.kill('SIGTERM'), bravo?.kill('SIGTERM')]);
  await api?.stop();
  await sources?.drop();
});

test('20 live queries and a failover, counted through a real Prometheus', async () => {
  for (let i = 0; i < 20; i++) {
    const r = await json<{ servedBy: { memberName: string } }>(`${api.url}/api/datasources/${dataSourceId}/query`, 'POST', { sql: 'SELECT 1' }, token);
    expect(r.body.servedBy.memberName).toBe('alpha');
  }
  await eventually(async () => expect(await scalar('sum(gateway_member_live_work_total{member="alpha",kind="query",outcome="ok"})')).toBe(20), 10_000, 500);
  expect(await scalar('gateway_members_online{cluster="Metrics"}')).toBe(2);
  await alpha.kill('SIGKILL');
  // Served by bravo once the API knows alpha is gone (its connection closed).
  await eventually(async () => {
    const r = await json<{ servedBy: { memberName: string } }>(`${api.url}/api/datasources/${dataSourceId}/query`, 'POST', { sql: 'SELECT 1' }, token);
    expect(r.body.servedBy?.memberName).toBe('bravo');
  }, 10_000, 100);
  for (let i = 0; i < 4; i++) await json(`${api.url}/api/datasources/${dataSourceId}/query`, 'POST', { sql: 'SELECT 1' }, token);

  await eventually(async () => {
    const byMember = Object.fromEntries((await promql('sum by (member) (gateway_live_queries_total{cluster="Metrics",outcome="ok",via="rest"})')).map((r) => [r.metric.member, Number(r.value[1])]));
    expect(byMember).toEqual({ alpha: 20, bravo: 5 });
    // One failover: routing moved the work off the dead primary, or (when a query reached it as it died) the query was
    // retried on bravo.
    const failovers = (await promql('sum by (reason) (gateway_failovers_total{cluster="Metrics"})')).filter((r) => Number(r.value[1]) > 0);
    expect(failovers.map((r) => [r.metric.reason, r.value[1]])).toEqual([[expect.stringMatching(/^(primary_offline|member_lost)$/), '1']]);
    expect(await scalar('gateway_members_online{cluster="Metrics"}')).toBe(1);
    expect(await scalar('sum(gateway_live_query_duration_seconds_count{cluster="Metrics"})')).toBe(25);
    expect(await scalar('sum(gateway_member_live_work_total{member="bravo",kind="query",outcome="ok"})')).toBe(5);
    expect(await scalar('max_over_time(gateway_member_live_work_total{member="alpha",kind="query",outcome="ok"}[1m])')).toBe(20);
    expect(await scalar('gateway_connected_members')).toBe(1);
    expect(await scalar('gateway_member_slots{member="bravo"}')).toBe(16);
  }, 15_000, 500);
}, 60_000);

test('the API metrics need the token, and carry no SQL, emails or secrets', async () => {
  expect((await fetch(`${api.url}/api/metrics`)).status).toBe(401);
  expect((await fetch(`${api.url}/api/metrics`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(401);
  const text = await (await fetch(`${api.url}/api/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
  expect(text).toMatch(/^gateway_live_queries_total\{cluster="Metrics",member="alpha",outcome="ok",via="rest"\} 20$/m);
  expect(text).toMatch(/^gateway_refresh_queue_jobs\{cluster="Metrics",state="waiting"\} 0$/m);
  expect(text).not.toMatch(/SELECT|@example\.com|password|gwp_|gwu_/i);
  const agentText = await (await fetch(`http://127.0.0.1:${ports.bravo}/metrics`)).text();
  expect(agentText).toMatch(/^gateway_member_cpu_percent\{cluster="Metrics",member="bravo"\} [\d.]+$/m);
  expect(agentText).not.toMatch(/SELECT|@example\.com|password/i);
});
