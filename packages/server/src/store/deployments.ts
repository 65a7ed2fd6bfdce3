import type { DeploymentSpec, KeyRevocation, Release } from '@edgefleet/protocol';

/** A deployment: which release goes to which nodes, and how it rolls out. */
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

/** A public key trusted to sign releases, possibly endorsed by another trusted key. */
export interface ReleaseKeyRecord {
  keyId: string;
  publicKey: string;
  signedBy: string | null;
  signature: string | null;
  /** ISO 8601 UTC text, exactly as the endorsement signs it; null for keys trusted before expiries. */
  expiresAt: string | null;
  /** The revocation another trusted key signed, once revoked. */
  revocation: KeyRevocation | null;
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

/** See {@link DeploymentRepository.desiredStateMarks}. */
export interface DesiredStateMarks {
  inputs: string;
  nodeChanges: number;
}

/**
 * What desired state is made of: deployments and their revisions, the release keys, the
 * GitOps sources that apply deployments, and the cheap marks replicas poll to notice each
 * other's writes.
 */
export interface DeploymentRepository {
  getDeployment(name: string): Promise<DeploymentRecord | undefined>;
  listDeployments(): Promise<DeploymentRecord[]>;
  /** Writes a set of deployment changes (and their new revisions) in one transaction. */
  writeDeployments(writes: DeploymentWrite[], deletes: string[]): Promise<void>;
  getRevision(deployment: string, revision: number): Promise<RevisionRecord | undefined>;
  listRevisions(deployment: string): Promise<RevisionRecord[]>;
  /** Every deployment's current revision, in one read (for work over all deployments). */
  listCurrentRevisions(): Promise<RevisionRecord[]>;

  addReleaseKey(key: ReleaseKeyRecord): Promise<void>;
  listReleaseKeys(): Promise<ReleaseKeyRecord[]>;
  /** Stores a key's revocation; false when the key is unknown or already revoked. */
  revokeReleaseKey(keyId: string, revocation: KeyRevocation): Promise<boolean>;

  /** Adds a source; a second one with the same name fails with a unique violation. */
  createSource(source: SourceRecord): Promise<void>;
  getSource(name: string): Promise<SourceRecord | undefined>;
  listSources(): Promise<SourceRecord[]>;
  /** Writes the status of one pass; false when the source no longer exists. */
  updateSourceStatus(name: string, status: SourceStatusRecord): Promise<boolean>;
  deleteSource(name: string): Promise<boolean>;

  /**
   * Cheap marks of what desired state is made of, read by every replica every few seconds
   * to notice the others' writes. `inputs` differs after any write of a deployment,
   * revision, rollout or release key (a counter those writes bump, and counts and sums of
   * the tables, which also catch writes by a replica of an older version). `nodeChanges`
   * is the generation of the latest node change: labels changed, or decommissioned.
   */
  desiredStateMarks(): Promise<DesiredStateMarks>;
}
