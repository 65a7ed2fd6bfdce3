import { Kysely, Migrator, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../../../test-support/pg-database.js';
import { openStore } from '../../src/store/index.js';
import { migrations } from '../../src/store/migrations.js';

describe('migration 0015 on PostgreSQL', () => {
  it('is applied by openStore to a database that already ran 0016', async () => {
    const url = await createTestDatabase();
    const pool = new pg.Pool({ connectionString: url, max: 2 });
    const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
    try {
      const all = await migrations('postgres').getMigrations();
      const without = Object.fromEntries(Object.entries(all).filter(([name]) => name !== '0015_registries'));
      const old = new Migrator({
        db,
        provider: { getMigrations: async () => without },
        migrationTableName: 'edgefleet_migrations',
        migrationLockTableName: 'edgefleet_migrations_lock',
      });
      expect((await old.migrateToLatest()).error).toBeUndefined();
    } finally {
      await db.destroy();
    }
    const store = await openStore(url, '');
    try {
      await store.putRegistry({
        name: 'r',
        server: 'https://r.example',
        host: 'r.example',
        username: 'u',
        passwordSealed: 'v1:a:b:c',
        caPem: null,
        createdAt: 1,
        updatedAt: 2,
      });
      expect(await store.listRegistries()).toEqual([
        { name: 'r', server: 'https://r.example', host: 'r.example', username: 'u', passwordSealed: 'v1:a:b:c', caPem: null, createdAt: 1, updatedAt: 2 },
      ]);
    } finally {
      await store.close();
    }
    const check = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 1 }) }) });
    try {
      const ran = (await sql<{ name: string }>`select name from edgefleet_migrations order by name`.execute(check)).rows.map((r) => r.name);
      expect(ran).toEqual(expect.arrayContaining(['0015_registries', '0016_provision']));
    } finally {
      await check.destroy();
    }
  });
});
