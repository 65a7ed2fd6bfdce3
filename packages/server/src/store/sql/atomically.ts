import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';

/**
 * Runs a multi-statement write in its own transaction, or in the caller's when `db` is one
 * (a unit of work from `store.transaction`): writes never commit apart from the unit they
 * belong to.
 */
export function atomically<T>(db: Kysely<Database>, work: (tx: Kysely<Database>) => Promise<T>): Promise<T> {
  if (db.isTransaction) return work(db);
  return db.transaction().execute(work);
}
