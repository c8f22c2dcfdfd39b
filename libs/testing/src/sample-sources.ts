import path from 'node:path';
import Database from 'better-sqlite3';
import { createConnection } from 'mysql2/promise';
import { Client } from 'pg';
import { tempDir } from './paths';
import { createTestDatabase, POSTGRES_URL } from './postgres';

const MYSQL = { host: process.env.TEST_MYSQL_HOST ?? '127.0.0.1', port: Number(process.env.TEST_MYSQL_PORT ?? 3306), user: 'root', password: '' };

/** Sample databases for the data sources under test: 100 items in PostgreSQL, MariaDB and SQLite. */
export async function createSampleSources() {
  const source = await createTestDatabase('gw_src');
  const name = source.name;
  const server = new URL(POSTGRES_URL);
  const pg = new Client({ connectionString: source.url });
  await pg.connect();
  await pg.query(`CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL); INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 100) g`);
  await pg.end();

  const my = await createConnection(MYSQL);
  await my.query(`CREATE DATABASE \`${name}\``);
  await my.query(`CREATE TABLE \`${name}\`.items (id int PRIMARY KEY, name varchar(50) NOT NULL)`);
  await my.query(`INSERT INTO \`${name}\`.items VALUES ${Array.from({ length: 100 }, (_, i) => `(${i + 1}, 'item ${i + 1}')`).join(',')}`);
  await my.end();

  const sqlitePath = path.join(tempDir('sqlite-'), 'sample.db');
  const db = new Database(sqlitePath);
  db.exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)`);
  const insert = db.prepare('INSERT INTO items VALUES (?, ?)');
  for (let i = 1; i <= 100; i++) insert.run(i, `item ${i}`);
  db.close();

  return {
    name,
    postgres: { host: server.hostname, port: Number(server.port || 5432), database: name, username: server.username || 'postgres' },
    mysql: { host: MYSQL.host, port: MYSQL.port, database: name, username: 'root' },
    sqlitePath,
    async drop() {
      await source.drop();
      const m = await createConnection(MYSQL);
      await m.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await m.end();
    },
  };
}
