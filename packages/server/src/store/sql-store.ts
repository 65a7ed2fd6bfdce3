import { EdgefleetError } from '@edgefleet/protocol';
import { type Kysely, Migrator } from 'kysely';
import type { ArtifactChunkRepository } from './artifact-chunks.js';
import type { AuditRepository } from './audit.js';
import type { ClusterMaterialRepository } from './cluster-material.js';
import type { DeploymentRepository } from './deployments.js';
import type { ForwardTotalsRepository } from './forward-totals.js';
import type { LatencyHistoryRepository } from './latency-history.js';
import type { LeaseRepository } from './leases.js';
import type { AdvisoryLocks } from './locks.js';
import type { MetaRepository } from './meta.js';
import { checkMigrationHistory, type MigrationHistory, readMigrationHistory } from './migration-history.js';
import { migrations } from './migrations.js';
import type { NodeRepository } from './nodes.js';
import type { RegistryRepository } from './registries.js';
import type { RolloutRepository } from './rollouts.js';
import type { Database } from './schema.js';
import { SqlArtifactChunkRepository } from './sql/artifact-chunks.js';
import { SqlAuditRepository } from './sql/audit.js';
import { SqlClusterMaterialRepository } from './sql/cluster-material.js';
import { SqlDeploymentRepository } from './sql/deployments.js';
import type { DirectReads } from './sql/direct-reads.js';
import { SqlForwardTotalsRepository } from './sql/forward-totals.js';
import { SqlLatencyHistoryRepository } from './sql/latency-history.js';
import { SqlLeaseRepository } from './sql/leases.js';
import { SqlAdvisoryLocks } from './sql/locks.js';
import { SqlMetaRepository } from './sql/meta.js';
import { SqlNodeRepository } from './sql/nodes.js';
import { SqlRegistryRepository } from './sql/registries.js';
import { SqlRolloutRepository } from './sql/rollouts.js';
import { SqlTelemetryRepository } from './sql/telemetry.js';
import { SqlTokenRepository } from './sql/tokens.js';
import type { TelemetryRepository } from './telemetry.js';
import type { TokenRepository } from './tokens.js';
import type { Repositories, Store } from './types.js';

/**
 * The repositories over one Kysely instance: the pool, or one transaction. A base class so
 * that {@link SqlStore}'s field initializers, which bind its flat methods, run after the
 * repositories exist.
 */
abstract class SqlRepositories implements Repositories {
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
  readonly clusterMaterial: ClusterMaterialRepository;
  readonly artifactChunks: ArtifactChunkRepository;
  readonly leases: LeaseRepository;
  readonly forwardTotals: ForwardTotalsRepository;

  /**
   * `reads`: the direct reads of the hot path (sql/direct-reads.ts), only for the store over
   * the pool; inside a transaction every read goes through it, to see its own writes.
   */
  constructor(
    readonly dialect: Store['dialect'],
    protected readonly db: Kysely<Database>,
    protected readonly reads?: DirectReads,
  ) {
    this.meta = new SqlMetaRepository(db);
    this.tokens = new SqlTokenRepository(dialect, db);
    this.nodes = new SqlNodeRepository(db, reads);
    this.registries = new SqlRegistryRepository(db);
    this.deployments = new SqlDeploymentRepository(db);
    this.rollouts = new SqlRolloutRepository(db);
    this.telemetry = new SqlTelemetryRepository(db, reads);
    this.latencyHistory = new SqlLatencyHistoryRepository(dialect, db);
    this.audit = new SqlAuditRepository(db);
    this.locks = new SqlAdvisoryLocks(dialect, db);
    this.clusterMaterial = new SqlClusterMaterialRepository(db);
    this.artifactChunks = new SqlArtifactChunkRepository(db);
    this.leases = new SqlLeaseRepository(dialect, db);
    this.forwardTotals = new SqlForwardTotalsRepository(db);
  }
}

