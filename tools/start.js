#!/usr/bin/env node
// `npm start`: brings up everything on this machine: the API (which creates and migrates its database), the
// admin portal, and a demo (unless DEMO=off): a first admin account, a two-member cluster of local agents, a
// data source on a sample database created in the local PostgreSQL, and a dataset with a schedule. What the
// demo creates is remembered in .demo/ (git-ignored; DEMO_DIR moves it), so running it again reuses it.
// Ctrl-C stops everything cleanly (the agents drain first).
// The portal is served from a production build (`next start`), so it is usable from its first paint; the build is
// made again only when the portal's sources changed since the last one (tools/portal-build.js). `npm run web` is
// the portal alone from `next dev`, for working on it.
const { spawn, spawnSync } = require('node:child_process');
const { randomBytes } = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { Client } = require('pg');
const { ensurePortalBuild } = require('./portal-build');

const root = path.join(__dirname, '..');
const apiPort = process.env.API_PORT ?? '3000';
const webPort = process.env.WEB_PORT ?? '3001';
const apiUrl = `http://127.0.0.1:${apiPort}`;
const webUrl = `http://127.0.0.1:${webPort}`;
const demoDir = path.resolve(process.env.DEMO_DIR ?? path.join(root, '.demo'));
const demoDb = process.env.DEMO_DATABASE ?? 'gateway_demo';
const pgServer = process.env.DEMO_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432';
// Warnings and errors only, so the sign-in lines below stay in view (LOG_LEVEL=info npm start logs every request).
// MALLOC_ARENA_MAX=2 and MALLOC_MMAP_THRESHOLD_=131072: the deployment settings of the API and the agents (README,
// "Running in production").
const env = { LOG_LEVEL: 'warn', MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072', ...process.env, API_PORT: apiPort, NEXT_TELEMETRY_DISABLED: '1', API_URL: apiUrl };

const children = [];
let stopping = false;

function run(name, args, { log } = {}) {
  const out = log ? fs.openSync(log, 'a') : 'inherit';
  const child = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', out, out] });
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`start: ${name} exited (${signal ?? code})${log ? `; see ${log}` : ''}; stopping everything`);
      stop(code || 1);
    }
  });
  children.push(child);
  return child;
}

function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  const deadline = setTimeout(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    process.exit(code);
  }, 15_000);
  Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : null))).then(() => {
    clearTimeout(deadline);
    process.exit(code);
  });
}

process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));

