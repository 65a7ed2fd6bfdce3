import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { migrations } from '../../src/store/migrations.js';
import type { Database } from '../../src/store/schema.js';
import { SqlStore } from '../../src/store/sql-store.js';
import { migrateWithout, REGISTRY, ranMigrations, storeMigrator } from './migration-history.js';

describe('migration 0012: API token expiry, last use and sites', () => {
  it('gives tokens made before it 90 days from the upgrade, and leaves the initial admin token never expiring', async () => {
    const db = new Kysely<unknown>({ dialect: new SqliteDialect({ database: new BetterSqlite3(':memory:') }) });
    try {
      const migrator = new Migrator({ db, provider: migrations('sqlite') });
      const before = (await migrator.getMigrations()).map((m) => m.name).filter((n) => n < '0012');
      expect((await migrator.migrateTo(before.at(-1) as string)).error).toBeUndefined();
      await sql`insert into api_tokens (id, role, name, secret_hash, created_at) values
        ('first', 'admin', 'initial admin', 'h1', 1), ('ops', 'operator', 'ci', 'h2', 2), ('old', 'viewer', null, 'h3', 3)`.execute(db);
      const upgradedAt = Date.now();
      expect((await migrator.migrateToLatest()).error).toBeUndefined();
      const rows = (
        await sql<{ id: string; expires_at: number | null; last_used_at: number | null; sites: string | null }>`
        select id, expires_at, last_used_at, sites from api_tokens order by id`.execute(db)
      ).rows;
      const byId = new Map(rows.map((r) => [r.id, r]));
      expect(byId.get('first')).toEqual({ id: 'first', expires_at: null, last_used_at: null, sites: null });
      for (const id of ['ops', 'old']) {
        const days = ((byId.get(id)?.expires_at ?? 0) - upgradedAt) / 86_400_000;
        expect(days, id).toBeGreaterThan(89.99);
        expect(days, id).toBeLessThan(90.01);
        expect(byId.get(id)?.sites).toBeNull();
      }
    } finally {
      await db.destroy();
    }
  });
});

describe('migration 0015: registries, after 0016 shipped', () => {
  it('applies 0015 to a database that already ran 0016, as the server migrates', async () => {
    const db = new Kysely<unknown>({ dialect: new SqliteDialect({ database: new BetterSqlite3(':memory:') }) });
    try {
      // A database from before registries: every migration except 0015 ran (0016 included).
      await migrateWithout(db, 'sqlite', '0015_registries');
      // The ordered migrator, as before this change, refuses to go on.
      expect((await storeMigrator(db, migrations('sqlite')).migrateToLatest()).error).toBeDefined();
      // The store's own migrate() applies it.
      const store = new SqlStore('sqlite', db as Kysely<Database>);
      await store.migrate();
      expect(await ranMigrations(db)).toEqual(expect.arrayContaining(['0015_registries', '0016_provision']));
      await store.putRegistry(REGISTRY);
      expect(await store.listRegistries()).toEqual([REGISTRY]);
    } finally {
      await db.destroy();
    }
  });
});
