import type { Labels, Role } from '@edgefleet/protocol';

/** An operator's API token. The secret is kept by its SHA-256 hash only. */
export interface ApiTokenRecord {
  id: string;
  role: Role;
  name: string | null;
  secretHash: string;
  createdAt: number;
  /** When it stops working; null: never (only the initial admin token is made so). */
  expiresAt: number | null;
  /** When it last authenticated a request (kept to the minute), null if never. */
  lastUsedAt: number | null;
  /** The sites (geolocation.site values) it is limited to; null: the whole fleet. */
  sites: string[] | null;
}

/** A token that enrolls nodes, a limited number of times until it expires. */
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
  /**
   * Set on a token made by `edgefleet nodes reenroll NODE` (one use): it enrolls exactly
   * that node again, keeping its record and revoking its previous certificates. Null or
   * absent for an ordinary token, which only ever creates new nodes.
   */
  nodeId?: string | null;
  /** The board serial (lowercase) a node must report to enroll with it; null: any (migration 0016). */
  boundSerial?: string | null;
  /** The hostname (lowercase) a node must report to enroll with it; null: any. */
  boundHostname?: string | null;
  /** The provisioning batch (`edgefleet provision`) that minted it; null: none. */
  batchId?: string | null;
  /** The node it last enrolled (null: none yet, or before migration 0016). */
  enrolledNodeId?: string | null;
  /** When it last enrolled a node (ms). */
  enrolledAt?: number | null;
}

/** What consuming a bootstrap token gave: the token after the use, or why it could not. */
export type ConsumeResult = { ok: true; token: BootstrapTokenRecord } | { ok: false; reason: 'unknown' | 'expired' | 'exhausted' };

/** Operators' API tokens and the bootstrap tokens nodes enroll with. */
export interface TokenRepository {
  createApiToken(token: ApiTokenRecord): Promise<void>;
  getApiToken(id: string): Promise<ApiTokenRecord | undefined>;
  listApiTokens(): Promise<ApiTokenRecord[]>;
  deleteApiToken(id: string): Promise<boolean>;
  countApiTokens(role?: Role): Promise<number>;
  /**
   * Deletes an API token unless it is the last admin token that works at `now` (unexpired
   * and fleet-wide), checking and deleting in one transaction (admin rows locked on
   * PostgreSQL), so concurrent deletes cannot remove every admin.
   */
  deleteApiTokenUnlessLastAdmin(id: string, now: number): Promise<'deleted' | 'not_found' | 'last_admin'>;
  /**
   * Records that a token was used at `now`, unless it already was at or after `notBefore`
   * (one conditional UPDATE: a busy token writes at most once per interval).
   */
  touchApiToken(id: string, now: number, notBefore: number): Promise<void>;

  createBootstrapToken(token: BootstrapTokenRecord): Promise<void>;
  getBootstrapToken(id: string): Promise<BootstrapTokenRecord | undefined>;
  listBootstrapTokens(): Promise<BootstrapTokenRecord[]>;
  deleteBootstrapToken(id: string): Promise<boolean>;
  /**
   * Takes one use of a token atomically: of two concurrent calls for the last use, exactly
   * one succeeds.
   */
  consumeBootstrapToken(id: string, now: number): Promise<ConsumeResult>;
  /** Records which node a token just enrolled, and when (for `provision status`). */
  recordBootstrapTokenEnrollment(id: string, nodeId: string, at: number): Promise<void>;
  /** Every token of a provisioning batch, oldest first (empty: no such batch, or every token deleted). */
  listBootstrapTokensOfBatch(batchId: string): Promise<BootstrapTokenRecord[]>;
}
