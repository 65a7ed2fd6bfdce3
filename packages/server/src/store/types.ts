import type { ArtifactChunkRepository } from './artifact-chunks.js';
import type { AuditRepository } from './audit.js';
import type { ClusterMaterialRepository } from './cluster-material.js';
import type { DeploymentRepository } from './deployments.js';
import type { ForwardTotalsRepository } from './forward-totals.js';
import type { LatencyHistoryRepository } from './latency-history.js';
import type { LeaseRepository } from './leases.js';
import type { AdvisoryLocks } from './locks.js';
import type { MetaRepository } from './meta.js';
import type { MigrationHistory } from './migration-history.js';
import type { NodeRepository } from './nodes.js';
import type { RegistryRepository } from './registries.js';
import type { RolloutRepository } from './rollouts.js';
import type { TelemetryRepository } from './telemetry.js';
import type { TokenRepository } from './tokens.js';

export type * from './artifact-chunks.js';
// Every record type, from beside its repository: `import type { NodeRecord } from './types.js'` keeps working.
export type * from './audit.js';
export type * from './cluster-material.js';
export type * from './deployments.js';
export type * from './forward-totals.js';
export type * from './latency-history.js';
export type * from './leases.js';
export type * from './locks.js';
export type * from './meta.js';
export type * from './nodes.js';
export type * from './registries.js';
export type * from './rollouts.js';
export type * from './telemetry.js';
export type * from './tokens.js';

/**
 * The repositories of a store, one per aggregate, each the narrow view new code can
 * depend on (`store.nodes.getNode(id)`, `tx.audit.appendAudit(entry)`).
 */
export interface Repositories {
  readonly meta: MetaRepository;
  readonly tokens: TokenRepository;
  readonly nodes: NodeRepository;
  readonly registries: RegistryRepository;
  readonly deployments: DeploymentRepository;
  readonly rollouts: RolloutRepository;
  readonly telemetry: TelemetryRepository;
  readonly latencyHistory: LatencyHistoryRepository;
  readonly audit: AuditRepository;
  readonly locks: AdvisoryLocks;
  /** Sealed CA and keys replicas on PostgreSQL share (cluster/material.ts). */
  readonly clusterMaterial: ClusterMaterialRepository;
  /** Artifacts as chunks, for replicas on PostgreSQL (artifacts/database-store.ts). */
  readonly artifactChunks: ArtifactChunkRepository;
  /** The leader lease and its fence (only as `store.leases.…`; see leader/). */
  readonly leases: LeaseRepository;
  /** Totals forwarded to Prometheus, shared by replicas (only as `store.forwardTotals.…`). */
  readonly forwardTotals: ForwardTotalsRepository;
}

/**
 * What the control plane keeps, implemented over SQLite (single server) and PostgreSQL
 * (several replicas). Times are milliseconds since 1970 (UTC). Secrets are never stored:
 * tokens by SHA-256 hash only, private keys never in clear (the CA key lives in the data
 * dir, or, for replicas on PostgreSQL, sealed under the cluster secret: cluster/material.ts). Every method is a single statement or a transaction, so replicas
 * sharing a database never see half-written state.
 *
 * The store is every repository at once: `store.getNode(id)` and `store.nodes.getNode(id)`
 * are the same call (the flat one is the repository's method, bound), on the store and on
 * a transaction's `tx` alike.
 */
export interface Store
  extends Repositories,
    MetaRepository,
    TokenRepository,
    NodeRepository,
    RegistryRepository,
    DeploymentRepository,
    RolloutRepository,
    TelemetryRepository,
    LatencyHistoryRepository,
    AuditRepository,
    AdvisoryLocks {
  readonly dialect: 'sqlite' | 'postgres';
  /** What the database's migration history meant at start: `compatible` during a rolling upgrade (migration-history.ts). */
  readonly migrationHistory?: MigrationHistory | undefined;
  close(): Promise<void>;

  /**
   * One unit of work: every write made through `tx` (its flat methods or its repositories)
   * commits together or not at all (a change and its audit entry, a check and the delete
   * it guards). Nested calls join the outer transaction. Inside `work` use only `tx`: on
   * SQLite the transaction holds the one connection, so the outer store would wait for it
   * forever.
   */
  transaction<T>(work: (tx: Store) => Promise<T>): Promise<T>;
}
