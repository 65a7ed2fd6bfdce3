import type { DeploymentSpec, Labels, Release, Role, WorkloadStats, WorkloadStatus } from '@edgefleet/protocol';

/**
 * What the control plane keeps. Times are milliseconds since 1970 (UTC). Secrets are
 * never stored: tokens by SHA-256 hash only, private keys not at all (the CA key lives in
 * the data dir, not the database).
 */
export interface ApiTokenRecord {
  id: string;
  role: Role;
  name: string | null;
  secretHash: string;
  createdAt: number;
}

export interface BootstrapTokenRecord {
  id: string;
  secretHash: string;
  site: string | null;
  /** Labels every node enrolled with this token gets as operator labels. */
  labels: Labels;
  uses: number;
  usesLeft: number;
  expiresAt: number;
  createdAt: number;
  createdBy: string;
}

export interface NodeRecord {
  id: string;
  name: string;
  /** Board serial from the probe: a node re-enrolling with the same serial keeps its record. */
  hardwareSerial: string | null;
  /** Labels the node reports (probe, agent flags); refreshed on every heartbeat. */
  detectedLabels: Labels;
  /** Labels an operator (or the bootstrap token) set; they win over detected ones. */
  operatorLabels: Labels;
  facts: Record<string, unknown>;
  certSerial: string;
  certNotAfter: number;
  lastSeen: number | null;
  createdAt: number;
}

export interface CertificateRecord {
  serial: string;
  nodeId: string;
  issuedAt: number;
  notAfter: number;
  revokedAt: number | null;
}

export interface AuditEvent {
  at: number;
  /** Who did it: `token:<id>` for an operator, `node:<id>` for an agent. */
  actor: string;
  action: string;
  target: string;
  details: Record<string, unknown>;
}

export interface DeploymentRecord {
  name: string;
  spec: DeploymentSpec;
  /** Bumped on every change of spec. */
  generation: number;
  /** The latest revision number (a new one for every change of spec.release). */
  revision: number;
  /** GitOps source that owns it, or null when applied by hand. */
  source: string | null;
  createdAt: number;
  updatedAt: number;
}

/** An immutable release of a deployment. */
export interface RevisionRecord {
  deployment: string;
  revision: number;
  release: Release;
  releaseDigest: string;
  /** Git commit it came from, when a source applied it. */
  commit: string | null;
  createdAt: number;
}

/** One change of an apply: the deployment's new record, and its new revision when the release changed. */
export interface DeploymentWrite {
  deployment: DeploymentRecord;
  newRevision: RevisionRecord | undefined;
}

/** What a node last reported about one deployment's workload. */
export interface NodeWorkloadRecord {
  nodeId: string;
  status: WorkloadStatus;
  updatedAt: number;
}

export interface ReleaseKeyRecord {
  keyId: string;
  publicKey: string;
  signedBy: string | null;
  signature: string | null;
  createdAt: number;
}

