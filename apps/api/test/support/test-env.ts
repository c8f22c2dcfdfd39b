import { Writable } from 'node:stream';
import { createTestDatabase, dropRedisPrefix, REDIS_URL, testRedisPrefix, type TestDatabase } from '@gateway/testing';
import { loadConfig, type Config } from '../../src/infra/config/config';
import { createApp, type AppHandle } from '../../src/app';
import { migrate } from '../../src/infra/database/bootstrap';

// What only the API's own tests need: the API in this process (through its source) and a database migrated by
// its migrations. Databases, Redis prefixes, HTTP and waiting come from @gateway/testing.

/** A database of this test's own with every migration applied; `drop()` it afterwards. */
export async function createMigratedDatabase(): Promise<TestDatabase> {
  const db = await createTestDatabase();
  await migrate(db.url);
  return db;
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
  const db = await createTestDatabase();
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
