/**
 * `npm run bench -- pg`: the PostgreSQL front door against direct PostgreSQL and PgBouncer (Debian's, transaction
 * pooling, started here), with pgbench's own select-only script on tables `pgbench -i` made, all in the same run:
 * - TPS of `pgbench -n -S -M extended -c 8 -j 2 -T <s>` for each (target: the front door >= 0.5 x PgBouncer), and for
 *   the floor of the front door's hops: two processes that only copy bytes, in a row (floor/pg-relay.js), and the
 *   same over the front door's transport: the clients carried over one WebSocket between them (floor/pg-ws-relay.js);
 * - the average latency of the same with -c 1 (target: <= 1.0 ms through the front door);
 * - failover: the longest time without a completed transaction after SIGKILL of the serving member (from
 *   pgbench's per-transaction log; target <= 250 ms), and the clients pgbench reports aborted (target 0).
 */
import { execFile, spawn } from 'node:child_process';
import { chmodSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { type AgentProcess, cpuTimeMs, firstAdminToken, freePort, installMember, json, machineCpuMs, sleep, startAgent, startApiProcess, tempDir } from '@gateway/testing';

const exec = promisify(execFile);
const SERVER = process.env.TEST_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432';
const ADMIN = 'admin@example.com';
const PASSWORD = 'correct horse battery staple';

type Run = { tps: number; latencyMs: number; failed: number; aborted: number; out: string };

async function pgbench(conn: string, clients: number, seconds: number, env: Record<string, string> = {}, extra: string[] = []): Promise<Run> {
  const r = await exec('pgbench', ['-n', '-S', '-M', 'extended', '-c', String(clients), '-j', String(Math.min(clients, 2)), '-T', String(seconds), ...extra, conn], { env: { ...process.env, PGSSLMODE: 'disable', ...env }, maxBuffer: 64 * 1024 * 1024 }).catch(
    (e: { stdout: string; stderr: string }) => ({ stdout: e.stdout ?? '', stderr: e.stderr ?? '' }),
  );
  const out = r.stdout + r.stderr;
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
  return {
    tps: num(/tps = ([\d.]+) \(without initial connection time\)/),
    latencyMs: num(/latency average = ([\d.]+) ms/),
    failed: num(/number of failed transactions: (\d+)/),
    aborted: (out.match(/aborted/gi) ?? []).length,
    out,
  };
}

async function startPgBouncer(database: string) {
  const dir = tempDir('pgbouncer-');
  chmodSync(dir, 0o755);
  const port = await freePort();
  const ini = path.join(dir, 'pgbouncer.ini');
  writeFileSync(
    ini,
    `[databases]\nbench = host=127.0.0.1 port=5432 dbname=${database} user=postgres\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = ${port}\nunix_socket_dir =\nauth_type = any\npool_mode = transaction\ndefault_pool_size = 8\nmax_client_conn = 100\n`,
  );
  chmodSync(ini, 0o644);
  // PgBouncer refuses to run as root: -u drops to the postgres user.
  const child = spawn('pgbouncer', [...(process.getuid?.() === 0 ? ['-u', 'postgres'] : []), ini], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  for (let i = 0; i < 100; i++) {
    const ok = await exec('psql', ['-X', '-At', `host=127.0.0.1 port=${port} dbname=bench user=postgres`, '-c', 'SELECT 1']).then(
      () => true,
      () => false,
    );
    if (ok) return { port, stop: () => child.kill('SIGTERM') };
    if (child.exitCode !== null) break;
    await sleep(100);
  }
  throw new Error(`pgbouncer did not start: ${out}`);
}

/** A process of floor/ that prints `ready` (a pattern) when it is: resolves with the pattern's match and a stop function. */
function startFloor(script: string, args: string[], ready: RegExp): Promise<{ match: RegExpExecArray; stop: () => void }> {
  const child = spawn(process.execPath, [path.join(__dirname, 'floor', script), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = ready.exec(out);
      if (m) resolve({ match: m, stop: () => child.kill('SIGTERM') });
    });
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
}

/** A floor/pg-relay.js process in front of `target`: resolves with its port and a stop function. */
async function startRelay(target: number) {
  const r = await startFloor('pg-relay.js', [String(target)], /RELAY_READY (\d+)/);
  return { port: Number(r.match[1]), stop: r.stop };
}

/**
 * The floor on the front door's own transport (floor/pg-ws-relay.js): a hub taking the clients and a member
 * carrying them to `target` over one WebSocket it opened. Resolves with the clients' port and a stop function.
 */
async function startWsRelay(target: number) {
  const hub = await startFloor('pg-ws-relay.js', ['hub'], /HUB_READY (\d+) (\d+)/);
  const member = await startFloor('pg-ws-relay.js', ['member', hub.match[2], String(target)], /MEMBER_READY/);
  return { port: Number(hub.match[1]), stop: () => (member.stop(), hub.stop()) };
}

/** The longest gap between transaction completions in pgbench's per-transaction logs (`-l`), from `after` (s since the epoch). */
function longestGap(dir: string, prefix: string, after: number): number {
  const times: number[] = [];
  for (const f of readdirSync(dir).filter((f) => f.startsWith(prefix))) {
    for (const line of readFileSync(path.join(dir, f), 'utf8').split('\n')) {
      const p = line.trim().split(/\s+/);
      if (p.length >= 6) times.push(Number(p[4]) * 1000 + Number(p[5]) / 1000);
    }
  }
  times.sort((a, b) => a - b);
  let gap = 0;
  for (let i = 1; i < times.length; i++) if (times[i] >= after * 1000) gap = Math.max(gap, times[i] - times[i - 1]);
  return gap;
}

export async function main(args: string[]) {
  const seconds = Number(args.find((a) => a.startsWith('--seconds='))?.slice(10) ?? 10);
  const database = `gw_pgbench_${Date.now().toString(36)}`;
  const admin = new Client({ connectionString: `${SERVER}/postgres` });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${database}"`);
  await exec('pgbench', ['-i', '-s', '1', '-q', `${SERVER}/${database}`]);
  const stops: (() => unknown)[] = [];
  const agents: AgentProcess[] = [];
  try {
    const bouncer = await startPgBouncer(database);
    stops.push(bouncer.stop);
    const inner = await startRelay(5432);
    stops.push(inner.stop);
    const outer = await startRelay(inner.port);
    stops.push(outer.stop);
    const overWs = await startWsRelay(5432);
    stops.push(overWs.stop);
    const api = await startApiProcess({ PG_PORT: String(await freePort()), LOG_LEVEL: 'warn' });
    stops.push(() => api.stop());
    const token = await firstAdminToken(api, ADMIN, PASSWORD);
    const a = await installMember(api, token, { name: 'Bench', member: 'alpha', recoveryKey: 'bench-recovery' });
    const b = await installMember(api, token, { join: 'Bench', member: 'bravo', recoveryKey: 'bench-recovery' });
    agents.push(...(await Promise.all([startAgent(a.config), startAgent(b.config)])));
    const ds = await json(`${api.url}/api/clusters/Bench/datasources`, 'POST', { name: 'pgbench', type: 'postgres', connection: { host: '127.0.0.1', port: 5432, database }, credentials: { username: 'postgres', password: '' } }, token);
    if (ds.status !== 201) throw new Error(`data source: ${JSON.stringify(ds.body)}`);
    const direct = `host=127.0.0.1 port=5432 user=postgres dbname=${database}`;
    const viaBouncer = `host=127.0.0.1 port=${bouncer.port} user=postgres dbname=bench`;
    const floor = `host=127.0.0.1 port=${outer.port} user=postgres dbname=${database}`;
    const floorWs = `host=127.0.0.1 port=${overWs.port} user=postgres dbname=${database}`;
    const door = `host=127.0.0.1 port=${api.pgPort} user=${ADMIN} dbname=Bench/pgbench`;
    const doorEnv = { PGPASSWORD: PASSWORD };
    // Warm-up: connections, pools, JIT.
    await pgbench(door, 8, 2, doorEnv);
    await pgbench(viaBouncer, 8, 2);

    const results: Record<string, { c8: Run; c1: Run }> = {};
    let cpu = '';
    for (const [name, conn, env] of [
      ['direct', direct, {}],
      ['pgbouncer', viaBouncer, {}],
      ['floor', floor, {}],
      ['floor (ws)', floorWs, {}],
      ['front door', door, doorEnv],
    ] as const) {
      const before = [cpuTimeMs(api.child.pid), cpuTimeMs(agents[0].child.pid), machineCpuMs()];
      const c8 = await pgbench(conn, 8, seconds, env);
      if (name === 'front door') {
        const tx = (c8.tps * seconds) / 1000;
        const [apiMs, agentMs, allMs] = [cpuTimeMs(api.child.pid), cpuTimeMs(agents[0].child.pid), machineCpuMs()].map((v, i) => (v - before[i]) / tx);
        cpu = `  CPU per 1,000 transactions through the front door at -c 8: API ${apiMs.toFixed(0)} ms, serving agent ${agentMs.toFixed(0)} ms, the whole machine ${allMs.toFixed(0)} ms`;
      }
      results[name] = { c8, c1: await pgbench(conn, 1, seconds, env) };
    }
    console.log(`pgbench -n -S -M extended, ${seconds} s each (same run):`);
    for (const [name, r] of Object.entries(results)) {
      console.log(`  ${name.padEnd(11)} -c 8: ${r.c8.tps.toFixed(0).padStart(6)} TPS (failed ${r.c8.failed})   -c 1: ${r.c1.tps.toFixed(0).padStart(6)} TPS, latency average ${r.c1.latencyMs.toFixed(3)} ms`);
    }
    const ratio = results['front door'].c8.tps / results.pgbouncer.c8.tps;
    console.log(`  front door / pgbouncer at -c 8: ${ratio.toFixed(2)} (target >= 0.5); front door / direct: ${(results['front door'].c8.tps / results.direct.c8.tps).toFixed(2)}`);
    console.log(`  floor (two byte-copying processes in a row, the front door's hops without its work) / pgbouncer at -c 8: ${(results.floor.c8.tps / results.pgbouncer.c8.tps).toFixed(2)}; front door / floor: ${(results['front door'].c8.tps / results.floor.c8.tps).toFixed(2)}`);
    console.log(`  floor on the front door's transport (clients carried over one WebSocket, nothing parsed) / pgbouncer at -c 8: ${(results['floor (ws)'].c8.tps / results.pgbouncer.c8.tps).toFixed(2)}; front door / that floor: ${(results['front door'].c8.tps / results['floor (ws)'].c8.tps).toFixed(2)}`);
    console.log(cpu);
    console.log(`  front door -c 1 latency average: ${results['front door'].c1.latencyMs.toFixed(3)} ms (target <= 1.0; direct ${results.direct.c1.latencyMs.toFixed(3)}, pgbouncer ${results.pgbouncer.c1.latencyMs.toFixed(3)})`);

    // Failover: the serving member (the primary) SIGKILLed 40% into the run.
    const logDir = tempDir('pgbench-log-');
    const run = pgbench(door, 8, seconds, doorEnv, ['-l', '--log-prefix', path.join(logDir, 'tx')]);
    await sleep(seconds * 400);
    const killedAt = Date.now() / 1000;
    await agents[0].kill('SIGKILL');
    const r = await run;
    const gap = longestGap(logDir, 'tx', killedAt - 0.5);
    console.log(`failover under pgbench -c 8: longest stall after SIGKILL of the serving member ${gap.toFixed(0)} ms (target <= 250), aborted clients ${r.aborted}, failed transactions ${r.failed} (target 0), ${r.tps.toFixed(0)} TPS over the run`);
  } finally {
    for (const a of agents) await a.kill('SIGTERM').catch(() => undefined);
    for (const stop of stops.reverse()) await stop();
    await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    await admin.end();
  }
}
