/**
 * Databases with a migration history the server must cope with, for the migration tests of
 * both engines (migrations.test.ts on SQLite, migrations.integration.test.ts on PostgreSQL).
 */
import { type Kysely, type Migration, type MigrationProvider, Migrator, sql } from 'kysely';
import { declareCompatibleFrom } from '../../src/store/migration-history.js';
import { migrations } from '../../src/store/migrations.js';
import type { RegistryRecord } from '../../src/store/registries.js';

type Engine = Parameters<typeof migrations>[0];

/** A migrator over the store's own migration tables. */
export function storeMigrator(db: Kysely<unknown>, provider: MigrationProvider): Migrator {
  return new Migrator({ db, provider, migrationTableName: 'edgefleet_migrations', migrationLockTableName: 'edgefleet_migrations_lock' });
}

/** Migrates `db` as a server that never had `skipped` did: every other migration ran, later ones included. */
export async function migrateWithout(db: Kysely<unknown>, engine: Engine, skipped: string): Promise<void> {
  const all = await migrations(engine).getMigrations();
  const without = Object.fromEntries(Object.entries(all).filter(([name]) => name !== skipped));
  const { error } = await storeMigrator(db, { getMigrations: async () => without }).migrateToLatest();
  if (error !== undefined) throw error;
}

/** The names of the migrations `db` ran, in order. */
export async function ranMigrations(db: Kysely<unknown>): Promise<string[]> {
  return (await sql<{ name: string }>`select name from edgefleet_migrations order by name`.execute(db)).rows.map((r) => r.name);
}

/** A registry to store once 0015 (registries) has run. */
export const REGISTRY: RegistryRecord = {
  name: 'r',
  server: 'https://r.example',
  host: 'r.example',
  username: 'u',
  passwordSealed: 'v1:a:b:c',
  caPem: null,
  createdAt: 1,
  updatedAt: 2,
};

/** The newest migration this server knows. */
export async function latestKnownMigration(engine: Engine): Promise<string> {
  return Object.keys(await migrations(engine).getMigrations())
    .sort()
    .at(-1) as string;
}

/**
 * A migration of a future edgefleet: adds a nullable column (what a backward-compatible
 * migration does) and, when `compatibleFrom` is given, declares the oldest migration whose
 * server may still run on the schema it leaves, as real migrations do.
 */
export function futureMigration(name: string, compatibleFrom?: string): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable('nodes')
        .addColumn(`note_${name.slice(0, 4)}`, 'text')
        .execute();
      if (compatibleFrom !== undefined) await declareCompatibleFrom(db, name, compatibleFrom);
    },
  };
}

/**
 * Migrates `db` as a newer edgefleet would: every migration this server knows (except
 * `without`) plus `extra`, in name order, as a newer replica upgraded first does.
 */
export async function migrateAsNewer(db: Kysely<unknown>, engine: Engine, extra: Record<string, Migration>, without?: string): Promise<void> {
  const ours = Object.entries(await migrations(engine).getMigrations()).filter(([name]) => name !== without);
  const all = { ...Object.fromEntries(ours), ...extra };
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => all },
    migrationTableName: 'edgefleet_migrations',
    migrationLockTableName: 'edgefleet_migrations_lock',
    allowUnorderedMigrations: true,
  });
  const { error } = await migrator.migrateToLatest();
  if (error !== undefined) throw error;
}
