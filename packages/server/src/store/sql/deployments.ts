import type { DeploymentSpec, KeyRevocation, Release } from '@edgefleet/protocol';
import { type Kysely, sql } from 'kysely';
import type {
  DeploymentRecord,
  DeploymentRepository,
  DeploymentWrite,
  DesiredStateMarks,
  ReleaseKeyRecord,
  RevisionRecord,
  SourceCondition,
  SourceRecord,
  SourceStatusRecord,
} from '../deployments.js';
import type { Database } from '../schema.js';
import { atomically } from './atomically.js';
import { bumpCounter } from './change-counters.js';
import { num, numOrNull } from './columns.js';

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

/** {@link DeploymentRepository} over Kysely. */
export class SqlDeploymentRepository implements DeploymentRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async getDeployment(name: string): Promise<DeploymentRecord | undefined> {
    const r = await this.db.selectFrom('deployments').selectAll().where('name', '=', name).executeTakeFirst();
    return r === undefined ? undefined : toDeployment(r);
  }

  async listDeployments(): Promise<DeploymentRecord[]> {
    return (await this.db.selectFrom('deployments').selectAll().orderBy('name').execute()).map(toDeployment);
  }

  async writeDeployments(writes: DeploymentWrite[], deletes: string[]): Promise<void> {
    await atomically(this.db, async (tx) => {
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

  async addReleaseKey(k: ReleaseKeyRecord): Promise<void> {
    await atomically(this.db, async (tx) => {
      await tx
        .insertInto('release_keys')
        .values({
          key_id: k.keyId,
          public_key: k.publicKey,
          signed_by: k.signedBy,
          signature: k.signature,
          created_at: k.createdAt,
          expires_at: k.expiresAt,
          revoked_at: k.revocation?.revokedAt ?? null,
          revoked_by: k.revocation?.signedBy ?? null,
          revocation_signature: k.revocation?.signature ?? null,
        })
        .execute();
      await bumpCounter(tx, 'desired_inputs');
    });
  }

  async listReleaseKeys(): Promise<ReleaseKeyRecord[]> {
    const rows = await this.db.selectFrom('release_keys').selectAll().orderBy('created_at').orderBy('key_id').execute();
    return rows.map((r) => ({
      keyId: r.key_id,
      publicKey: r.public_key,
      signedBy: r.signed_by,
      signature: r.signature,
      expiresAt: r.expires_at,
      revocation:
        r.revoked_at === null || r.revoked_by === null || r.revocation_signature === null
          ? null
          : { revokedAt: r.revoked_at, signedBy: r.revoked_by, signature: r.revocation_signature },
      createdAt: num(r.created_at),
    }));
  }

  async revokeReleaseKey(keyId: string, revocation: KeyRevocation): Promise<boolean> {
    return atomically(this.db, async (tx) => {
      const updated = await tx
        .updateTable('release_keys')
        .set({ revoked_at: revocation.revokedAt, revoked_by: revocation.signedBy, revocation_signature: revocation.signature })
        .where('key_id', '=', keyId)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      if (Number(updated.numUpdatedRows) === 0) return false;
      await bumpCounter(tx, 'desired_inputs');
      return true;
    });
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
}
