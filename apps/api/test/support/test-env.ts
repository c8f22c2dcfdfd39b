import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { Client } from 'pg';
import { Redis } from 'ioredis';
import { loadConfig, type Config } from '../../src/infra/config/config';
import { createApp, type AppHandle } from '../../src/app';
import { ensureDatabase, migrate } from '../../src/infra/database/bootstrap';
import { createServer } from 'node:net';

const SERVER = process.env.TEST_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

const suffix = () => `${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** A database of this test's own, migrated; dropped afterwards. Dev data is never touched. */
export async function createTestDatabase(migrateIt = true): Promise<TestDatabase> {
  const name = `gw_test_${suffix()}`;
  const url = `${SERVER}/${name}`;
  await ensureDatabase(url);
  if (migrateIt) await migrate(url);
  return { url, name, drop: () => dropDatabase(name) };
}

export async function dropDatabase(name: string) {
  const admin = new Client({ connectionString: `${SERVER}/postgres` });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

export const testRedisPrefix = () => `gwtest-${suffix()}`;

export async function dropRedisPrefix(prefix: string) {
  const redis = new Redis(REDIS_URL);
  try {
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

export interface TestApi {
  url: string;
  handle: AppHandle;
  config: Config;
  db: TestDatabase;
  /** Every log line the API wrote. */
  logs: string[];
  close(): Promise<void>;
}

/** The real API, in this process, on a random port, with its own database and Redis prefix. */
export async function startTestApi(env: Record<string, string> = {}): Promise<TestApi> {
  const db = await createTestDatabase(false);
  const prefix = testRedisPrefix();
  const config = loadConfig({ DATABASE_URL: db.url, REDIS_URL, REDIS_PREFIX: prefix, API_PORT: '0', LOG_LEVEL: 'info', ...env });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const handle = await createApp(config, sink);
  await handle.app.listen({ port: 0, host: '127.0.0.1' });
  const address = handle.app.getHttpServer().address() as { port: number };
  return {
    url: `http://127.0.0.1:${address.port}`,
    handle,
    config,
    db,
    logs,
    async close() {
      await handle.app.close();
      await dropRedisPrefix(prefix);
      await db.drop();
    },
  };
}

export interface Reply<T = unknown> {
  status: number;
  body: T;
}

/** JSON over HTTP; `raw` sends the string as is (for malformed bodies). */
export async function call<T = Record<string, unknown>>(
  base: string,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {},
): Promise<Reply<T>> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | undefined;
  if (opts.raw !== undefined) body = opts.raw;
  else if (opts.body !== undefined) body = JSON.stringify(opts.body);
  if (body !== undefined) headers['content-type'] ??= 'application/json';
  const res = await fetch(base + path, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON; tests assert on it
  }
  return { status: res.status, body: parsed as T };
}

/** A TCP port free on the loopback right now (for a server a test starts on its own). */
export const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

