import { createHash } from 'node:crypto';
import type { DeploymentSpec, Labels, Release, Role, WorkloadStats, WorkloadStatus } from '@edgefleet/protocol';
import { EdgefleetError } from '@edgefleet/protocol';
import { type Kysely, Migrator, sql } from 'kysely';
import { migrations } from './migrations.js';
import type { Database } from './schema.js';
import type {
  ApiTokenRecord,
  AuditEvent,
  BootstrapTokenRecord,
  CertificateRecord,
  ConsumeResult,
  DeploymentRecord,
  DeploymentWrite,
  DesiredStateMarks,
  LatestSample,
  LogRecord,
  NodeAlertRecord,
  NodeChange,
  NodeRecord,
  NodeWorkloadRecord,
  ReleaseKeyRecord,
  RevisionRecord,
  RolloutCommandRecord,
  RolloutStallRecord,
  SourceCondition,
  SourceRecord,
  SourceStatusRecord,
  Store,
  UploadCursor,
} from './types.js';

const num = (v: number | string): number => (typeof v === 'number' ? v : Number(v));
const numOrNull = (v: number | string | null): number | null => (v === null ? null : num(v));

type NodeRow = Database['nodes'];

function toNode(r: NodeRow): NodeRecord {
  return {
    id: r.id,
    name: r.name,
    hardwareSerial: r.hardware_serial,
    detectedLabels: JSON.parse(r.detected_labels) as Labels,
    operatorLabels: JSON.parse(r.operator_labels) as Labels,
    facts: JSON.parse(r.facts) as Record<string, unknown>,
    certSerial: r.cert_serial,
    certNotAfter: num(r.cert_not_after),
    lastSeen: numOrNull(r.last_seen),
    createdAt: num(r.created_at),
  };
}

function fromNode(n: NodeRecord): NodeRow {
  return {
    id: n.id,
    name: n.name,
    hardware_serial: n.hardwareSerial,
    detected_labels: JSON.stringify(n.detectedLabels),
    operator_labels: JSON.stringify(n.operatorLabels),
    facts: JSON.stringify(n.facts),
    cert_serial: n.certSerial,
    cert_not_after: n.certNotAfter,
    last_seen: n.lastSeen,
    created_at: n.createdAt,
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
  };
}

function toDeployment(r: Database['deployments']): DeploymentRecord {
  return {
    name: r.name,
    spec: JSON.parse(r.spec) as DeploymentSpec,
    generation: num(r.generation),
    revision: num(r.revision),
    source: r.source,
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
  };
}

function toRevision(r: Database['revisions']): RevisionRecord {
  return {
    deployment: r.deployment,
    revision: num(r.revision),
    release: JSON.parse(r.release) as Release,
    releaseDigest: r.release_digest,
    commit: r.commit,
    createdAt: num(r.created_at),
  };
}

function toSource(r: Database['sources']): SourceRecord {
  return {
    name: r.name,
    url: r.url,
    branch: r.branch,
    path: r.path,
    intervalMs: num(r.interval_ms),
    createdAt: num(r.created_at),
    lastAppliedRevision: r.last_applied_revision,
    lastAttemptedRevision: r.last_attempted_revision,
    conditions: JSON.parse(r.conditions) as SourceCondition[],
    lastError: r.last_error,
    updatedAt: numOrNull(r.updated_at),
  };
}

function fromSourceStatus(
  s: SourceStatusRecord,
): Pick<Database['sources'], 'last_applied_revision' | 'last_attempted_revision' | 'conditions' | 'last_error' | 'updated_at'> {
  return {
    last_applied_revision: s.lastAppliedRevision,
    last_attempted_revision: s.lastAttemptedRevision,
    conditions: JSON.stringify(s.conditions),
    last_error: s.lastError,
    updated_at: s.updatedAt,
  };
}

/** A signed 64-bit advisory lock id from a name, the same on every replica. */
function advisoryLockId(key: string): string {
  return createHash('sha256').update(`edgefleet:${key}`).digest().readBigInt64BE(0).toString();
}

/** Node changes kept: far more than a fleet makes between two reads by a replica (2 s). */
const NODE_CHANGES_KEPT = 10_000;

/**
 * Bumps a change counter inside the caller's transaction and returns its new value. The
 * UPDATE's row lock is held until commit, so concurrent writers take values in the order
 * they commit; callers bump last, to hold that lock only briefly.
 */
