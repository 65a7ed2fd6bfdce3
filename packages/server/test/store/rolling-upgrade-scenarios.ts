/**
 * Rolling upgrades, on a real database of either engine (rolling-upgrade.test.ts on SQLite,
 * rolling-upgrade.integration.test.ts on PostgreSQL): a newer edgefleet migrated the
 * database first, and this server (an older replica) starts on it through openStore.
 */
import { EdgefleetError } from '@edgefleet/protocol';
import type { Kysely } from 'kysely';
import { expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { futureMigration, latestKnownMigration, migrateAsNewer, REGISTRY, ranMigrations } from './migration-history.js';

type Engine = 'sqlite' | 'postgres';

export interface ScenarioDatabase {
  /** A new empty database's `--db`. */
  fresh(): Promise<string>;
  /** Runs `work` on a Kysely over the database `db` names. */
  withDb<T>(db: string, work: (k: Kysely<unknown>) => Promise<T>): Promise<T>;
}

/** The refusal openStore gives for `db`, which must leave its migration history as it was. */
async function refusal(dbs: ScenarioDatabase, db: string): Promise<EdgefleetError> {
  const before = await dbs.withDb(db, ranMigrations);
  const err = await openStore(db, '').then(
    async (store) => {
      await store.close();
      throw new Error('openStore started on a database it should refuse');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(EdgefleetError);
  expect(await dbs.withDb(db, ranMigrations)).toEqual(before);
  return err as EdgefleetError;
}

export function rollingUpgradeScenarios(engine: Engine, dbs: ScenarioDatabase): void {
  it('starts in compatibility mode on a database a newer edgefleet migrated and declared compatible, and serves from it', async () => {
    const latest = await latestKnownMigration(engine);
    const db = await dbs.fresh();
    await dbs.withDb(db, (k) => migrateAsNewer(k, engine, { '9001_future': futureMigration('9001_future', latest) }));
    const store = await openStore(db, '');
    try {
      expect(store.migrationHistory).toEqual({ mode: 'compatible', newer: ['9001_future'], compatibleFrom: latest, latestKnown: latest });
      await store.putRegistry(REGISTRY);
      expect(await store.listRegistries()).toEqual([REGISTRY]);
    } finally {
      await store.close();
    }
    // It applied nothing and recorded nothing: the newer replica's history stands.
    expect((await dbs.withDb(db, ranMigrations)).at(-1)).toBe('9001_future');
  });

  it('starts normally (current) on a database it migrated itself', async () => {
    const db = await dbs.fresh();
    const store = await openStore(db, '');
    await store.close();
    const again = await openStore(db, '');
    try {
      expect(again.migrationHistory).toEqual({ mode: 'current' });
    } finally {
      await again.close();
    }
  });

  it('refuses a newer schema whose newest migration declares no compatibility', async () => {
    const db = await dbs.fresh();
    await dbs.withDb(db, (k) => migrateAsNewer(k, engine, { '9001_future': futureMigration('9001_future') }));
    const err = await refusal(dbs, db);
    expect(err.message).toMatch(
      /migrated by a newer edgefleet \(migration 9001_future; this server knows up to \d{4}_\w+\) and its newest migration does not declare/,
    );
    expect(err.hint).toMatch(/upgrade this replica/);
  });

  it('refuses a declaration left by an earlier migration when the newest one made none', async () => {
    const latest = await latestKnownMigration(engine);
    const db = await dbs.fresh();
    await dbs.withDb(db, (k) =>
      migrateAsNewer(k, engine, { '9001_future': futureMigration('9001_future', latest), '9002_future': futureMigration('9002_future') }),
    );
    const err = await refusal(dbs, db);
    expect(err.message).toMatch(/9001_future, 9002_future.*does not declare/);
  });

  it('refuses a database more than one version ahead', async () => {
    const latest = await latestKnownMigration(engine);
    const db = await dbs.fresh();
    await dbs.withDb(db, (k) =>
      migrateAsNewer(k, engine, {
        '9001_future': futureMigration('9001_future', latest),
        '9002_future': futureMigration('9002_future', '9001_future'),
      }),
    );
    const err = await refusal(dbs, db);
    expect(err.message).toContain(
      `more than one version newer than this server: its schema (up to 9002_future) works with servers that know migration 9001_future or later, and this one knows up to ${latest}`,
    );
    expect(err.hint).toMatch(/upgrade this replica .*or restore the database from the backup/);
  });

  it('refuses a database that ran a migration it does not know among its own', async () => {
    const latest = await latestKnownMigration(engine);
    const db = await dbs.fresh();
    await dbs.withDb(db, (k) => migrateAsNewer(k, engine, { '0010a_branch': futureMigration('0010a_branch', latest) }));
    const err = await refusal(dbs, db);
    expect(err.message).toContain(`the database ran migration 0010a_branch, which this edgefleet does not know although it knows migrations up to ${latest}`);
    expect(err.hint).toMatch(/edgefleet build that migrated the database, or restore/);
  });

  it('refuses a newer database that never ran one of its migrations', async () => {
    const latest = await latestKnownMigration(engine);
    const db = await dbs.fresh();
    await dbs.withDb(db, (k) => migrateAsNewer(k, engine, { '9001_future': futureMigration('9001_future', latest) }, '0016_provision'));
    const err = await refusal(dbs, db);
    expect(err.message).toContain("migrated by a newer edgefleet (up to 9001_future) that never ran this server's migration 0016_provision");
  });
}