/**
 * The store over Kysely. The same queries run on SQLite and PostgreSQL; the only
 * differences live in the dialect the caller passes and the migration for an
 * auto-incrementing column. Each aggregate's queries live in its own module under sql/;
 * this class composes them, once over the pool and once per transaction.
 */
export class SqlStore extends SqlRepositories implements Store {
  // The flat methods of Store: each is its repository's own method, bound, so
  // `store.getNode` and `store.nodes.getNode` are one behaviour (and a test may still
  // replace a flat one on an instance to count calls).
  readonly getMeta = this.meta.getMeta.bind(this.meta);
  readonly setMeta = this.meta.setMeta.bind(this.meta);
  readonly setMetaIfAbsent = this.meta.setMetaIfAbsent.bind(this.meta);

  readonly createApiToken = this.tokens.createApiToken.bind(this.tokens);
  readonly getApiToken = this.tokens.getApiToken.bind(this.tokens);
  readonly listApiTokens = this.tokens.listApiTokens.bind(this.tokens);
  readonly deleteApiToken = this.tokens.deleteApiToken.bind(this.tokens);
  readonly countApiTokens = this.tokens.countApiTokens.bind(this.tokens);
  readonly deleteApiTokenUnlessLastAdmin = this.tokens.deleteApiTokenUnlessLastAdmin.bind(this.tokens);
  readonly touchApiToken = this.tokens.touchApiToken.bind(this.tokens);
  readonly createBootstrapToken = this.tokens.createBootstrapToken.bind(this.tokens);
  readonly getBootstrapToken = this.tokens.getBootstrapToken.bind(this.tokens);
  readonly listBootstrapTokens = this.tokens.listBootstrapTokens.bind(this.tokens);
  readonly deleteBootstrapToken = this.tokens.deleteBootstrapToken.bind(this.tokens);
  readonly consumeBootstrapToken = this.tokens.consumeBootstrapToken.bind(this.tokens);
  readonly recordBootstrapTokenEnrollment = this.tokens.recordBootstrapTokenEnrollment.bind(this.tokens);
  readonly listBootstrapTokensOfBatch = this.tokens.listBootstrapTokensOfBatch.bind(this.tokens);

  readonly createNode = this.nodes.createNode.bind(this.nodes);
  readonly updateNode = this.nodes.updateNode.bind(this.nodes);
  readonly getNode = this.nodes.getNode.bind(this.nodes);
  readonly getNodeByName = this.nodes.getNodeByName.bind(this.nodes);
  readonly getNodeByHardwareSerial = this.nodes.getNodeByHardwareSerial.bind(this.nodes);
  readonly setEnrollmentKey = this.nodes.setEnrollmentKey.bind(this.nodes);
  readonly getNodeByEnrollmentKey = this.nodes.getNodeByEnrollmentKey.bind(this.nodes);
  readonly listNodes = this.nodes.listNodes.bind(this.nodes);
  readonly listNodeLabels = this.nodes.listNodeLabels.bind(this.nodes);
  readonly listNodesById = this.nodes.listNodesById.bind(this.nodes);
  readonly recordHeartbeat = this.nodes.recordHeartbeat.bind(this.nodes);
  readonly setOperatorLabels = this.nodes.setOperatorLabels.bind(this.nodes);
  readonly decommissionNode = this.nodes.decommissionNode.bind(this.nodes);
  readonly recordCertificate = this.nodes.recordCertificate.bind(this.nodes);
  readonly getCertificate = this.nodes.getCertificate.bind(this.nodes);
  readonly listCertificates = this.nodes.listCertificates.bind(this.nodes);
  readonly getCertificateByFingerprint = this.nodes.getCertificateByFingerprint.bind(this.nodes);
  readonly fillCertificateFingerprint = this.nodes.fillCertificateFingerprint.bind(this.nodes);
  readonly markCertificateUsed = this.nodes.markCertificateUsed.bind(this.nodes);
  readonly revokeCertificates = this.nodes.revokeCertificates.bind(this.nodes);
  readonly listNodeChanges = this.nodes.listNodeChanges.bind(this.nodes);