async function bumpCounter(tx: Kysely<Database>, name: Database['change_counters']['name']): Promise<number> {
  const row = await tx
    .updateTable('change_counters')
    .set({ value: sql<number>`value + 1` })
    .where('name', '=', name)
    .returning('value')
    .executeTakeFirstOrThrow();
  return num(row.value);
}

/** Logs, inside the caller's transaction, that a node's labels changed or it was decommissioned. */
async function recordNodeChange(tx: Kysely<Database>, nodeId: string): Promise<void> {
  const generation = await bumpCounter(tx, 'node_changes');
  await tx.insertInto('node_changes').values({ generation, node_id: nodeId }).execute();
  if (generation % 1_000 === 0)
    await tx
      .deleteFrom('node_changes')
      .where('generation', '<=', generation - NODE_CHANGES_KEPT)
      .execute();
}

function toApiToken(r: Database['api_tokens']): ApiTokenRecord {
  return { id: r.id, role: r.role as Role, name: r.name, secretHash: r.secret_hash, createdAt: num(r.created_at) };
}

/**
 * The store over Kysely. The same queries run on SQLite and PostgreSQL; the only
 * differences live in the dialect the caller passes and the migration for an
 * auto-incrementing column.
 */
export class SqlStore implements Store {
  constructor(
    readonly dialect: 'sqlite' | 'postgres',
    private readonly db: Kysely<Database>,
  ) {}

  /**
   * Runs `work` as one unit of work: every write through the `tx` store it is given commits
   * together or not at all. Inside a transaction it simply runs on the same one (units
   * nest). Use only `tx` inside `work`: on SQLite the transaction holds the one connection,
   * so a call on the outer store would wait for it forever.
   */
  async transaction<T>(work: (tx: Store) => Promise<T>): Promise<T> {
    if (this.db.isTransaction) return work(this);
    return this.db.transaction().execute((trx) => work(new SqlStore(this.dialect, trx)));
  }

  /** A multi-statement write: its own transaction, or the caller's when there is one. */
  private atomically<T>(work: (tx: Kysely<Database>) => Promise<T>): Promise<T> {
    if (this.db.isTransaction) return work(this.db);
    return this.db.transaction().execute(work);
  }

  /** Applies pending migrations; refuses to run against a database from a newer edgefleet. */
  async migrate(): Promise<void> {
    const migrator = new Migrator({
      db: this.db,
      provider: migrations(this.dialect),
      migrationTableName: 'edgefleet_migrations',
      migrationLockTableName: 'edgefleet_migrations_lock',
    });
    const { error, results } = await migrator.migrateToLatest();
    if (error !== undefined) {
      const failed = results?.find((r) => r.status === 'Error')?.migrationName;
      throw new EdgefleetError({
        code: 'config',
        status: 500,
        message: `database migration ${failed ?? ''} failed: ${error instanceof Error ? error.message : String(error)}`.replace('  ', ' '),
        hint: 'check that the database is reachable and was not written by a newer edgefleet',
        cause: error,
      });
    }
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }

  async getMeta(key: string): Promise<string | undefined> {
    const row = await this.db.selectFrom('meta').select('value').where('key', '=', key).executeTakeFirst();
    return row?.value;
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.db
      .insertInto('meta')
      .values({ key, value })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
      .execute();
  }

  async setMetaIfAbsent(key: string, value: string): Promise<string> {
    await this.db
      .insertInto('meta')
      .values({ key, value })
      .onConflict((oc) => oc.column('key').doNothing())
      .execute();
    return (await this.getMeta(key)) as string;
  }

