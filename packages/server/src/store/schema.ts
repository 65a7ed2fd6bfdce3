import type { Generated } from 'kysely';

/**
 * Table layouts as Kysely sees them. Times are integer milliseconds (PostgreSQL `bigint`,
 * which `pg` returns as strings: the store converts); JSON is kept as text so both engines
 * store it the same way.
 */
export interface Database {
  meta: { key: string; value: string };
  api_tokens: {
    id: string;
    role: string;
    name: string | null;
    secret_hash: string;
    created_at: number | string;
    expires_at: number | string | null;
    last_used_at: number | string | null;
    sites: string | null;
  };
  bootstrap_tokens: {
    id: string;
    secret_hash: string;
    site: string | null;
    labels: string;
    uses: number;
    uses_left: number;
    expires_at: number | string;
    created_at: number | string;
    created_by: string;
    /** The node a `nodes reenroll` token enrolls again; null for an ordinary token. */
    node_id: string | null;
    /** The board serial (lowercase) a token from `edgefleet provision` is bound to (migration 0016). */
    bound_serial: string | null;
    /** The hostname (lowercase) a token is bound to. */
    bound_hostname: string | null;
    /** The provisioning batch that minted it. */
    batch_id: string | null;
    /** The node it last enrolled, and when (ms). */
    enrolled_node_id: string | null;
    enrolled_at: number | string | null;
  };
  nodes: {
    id: string;
    name: string;
    hardware_serial: string | null;
    detected_labels: string;
    operator_labels: string;
    facts: string;
    cert_serial: string;
    cert_not_after: number | string;
    last_seen: number | string | null;
    created_at: number | string;
    /** The bootstrap token and key (SHA-256 of the SPKI DER, hex) it enrolled with; null before migration 0019. */
    enrolled_token_id: string | null;
    enrolled_key: string | null;
  };
  certificates: {
    serial: string;
    node_id: string;
    issued_at: number | string;
    not_after: number | string;
    revoked_at: number | string | null;
    /** SHA-256 of the certificate's DER, hex; null for certificates issued before migration 0008 until first use. */
    fingerprint: string | null;
    /** When a request first presented the certificate; null until then (and for certificates before migration 0009). */
    first_used_at: number | string | null;
    /** Why it was revoked (see `RevocationReason`); null when not revoked or revoked before migration 0009. */
    revoked_reason: string | null;
  };
  deployments: {
    name: string;
    spec: string;
    generation: number;
    revision: number;
    source: string | null;
    created_at: number | string;
    updated_at: number | string;
  };
  revisions: { deployment: string; revision: number; release: string; release_digest: string; commit: string | null; created_at: number | string };
  node_workloads: { node_id: string; deployment: string; status: string; updated_at: number | string };
  release_keys: {
    key_id: string;
    public_key: string;
    signed_by: string | null;
    signature: string | null;
    created_at: number | string;
    expires_at: string | null;
    revoked_at: string | null;
    revoked_by: string | null;
    revocation_signature: string | null;
  };
  sources: {
    name: string;
    url: string;
    branch: string;
    path: string;
    interval_ms: number | string;
    created_at: number | string;
    last_applied_revision: string | null;
    last_attempted_revision: string | null;
    conditions: string;
    last_error: string | null;
    updated_at: number | string | null;
  };
  workload_stats: {
    node_id: string;
    deployment: string;
    revision: number;
    interval_start: number | string;
    interval_end: number | string;
    requests: number;
    errors: number;
    restarts: number;
    fallback: number;
    latency: string;
    instance_started_at: number | string | null;
    instance_requests_before: number | string | null;
  };
  /** Hourly latency history per deployment, revision and site (migration 0014). */
  latency_history: {
    deployment: string;
    revision: number;
    site: string;
    hour: number | string;
    requests: number | string;
    errors: number | string;
    latency: string;
  };
  rollouts: { deployment: string; state: string; updated_at: number | string };
  rollout_events: { deployment: string; seq: number; at: number | string; event: string };
  rollout_commands: { id: string; deployment: string; command: string; created_at: number | string };
  rollout_stalls: { deployment: string; reason: string; message: string; revision: number; since: number | string };
  node_telemetry: {
    node_id: string;
    metrics_stream: string | null;
    metrics_seq: number | string | null;
    logs_stream: string | null;
    logs_seq: number | string | null;
    last_upload_at: number | string | null;
    latest: string;
    /** UTC day number (ms / 86,400,000) that `log_day_bytes` counts. */
    log_day: number | null;
    log_day_bytes: number | string | null;
  };
  node_alerts: {
    node_id: string;
    alert_key: string;
    name: string;
    state: string;
    severity: string;
    since: number | string;
    message: string;
    labels: string;
    reported_at: number | string;
  };
  node_logs: {
    id: Generated<number>;
    node_id: string;
    ts_ns: string;
    at: number | string;
    received_at: number | string;
    source: string;
    revision: number | null;
    stream: string;
    level: string;
    line: string;
  };
  registries: {
    name: string;
    server: string;
    host: string;
    username: string | null;
    password_sealed: string | null;
    ca_pem: string | null;
    created_at: number | string;
    updated_at: number | string;
  };
  change_counters: { name: 'desired_inputs' | 'node_changes'; value: number | string };
  node_changes: { generation: number | string; node_id: string };
  forward_totals: { key: string; total: number | string; touched_at: number | string };
  leader_leases: { name: string; holder: string; term: number | string; expires_at: number | string };
  audit_events: { seq: Generated<number>; at: number | string; actor: string; action: string; target: string; details: string };
  /** Sealed cluster material (migration 0018): `value` is `v1:iv:tag:ciphertext`, or the public KDF salt. */
  cluster_material: { name: string; value: string; created_at: number | string };
  /** Artifact uploads in flight on PostgreSQL; removed when complete, or an hour after their last chunk by any replica. */
  artifact_uploads: { upload_id: string; touched_at: number | string };
  /** An upload's bytes in order: every chunk but the last holds exactly the blob's `chunk_bytes`. */
  artifact_chunks: { upload_id: string; seq: number; data: Uint8Array };
  /** A complete artifact: its digest, the upload holding its chunks, size and chunk size. */
  artifact_blobs: { digest: string; upload_id: string; size: number | string; chunk_bytes: number; created_at: number | string };
}