/** One condition of a GitOps source, as Flux writes them: a type, a status and a reason from a closed set. */
export interface SourceCondition {
  type: 'Ready' | 'Stalled' | 'Reconciling';
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

/** What the poller writes once per pass. */
export interface SourceStatusRecord {
  /** The commit whose manifests are in force, or null before the first good one. */
  lastAppliedRevision: string | null;
  /** The last commit a pass tried to apply (equal to lastAppliedRevision when it worked). */
  lastAttemptedRevision: string | null;
  conditions: SourceCondition[];
  /** The message of the last failed pass, or null after a good one. */
  lastError: string | null;
  /** When the last pass finished; null before the first one. */
  updatedAt: number | null;
}

/** A GitOps source: a git repository, branch and folder whose manifests the server applies. */
export interface SourceRecord extends SourceStatusRecord {
  name: string;
  /** An absolute path to a local repository (working or bare), or an http(s) URL. */
  url: string;
  branch: string;
  /** Folder (or single file) inside the repository, relative to its root; '' is the root. */
  path: string;
  intervalMs: number;
  createdAt: number;
}

/** A queued operator command for a rollout (pause, resume, promote, abort, undo). */
export interface RolloutCommandRecord {
  id: string;
  deployment: string;
  command: Record<string, unknown>;
  createdAt: number;
}

/**
 * A condition the rollout controller sets on a deployment whose rollout it cannot
 * reconcile (`Stalled`, status True), kept beside the rollout's state: the state may be
 * the very thing that cannot be read. No record: not stalled.
 */
export interface RolloutStallRecord {
  deployment: string;
  /** From a closed set: `RolloutStallReason` in controller/stall.ts. */
  reason: string;
  /** What is wrong and how to fix it, with the cause. */
  message: string;
  /** The deployment revision the controller saw when it stalled. */
  revision: number;
  /** When the deployment stalled for this reason and message (ms since the epoch). */
  since: number;
}

/** Why consuming a bootstrap token failed, when it did. */
/** The latest value of one series of a node (counters: the last interval's increase). */
export interface LatestSample {
  name: string;
  labels: Record<string, string>;
  kind: 'counter' | 'gauge' | 'histogram';
  t: number;
  value: number;
}

/** A node's local alert as last reported. */
export interface NodeAlertRecord {
  nodeId: string;
  name: string;
  state: 'firing' | 'resolved';
  severity: 'warning' | 'critical';
  since: number;
  message: string;
  labels: Record<string, string>;
  reportedAt: number;
}

/** A stored log line. */
export interface LogRecord {
  id: number;
  nodeId: string;
  tsNs: string;
  at: number;
  source: string;
  revision: number | null;
  stream: string;
  level: string;
  line: string;
}

/** Which upload of a node's queue this is: replays of an accepted `seq` are ignored. */
export interface UploadCursor {
  stream: string;
  seq: number;
}

export type ConsumeResult = { ok: true; token: BootstrapTokenRecord } | { ok: false; reason: 'unknown' | 'expired' | 'exhausted' };

/**
 * The one storage interface, implemented over SQLite (single server) and PostgreSQL
 * (several replicas). Every method is a single statement or a transaction, so replicas
 * sharing a database never see half-written state.
 */
export interface Store {
  readonly dialect: 'sqlite' | 'postgres';
  close(): Promise<void>;

  /**
   * One unit of work: every write made through `tx` commits together or not at all (a
   * change and its audit entry, a check and the delete it guards). Nested calls join the
   * outer transaction. Inside `work` use only `tx`: on SQLite the transaction holds the one
   * connection, so the outer store would wait for it forever.
   */
  transaction<T>(work: (tx: Store) => Promise<T>): Promise<T>;

  getMeta(key: string): Promise<string | undefined>;
  setMeta(key: string, value: string): Promise<void>;
  /** Sets `key` only when it has no value yet; returns the value that is stored after. */
  setMetaIfAbsent(key: string, value: string): Promise<string>;

  createApiToken(token: ApiTokenRecord): Promise<void>;
  getApiToken(id: string): Promise<ApiTokenRecord | undefined>;
  listApiTokens(): Promise<ApiTokenRecord[]>;
  deleteApiToken(id: string): Promise<boolean>;
  countApiTokens(role?: Role): Promise<number>;
  /**
   * Deletes an API token unless it is the last admin token, checking and deleting in one
   * transaction (admin rows locked on PostgreSQL), so concurrent deletes cannot remove
   * every admin.
   */
  deleteApiTokenUnlessLastAdmin(id: string): Promise<'deleted' | 'not_found' | 'last_admin'>;

  createBootstrapToken(token: BootstrapTokenRecord): Promise<void>;
  getBootstrapToken(id: string): Promise<BootstrapTokenRecord | undefined>;
  listBootstrapTokens(): Promise<BootstrapTokenRecord[]>;
  deleteBootstrapToken(id: string): Promise<boolean>;
  /**
   * Takes one use of a token atomically: of two concurrent calls for the last use, exactly
   * one succeeds.
   */
  consumeBootstrapToken(id: string, now: number): Promise<ConsumeResult>;

