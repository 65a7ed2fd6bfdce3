import type { Labels, Role } from '@edgefleet/protocol';
import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import type { ApiTokenRecord, BootstrapTokenRecord, ConsumeResult, TokenRepository } from '../tokens.js';
import type { Store } from '../types.js';
import { atomically } from './atomically.js';
import { num, numOrNull } from './columns.js';

function toApiToken(r: Database['api_tokens']): ApiTokenRecord {
  return {
    id: r.id,
    role: r.role as Role,
    name: r.name,
    secretHash: r.secret_hash,
    createdAt: num(r.created_at),
    expiresAt: numOrNull(r.expires_at),
    lastUsedAt: numOrNull(r.last_used_at),
    sites: r.sites === null ? null : (JSON.parse(r.sites) as string[]),
  };
}

function toBootstrap(r: Database['bootstrap_tokens']): BootstrapTokenRecord {
  return {
    id: r.id,
    secretHash: r.secret_hash,
    site: r.site,
    labels: JSON.parse(r.labels) as Labels,
    uses: r.uses,
    usesLeft: r.uses_left,
    expiresAt: num(r.expires_at),
    createdAt: num(r.created_at),
    createdBy: r.created_by,
    nodeId: r.node_id ?? null,
    boundSerial: r.bound_serial ?? null,
    boundHostname: r.bound_hostname ?? null,
    batchId: r.batch_id ?? null,
    enrolledNodeId: r.enrolled_node_id ?? null,
    enrolledAt: numOrNull(r.enrolled_at ?? null),
  };
}

/** {@link TokenRepository} over Kysely. */
export class SqlTokenRepository implements TokenRepository {
  constructor(
    private readonly dialect: Store['dialect'],
    private readonly db: Kysely<Database>,
  ) {}

  async createApiToken(t: ApiTokenRecord): Promise<void> {
    await this.db
      .insertInto('api_tokens')
      .values({
        id: t.id,
        role: t.role,
        name: t.name,
        secret_hash: t.secretHash,
        created_at: t.createdAt,
        expires_at: t.expiresAt,
        last_used_at: t.lastUsedAt,
        sites: t.sites === null ? null : JSON.stringify(t.sites),
      })
      .execute();
  }

  async getApiToken(id: string): Promise<ApiTokenRecord | undefined> {
    const r = await this.db.selectFrom('api_tokens').selectAll().where('id', '=', id).executeTakeFirst();
    return r === undefined ? undefined : toApiToken(r);
  }

  async listApiTokens(): Promise<ApiTokenRecord[]> {
    const rows = await this.db.selectFrom('api_tokens').selectAll().orderBy('created_at').orderBy('id').execute();
    return rows.map(toApiToken);
  }

  async deleteApiToken(id: string): Promise<boolean> {
    const r = await this.db.deleteFrom('api_tokens').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async deleteApiTokenUnlessLastAdmin(id: string, now: number): Promise<'deleted' | 'not_found' | 'last_admin'> {
    return atomically(this.db, async (tx) => {
      // On PostgreSQL the admin rows stay locked until commit: two requests deleting two
      // different admin tokens at once cannot both see the other one left.
      const admins = tx.selectFrom('api_tokens').select(['id', 'expires_at', 'sites']).where('role', '=', 'admin');
      const rows = await (this.dialect === 'postgres' ? admins.forUpdate() : admins).execute();
      // Only an admin that still works counts: an expired or site-scoped admin cannot
      // create the next admin token for the fleet.
      const working = rows.filter((r) => r.sites === null && (r.expires_at === null || num(r.expires_at) > now)).map((r) => r.id);
      const target = await tx.selectFrom('api_tokens').select(['id', 'role']).where('id', '=', id).executeTakeFirst();
      if (target === undefined) return 'not_found';
      if (working.includes(id) && working.length <= 1) return 'last_admin';
      await tx.deleteFrom('api_tokens').where('id', '=', id).execute();
      return 'deleted';
    });
  }

  async touchApiToken(id: string, now: number, notBefore: number): Promise<void> {
    await this.db
      .updateTable('api_tokens')
      .set({ last_used_at: now })
      .where('id', '=', id)
      .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', notBefore)]))
      .execute();
  }

  async countApiTokens(role?: Role): Promise<number> {
    let q = this.db.selectFrom('api_tokens').select((eb) => eb.fn.countAll<number | string>().as('n'));
    if (role !== undefined) q = q.where('role', '=', role);
    const r = await q.executeTakeFirstOrThrow();
    return num(r.n);
  }

  async createBootstrapToken(t: BootstrapTokenRecord): Promise<void> {
    await this.db
      .insertInto('bootstrap_tokens')
      .values({
        id: t.id,
        secret_hash: t.secretHash,
        site: t.site,
        labels: JSON.stringify(t.labels),
        uses: t.uses,
        uses_left: t.usesLeft,
        expires_at: t.expiresAt,
        created_at: t.createdAt,
        created_by: t.createdBy,
        node_id: t.nodeId ?? null,
        bound_serial: t.boundSerial ?? null,
        bound_hostname: t.boundHostname ?? null,
        batch_id: t.batchId ?? null,
        enrolled_node_id: t.enrolledNodeId ?? null,
        enrolled_at: t.enrolledAt ?? null,
      })
      .execute();
  }

  async getBootstrapToken(id: string): Promise<BootstrapTokenRecord | undefined> {
    const r = await this.db.selectFrom('bootstrap_tokens').selectAll().where('id', '=', id).executeTakeFirst();
    return r === undefined ? undefined : toBootstrap(r);
  }

  async listBootstrapTokens(): Promise<BootstrapTokenRecord[]> {
    const rows = await this.db.selectFrom('bootstrap_tokens').selectAll().orderBy('created_at').orderBy('id').execute();
    return rows.map(toBootstrap);
  }

  async deleteBootstrapToken(id: string): Promise<boolean> {
    const r = await this.db.deleteFrom('bootstrap_tokens').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async recordBootstrapTokenEnrollment(id: string, nodeId: string, at: number): Promise<void> {
    await this.db.updateTable('bootstrap_tokens').set({ enrolled_node_id: nodeId, enrolled_at: at }).where('id', '=', id).execute();
  }

  async listBootstrapTokensOfBatch(batchId: string): Promise<BootstrapTokenRecord[]> {
    const rows = await this.db.selectFrom('bootstrap_tokens').selectAll().where('batch_id', '=', batchId).orderBy('created_at').orderBy('id').execute();
    return rows.map(toBootstrap);
  }

  async consumeBootstrapToken(id: string, now: number): Promise<ConsumeResult> {
    // One conditional UPDATE: the database serialises the decrement, so two enrollments
    // racing for the last use cannot both see uses_left > 0.
    const row = await this.db
      .updateTable('bootstrap_tokens')
      .set((eb) => ({ uses_left: eb('uses_left', '-', 1) }))
      .where('id', '=', id)
      .where('uses_left', '>', 0)
      .where('expires_at', '>', now)
      .returningAll()
      .executeTakeFirst();
    if (row !== undefined) return { ok: true, token: toBootstrap(row) };
    const current = await this.getBootstrapToken(id);
    if (current === undefined) return { ok: false, reason: 'unknown' };
    return { ok: false, reason: current.expiresAt <= now ? 'expired' : 'exhausted' };
  }
}