async function call(method, p, body, token) {
  const res = await fetch(`${apiUrl}/api${p}`, {
    method,
    headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  const json = text ? JSON.parse(text) : null;
  if (!res.ok) throw new Error(`${method} /api${p}: ${res.status} ${json?.message ?? text}`);
  return json;
}

async function waitFor(url, what) {
  for (let i = 0; i < 600; i++) {
    if (stopping) return;
    const ok = await fetch(url).then((r) => r.ok, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not answer on ${url} within 60 s`);
}

/** The sample database the demo's data source reads: 1,000 orders over four regions. */
async function ensureSampleDatabase() {
  const admin = new Client({ connectionString: `${pgServer}/postgres` });
  await admin.connect();
  const exists = (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [demoDb])).rowCount > 0;
  if (!exists) await admin.query(`CREATE DATABASE "${demoDb.replace(/"/g, '""')}"`);
  await admin.end();
  const db = new Client({ connectionString: `${pgServer}/${demoDb}` });
  await db.connect();
  await db.query(`CREATE TABLE IF NOT EXISTS sales (id int PRIMARY KEY, region text NOT NULL, amount numeric(10,2) NOT NULL, sold_at timestamptz NOT NULL)`);
  await db.query(`INSERT INTO sales SELECT g, (ARRAY['North','South','East','West'])[1 + g % 4], round((10 + (g * 37) % 990)::numeric, 2), now() - g * interval '1 hour'
                  FROM generate_series(1, 1000) g ON CONFLICT (id) DO NOTHING`);
  await db.end();
}

function gatewayCli(args) {
  const r = spawnSync(process.execPath, [path.join(root, 'tools/gateway.js'), ...args], { cwd: root, env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`gateway ${args[0]} failed: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Creates the demo once; afterwards signs in with what .demo/state.json remembers. */
async function ensureDemo() {
  fs.mkdirSync(demoDir, { recursive: true, mode: 0o700 });
  const statePath = path.join(demoDir, 'state.json');
  let state = fs.existsSync(statePath) ? JSON.parse(fs.readFileSync(statePath, 'utf8')) : null;
  await ensureSampleDatabase();
  if (state) {
    const { token } = await call('POST', '/auth/login', { email: state.email, password: state.password });
    await call('GET', `/clusters/${state.clusterId}`, undefined, token);
    return state;
  }
  state = { email: 'admin@demo.local', password: randomBytes(9).toString('base64url'), recoveryKey: randomBytes(18).toString('base64url') };
  let token;
  try {
    ({ token } = await call('POST', '/auth/signup', { email: state.email, password: state.password }));
  } catch (e) {
    throw new Error(`${e.message}\n  This database already has accounts: the demo only sets itself up on a fresh one (or use DATABASE_URL=... for another).`);
  }
  const install = (member, how) =>
    JSON.parse(gatewayCli(['install', '--api', apiUrl, '--token', token, ...how, '--recovery-key', state.recoveryKey, '--member-name', member, '--config', path.join(demoDir, `${member}.json`), '--json']));
  const alpha = install('alpha', ['--name', 'demo']);
  install('bravo', ['--join', 'demo']);
  state.clusterId = alpha.clusterId;
  const u = new URL(pgServer);
  const ds = await call('POST', `/clusters/${state.clusterId}/datasources`, {
    name: 'demo-sales',
    type: 'postgres',
    connection: { host: u.hostname, port: Number(u.port || 5432), database: demoDb },
    credentials: { username: decodeURIComponent(u.username || 'postgres'), password: decodeURIComponent(u.password) },
  }, token);
  state.dataSourceId = ds.id;
  const dataset = await call('POST', '/datasets', {
    dataSourceId: ds.id,
    name: 'sales by region',
    query: 'SELECT region, count(*) AS orders, sum(amount) AS revenue FROM sales GROUP BY region ORDER BY region',
    schedule: { cron: '*/5 * * * *', timezone: 'UTC' },
  }, token);
  state.datasetId = dataset.id;
  fs.writeFileSync(statePath, JSON.stringify(state, null, 2), { mode: 0o600 });
  return state;
}

(async () => {
  run('api', [path.join(root, 'tools/run-api.js')]);
  // The build (when one is needed) runs while the API starts and the demo is set up.
  const portal = ensurePortalBuild(root, env, { onSpawn: (build) => children.push(build) }).then(() => {
    if (!stopping) run('web', [require.resolve('next/dist/bin/next'), 'start', 'apps/web', '--port', webPort, '--hostname', '127.0.0.1']);
  });
  portal.catch(() => undefined); // reported below, once awaited
  await waitFor(`${apiUrl}/api/health`, 'the API');
  let demo = null;
  if (process.env.DEMO !== 'off') {
    try {
      demo = await ensureDemo();
      for (const member of ['alpha', 'bravo']) run(`agent ${member}`, [path.join(root, 'tools/gateway.js'), 'run', '--config', path.join(demoDir, `${member}.json`)], { log: path.join(demoDir, `${member}.log`) });
    } catch (e) {
      console.error(`start: no demo: ${e.message}`);
    }
  }
  await portal;
  await waitFor(`${webUrl}/login`, 'the portal');
  if (stopping) return;
  console.log(`
  Portal:       ${webUrl}
  API:          ${apiUrl}/api/health
  API explorer: ${apiUrl}/api/docs`);
  if (demo) {
    console.log(`
  Demo: cluster "demo" with members alpha and bravo (agents running here, logs in ${demoDir}),
        data source "demo-sales" on the PostgreSQL database ${demoDb}, dataset "sales by region" every 5 minutes.
  Sign in to the portal as ${demo.email} with the password ${demo.password}
  (kept with the cluster's recovery key in ${path.join(demoDir, 'state.json')}, readable by you only).`);
  } else {
    console.log(`  Create the first account:  curl -X POST ${apiUrl}/api/auth/signup -H 'content-type: application/json' -d '{"email":"you@example.com","password":"at least 10 characters"}'`);
  }
  console.log('\n  Ctrl-C stops everything.\n');
})().catch((e) => {
  if (!stopping) console.error(`start: ${e.message}`);
  stop(1);
});
