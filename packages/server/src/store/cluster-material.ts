/**
 * What replicas on PostgreSQL share instead of a data dir (migration 0018): named values,
 * the fleet CA and the registry-password key sealed under the cluster secret
 * (cluster/material.ts seals and opens them; the store only keeps text). Written once, by
 * the first replica; never updated in place.
 */
export interface ClusterMaterialRepository {
  /** Every stored value by name (empty until a replica has initialized the cluster). */
  listClusterMaterial(): Promise<Map<string, string>>;
  /**
   * Inserts the values whose name is absent and leaves present ones untouched, in one
   * statement, so two replicas initializing at once cannot mix their values; callers
   * re-read to learn which won.
   */
  insertClusterMaterialIfAbsent(values: Record<string, string>, at: number): Promise<void>;
}