  createNode(node: NodeRecord): Promise<void>;
  /** Replaces a node's record (all fields but id and createdAt). */
  updateNode(node: NodeRecord): Promise<void>;
  getNode(id: string): Promise<NodeRecord | undefined>;
  getNodeByName(name: string): Promise<NodeRecord | undefined>;
  getNodeByHardwareSerial(serial: string): Promise<NodeRecord | undefined>;
  listNodes(): Promise<NodeRecord[]>;
  /** Records a heartbeat: detected labels, facts and last-seen time. */
  recordHeartbeat(id: string, detectedLabels: Labels | undefined, facts: Record<string, unknown> | undefined, at: number): Promise<void>;
  setOperatorLabels(id: string, labels: Labels): Promise<void>;
  /** Deletes the node and revokes every certificate issued to it, in one transaction. */
  decommissionNode(id: string, at: number): Promise<boolean>;

  /** Records a newly issued certificate and makes it the node's current one. */
  recordCertificate(cert: CertificateRecord): Promise<void>;
  getCertificate(serial: string): Promise<CertificateRecord | undefined>;

  getDeployment(name: string): Promise<DeploymentRecord | undefined>;
  listDeployments(): Promise<DeploymentRecord[]>;
  /** Writes a set of deployment changes (and their new revisions) in one transaction. */
  writeDeployments(writes: DeploymentWrite[], deletes: string[]): Promise<void>;
  getRevision(deployment: string, revision: number): Promise<RevisionRecord | undefined>;
  listRevisions(deployment: string): Promise<RevisionRecord[]>;
  /** Every deployment's current revision, in one read (for work over all deployments). */
  listCurrentRevisions(): Promise<RevisionRecord[]>;

  /** Replaces everything a node reported about its workloads. */
  replaceNodeWorkloads(nodeId: string, statuses: WorkloadStatus[], at: number): Promise<void>;
  listNodeWorkloads(filter: { deployment?: string; nodeId?: string }): Promise<NodeWorkloadRecord[]>;

  addReleaseKey(key: ReleaseKeyRecord): Promise<void>;
  listReleaseKeys(): Promise<ReleaseKeyRecord[]>;

  /** Adds a source; a second one with the same name fails with a unique violation. */
  createSource(source: SourceRecord): Promise<void>;
  getSource(name: string): Promise<SourceRecord | undefined>;
  listSources(): Promise<SourceRecord[]>;
  /** Writes the status of one pass; false when the source no longer exists. */
  updateSourceStatus(name: string, status: SourceStatusRecord): Promise<boolean>;
  deleteSource(name: string): Promise<boolean>;

  /**
   * Runs `fn` while holding a fleet-wide lock named `key`, so of several server replicas
   * only one does a given job at a time. On PostgreSQL it is a session advisory lock
   * (`pg_try_advisory_lock`, or `pg_advisory_lock` with mode 'wait') held on one pooled
   * connection for the duration; it is released when `fn` settles or that connection
   * dies. On SQLite it is a no-op that always runs `fn`: one SQLite file has one server,
   * and serialising within that process is the caller's job. With mode 'try' a lock held
   * elsewhere returns `{ acquired: false }` without running `fn`.
   */
  withAdvisoryLock<T>(key: string, mode: 'try' | 'wait', fn: () => Promise<T>): Promise<{ acquired: true; value: T } | { acquired: false }>;

  /** Stores workload stats a node reported (the server stamps the node id). */
  insertWorkloadStats(nodeId: string, stats: WorkloadStats[]): Promise<void>;
  /** Stats of a deployment whose interval ended after `from` (ms). */
  listWorkloadStats(deployment: string, from: number): Promise<Array<WorkloadStats & { nodeId: string }>>;
  /** Drops stats older than `before` (bounded retention). */
  pruneWorkloadStats(before: number): Promise<number>;

