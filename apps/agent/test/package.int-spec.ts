import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import {
  type ApiProcess,
  createSampleSources,
  eventually,
  firstAdminToken,
  installMember,
  json,
  ROOT,
  sleep,
  startApiProcess,
  tempDir,
} from '@gateway/testing';

/**
 * The agent as an on-prem admin gets it: the package `npm run package:agent` builds, installed with `npm install -g`
 * into a prefix outside the checkout, HOME a fresh folder, nothing of the checkout on any path (npm's download cache
 * is shared with the machine's, as a registry mirror would be). The installed `gateway` joins a real cluster and
 * serves a live query and a refresh, on this machine's Node and on Node 24 (the other LTS line, fetched from the
 * npm registry by tools/ensure-node.js).
 */

const RECOVERY_KEY = 'packaged-recovery-key';
const MAX_INSTALLED_MB = 40;
const npmConfig = (key: string) => execFileSync('npm', ['config', 'get', key], { encoding: 'utf8' }).trim();
const npmCache = npmConfig('cache');
/** How this machine reaches the registry (its CA, its registry, a proxy if any): a real host has its own. */
const network: Record<string, string> = Object.fromEntries(
  [
    ['npm_config_cafile', npmConfig('cafile')],
    ['npm_config_registry', npmConfig('registry')],
    ...['NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'SSL_CERT_DIR', 'HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy'].map((k) => [k, process.env[k] ?? '']),
  ].filter(([, v]) => v && v !== 'null' && v !== 'undefined'),
);

let api: ApiProcess;
let token: string;
let sources: Awaited<ReturnType<typeof createSampleSources>>;
let work: string;
let prefix: string;
let home: string;
let tgz: string;
let clusterId: string;
const running: ChildProcess[] = [];

/** The environment of a host that has Node and this package, and nothing of the checkout. */
function hostEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const nodeDir = path.dirname(process.execPath);
  return { PATH: `${path.join(prefix, 'bin')}:${nodeDir}:/usr/bin:/bin`, HOME: home, LANG: 'C.UTF-8', npm_config_cache: npmCache, ...network, ...extra };
}

const installedDir = () => path.join(prefix, 'lib', 'node_modules', 'gateway-agent');