  readonly putRegistry = this.registries.putRegistry.bind(this.registries);
  readonly getRegistry = this.registries.getRegistry.bind(this.registries);
  readonly listRegistries = this.registries.listRegistries.bind(this.registries);
  readonly deleteRegistry = this.registries.deleteRegistry.bind(this.registries);

  readonly getDeployment = this.deployments.getDeployment.bind(this.deployments);
  readonly listDeployments = this.deployments.listDeployments.bind(this.deployments);
  readonly writeDeployments = this.deployments.writeDeployments.bind(this.deployments);
  readonly getRevision = this.deployments.getRevision.bind(this.deployments);
  readonly listRevisions = this.deployments.listRevisions.bind(this.deployments);
  readonly listCurrentRevisions = this.deployments.listCurrentRevisions.bind(this.deployments);
  readonly addReleaseKey = this.deployments.addReleaseKey.bind(this.deployments);
  readonly listReleaseKeys = this.deployments.listReleaseKeys.bind(this.deployments);
  readonly revokeReleaseKey = this.deployments.revokeReleaseKey.bind(this.deployments);
  readonly createSource = this.deployments.createSource.bind(this.deployments);
  readonly getSource = this.deployments.getSource.bind(this.deployments);
  readonly listSources = this.deployments.listSources.bind(this.deployments);
  readonly updateSourceStatus = this.deployments.updateSourceStatus.bind(this.deployments);
  readonly deleteSource = this.deployments.deleteSource.bind(this.deployments);
  readonly desiredStateMarks = this.deployments.desiredStateMarks.bind(this.deployments);

  readonly getRollout = this.rollouts.getRollout.bind(this.rollouts);
  readonly listRollouts = this.rollouts.listRollouts.bind(this.rollouts);
  readonly saveRollout = this.rollouts.saveRollout.bind(this.rollouts);
  readonly deleteRollout = this.rollouts.deleteRollout.bind(this.rollouts);
  readonly listRolloutEvents = this.rollouts.listRolloutEvents.bind(this.rollouts);
  readonly enqueueRolloutCommand = this.rollouts.enqueueRolloutCommand.bind(this.rollouts);
  readonly listRolloutCommands = this.rollouts.listRolloutCommands.bind(this.rollouts);
  readonly getRolloutStall = this.rollouts.getRolloutStall.bind(this.rollouts);
  readonly listRolloutStalls = this.rollouts.listRolloutStalls.bind(this.rollouts);
  readonly saveRolloutStall = this.rollouts.saveRolloutStall.bind(this.rollouts);
  readonly clearRolloutStall = this.rollouts.clearRolloutStall.bind(this.rollouts);

  readonly replaceNodeWorkloads = this.telemetry.replaceNodeWorkloads.bind(this.telemetry);
  readonly listNodeWorkloads = this.telemetry.listNodeWorkloads.bind(this.telemetry);
  readonly insertWorkloadStats = this.telemetry.insertWorkloadStats.bind(this.telemetry);
  readonly listWorkloadStats = this.telemetry.listWorkloadStats.bind(this.telemetry);
  readonly pruneWorkloadStats = this.telemetry.pruneWorkloadStats.bind(this.telemetry);
  readonly acceptMetrics = this.telemetry.acceptMetrics.bind(this.telemetry);
  readonly acceptLogs = this.telemetry.acceptLogs.bind(this.telemetry);
  readonly getNodeTelemetry = this.telemetry.getNodeTelemetry.bind(this.telemetry);
  readonly listNodeTelemetry = this.telemetry.listNodeTelemetry.bind(this.telemetry);
  readonly listAlerts = this.telemetry.listAlerts.bind(this.telemetry);
  readonly listLogs = this.telemetry.listLogs.bind(this.telemetry);
  readonly pruneTelemetry = this.telemetry.pruneTelemetry.bind(this.telemetry);

