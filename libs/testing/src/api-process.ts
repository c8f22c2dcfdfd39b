import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { Client } from 'pg';
import { json } from './http';
import { ROOT } from './paths';
import { databaseNameOf, dropDatabase, testDatabase } from './postgres';
import { dropRedisPrefix, REDIS_URL, testRedisPrefix } from './redis';

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
  // A second instance of the same deployment shares the first one's database and Redis prefix.
  const databaseUrl = share?.databaseUrl ?? testDatabase().url;
  const redisPrefix = share?.redisPrefix ?? testRedisPrefix();
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
      await dropDeployment({ databaseUrl, redisPrefix });
    },
  };
}

/** Signs up the first account of a fresh API and returns its token. */
export async function firstAdminToken(api: ApiProcess, email = 'admin@example.com', password = 'correct horse battery staple') {
  const r = await json<{ token: string }>(`${api.url}/api/auth/signup`, 'POST', { email, password });
  if (r.status !== 201) throw new Error(`signup failed: ${JSON.stringify(r.body)}`);
  return r.body.token;
}

/**
 * Drops the database and Redis prefix of a deployment. stop() of its first API instance does so; call this
 * yourself when that instance was killed, once every instance and agent of it has stopped.
 */
export async function dropDeployment(owner: Pick<ApiProcess, 'databaseUrl' | 'redisPrefix'>): Promise<void> {
  await dropRedisPrefix(owner.redisPrefix);
  await dropDatabase(databaseNameOf(owner.databaseUrl));
}

/** Snapshot chunks of a refresh in the control plane's database, per attempt. */
export async function chunksOf(databaseUrl: string, refreshId: string) {
  const c = new Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    const r = await c.query<{ attempt: number; n: number }>('SELECT attempt, count(*)::int AS n FROM "SnapshotChunk" WHERE "refreshId" = $1 GROUP BY attempt ORDER BY attempt', [refreshId]);
    return r.rows;
  } finally {
    await c.end();
  }
}