/** The installed CLI: `gateway` from the prefix (or its gateway.js under another Node binary). */
function gateway(args: string[], node?: string) {
  const [cmd, argv] = node ? [node, [path.join(installedDir(), 'gateway.js'), ...args]] : [path.join(prefix, 'bin', 'gateway'), args];
  try {
    const stdout = execFileSync(cmd, argv, { cwd: work, env: hostEnv(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
    return { status: 0, stdout, stderr: '' };
  } catch (e) {
    const err = e as { status: number; stdout: string; stderr: string };
    return { status: err.status, stdout: err.stdout, stderr: err.stderr };
  }
}

/** `gateway run` of the installed package, resolved once on duty. */
async function run(config: string, node?: string) {
  const [cmd, argv] = node ? [node, [path.join(installedDir(), 'gateway.js'), 'run', '--config', config]] : [path.join(prefix, 'bin', 'gateway'), ['run', '--config', config]];
  const child = spawn(cmd, argv, { cwd: work, env: hostEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  running.push(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  await eventually(async () => {
    if (child.exitCode !== null) throw new Error(`gateway run exited ${child.exitCode}: ${out}`);
    expect(out).toContain('is on duty');
  }, 45_000, 100);
  return { child, output: () => out };
}

async function stop(child: ChildProcess) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

const call = <T = Record<string, unknown>>(method: string, route: string, body?: unknown) => json<T>(`${api.url}/api${route}`, method, body, token);

async function join(member: string, node?: string) {
  const config = path.join(work, `${member}.json`);
  const r = gateway(['install', '--api', api.url, '--token', token, '--join', 'Packaged', '--recovery-key', RECOVERY_KEY, '--member-name', member, '--config', config, '--json'], node);
  if (r.status !== 0) throw new Error(`packaged install --join failed (${r.status}): ${r.stderr}`);
  return { config, ...(JSON.parse(r.stdout) as { memberId: string }) };
}

/** A live query and a refresh, both served by `member`. */
async function serves(member: string, dataSourceId: string) {
  const q = await eventually(async () => {
    const r = await call<{ rows: unknown[][]; servedBy: { memberName: string } }>('POST', `/datasources/${dataSourceId}/query`, { sql: 'SELECT id, name FROM items WHERE id <= 2 ORDER BY id' });
    expect(r.status).toBe(200);
    expect(r.body.servedBy.memberName).toBe(member);
    return r.body;
  }, 20_000, 200);
  expect(q.rows).toEqual([[1, 'item 1'], [2, 'item 2']]);
  const d = await call<{ id: string }>('POST', '/datasets', { dataSourceId, name: `by-${member}`, query: 'SELECT * FROM items' });
  expect(d.status).toBe(201);
  const started = await call<{ id: string }>('POST', `/datasets/${d.body.id}/refreshes`);
  const done = await eventually(async () => {
    const r = await call<{ status: string; rows: number; attempts: { memberName: string }[] }>('GET', `/refreshes/${started.body.id}`);
    expect(['succeeded', 'failed']).toContain(r.body.status);
    return r.body;
  }, 30_000, 200);
  expect(done).toMatchObject({ status: 'succeeded', rows: 100 });
  expect(done.attempts.map((a) => a.memberName)).toEqual([member]);
}

beforeAll(async () => {
  work = tempDir('packaged-');
  prefix = path.join(work, 'prefix');
  home = path.join(work, 'home');
  mkdirSync(home);
  // The build: `npm run package:agent` runs this script.
  const built = execFileSync(process.execPath, [path.join(ROOT, 'tools/package-agent.js')], { cwd: ROOT, encoding: 'utf8' });
  tgz = path.join(ROOT, /^(dist\/agent\/gateway-agent-[^:]+\.tgz):/m.exec(built)![1]);
  execFileSync('npm', ['install', '-g', tgz, '--prefix', prefix, '--no-fund', '--no-audit', '--loglevel=error'], { cwd: work, env: hostEnv(), stdio: ['ignore', 'ignore', 'inherit'], timeout: 180_000 });
  [api, sources] = await Promise.all([startApiProcess(), createSampleSources()]);
  token = await firstAdminToken(api);
  // The cluster exists already (its first member installed from the checkout, and not running): the package joins it.
  clusterId = (await installMember(api, token, { name: 'Packaged', member: 'seed', recoveryKey: RECOVERY_KEY })).clusterId;
}, 600_000);

afterAll(async () => {
  for (const c of running) await stop(c);
  await api?.stop();
  await sources?.drop();
  if (work) rmSync(work, { recursive: true, force: true });
}, 60_000);

describe('the agent package', () => {
  it(`installs outside the checkout in under ${MAX_INSTALLED_MB} MB, with a gateway command and only its run-time dependencies`, () => {
    const pkg = JSON.parse(readFileSync(path.join(installedDir(), 'package.json'), 'utf8')) as { bin: Record<string, string>; dependencies: Record<string, string>; optionalDependencies: Record<string, string>; engines: { node: string } };
    expect(pkg.bin).toEqual({ gateway: 'gateway.js' });
    expect(Object.keys(pkg.dependencies)).toEqual(['@node-rs/argon2']);
    expect(Object.keys(pkg.optionalDependencies)).toEqual(['better-sqlite3']);
    expect(pkg.engines.node).toBe('^20.11.0 || ^22.0.0 || ^24.0.0');
    const bytes = Number(execFileSync('du', ['-sb', installedDir()], { encoding: 'utf8' }).split('\t')[0]);
    console.log(`gateway-agent installed: ${(bytes / 1024 / 1024).toFixed(1)} MB in ${installedDir()} (limit ${MAX_INSTALLED_MB} MB); package ${(Number(execFileSync('stat', ['-c', '%s', tgz], { encoding: 'utf8' })) / 1024 / 1024).toFixed(1)} MB`);
    expect(bytes).toBeLessThan(MAX_INSTALLED_MB * 1024 * 1024);
    // Nothing of the checkout: the installed tree holds no Next.js, Nx, jest, Prisma or NestJS.
    const modules = execFileSync('find', [installedDir(), '-name', 'package.json', '-path', '*node_modules*'], { encoding: 'utf8' });
    for (const heavy of ['/next/', '/nx/', '/jest/', '/prisma/', '/@nestjs/']) expect(modules).not.toContain(heavy);
    const help = gateway(['--help']);
    expect(help.status).toBe(0);
    for (const command of ['install', 'run', 'login', 'clusters', 'members', 'service']) expect(help.stdout).toMatch(new RegExp(`^\\s+${command}\\b`, 'm'));
    const bad = gateway(['run', '--config', path.join(work, 'nowhere.json')]);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/^gateway: .*nowhere\.json/);
  });

  it("joins a real cluster with the installed gateway on this machine's Node and serves a live query and a refresh", async () => {
    const member = await join('pkg');
    const agent = await run(member.config);
    const pg = await call<{ id: string }>('POST', `/clusters/${clusterId}/datasources`, { name: 'pg', type: 'postgres', connection: { host: sources.postgres.host, port: sources.postgres.port, database: sources.postgres.database }, credentials: { username: 'postgres', password: '' } });
    expect(pg.status).toBe(201);
    await serves('pkg', pg.body.id);
    // SQLite: better-sqlite3 is optional (npm 11 does not build it unasked); Node 20 then says what to do.
    const sqlite = await call<{ id: string }>('POST', `/clusters/${clusterId}/datasources`, { name: 'file', type: 'sqlite', connection: { path: sources.sqlitePath } });
    const r = await call<{ rows?: unknown[][]; message?: string }>('POST', `/datasources/${sqlite.body.id}/query`, { sql: 'SELECT count(*) FROM items' });
    const builtIn = Number(process.versions.node.split('.')[0]) >= 23 || /^22\.(1[3-9]|[2-9]\d)/.test(process.versions.node);
    let hasBetterSqlite = true;
    try {
      execFileSync('test', ['-d', path.join(installedDir(), 'node_modules', 'better-sqlite3', 'build')]);
    } catch {
      hasBetterSqlite = false;
    }
    if (builtIn || hasBetterSqlite) expect(r).toMatchObject({ status: 200, body: { rows: [[100]] } });
    else expect(r.body.message).toMatch(/cannot read SQLite files: install better-sqlite3 .* or run it on Node 22\.13 or later/);
    await stop(agent.child);
    await sleep(200);
  }, 120_000);

  it('runs the same installed package on Node 24: joins, serves a live query and a refresh, and reads SQLite with node:sqlite', async () => {
    const node24 = execFileSync(process.execPath, [path.join(ROOT, 'tools/ensure-node.js'), '24'], { encoding: 'utf8' }).trim();
    expect(execFileSync(node24, ['--version'], { encoding: 'utf8' })).toMatch(/^v24\./);
    const member = await join('pkg24', node24);
    const agent = await run(member.config, node24);
    const list = await call<{ name: string; online: boolean }[]>('GET', `/clusters/${clusterId}/members`);
    expect(list.body.filter((m) => m.online).map((m) => m.name)).toEqual(['pkg24']);
    const dss = await call<{ id: string; name: string }[]>('GET', `/clusters/${clusterId}/datasources`);
    await serves('pkg24', dss.body.find((d) => d.name === 'pg')!.id);
    const r = await call<{ rows?: unknown[][]; message?: string }>('POST', `/datasources/${dss.body.find((d) => d.name === 'file')!.id}/query`, { sql: 'SELECT count(*) AS n FROM items' });
    expect(r).toMatchObject({ status: 200, body: { rows: [[100]] } });
    await stop(agent.child);
  }, 180_000);
});
