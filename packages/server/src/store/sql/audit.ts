import type { Kysely } from 'kysely';
import type { AuditEvent, AuditRepository } from '../audit.js';
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

  async listAudit(limit: number): Promise<AuditEvent[]> {
    const rows = await this.db.selectFrom('audit_events').selectAll().orderBy('seq', 'desc').limit(limit).execute();
    return rows.map((r) => ({ at: num(r.at), actor: r.actor, action: r.action, target: r.target, details: JSON.parse(r.details) as Record<string, unknown> }));
  }
}
