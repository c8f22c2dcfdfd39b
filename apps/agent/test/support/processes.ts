import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { Redis } from 'ioredis';

export const ROOT = path.join(__dirname, '../../../..');
const SERVER = process.env.TEST_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface ApiProcess {
  url: string;
  /** The PostgreSQL front door's port, when started with PG_PORT (tests leave it off unless they ask). */
  pgPort?: number;
  databaseUrl: string;
  redisPrefix: string;
  child: ChildProcess;
  /** Everything the API process wrote to stdout and stderr. */
  output: () => string;
  stop(): Promise<void>;
}

/**
 * The real API as a child process (`npm run api`'s entry), on a random port, with a database and Redis
 * prefix of its own: it creates and migrates the database itself, as on a first start.
 */
export async function startApiProcess(env: Record<string, string> = {}, share?: ApiProcess): Promise<ApiProcess> {
  const id = `${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  // A second instance of the same deployment shares the first one's database and Redis prefix.
  const dbName = share ? new URL(share.databaseUrl).pathname.slice(1) : `gw_test_${id}`;
  const databaseUrl = `${SERVER}/${dbName}`;
  const redisPrefix = share?.redisPrefix ?? `gwtest-${id}`;
  const child = spawn(process.execPath, [path.join(ROOT, 'tools/run-api.js')], {
    env: { ...process.env, DATABASE_URL: databaseUrl, REDIS_URL, REDIS_PREFIX: redisPrefix, API_PORT: '0', PG_PORT: '0', API_READY_FD: 'stdout', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the API did not start in 60 s:\n${out}`)), 60_000);
    const onData = () => {
      const m = /API_READY (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the API exited with ${code}:\n${out}`));
    });
  });
  let stopping = false;
  child.once('exit', (code, signal) => {
    // An API that dies under a test is a finding: show why, where the test's own failure would not.
    if (!stopping) console.error(`the API process exited unexpectedly (${signal ?? code}); its last output:\n${out.slice(-6000)}`);
  });
  const pgPort = /PG_READY (\d+)/.exec(out)?.[1];
  return {
    url: `${env.TLS_CERT_FILE ? 'https' : 'http'}://127.0.0.1:${port}`,
    pgPort: pgPort ? Number(pgPort) : undefined,
    databaseUrl,
    redisPrefix,
    child,
    output: () => out,
    async stop() {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000).unref())]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      if (share) return; // the first instance owns the database and the prefix
      await dropRedisPrefix(redisPrefix);
      const admin = new Client({ connectionString: `${SERVER}/postgres` });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
      await admin.end();
    },
  };
}

export async function dropRedisPrefix(prefix: string) {
  const redis = new Redis(REDIS_URL);
  try {
    const users = (await redis.call('ACL', 'USERS')) as string[];
    for (const u of users.filter((u) => u.startsWith(`${prefix}-`))) await redis.call('ACL', 'DELUSER', u);
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `npm run -s gateway -- ...`'s entry as a child process (asynchronously: the test's own servers keep answering). */
export function gateway(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'tools/gateway.js'), ...args], {
      env: { ...process.env, GATEWAY_HOME: tempDir('gateway-home-'), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', reject);
    child.once('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

export const tempDir = (prefix: string) => mkdtempSync(path.join(tmpdir(), prefix));

export async function json<T = Record<string, unknown>>(url: string, method: string, body?: unknown, token?: string): Promise<{ status: number; body: T }> {
  const res = await fetch(url, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as T };
}

/** Signs up the first account of a fresh API and returns its token. */
export async function firstAdminToken(api: ApiProcess, email = 'admin@example.com', password = 'correct horse battery staple') {
  const r = await json<{ token: string }>(`${api.url}/api/auth/signup`, 'POST', { email, password });
  if (r.status !== 201) throw new Error(`signup failed: ${JSON.stringify(r.body)}`);
  return r.body.token;
}

/** Every value of every text, JSON and bytea column of every table, as text, for secret scans. */
export async function dumpDatabase(databaseUrl: string): Promise<string> {
  const c = new Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    const cols = await c.query<{ table_name: string; column_name: string; data_type: string }>(
      `SELECT table_name, column_name, data_type FROM information_schema.columns
       WHERE table_schema = 'public' AND data_type IN ('text', 'character varying', 'jsonb', 'json', 'bytea')`,
    );
    const parts: string[] = [];
    for (const col of cols.rows) {
      const expr = col.data_type === 'bytea' ? `encode("${col.column_name}", 'escape')` : `"${col.column_name}"::text`;
      const rows = await c.query(`SELECT ${expr} AS v FROM "${col.table_name}"`);
      for (const r of rows.rows) if (r.v !== null) parts.push(String(r.v));
    }
    return parts.join('\n');
  } finally {
    await c.end();
  }
}

export interface AgentProcess {
  child: ChildProcess;
  output: () => string;
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** `gateway run --config <file>` as a child process, resolved once it is on duty. */
export async function startAgent(config: string, env: Record<string, string> = {}): Promise<AgentProcess> {
  const child = spawn(process.execPath, [path.join(ROOT, 'tools/gateway.js'), 'run', '--config', config], {
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the agent did not start in 30 s:\n${out}`)), 30_000);
    const onData = () => {
      if (out.includes('is on duty')) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the agent exited with ${code}:\n${out}`));
    });
  });
  return {
    child,
    output: () => out,
    kill: async (signal) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill(signal);
      await exited;
    },
  };
}

/** Installs a member with the CLI and returns its config path and ids. */
export async function installMember(
  api: ApiProcess,
  token: string,
  args: { name?: string; join?: string; member: string; recoveryKey: string; apiUrls?: string[]; extra?: string[]; env?: Record<string, string> },
) {
  const config = path.join(tempDir(`member-${args.member}-`), 'agent.json');
  const mode = args.name ? ['--name', args.name] : ['--join', args.join!];
  const apis = (args.apiUrls ?? [api.url]).flatMap((u) => ['--api', u]);
  const r = await gateway(['install', ...apis, '--token', token, ...mode, '--recovery-key', args.recoveryKey, '--member-name', args.member, '--config', config, '--json', ...(args.extra ?? [])], args.env);
  if (r.status !== 0) throw new Error(`install failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as { clusterId: string; memberId: string };
  return { config, ...out };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A TCP port free on the loopback right now (for processes that need their port before they start). */
export const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

/** Polls until the check passes or the time is up (then rethrows its last failure). */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 5_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await sleep(everyMs);
    }
  }
}

/** Every key under a prefix with its value(s), as text, for secret scans. */
export async function dumpRedis(prefix: string): Promise<string> {
  const redis = new Redis(REDIS_URL);
  const parts: string[] = [];
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      for (const key of keys) {
        const type = await redis.type(key);
        parts.push(key);
        if (type === 'string') parts.push((await redis.get(key)) ?? '');
        else if (type === 'hash') parts.push(JSON.stringify(await redis.hgetall(key)));
        else if (type === 'list') parts.push(JSON.stringify(await redis.lrange(key, 0, -1)));
        else if (type === 'set') parts.push(JSON.stringify(await redis.smembers(key)));
        else if (type === 'zset') parts.push(JSON.stringify(await redis.zrange(key, 0, -1, 'WITHSCORES')));
        else if (type === 'stream') parts.push(JSON.stringify(await redis.xrange(key, '-', '+')));
      }
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return parts.join('\n');
}