  /** A deployment's rollout state (JSON the rollout module validates), if it has one. */
  getRollout(deployment: string): Promise<unknown | undefined>;
  listRollouts(): Promise<Array<{ deployment: string; state: unknown }>>;
  /**
   * Persists a rollout decision in one transaction: the new state, its events, and the
   * commands it consumed — so a restart never repeats or skips a step or loses an event.
   */
  saveRollout(
    deployment: string,
    state: unknown,
    events: Array<{ seq: number; at: number; event: unknown }>,
    consumedCommands: string[],
    at: number,
  ): Promise<void>;
  deleteRollout(deployment: string): Promise<void>;
  listRolloutEvents(filter: { deployment?: string; limit: number }): Promise<Array<{ deployment: string; seq: number; at: number; event: unknown }>>;
  enqueueRolloutCommand(command: RolloutCommandRecord): Promise<void>;
  /** The deployment's Stalled condition, if the rollout controller set one. */
  getRolloutStall(deployment: string): Promise<RolloutStallRecord | undefined>;
  listRolloutStalls(): Promise<RolloutStallRecord[]>;
  /** Sets the deployment's Stalled condition (replacing any earlier one). */
  saveRolloutStall(stall: RolloutStallRecord): Promise<void>;
  /** Clears the deployment's Stalled condition; false when it had none. */
  clearRolloutStall(deployment: string): Promise<boolean>;
  listRolloutCommands(deployment: string): Promise<RolloutCommandRecord[]>;

  /**
   * Accepts one metrics upload atomically: false (and nothing written) when this node's
   * stream already accepted `seq` (a replay); otherwise advances the cursor, merges `latest`
   * into the node's latest values and upserts the alerts.
   */
  acceptMetrics(nodeId: string, cursor: UploadCursor, at: number, latest: LatestSample[], alerts: NodeAlertRecord[]): Promise<boolean>;
  /** Accepts one log upload atomically (same replay rule), storing its lines. */
  acceptLogs(nodeId: string, cursor: UploadCursor, at: number, lines: Omit<LogRecord, 'id' | 'nodeId'>[]): Promise<boolean>;
  getNodeTelemetry(nodeId: string): Promise<{ lastUploadAt: number | null; latest: LatestSample[] } | undefined>;
  /** Every node's telemetry row in one read (list routes must not read one per node). */
  listNodeTelemetry(): Promise<Array<{ nodeId: string; lastUploadAt: number | null; latest: LatestSample[] }>>;
  listAlerts(filter: { nodeId?: string; state?: 'firing' | 'resolved' }): Promise<NodeAlertRecord[]>;
  /** Lines of a node after `afterId` and at or after `since` (node time, ms), oldest first. */
  listLogs(filter: { nodeId: string; source?: string; since?: number; afterId?: number; limit: number }): Promise<LogRecord[]>;
  /** Drops log lines received before `before` and resolved alerts reported before it. */
  pruneTelemetry(before: number): Promise<number>;

  appendAudit(event: AuditEvent): Promise<void>;
  listAudit(limit: number): Promise<AuditEvent[]>;

  /**
   * Cheap marks of what desired state is made of, read by every replica every few seconds
   * to notice the others' writes. `inputs` differs after any write of a deployment,
   * revision, rollout or release key (a counter those writes bump, and counts and sums of
   * the tables, which also catch writes by a replica of an older version). `nodeChanges`
   * is the generation of the latest node change: labels changed, or decommissioned.
   */
  desiredStateMarks(): Promise<DesiredStateMarks>;
  /**
   * Node changes after `generation`, oldest first. Generations are contiguous and numbered
   * in commit order; only the newest 10,000 are kept (far more than the fleet makes between
   * two reads), so a gap before the first one returned means some were pruned.
   */
  listNodeChanges(afterGeneration: number): Promise<NodeChange[]>;
}

/** See {@link Store.desiredStateMarks}. */
export interface DesiredStateMarks {
  inputs: string;
  nodeChanges: number;
}

/** One node change: its generation and the node whose labels changed or which was decommissioned. */
export interface NodeChange {
  generation: number;
  nodeId: string;
}
