import { EdgefleetError } from '@edgefleet/protocol';
import { type Kysely, sql } from 'kysely';

/**
 * Rolling upgrades: replicas are upgraded one at a time, so for a while an older replica
 * starts (or restarts) on a database a newer one has already migrated. Migrations are
 * backward compatible for one version (CONTRIBUTING.md, "Migrations"), and a migration says
 * so by declaring, in the `meta` table, the oldest migration whose server can still run on
 * the schema it leaves (`schema_compatible_from`) and which migration declared it
 * (`schema_compatible_from_declared_by`). A server whose newest migration is at least that
 * one starts in compatibility mode (it applies nothing, and logs a warning); any other
 * history it does not know is refused before anything is written.
 */
export const SCHEMA_COMPATIBLE_FROM = 'schema_compatible_from';
/** The migration that wrote {@link SCHEMA_COMPATIBLE_FROM}: only the newest one's declaration counts. */
export const SCHEMA_COMPATIBLE_FROM_DECLARED_BY = 'schema_compatible_from_declared_by';

/** What a database's migration history means for this server. */
export type MigrationHistory =
  /** Nothing this server does not know: apply its pending migrations as usual. */
  | { readonly mode: 'current' }
  /** A newer server migrated it, and its schema is declared compatible with this one: apply nothing. */
  | { readonly mode: 'compatible'; readonly newer: readonly string[]; readonly compatibleFrom: string; readonly latestKnown: string };

/** What the database says: the migrations it ran and the newest one's compatibility declaration. */
export interface RecordedHistory {
  readonly ran: readonly string[];
  readonly compatibleFrom: string | undefined;
  readonly declaredBy: string | undefined;
}

const RESTORE = 'or restore the database from the backup taken before the newer edgefleet first started on it (docs/OPERATIONS.md, "Upgrading replicas")';

/**
 * Decides whether a server that knows the migrations `known` may start on a database with
 * the history `recorded`; throws a `startup_failed` error naming what is wrong and how to
 * fix it when it may not.
 */
export function checkMigrationHistory(known: readonly string[], recorded: RecordedHistory): MigrationHistory {
  const knownSet = new Set(known);
  const latestKnown = [...known].sort().at(-1) ?? '';
  const unknown = recorded.ran.filter((name) => !knownSet.has(name)).sort();
  const among = unknown.filter((name) => name < latestKnown);
  if (among.length > 0) {
    throw new EdgefleetError({
      code: 'startup_failed',
      message: `the database ran migration${among.length > 1 ? 's' : ''} ${among.join(', ')}, which this edgefleet does not know although it knows migrations up to ${latestKnown}: it was migrated by a different edgefleet build`,
      hint: `start this server with the edgefleet build that migrated the database, ${RESTORE}`,
    });
  }
  const newer = unknown.filter((name) => name > latestKnown);
  if (newer.length === 0) return { mode: 'current' };
  const newest = newer.at(-1) as string;
  const ran = new Set(recorded.ran);
  const missing = known.filter((name) => !ran.has(name)).sort();
  if (missing.length > 0) {
    throw new EdgefleetError({
      code: 'startup_failed',
      message: `the database was migrated by a newer edgefleet (up to ${newest}) that never ran this server's migration${missing.length > 1 ? 's' : ''} ${missing.join(', ')}: the two builds do not share a migration history`,
      hint: `upgrade this replica to the edgefleet that migrated the database, ${RESTORE}`,
    });
  }
  if (recorded.compatibleFrom === undefined || recorded.declaredBy !== newest) {
    throw new EdgefleetError({
      code: 'startup_failed',
      message: `the database was migrated by a newer edgefleet (migration${newer.length > 1 ? 's' : ''} ${newer.join(', ')}; this server knows up to ${latestKnown}) and its newest migration does not declare the schema compatible with older servers`,
      hint: `upgrade this replica to the edgefleet version the others run, ${RESTORE}`,
    });
  }
  if (recorded.compatibleFrom > latestKnown) {
    throw new EdgefleetError({
      code: 'startup_failed',
      message: `the database was migrated by an edgefleet more than one version newer than this server: its schema (up to ${newest}) works with servers that know migration ${recorded.compatibleFrom} or later, and this one knows up to ${latestKnown}`,
      hint: `upgrade this replica to the edgefleet version the others run, ${RESTORE}`,
    });
  }
  return { mode: 'compatible', newer, compatibleFrom: recorded.compatibleFrom, latestKnown };
}

/** Reads the history `checkMigrationHistory` judges; an empty database has none. */
export async function readMigrationHistory(db: Kysely<unknown>): Promise<RecordedHistory> {
  let ran: string[];
  try {
    ran = (await sql<{ name: string }>`select name from edgefleet_migrations`.execute(db)).rows.map((r) => r.name);
  } catch (err) {
    // No migration table yet: a database no server has migrated. Anything else is real.
    if (await tableExists(db, 'edgefleet_migrations')) throw err;
    return { ran: [], compatibleFrom: undefined, declaredBy: undefined };
  }
  const rows = (
    await sql<{
      key: string;
      value: string;
    }>`select key, value from meta where key in (${SCHEMA_COMPATIBLE_FROM}, ${SCHEMA_COMPATIBLE_FROM_DECLARED_BY})`.execute(db)
  ).rows;
  const value = (key: string) => rows.find((r) => r.key === key)?.value;
  return { ran, compatibleFrom: value(SCHEMA_COMPATIBLE_FROM), declaredBy: value(SCHEMA_COMPATIBLE_FROM_DECLARED_BY) };
}

async function tableExists(db: Kysely<unknown>, name: string): Promise<boolean> {
  const tables = await db.introspection.getTables({ withInternalKyselyTables: true });
  return tables.some((t) => t.name === name);
}

/**
 * For a migration to call as it finishes: the schema it leaves works with servers whose
 * newest migration is `from` or later (one version back: the newest migration of the
 * previous release), so they may keep running on it during a rolling upgrade.
 */
export async function declareCompatibleFrom(db: Kysely<unknown>, migration: string, from: string): Promise<void> {
  for (const [key, value] of [
    [SCHEMA_COMPATIBLE_FROM, from],
    [SCHEMA_COMPATIBLE_FROM_DECLARED_BY, migration],
  ] as const) {
    await sql`delete from meta where key = ${key}`.execute(db);
    await sql`insert into meta (key, value) values (${key}, ${value})`.execute(db);
  }
}
