/** One entry of the audit log: who changed what, and when. */
export interface AuditEvent {
  at: number;
  /** Who did it: `token:<id>` for an operator, `node:<id>` for an agent. */
  actor: string;
  action: string;
  target: string;
  details: Record<string, unknown>;
}

/** Which audit entries a listing wants. */
export interface AuditFilter {
  /** At or after this time (ms). */
  since?: number;
  /** By this actor only (`token:<id>`). */
  actor?: string;
}

/**
 * The audit log, append-only. Append an entry through the same transaction as the change
 * it records (`store.transaction(tx => …)`), so both commit or neither does.
 */
export interface AuditRepository {
  appendAudit(event: AuditEvent): Promise<void>;
  /** The newest `limit` entries, newest first; only those at or after `since`, or by `actor`, when given. */
  listAudit(limit: number, filter?: AuditFilter): Promise<AuditEvent[]>;
}
