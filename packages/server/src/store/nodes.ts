import type { Labels } from '@edgefleet/protocol';

/** An enrolled node. */
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

/**
 * What targeting a node needs: its labels and when it was last seen, without its facts (a
 * kilobyte or more per node). The rollout controller reads it for every node every second
 * while a rollout runs; the dashboard's watch reads it every tick to tell which nodes changed
 * (with the certificate serial, which a renewal changes) and reads whole records of those only.
 */
export type NodeLabelsRecord = Pick<NodeRecord, 'id' | 'name' | 'detectedLabels' | 'operatorLabels' | 'lastSeen' | 'certSerial'>;

/** A client certificate the fleet CA issued to a node (the private key never leaves the node). */
export interface CertificateRecord {
  serial: string;
  nodeId: string;
  issuedAt: number;
  notAfter: number;
  revokedAt: number | null;
  /**
   * SHA-256 of the certificate's DER (lowercase hex): what identifies the certificate a
   * connection presents. `null` only for a certificate issued before the server recorded
   * fingerprints, until its node first uses it (http/auth.ts fills it in then).
   */
  fingerprint: string | null;
  /** When a request first presented it (ms); null until then. Its first use supersedes the node's other certificates. */
  firstUsedAt?: number | null;
  /** Why it was revoked; null when it is not, or was revoked before reasons were recorded. */
  revokedReason?: RevocationReason | null;
}

/**
 * Why a certificate was revoked: `superseded` (a newer certificate of its node was used),
 * `reenrolled` (its node enrolled again), `operator` (`nodes revoke-cert`),
 * `decommissioned` (its node was deleted).
 */
export type RevocationReason = 'superseded' | 'reenrolled' | 'operator' | 'decommissioned';

/** One node change: its generation and the node whose labels changed or which was decommissioned. */
export interface NodeChange {
  generation: number;
  nodeId: string;
}

/**
 * Nodes, their certificates, and the log of node changes (labels changed, decommissioned)
 * that replicas read to notice each other's writes.
 */
export interface NodeRepository {
  createNode(node: NodeRecord): Promise<void>;
  /** Replaces a node's record (all fields but id and createdAt). */
  updateNode(node: NodeRecord): Promise<void>;
  getNode(id: string): Promise<NodeRecord | undefined>;
  getNodeByName(name: string): Promise<NodeRecord | undefined>;
  getNodeByHardwareSerial(serial: string): Promise<NodeRecord | undefined>;
  /**
   * Records the bootstrap token and key (SHA-256 of the SPKI DER, hex) a node enrolled with;
   * unique together, so a second node with the same pair fails the transaction.
   */
  setEnrollmentKey(nodeId: string, tokenId: string, key: string): Promise<void>;
  /** The node that enrolled with this bootstrap token and key, if any. */
  getNodeByEnrollmentKey(tokenId: string, key: string): Promise<NodeRecord | undefined>;
  listNodes(): Promise<NodeRecord[]>;
  /**
   * Every node's labels, last-seen time and certificate serial, by name (what {@link listNodes}
   * gives, without facts). Label objects are shared between calls while their text is
   * unchanged, so callers must not change them.
   */
  listNodeLabels(): Promise<NodeLabelsRecord[]>;
  /** The nodes with these ids, in no particular order; an id with no node (decommissioned) is left out. */
  listNodesById(ids: readonly string[]): Promise<NodeRecord[]>;
  /** Records a heartbeat: detected labels, facts and last-seen time. */
  recordHeartbeat(id: string, detectedLabels: Labels | undefined, facts: Record<string, unknown> | undefined, at: number): Promise<void>;
  setOperatorLabels(id: string, labels: Labels): Promise<void>;
  /**
   * Deletes the node with what it reported (workloads, telemetry, alerts, logs) and revokes
   * every certificate issued to it, in one transaction.
   */
  decommissionNode(id: string, at: number): Promise<boolean>;

  /** Records a newly issued certificate and makes it the node's current one. */
  recordCertificate(cert: CertificateRecord): Promise<void>;
  getCertificate(serial: string): Promise<CertificateRecord | undefined>;
  /** Every certificate issued to a node, newest first. */
  listCertificates(nodeId: string): Promise<CertificateRecord[]>;
  /** The certificate whose DER has this SHA-256 fingerprint (lowercase hex). */
  getCertificateByFingerprint(fingerprint: string): Promise<CertificateRecord | undefined>;
  /**
   * Records the fingerprint of a certificate issued before fingerprints were recorded, once
   * its node presents it. Only a certificate without one is changed: false when the serial is
   * unknown or already has a fingerprint (which a caller must then compare, never replace).
   */
  fillCertificateFingerprint(serial: string, fingerprint: string): Promise<boolean>;
  /**
   * Records the first use of an unrevoked certificate. Only the first call changes anything:
   * true for it, false when the certificate was used before, is revoked or is unknown (the
   * check and the write are one statement, so of two certificates of a node first used at
   * once, the one revoked by the other's first use is never marked).
   */
  markCertificateUsed(serial: string, at: number): Promise<boolean>;
  /**
   * Revokes a node's certificates that are not revoked yet: all of them, all but `except`,
   * or only `only`. Returns the serials revoked.
   */
  revokeCertificates(nodeId: string, at: number, reason: RevocationReason, which?: { except?: string; only?: string }): Promise<string[]>;

  /**
   * Node changes after `generation`, oldest first. Generations are contiguous and numbered
   * in commit order; only the newest 10,000 are kept (far more than the fleet makes between
   * two reads), so a gap before the first one returned means some were pruned.
   */
  listNodeChanges(afterGeneration: number): Promise<NodeChange[]>;
}
