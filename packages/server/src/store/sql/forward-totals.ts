import { createHash } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import type { ForwardTotalsRepository } from '../forward-totals.js';
import type { Database } from '../schema.js';

/** Rows per statement, well under PostgreSQL's 65,535 bind parameters. */
const CHUNK = 2_000;

/** The row key of a series key: fixed length, whatever the labels (index entries stay small). */
function rowKey(seriesKey: string): string {
  return createHash('sha256').update(seriesKey).digest('base64url');
}

/** {@link ForwardTotalsRepository} over Kysely. */
export class SqlForwardTotalsRepository implements ForwardTotalsRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async advanceForwardTotals(increases: ReadonlyMap<string, number>, at: number): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const byRow = new Map<string, string>();
    const rows: Array<{ key: string; total: number; touched_at: number }> = [];
    for (const [key, inc] of increases) {
      const k = rowKey(key);
      byRow.set(k, key);
      rows.push({ key: k, total: inc, touched_at: at });
    }
    // Keys in a fixed order: concurrent batches lock shared rows in the same order (no deadlock).
    rows.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    for (let i = 0; i < rows.length; i += CHUNK) {
      const returned = await this.db
        .insertInto('forward_totals')
        .values(rows.slice(i, i + CHUNK))
        .onConflict((oc) =>
          oc.column('key').doUpdateSet({
            total: sql<number>`forward_totals.total + excluded.total`,
            touched_at: sql<number>`excluded.touched_at`,
          }),
        )
        .returning(['key', 'total'])
        .execute();
      for (const r of returned) out.set(byRow.get(r.key) as string, Number(r.total));
    }
    return out;
  }

  async pruneForwardTotals(before: number): Promise<number> {
    const r = await this.db.deleteFrom('forward_totals').where('touched_at', '<', before).executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
