import { Client } from 'pg';
import { uniqueSuffix } from './unique';

/** The PostgreSQL server the tests make their databases on; a test never uses a database it did not make. */
export const POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432';

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/**
 * A database name of this test's own (`gw_test_*` by default), not created yet: for a process that creates its
 * database on its first start, as the API does. Dev data is never touched.
 */
export function testDatabase(prefix = 'gw_test'): TestDatabase {
  const name = `${prefix}_${uniqueSuffix()}`;
  return { name, url: `${POSTGRES_URL}/${name}`, drop: () => dropDatabase(name) };
}

/** A database of this test's own, created empty; `drop()` it afterwards. */
export async function createTestDatabase(prefix = 'gw_test'): Promise<TestDatabase> {
  const db = testDatabase(prefix);
  await asAdmin((c) => c.query(`CREATE DATABASE "${db.name}"`));
  return db;
}

/** Drops a database even while a process still holds connections to it (WITH FORCE). */
export async function dropDatabase(name: string): Promise<void> {
  await asAdmin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
}

/** The database a connection URL names. */
export const databaseNameOf = (url: string) => new URL(url).pathname.slice(1);

async function asAdmin<T>(work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: `${POSTGRES_URL}/postgres` });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
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
