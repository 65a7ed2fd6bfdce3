import type { Kysely } from 'kysely';
import type { ClusterMaterialRepository } from '../cluster-material.js';
import type { Database } from '../schema.js';

/** {@link ClusterMaterialRepository} over Kysely. */
export class SqlClusterMaterialRepository implements ClusterMaterialRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async listClusterMaterial(): Promise<Map<string, string>> {
    const rows = await this.db.selectFrom('cluster_material').select(['name', 'value']).execute();
    return new Map(rows.map((r) => [r.name, r.value]));
  }

  async insertClusterMaterialIfAbsent(values: Record<string, string>, at: number): Promise<void> {
    const rows = Object.entries(values).map(([name, value]) => ({ name, value, created_at: at }));
    if (rows.length === 0) return;
    await this.db
      .insertInto('cluster_material')
      .values(rows)
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
  }
}