  async createApiToken(t: ApiTokenRecord): Promise<void> {
    await this.db.insertInto('api_tokens').values({ id: t.id, role: t.role, name: t.name, secret_hash: t.secretHash, created_at: t.createdAt }).execute();
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

  async deleteApiTokenUnlessLastAdmin(id: string): Promise<'deleted' | 'not_found' | 'last_admin'> {
    return this.atomically(async (tx) => {
      // On PostgreSQL the admin rows stay locked until commit: two requests deleting two
      // different admin tokens at once cannot both see the other one left.
      const admins = tx.selectFrom('api_tokens').select('id').where('role', '=', 'admin');
      const adminIds = (await (this.dialect === 'postgres' ? admins.forUpdate() : admins).execute()).map((r) => r.id);
      const target = await tx.selectFrom('api_tokens').select(['id', 'role']).where('id', '=', id).executeTakeFirst();
      if (target === undefined) return 'not_found';
      if (target.role === 'admin' && adminIds.length <= 1) return 'last_admin';
      await tx.deleteFrom('api_tokens').where('id', '=', id).execute();
      return 'deleted';
    });
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

  async createNode(n: NodeRecord): Promise<void> {
    await this.db.insertInto('nodes').values(fromNode(n)).execute();
  }

  async updateNode(n: NodeRecord): Promise<void> {
    const { id: _id, created_at: _createdAt, ...rest } = fromNode(n);
    await this.atomically(async (tx) => {
      await tx.updateTable('nodes').set(rest).where('id', '=', n.id).execute();
      await recordNodeChange(tx, n.id);
    });
  }

  async getNode(id: string): Promise<NodeRecord | undefined> {
    const r = await this.db.selectFrom('nodes').selectAll().where('id', '=', id).executeTakeFirst();
    return r === undefined ? undefined : toNode(r);
  }

  async getNodeByName(name: string): Promise<NodeRecord | undefined> {
    const r = await this.db.selectFrom('nodes').selectAll().where('name', '=', name).executeTakeFirst();
    return r === undefined ? undefined : toNode(r);
  }

  async getNodeByHardwareSerial(serial: string): Promise<NodeRecord | undefined> {
    const r = await this.db.selectFrom('nodes').selectAll().where('hardware_serial', '=', serial).executeTakeFirst();
    return r === undefined ? undefined : toNode(r);
  }

  async listNodes(): Promise<NodeRecord[]> {
    const rows = await this.db.selectFrom('nodes').selectAll().orderBy('name').execute();
    return rows.map(toNode);
  }

  async recordHeartbeat(id: string, detectedLabels: Labels | undefined, facts: Record<string, unknown> | undefined, at: number): Promise<void> {
    const write = (db: Kysely<Database>) =>
      db
        .updateTable('nodes')
        .set({
          ...(detectedLabels === undefined ? {} : { detected_labels: JSON.stringify(detectedLabels) }),
          ...(facts === undefined ? {} : { facts: JSON.stringify(facts) }),
          last_seen: at,
        })
        .where('id', '=', id)
        .execute();
    // Most heartbeats carry no labels (only changed ones are sent): one statement, no transaction.
    if (detectedLabels === undefined) {
      await write(this.db);
      return;
    }
    await this.atomically(async (tx) => {
      await write(tx);
      await recordNodeChange(tx, id);
    });
  }

  async setOperatorLabels(id: string, labels: Labels): Promise<void> {
    await this.atomically(async (tx) => {
      await tx
        .updateTable('nodes')
        .set({ operator_labels: JSON.stringify(labels) })
        .where('id', '=', id)
        .execute();
      await recordNodeChange(tx, id);
    });
  }

  async decommissionNode(id: string, at: number): Promise<boolean> {
    return this.atomically(async (tx) => {
      await tx.deleteFrom('node_workloads').where('node_id', '=', id).execute();
      await tx.deleteFrom('node_telemetry').where('node_id', '=', id).execute();
      await tx.deleteFrom('node_alerts').where('node_id', '=', id).execute();
      await tx.deleteFrom('node_logs').where('node_id', '=', id).execute();
      await tx.updateTable('certificates').set({ revoked_at: at }).where('node_id', '=', id).where('revoked_at', 'is', null).execute();
      const r = await tx.deleteFrom('nodes').where('id', '=', id).executeTakeFirst();
      const deleted = Number(r.numDeletedRows) > 0;
      if (deleted) await recordNodeChange(tx, id);
      return deleted;
    });
  }

  async recordCertificate(c: CertificateRecord): Promise<void> {
    await this.atomically(async (tx) => {
      await tx
        .insertInto('certificates')
        .values({ serial: c.serial, node_id: c.nodeId, issued_at: c.issuedAt, not_after: c.notAfter, revoked_at: c.revokedAt })
        .execute();
      await tx.updateTable('nodes').set({ cert_serial: c.serial, cert_not_after: c.notAfter }).where('id', '=', c.nodeId).execute();
    });
  }

  async getCertificate(serial: string): Promise<CertificateRecord | undefined> {
    const r = await this.db.selectFrom('certificates').selectAll().where('serial', '=', serial).executeTakeFirst();
    if (r === undefined) return undefined;
    return { serial: r.serial, nodeId: r.node_id, issuedAt: num(r.issued_at), notAfter: num(r.not_after), revokedAt: numOrNull(r.revoked_at) };
  }

  async getDeployment(name: string): Promise<DeploymentRecord | undefined> {
    const r = await this.db.selectFrom('deployments').selectAll().where('name', '=', name).executeTakeFirst();
    return r === undefined ? undefined : toDeployment(r);
  }

  async listDeployments(): Promise<DeploymentRecord[]> {
    return (await this.db.selectFrom('deployments').selectAll().orderBy('name').execute()).map(toDeployment);
  }

  async writeDeployments(writes: DeploymentWrite[], deletes: string[]): Promise<void> {
    await this.atomically(async (tx) => {
      for (const { deployment: d, newRevision } of writes) {
        const row = { spec: JSON.stringify(d.spec), generation: d.generation, revision: d.revision, source: d.source, updated_at: d.updatedAt };
        const updated = await tx.updateTable('deployments').set(row).where('name', '=', d.name).executeTakeFirst();
        if (Number(updated.numUpdatedRows) === 0)
          await tx
            .insertInto('deployments')
            .values({ ...row, name: d.name, created_at: d.createdAt })
            .execute();
        if (newRevision !== undefined) {
          await tx
            .insertInto('revisions')
            .values({
              deployment: newRevision.deployment,
              revision: newRevision.revision,
              release: JSON.stringify(newRevision.release),
              release_digest: newRevision.releaseDigest,
              commit: newRevision.commit,
              created_at: newRevision.createdAt,
            })
            .execute();
        }
      }
      for (const name of deletes) {
        await tx.deleteFrom('deployments').where('name', '=', name).execute();
        await tx.deleteFrom('revisions').where('deployment', '=', name).execute();
      }
      if (writes.length > 0 || deletes.length > 0) await bumpCounter(tx, 'desired_inputs');
    });
  }

  async getRevision(deployment: string, revision: number): Promise<RevisionRecord | undefined> {
    const r = await this.db.selectFrom('revisions').selectAll().where('deployment', '=', deployment).where('revision', '=', revision).executeTakeFirst();
    return r === undefined ? undefined : toRevision(r);
  }

  async listCurrentRevisions(): Promise<RevisionRecord[]> {
    const rows = await this.db
      .selectFrom('revisions')
      .innerJoin('deployments', (join) => join.onRef('deployments.name', '=', 'revisions.deployment').onRef('deployments.revision', '=', 'revisions.revision'))
      .selectAll('revisions')
      .execute();
    return rows.map(toRevision);
  }

  async listRevisions(deployment: string): Promise<RevisionRecord[]> {
    return (await this.db.selectFrom('revisions').selectAll().where('deployment', '=', deployment).orderBy('revision').execute()).map(toRevision);
  }

  async replaceNodeWorkloads(nodeId: string, statuses: WorkloadStatus[], at: number): Promise<void> {
    await this.atomically(async (tx) => {
      await tx.deleteFrom('node_workloads').where('node_id', '=', nodeId).execute();
      if (statuses.length > 0) {
        await tx
          .insertInto('node_workloads')
          .values(statuses.map((s) => ({ node_id: nodeId, deployment: s.deployment, status: JSON.stringify(s), updated_at: at })))
          .execute();
      }
    });
  }

  async listNodeWorkloads(filter: { deployment?: string; nodeId?: string }): Promise<NodeWorkloadRecord[]> {
    let q = this.db.selectFrom('node_workloads').selectAll();
    if (filter.deployment !== undefined) q = q.where('deployment', '=', filter.deployment);
    if (filter.nodeId !== undefined) q = q.where('node_id', '=', filter.nodeId);
    const rows = await q.orderBy('node_id').orderBy('deployment').execute();
    return rows.map((r) => ({ nodeId: r.node_id, status: JSON.parse(r.status) as WorkloadStatus, updatedAt: num(r.updated_at) }));
  }

  async addReleaseKey(k: ReleaseKeyRecord): Promise<void> {
    await this.atomically(async (tx) => {
      await tx
        .insertInto('release_keys')
        .values({ key_id: k.keyId, public_key: k.publicKey, signed_by: k.signedBy, signature: k.signature, created_at: k.createdAt })
        .execute();
      await bumpCounter(tx, 'desired_inputs');
    });
  }

  async listReleaseKeys(): Promise<ReleaseKeyRecord[]> {
    const rows = await this.db.selectFrom('release_keys').selectAll().orderBy('created_at').orderBy('key_id').execute();
    return rows.map((r) => ({ keyId: r.key_id, publicKey: r.public_key, signedBy: r.signed_by, signature: r.signature, createdAt: num(r.created_at) }));
  }

  async createSource(src: SourceRecord): Promise<void> {
    await this.db
      .insertInto('sources')
      .values({
        name: src.name,
        url: src.url,
        branch: src.branch,
        path: src.path,
        interval_ms: src.intervalMs,
        created_at: src.createdAt,
        ...fromSourceStatus(src),
      })
      .execute();
  }

  async getSource(name: string): Promise<SourceRecord | undefined> {
    const r = await this.db.selectFrom('sources').selectAll().where('name', '=', name).executeTakeFirst();
    return r === undefined ? undefined : toSource(r);
  }

  async listSources(): Promise<SourceRecord[]> {
    return (await this.db.selectFrom('sources').selectAll().orderBy('name').execute()).map(toSource);
  }

  async updateSourceStatus(name: string, status: SourceStatusRecord): Promise<boolean> {
    const r = await this.db.updateTable('sources').set(fromSourceStatus(status)).where('name', '=', name).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async deleteSource(name: string): Promise<boolean> {
    const r = await this.db.deleteFrom('sources').where('name', '=', name).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async withAdvisoryLock<T>(key: string, mode: 'try' | 'wait', fn: () => Promise<T>): Promise<{ acquired: true; value: T } | { acquired: false }> {
    if (this.dialect === 'sqlite') return { acquired: true, value: await fn() };
    const id = advisoryLockId(key);
    // Session locks belong to a connection: hold one pooled connection for the whole job
    // (fn's own queries use other connections) and unlock on that same connection.
    return this.db.connection().execute(async (conn) => {
      if (mode === 'wait') {
        await sql`select pg_advisory_lock(${id}::bigint)`.execute(conn);
      } else {
        const r = await sql<{ locked: boolean }>`select pg_try_advisory_lock(${id}::bigint) as locked`.execute(conn);
        if (r.rows[0]?.locked !== true) return { acquired: false } as const;
      }
      try {
        return { acquired: true, value: await fn() } as const;
      } finally {
        // If the connection died, PostgreSQL has released the lock with the session.
        await sql`select pg_advisory_unlock(${id}::bigint)`.execute(conn).catch(() => {});
      }
    });
  }

  async insertWorkloadStats(nodeId: string, stats: WorkloadStats[]): Promise<void> {
    if (stats.length === 0) return;
    await this.db
      .insertInto('workload_stats')
      .values(
        stats.map((s) => ({
          node_id: nodeId,
          deployment: s.deployment,
          revision: s.revision,
          interval_start: s.intervalStart,
          interval_end: s.intervalEnd,
          requests: s.requests,
          errors: s.errors,
          restarts: s.restarts,
          fallback: s.fallback ? 1 : 0,
          latency: JSON.stringify(s.latency),
        })),
      )
      .execute();
  }

  async listWorkloadStats(deployment: string, from: number): Promise<Array<WorkloadStats & { nodeId: string }>> {
    const rows = await this.db.selectFrom('workload_stats').selectAll().where('deployment', '=', deployment).where('interval_end', '>', from).execute();
    return rows.map((r) => ({
      nodeId: r.node_id,
      deployment: r.deployment,
      revision: num(r.revision),
      intervalStart: num(r.interval_start),
      intervalEnd: num(r.interval_end),
      requests: num(r.requests),
      errors: num(r.errors),
      restarts: num(r.restarts),
      fallback: num(r.fallback) === 1,
      latency: JSON.parse(r.latency) as WorkloadStats['latency'],
    }));
  }

  async pruneWorkloadStats(before: number): Promise<number> {
    const r = await this.db.deleteFrom('workload_stats').where('interval_end', '<', before).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  async getRollout(deployment: string): Promise<unknown | undefined> {
    const r = await this.db.selectFrom('rollouts').select('state').where('deployment', '=', deployment).executeTakeFirst();
    return r === undefined ? undefined : (JSON.parse(r.state) as unknown);
  }

  async listRollouts(): Promise<Array<{ deployment: string; state: unknown }>> {
    const rows = await this.db.selectFrom('rollouts').selectAll().orderBy('deployment').execute();
    return rows.map((r) => ({ deployment: r.deployment, state: JSON.parse(r.state) as unknown }));
  }

  async saveRollout(
    deployment: string,
    state: unknown,
    events: Array<{ seq: number; at: number; event: unknown }>,
    consumedCommands: string[],
    at: number,
  ): Promise<void> {
    await this.atomically(async (tx) => {
      const row = { state: JSON.stringify(state), updated_at: at };
      const updated = await tx.updateTable('rollouts').set(row).where('deployment', '=', deployment).executeTakeFirst();
      if (Number(updated.numUpdatedRows) === 0)
        await tx
          .insertInto('rollouts')
          .values({ ...row, deployment })
          .execute();
      if (events.length > 0) {
        await tx
          .insertInto('rollout_events')
          .values(events.map((e) => ({ deployment, seq: e.seq, at: e.at, event: JSON.stringify(e.event) })))
          .execute();
      }
      if (consumedCommands.length > 0) await tx.deleteFrom('rollout_commands').where('id', 'in', consumedCommands).execute();
      await bumpCounter(tx, 'desired_inputs');
    });
  }

  async deleteRollout(deployment: string): Promise<void> {
    await this.atomically(async (tx) => {
      await tx.deleteFrom('rollouts').where('deployment', '=', deployment).execute();
      await tx.deleteFrom('rollout_commands').where('deployment', '=', deployment).execute();
      await bumpCounter(tx, 'desired_inputs');
    });
  }

  async listRolloutEvents(filter: { deployment?: string; limit: number }): Promise<Array<{ deployment: string; seq: number; at: number; event: unknown }>> {
    let q = this.db.selectFrom('rollout_events').selectAll();
    if (filter.deployment !== undefined) q = q.where('deployment', '=', filter.deployment);
    const rows = await q.orderBy('at', 'desc').orderBy('seq', 'desc').limit(filter.limit).execute();
    return rows.reverse().map((r) => ({ deployment: r.deployment, seq: num(r.seq), at: num(r.at), event: JSON.parse(r.event) as unknown }));
  }

  async enqueueRolloutCommand(c: RolloutCommandRecord): Promise<void> {
    await this.db
      .insertInto('rollout_commands')
      .values({ id: c.id, deployment: c.deployment, command: JSON.stringify(c.command), created_at: c.createdAt })
      .execute();
  }

  async listRolloutCommands(deployment: string): Promise<RolloutCommandRecord[]> {
    const rows = await this.db.selectFrom('rollout_commands').selectAll().where('deployment', '=', deployment).orderBy('created_at').orderBy('id').execute();
    return rows.map((r) => ({ id: r.id, deployment: r.deployment, command: JSON.parse(r.command) as Record<string, unknown>, createdAt: num(r.created_at) }));
  }

  async getRolloutStall(deployment: string): Promise<RolloutStallRecord | undefined> {
    const r = await this.db.selectFrom('rollout_stalls').selectAll().where('deployment', '=', deployment).executeTakeFirst();
    return r === undefined ? undefined : toRolloutStall(r);
  }

  async listRolloutStalls(): Promise<RolloutStallRecord[]> {
    return (await this.db.selectFrom('rollout_stalls').selectAll().orderBy('deployment').execute()).map(toRolloutStall);
  }

  async saveRolloutStall(stall: RolloutStallRecord): Promise<void> {
    const row = { reason: stall.reason, message: stall.message, revision: stall.revision, since: stall.since };
    await this.atomically(async (tx) => {
      const updated = await tx.updateTable('rollout_stalls').set(row).where('deployment', '=', stall.deployment).executeTakeFirst();
      if (Number(updated.numUpdatedRows) === 0)
        await tx
          .insertInto('rollout_stalls')
          .values({ ...row, deployment: stall.deployment })
          .execute();
    });
  }

  async clearRolloutStall(deployment: string): Promise<boolean> {
    const r = await this.db.deleteFrom('rollout_stalls').where('deployment', '=', deployment).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async acceptMetrics(nodeId: string, cursor: UploadCursor, at: number, latest: LatestSample[], alerts: NodeAlertRecord[]): Promise<boolean> {
    return this.atomically(async (tx) => {
      const row = await tx.selectFrom('node_telemetry').selectAll().where('node_id', '=', nodeId).executeTakeFirst();
      if (row !== undefined && row.metrics_stream === cursor.stream && row.metrics_seq !== null && num(row.metrics_seq) >= cursor.seq) return false;
      const merged = new Map<string, LatestSample>();
      for (const s of row === undefined ? [] : (JSON.parse(row.latest) as LatestSample[])) merged.set(sampleKey(s), s);
      for (const s of latest) {
        const old = merged.get(sampleKey(s));
        if (old === undefined || old.t <= s.t) merged.set(sampleKey(s), s);
      }
      const values = { metrics_stream: cursor.stream, metrics_seq: cursor.seq, last_upload_at: at, latest: JSON.stringify([...merged.values()]) };
      if (row === undefined)
        await tx
          .insertInto('node_telemetry')
          .values({ node_id: nodeId, ...values })
          .execute();
      else await tx.updateTable('node_telemetry').set(values).where('node_id', '=', nodeId).execute();
      for (const a of alerts) {
        const record = {
          name: a.name,
          state: a.state,
          severity: a.severity,
          since: a.since,
          message: a.message,
          labels: JSON.stringify(a.labels),
          reported_at: a.reportedAt,
        };
        await tx
          .insertInto('node_alerts')
          .values({ node_id: nodeId, alert_key: alertKey(a), ...record })
          .onConflict((oc) => oc.columns(['node_id', 'alert_key']).doUpdateSet(record))
          .execute();
      }
      return true;
    });
  }

  async acceptLogs(nodeId: string, cursor: UploadCursor, at: number, lines: Omit<LogRecord, 'id' | 'nodeId'>[]): Promise<boolean> {
    return this.atomically(async (tx) => {
      const row = await tx.selectFrom('node_telemetry').selectAll().where('node_id', '=', nodeId).executeTakeFirst();
      if (row !== undefined && row.logs_stream === cursor.stream && row.logs_seq !== null && num(row.logs_seq) >= cursor.seq) return false;
      if (row === undefined)
        await tx.insertInto('node_telemetry').values({ node_id: nodeId, logs_stream: cursor.stream, logs_seq: cursor.seq, latest: '[]' }).execute();
      else await tx.updateTable('node_telemetry').set({ logs_stream: cursor.stream, logs_seq: cursor.seq }).where('node_id', '=', nodeId).execute();
      // Chunked: PostgreSQL allows 65,535 parameters per statement.
      for (let i = 0; i < lines.length; i += 500) {
        await tx
          .insertInto('node_logs')
          .values(
            lines.slice(i, i + 500).map((l) => ({
              node_id: nodeId,
              ts_ns: l.tsNs,
              at: l.at,
              received_at: at,
              source: l.source,
              revision: l.revision,
              stream: l.stream,
              level: l.level,
              line: l.line,
            })),
          )
          .execute();
      }
      return true;
    });
  }

  async getNodeTelemetry(nodeId: string): Promise<{ lastUploadAt: number | null; latest: LatestSample[] } | undefined> {
    const row = await this.db.selectFrom('node_telemetry').selectAll().where('node_id', '=', nodeId).executeTakeFirst();
    if (row === undefined) return undefined;
    return { lastUploadAt: row.last_upload_at === null ? null : num(row.last_upload_at), latest: JSON.parse(row.latest) as LatestSample[] };
  }

  async listNodeTelemetry(): Promise<Array<{ nodeId: string; lastUploadAt: number | null; latest: LatestSample[] }>> {
    const rows = await this.db.selectFrom('node_telemetry').selectAll().execute();
    return rows.map((row) => ({
      nodeId: row.node_id,
      lastUploadAt: row.last_upload_at === null ? null : num(row.last_upload_at),
      latest: JSON.parse(row.latest) as LatestSample[],
    }));
  }

  async listAlerts(filter: { nodeId?: string; state?: 'firing' | 'resolved' }): Promise<NodeAlertRecord[]> {
    let q = this.db.selectFrom('node_alerts').selectAll();
    if (filter.nodeId !== undefined) q = q.where('node_id', '=', filter.nodeId);
    if (filter.state !== undefined) q = q.where('state', '=', filter.state);
    const rows = await q.orderBy('since', 'desc').execute();
    return rows.map((r) => ({
      nodeId: r.node_id,
      name: r.name,
      state: r.state as NodeAlertRecord['state'],
      severity: r.severity as NodeAlertRecord['severity'],
      since: num(r.since),
      message: r.message,
      labels: JSON.parse(r.labels) as Record<string, string>,
      reportedAt: num(r.reported_at),
    }));
  }

  async listLogs(filter: { nodeId: string; source?: string; since?: number; afterId?: number; limit: number }): Promise<LogRecord[]> {
    let q = this.db.selectFrom('node_logs').selectAll().where('node_id', '=', filter.nodeId);
    if (filter.source !== undefined) q = q.where('source', '=', filter.source);
    if (filter.since !== undefined) q = q.where('at', '>=', filter.since);
    if (filter.afterId !== undefined) q = q.where('id', '>', filter.afterId);
    const rows = await q.orderBy('id').limit(filter.limit).execute();
    return rows.map((r) => ({
      id: num(r.id),
      nodeId: r.node_id,
      tsNs: r.ts_ns,
      at: num(r.at),
      source: r.source,
      revision: r.revision === null ? null : num(r.revision),
      stream: r.stream,
      level: r.level,
      line: r.line,
    }));
  }

  async pruneTelemetry(before: number): Promise<number> {
    const logs = await this.db.deleteFrom('node_logs').where('received_at', '<', before).executeTakeFirst();
    const alerts = await this.db.deleteFrom('node_alerts').where('state', '=', 'resolved').where('reported_at', '<', before).executeTakeFirst();
    return Number(logs.numDeletedRows) + Number(alerts.numDeletedRows);
  }

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

  async desiredStateMarks(): Promise<DesiredStateMarks> {
    // One statement of small aggregates: the tables are a few rows per deployment, and the
    // rollout states (which can list every node) are not read.
    const { rows } = await sql<Record<string, number | string | null>>`
      select
        (select value from change_counters where name = 'node_changes') as node_changes,
        (select value from change_counters where name = 'desired_inputs') as inputs,
        (select count(*) from deployments) as deployments,
        (select sum(updated_at) from deployments) as deployments_updated,
        (select sum(generation) from deployments) as generations,
        (select sum(revision) from deployments) as deployment_revisions,
        (select count(*) from revisions) as revisions,
        (select count(*) from rollouts) as rollouts,
        (select sum(updated_at) from rollouts) as rollouts_updated,
        (select count(*) from release_keys) as release_keys`.execute(this.db);
    const { node_changes: nodeChanges, ...inputs } = rows[0] ?? {};
    return { inputs: Object.values(inputs).map(String).join(':'), nodeChanges: num(nodeChanges ?? 0) };
  }

  async listNodeChanges(afterGeneration: number): Promise<NodeChange[]> {
    const rows = await this.db.selectFrom('node_changes').selectAll().where('generation', '>', afterGeneration).orderBy('generation').execute();
    return rows.map((r) => ({ generation: num(r.generation), nodeId: r.node_id }));
  }
}

function toRolloutStall(r: Database['rollout_stalls']): RolloutStallRecord {
  return { deployment: r.deployment, reason: r.reason, message: r.message, revision: num(r.revision), since: num(r.since) };
}

/** Identity of a series among a node's latest values. */
function sampleKey(s: { name: string; labels: Record<string, string> }): string {
  return `${s.name}${JSON.stringify(Object.entries(s.labels).sort(([a], [b]) => (a < b ? -1 : 1)))}`;
}

/** Identity of an alert of a node: its name and labels (one per workload for crash loops). */
function alertKey(a: { name: string; labels: Record<string, string> }): string {
  return sampleKey(a);
}

/** True when a write failed on a UNIQUE constraint (SQLite or PostgreSQL); `column` narrows it. */
export function isUniqueViolation(err: unknown, column?: string): boolean {
  const e = err as { code?: string; message?: string; detail?: string; constraint?: string };
  const unique = e.code === 'SQLITE_CONSTRAINT_UNIQUE' || e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || e.code === '23505';
  if (!unique || column === undefined) return unique;
  return `${e.message ?? ''} ${e.detail ?? ''} ${e.constraint ?? ''}`.includes(column);
}
