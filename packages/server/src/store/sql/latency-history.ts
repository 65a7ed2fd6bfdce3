import { type LatencyHistogram, mergeHistograms } from '@edgefleet/protocol';
import type { Kysely } from 'kysely';
import type { LatencyHistoryBounds, LatencyHistoryRecord, LatencyHistoryRepository } from '../latency-history.js';
import type { Database } from '../schema.js';
import { atomically } from './atomically.js';
import { num } from './columns.js';

/** {@link LatencyHistoryRepository} over Kysely. */
export class SqlLatencyHistoryRepository implements LatencyHistoryRepository {
  constructor(
    private readonly dialect: 'sqlite' | 'postgres',
    private readonly db: Kysely<Database>,
  ) {}

  async addLatencyHistory(records: readonly LatencyHistoryRecord[]): Promise<void> {
    if (records.length === 0) return;
    await atomically(this.db, async (tx) => {
      for (const r of records) {
        const key = { deployment: r.deployment, revision: r.revision, site: r.site, hour: r.hour };
        // Make sure the row exists, then read it locked: on PostgreSQL two replicas adding to
        // the same hour wait for each other instead of each writing its own sum over the same
        // old row (SQLite has one writer at a time anyway).
        await tx
          .insertInto('latency_history')
          .values({ ...key, requests: 0, errors: 0, latency: '{"v":1,"offset":0,"counts":[]}' })
          .onConflict((oc) => oc.columns(['deployment', 'revision', 'site', 'hour']).doNothing())
          .execute();
        let read = tx
          .selectFrom('latency_history')
          .select(['requests', 'errors', 'latency'])
          .where('deployment', '=', r.deployment)
          .where('revision', '=', r.revision)
          .where('site', '=', r.site)
          .where('hour', '=', r.hour);
        if (this.dialect === 'postgres') read = read.forUpdate();
        const row = await read.executeTakeFirstOrThrow();
        await tx
          .updateTable('latency_history')
          .set({
            requests: num(row.requests) + r.requests,
            errors: num(row.errors) + r.errors,
            latency: JSON.stringify(mergeHistograms(JSON.parse(row.latency) as LatencyHistogram, r.latency)),
          })
          .where('deployment', '=', r.deployment)
          .where('revision', '=', r.revision)
          .where('site', '=', r.site)
          .where('hour', '=', r.hour)
          .execute();
      }
    });
  }

  async listLatencyHistory(deployment: string, from: number, filter: { site?: string; revision?: number } = {}): Promise<LatencyHistoryRecord[]> {
    let q = this.db.selectFrom('latency_history').selectAll().where('deployment', '=', deployment).where('hour', '>=', from);
    if (filter.site !== undefined) q = q.where('site', '=', filter.site);
    if (filter.revision !== undefined) q = q.where('revision', '=', filter.revision);
    const rows = await q.orderBy('hour').orderBy('revision').orderBy('site').execute();
    return rows.map((r) => ({
      deployment: r.deployment,
      revision: num(r.revision),
      site: r.site,
      hour: num(r.hour),
      requests: num(r.requests),
      errors: num(r.errors),
      latency: JSON.parse(r.latency) as LatencyHistogram,
    }));
  }

  async pruneLatencyHistory(bounds: LatencyHistoryBounds): Promise<number> {
    return atomically(this.db, async (tx) => {
      const aged = await tx.deleteFrom('latency_history').where('hour', '<', bounds.before).executeTakeFirst();
      let deleted = Number(aged.numDeletedRows);
      const crowded = await tx
        .selectFrom('latency_history')
        .select(['deployment', (eb) => eb.fn.countAll<number | string>().as('rows')])
        .groupBy('deployment')
        .having((eb) => eb.fn.countAll(), '>', bounds.rowsPerDeployment)
        .execute();
      for (const { deployment } of crowded) {
        // The newest row that must go: the (cap + 1)-th newest. Everything at or before its
        // hour goes with it, so a deployment keeps whole hours (all its sites and revisions).
        const cut = await tx
          .selectFrom('latency_history')
          .select('hour')
          .where('deployment', '=', deployment)
          .orderBy('hour', 'desc')
          .offset(bounds.rowsPerDeployment)
          .limit(1)
          .executeTakeFirst();
        if (cut === undefined) continue;
        const r = await tx.deleteFrom('latency_history').where('deployment', '=', deployment).where('hour', '<=', num(cut.hour)).executeTakeFirst();
        deleted += Number(r.numDeletedRows);
      }
      return deleted;
    });
  }
}
