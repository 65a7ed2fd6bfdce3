import { type Kysely, sql } from 'kysely';
import type { Database } from '../schema.js';
import { num } from './columns.js';

/**
 * Bumps a change counter inside the caller's transaction and returns its new value. The
 * UPDATE's row lock is held until commit, so concurrent writers take values in the order
 * they commit; callers bump last, to hold that lock only briefly.
 */
export async function bumpCounter(tx: Kysely<Database>, name: Database['change_counters']['name']): Promise<number> {
  const row = await tx
    .updateTable('change_counters')
    .set({ value: sql<number>`value + 1` })
    .where('name', '=', name)
    .returning('value')
    .executeTakeFirstOrThrow();
  return num(row.value);
}
