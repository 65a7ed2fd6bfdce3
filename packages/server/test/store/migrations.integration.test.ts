import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../../../test-support/pg-database.js';
import { openStore } from '../../src/store/index.js';
import { migrateWithout, REGISTRY, ranMigrations } from './migration-history.js';

/** A Kysely over the PostgreSQL database at `url`, destroyed after `work`. */
async function withDb<T>(url: string, work: (db: Kysely<unknown>) => Promise<T>): Promise<T> {
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 2 }) }) });
  try {
    return await work(db);
  } finally {
    await db.destroy();
  }
}

describe('migration 0015 on PostgreSQL', () => {
  it('is applied by openStore to a database that already ran 0016', async () => {
    const url = await createTestDatabase();
    // A database from before registries: every migration except 0015 ran (0016 included).
    await withDb(url, (db) => migrateWithout(db, 'postgres', '0015_registries'));
    const store = await openStore(url, '');
    try {
      await store.putRegistry(REGISTRY);
      expect(await store.listRegistries()).toEqual([REGISTRY]);
    } finally {
      await store.close();
    }
    expect(await withDb(url, ranMigrations)).toEqual(expect.arrayContaining(['0015_registries', '0016_provision']));
  });
});
