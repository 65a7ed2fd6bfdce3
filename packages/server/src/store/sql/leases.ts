import { type Kysely, type RawBuilder, sql } from 'kysely';
import { LeaseFencedError, type LeaseRecord, type LeaseRepository } from '../leases.js';
import type { Database } from '../schema.js';
import type { Store } from '../types.js';
import { num } from './columns.js';

/** {@link LeaseRepository} over Kysely; times by the database's clock. */
export class SqlLeaseRepository implements LeaseRepository {
  constructor(
    private readonly dialect: Store['dialect'],
    private readonly db: Kysely<Database>,
  ) {}

  /** The database's clock in ms since the epoch (the wall clock, not the transaction's start). */
  private nowMs(): RawBuilder<number> {
    return this.dialect === 'postgres'
      ? sql<number>`(extract(epoch from clock_timestamp()) * 1000)::bigint`
      : sql<number>`cast((julianday('now') - 2440587.5) * 86400000 as integer)`;
  }

  async tryAcquireLease(name: string, holder: string, leaseMs: number): Promise<{ term: number } | { term: undefined; current: LeaseRecord | undefined }> {
    const now = this.nowMs();
    // SQLite: one server per file, it takes the lease whenever it asks.
    const free = this.dialect === 'postgres' ? sql<boolean>`leader_leases.expires_at <= ${now} or leader_leases.holder = ${holder}` : sql<boolean>`1 = 1`;
    const r = await sql<{ term: number | string }>`
      insert into leader_leases (name, holder, term, expires_at) values (${name}, ${holder}, 1, ${now} + ${leaseMs})
      on conflict (name) do update set holder = excluded.holder, term = leader_leases.term + 1, expires_at = excluded.expires_at
      where ${free}
      returning term`.execute(this.db);
    const row = r.rows[0];
    if (row !== undefined) return { term: num(row.term) };
    return { term: undefined, current: await this.getLease(name) };
  }

  async renewLease(name: string, holder: string, term: number, leaseMs: number): Promise<boolean> {
    const r = await this.db
      .updateTable('leader_leases')
      .set({ expires_at: sql<number>`${this.nowMs()} + ${leaseMs}` })
      .where('name', '=', name)
      .where('holder', '=', holder)
      .where('term', '=', term)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async releaseLease(name: string, holder: string, term: number): Promise<void> {
    await this.db.updateTable('leader_leases').set({ expires_at: 0 }).where('name', '=', name).where('holder', '=', holder).where('term', '=', term).execute();
  }

  async getLease(name: string): Promise<LeaseRecord | undefined> {
    const r = await this.db
      .selectFrom('leader_leases')
      .select(['name', 'holder', 'term', 'expires_at', this.nowMs().as('db_now')])
      .where('name', '=', name)
      .executeTakeFirst();
    return r === undefined ? undefined : { name: r.name, holder: r.holder, term: num(r.term), expiresAt: num(r.expires_at), dbNow: num(r.db_now) };
  }

  async assertLeaseTerm(name: string, term: number): Promise<void> {
    // Outside a transaction the share lock would end with the statement and fence nothing.
    if (!this.db.isTransaction) throw new Error('assertLeaseTerm must run inside store.transaction, in the unit of work it fences');
    let q = this.db.selectFrom('leader_leases').select(['term', 'holder']).where('name', '=', name);
    if (this.dialect === 'postgres') q = q.forShare();
    const r = await q.executeTakeFirst();
    if (r === undefined || num(r.term) !== term) throw new LeaseFencedError(name, term, r === undefined ? undefined : { term: num(r.term), holder: r.holder });
  }
}
