import { mkdtempSync, mkdirSync, writeFileSync, cpSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { ensureDatabase, migrate, MIGRATIONS_DIR } from '../src/infra/database/bootstrap';
import { createTestDatabase, dropDatabase } from '@gateway/testing';

describe('database bootstrap', () => {
  it('creates a missing database once and reports whether it did', async () => {
    const db = await createTestDatabase();
    try {
      expect(await ensureDatabase(db.url)).toBe(false);
      await dropDatabase(db.name);
      expect(await ensureDatabase(db.url)).toBe(true);
    } finally {
      await db.drop();
    }
  });

  it("applies each migration once and keeps Prisma's bookkeeping", async () => {
    const db = await createTestDatabase();
    try {
      const [first, second] = await Promise.all([migrate(db.url), migrate(db.url)]);
      const all = readdirSync(MIGRATIONS_DIR, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
      expect(all.length).toBeGreaterThanOrEqual(2);
      expect([...first, ...second].sort()).toEqual(all);
      expect(await migrate(db.url)).toEqual([]);
      const c = new Client({ connectionString: db.url });
      await c.connect();
      const rows = await c.query('SELECT migration_name, checksum, finished_at, applied_steps_count FROM "_prisma_migrations"');
      await c.end();
      expect(rows.rows).toHaveLength(all.length);
      expect(rows.rows[0].checksum).toMatch(/^[0-9a-f]{64}$/);
      expect(rows.rows[0].finished_at).toBeInstanceOf(Date);
    } finally {
      await db.drop();
    }
  });

  it('refuses to run when an applied migration was edited', async () => {
    const db = await createTestDatabase();
    const dir = mkdtempSync(join(tmpdir(), 'migrations-'));
    try {
      cpSync(MIGRATIONS_DIR, dir, { recursive: true });
      await migrate(db.url, dir);
      writeFileSync(join(dir, '20261123000000_clusters_members_and_users', 'migration.sql'), '-- edited\nSELECT 1;');
      await expect(migrate(db.url, dir)).rejects.toThrow(/was edited after it was applied/);
    } finally {
      await db.drop();
    }
  });

  it('rolls back a failing migration and names it', async () => {
    const db = await createTestDatabase();
    const dir = mkdtempSync(join(tmpdir(), 'migrations-'));
    try {
      mkdirSync(join(dir, '20990101000000_broken'));
      writeFileSync(join(dir, '20990101000000_broken', 'migration.sql'), 'CREATE TABLE "T" (id int); SELECT * FROM nowhere;');
      await expect(migrate(db.url, dir)).rejects.toThrow(/migration 20990101000000_broken failed/);
      const c = new Client({ connectionString: db.url });
      await c.connect();
      const t = await c.query(`SELECT to_regclass('"T"') AS t`);
      await c.end();
      expect(t.rows[0].t).toBeNull();
    } finally {
      await db.drop();
    }
  });
});