  readonly addLatencyHistory = this.latencyHistory.addLatencyHistory.bind(this.latencyHistory);
  readonly listLatencyHistory = this.latencyHistory.listLatencyHistory.bind(this.latencyHistory);
  readonly pruneLatencyHistory = this.latencyHistory.pruneLatencyHistory.bind(this.latencyHistory);

  readonly appendAudit = this.audit.appendAudit.bind(this.audit);
  readonly listAudit = this.audit.listAudit.bind(this.audit);

  readonly withAdvisoryLock = this.locks.withAdvisoryLock.bind(this.locks);

  /**
   * Runs `work` as one unit of work: every write through the `tx` store it is given (its
   * flat methods or its repositories) commits together or not at all. `tx` composes the
   * same repositories over the transaction, and each repository's multi-statement writes
   * join it instead of committing alone (see sql/atomically.ts). Inside a transaction it
   * simply runs on the same one (units nest). Use only `tx` inside `work`: on SQLite the
   * transaction holds the one connection, so a call on the outer store would wait for it
   * forever.
   */
  async transaction<T>(work: (tx: Store) => Promise<T>): Promise<T> {
    if (this.db.isTransaction) return work(this);
    return this.db.transaction().execute((trx) => work(new SqlStore(this.dialect, trx)));
  }

  /**
   * What the database's migration history meant at start (migration-history.ts): `current`,
   * or `compatible` when a newer replica already migrated it and declared its schema
   * compatible with this server. Undefined before {@link migrate}.
   */
  migrationHistory: MigrationHistory | undefined;

  /**
   * Applies pending migrations, or none on a database a newer edgefleet migrated and declared
   * compatible with this one (a rolling upgrade); refuses any other history it does not know.
   */
  async migrate(): Promise<MigrationHistory> {
    const provider = migrations(this.dialect);
    const known = Object.keys(await provider.getMigrations());
    const db = this.db as unknown as Kysely<unknown>;
    const history = checkMigrationHistory(known, await readMigrationHistory(db));
    this.migrationHistory = history;
    if (history.mode === 'compatible') return history;
    const migrator = new Migrator({
      db: this.db,
      provider,
      migrationTableName: 'edgefleet_migrations',
      migrationLockTableName: 'edgefleet_migrations_lock',
      // 0015_registries shipped after 0016_provision: databases that already ran 0016 must
      // still apply 0015 (Kysely refuses a pending migration that sorts before an executed
      // one unless told otherwise). Migrations stay independent of each other's order.
      allowUnorderedMigrations: true,
    });
    const { error, results } = await migrator.migrateToLatest();
    if (error !== undefined) {
      // A newer replica may have migrated between the check and the migrator's lock: judge
      // the history again, so this one starts compatible or says why it cannot.
      const again = checkMigrationHistory(known, await readMigrationHistory(db));
      if (again.mode === 'compatible') {
        this.migrationHistory = again;
        return again;
      }
      const failed = results?.find((r) => r.status === 'Error')?.migrationName;
      throw new EdgefleetError({
        code: 'startup_failed',
        message: `database migration ${failed ?? ''} failed: ${error instanceof Error ? error.message : String(error)}`.replace('  ', ' '),
        hint: 'check that the database is reachable and that its user may create and alter tables',
        cause: error,
      });
    }
    return history;
  }

  async close(): Promise<void> {
    this.reads?.close();
    await this.db.destroy();
  }
}

/** True when a write failed on a UNIQUE constraint (SQLite or PostgreSQL); `column` narrows it. */
export function isUniqueViolation(err: unknown, column?: string): boolean {
  const e = err as { code?: string; message?: string; detail?: string; constraint?: string };
  const unique = e.code === 'SQLITE_CONSTRAINT_UNIQUE' || e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || e.code === '23505';
  if (!unique || column === undefined) return unique;
  return `${e.message ?? ''} ${e.detail ?? ''} ${e.constraint ?? ''}`.includes(column);
}
