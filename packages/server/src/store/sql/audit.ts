import type { Kysely } from 'kysely';
import type { AuditEvent, AuditFilter, AuditRepository } from '../audit.js';
import type { Database } from '../schema.js';
import { num } from './columns.js';

/** {@link AuditRepository} over Kysely. */
export class SqlAuditRepository implements AuditRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async appendAudit(e: AuditEvent): Promise<void> {
    await this.db
      .insertInto('audit_events')
      .values({ at: e.at, actor: e.actor, action: e.action, target: e.target, details: JSON.stringify(e.details) })
      .execute();
  }

  async listAudit(limit: number, filter: AuditFilter = {}): Promise<AuditEvent[]> {
    let q = this.db.selectFrom('audit_events').selectAll();
    if (filter.since !== undefined) q = q.where('at', '>=', filter.since);
    if (filter.actor !== undefined) q = q.where('actor', '=', filter.actor);
    const rows = await q.orderBy('seq', 'desc').limit(limit).execute();
    return rows.map((r) => ({ at: num(r.at), actor: r.actor, action: r.action, target: r.target, details: JSON.parse(r.details) as Record<string, unknown> }));
  }
}
