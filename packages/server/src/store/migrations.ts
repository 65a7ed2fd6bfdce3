import { type Kysely, type Migration, type MigrationProvider, sql } from 'kysely';
import { declareCompatibleFrom } from './migration-history.js';

/**
 * Versioned schema migrations, applied in name order at every start (Kysely's migrator
 * records which ran and takes a lock, so several replicas starting at once apply each
 * migration exactly once). One that sorts before an already-applied one still runs (0015
 * shipped after 0016: the migrator allows unordered migrations), so none may depend on a
 * later-numbered one. Never edit a migration that has shipped: add the next one.
 */
export function migrations(dialect: 'sqlite' | 'postgres'): MigrationProvider {
  const all: Record<string, Migration> = {
    '0001_foundation': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('meta')
          .addColumn('key', 'text', (c) => c.primaryKey())
          .addColumn('value', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('api_tokens')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('name', 'text')
          .addColumn('secret_hash', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('bootstrap_tokens')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('secret_hash', 'text', (c) => c.notNull())
          .addColumn('site', 'text')
          .addColumn('labels', 'text', (c) => c.notNull())
          .addColumn('uses', 'integer', (c) => c.notNull())
          .addColumn('uses_left', 'integer', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('created_by', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('nodes')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull().unique())
          .addColumn('hardware_serial', 'text', (c) => c.unique())
          .addColumn('detected_labels', 'text', (c) => c.notNull())
          .addColumn('operator_labels', 'text', (c) => c.notNull())
          .addColumn('facts', 'text', (c) => c.notNull())
          .addColumn('cert_serial', 'text', (c) => c.notNull())
          .addColumn('cert_not_after', 'bigint', (c) => c.notNull())
          .addColumn('last_seen', 'bigint')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('certificates')
          .addColumn('serial', 'text', (c) => c.primaryKey())
          .addColumn('node_id', 'text', (c) => c.notNull())
          .addColumn('issued_at', 'bigint', (c) => c.notNull())
          .addColumn('not_after', 'bigint', (c) => c.notNull())
          .addColumn('revoked_at', 'bigint')
          .execute();
        await db.schema.createIndex('certificates_node_id').on('certificates').column('node_id').execute();
        await db.schema
          .createTable('audit_events')
          .addColumn('seq', dialect === 'postgres' ? sql`bigserial` : 'integer', (c) =>
            dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
          )
          .addColumn('at', 'bigint', (c) => c.notNull())
          .addColumn('actor', 'text', (c) => c.notNull())
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('target', 'text', (c) => c.notNull())
          .addColumn('details', 'text', (c) => c.notNull())
          .execute();
      },
    },
    '0002_deployments': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('deployments')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('spec', 'text', (c) => c.notNull())
          .addColumn('generation', 'integer', (c) => c.notNull())
          .addColumn('revision', 'integer', (c) => c.notNull())
          .addColumn('source', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('revisions')
          .addColumn('deployment', 'text', (c) => c.notNull())
          .addColumn('revision', 'integer', (c) => c.notNull())
          .addColumn('release', 'text', (c) => c.notNull())
          .addColumn('release_digest', 'text', (c) => c.notNull())
          .addColumn('commit', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('revisions_pk', ['deployment', 'revision'])
          .execute();
        await db.schema
          .createTable('node_workloads')
          .addColumn('node_id', 'text', (c) => c.notNull())
          .addColumn('deployment', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('node_workloads_pk', ['node_id', 'deployment'])
          .execute();
        await db.schema.createIndex('node_workloads_deployment').on('node_workloads').column('deployment').execute();
        await db.schema
          .createTable('release_keys')
          .addColumn('key_id', 'text', (c) => c.primaryKey())
          .addColumn('public_key', 'text', (c) => c.notNull())
          .addColumn('signed_by', 'text')
          .addColumn('signature', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
      },
    },
    '0003_sources': {
      async up(db: Kysely<unknown>) {
        // GitOps sources: spec columns, then the status the poller writes once per pass.
        // `updated_at` is when the last pass finished (null before the first one).
        await db.schema
          .createTable('sources')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('url', 'text', (c) => c.notNull())
          .addColumn('branch', 'text', (c) => c.notNull())
          .addColumn('path', 'text', (c) => c.notNull())
          .addColumn('interval_ms', 'bigint', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('last_applied_revision', 'text')
          .addColumn('last_attempted_revision', 'text')
          .addColumn('conditions', 'text', (c) => c.notNull())
          .addColumn('last_error', 'text')
          .addColumn('updated_at', 'bigint')
          .execute();
      },
    },
    '0004_rollouts': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('workload_stats')
          .addColumn('node_id', 'text', (c) => c.notNull())
          .addColumn('deployment', 'text', (c) => c.notNull())
          .addColumn('revision', 'integer', (c) => c.notNull())
          .addColumn('interval_start', 'bigint', (c) => c.notNull())
          .addColumn('interval_end', 'bigint', (c) => c.notNull())
          .addColumn('requests', 'integer', (c) => c.notNull())
          .addColumn('errors', 'integer', (c) => c.notNull())
          .addColumn('restarts', 'integer', (c) => c.notNull())
          .addColumn('fallback', 'integer', (c) => c.notNull())
          .addColumn('latency', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('workload_stats_deployment_end').on('workload_stats').columns(['deployment', 'interval_end']).execute();
        await db.schema
          .createTable('rollouts')
          .addColumn('deployment', 'text', (c) => c.primaryKey())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('rollout_events')
          .addColumn('deployment', 'text', (c) => c.notNull())
          .addColumn('seq', 'integer', (c) => c.notNull())
          .addColumn('at', 'bigint', (c) => c.notNull())
          .addColumn('event', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('rollout_events_pk', ['deployment', 'seq'])
          .execute();
        await db.schema
          .createTable('rollout_commands')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('deployment', 'text', (c) => c.notNull())
          .addColumn('command', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
      },
    },
    '0005_telemetry': {
      async up(db: Kysely<unknown>) {
        // Per node: the upload cursors (stream + last accepted batch number, so replays are
        // ignored) and the latest value of every series (dashboard, `nodes get`).
        await db.schema
          .createTable('node_telemetry')
          .addColumn('node_id', 'text', (c) => c.primaryKey())
          .addColumn('metrics_stream', 'text')
          .addColumn('metrics_seq', 'bigint')
          .addColumn('logs_stream', 'text')
          .addColumn('logs_seq', 'bigint')
          .addColumn('last_upload_at', 'bigint')
          .addColumn('latest', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('node_alerts')
          .addColumn('node_id', 'text', (c) => c.notNull())
          .addColumn('alert_key', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('severity', 'text', (c) => c.notNull())
          .addColumn('since', 'bigint', (c) => c.notNull())
          .addColumn('message', 'text', (c) => c.notNull())
          .addColumn('labels', 'text', (c) => c.notNull())
          .addColumn('reported_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('node_alerts_pk', ['node_id', 'alert_key'])
          .execute();
        await db.schema
          .createTable('node_logs')
          .addColumn('id', dialect === 'postgres' ? sql`bigserial` : 'integer', (c) =>
            dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
          )
          .addColumn('node_id', 'text', (c) => c.notNull())
          .addColumn('ts_ns', 'text', (c) => c.notNull())
          .addColumn('at', 'bigint', (c) => c.notNull())
          .addColumn('received_at', 'bigint', (c) => c.notNull())
          .addColumn('source', 'text', (c) => c.notNull())
          .addColumn('revision', 'integer')
          .addColumn('stream', 'text', (c) => c.notNull())
          .addColumn('level', 'text', (c) => c.notNull())
          .addColumn('line', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('node_logs_node_id').on('node_logs').columns(['node_id', 'id']).execute();
        await db.schema.createIndex('node_logs_received').on('node_logs').column('received_at').execute();
      },
    },
    '0006_desired_changes': {
      async up(db: Kysely<unknown>) {
        // Counters that writes bump in their own transaction, so replicas notice each other's
        // changes to desired state with one small read (deployments/desired-watch.ts). The row
        // lock on a counter orders its values as the writes commit.
        await db.schema
          .createTable('change_counters')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('value', 'bigint', (c) => c.notNull())
          .execute();
        await db
          .insertInto('change_counters' as never)
          .values([
            { name: 'desired_inputs', value: 0 },
            { name: 'node_changes', value: 0 },
          ] as never)
          .execute();
        // Which node each `node_changes` value was for (labels changed, or decommissioned);
        // the newest entries only (sql-store.ts prunes).
        await db.schema
          .createTable('node_changes')
          .addColumn('generation', 'bigint', (c) => c.primaryKey())
          .addColumn('node_id', 'text', (c) => c.notNull())
          .execute();
      },
    },
    '0007_rollout_stalls': {
      async up(db: Kysely<unknown>) {
        // The Stalled condition of a deployment whose rollout the controller cannot
        // reconcile (controller/stall.ts). Apart from `rollouts`: an unreadable state there
        // is one of the reasons, and must stay as it is for an operator to look at.
        await db.schema
          .createTable('rollout_stalls')
          .addColumn('deployment', 'text', (c) => c.primaryKey())
          .addColumn('reason', 'text', (c) => c.notNull())
          .addColumn('message', 'text', (c) => c.notNull())
          .addColumn('revision', 'integer', (c) => c.notNull())
          .addColumn('since', 'bigint', (c) => c.notNull())
          .execute();
      },
    },
    '0008_certificate_fingerprints': {
      async up(db: Kysely<unknown>) {
        // A node is identified by the SHA-256 of the certificate DER we issued, never by its
        // serial alone (a self-signed certificate can copy a serial). Certificates issued
        // before this migration have none: http/auth.ts fills it in when their node first
        // presents one that the fleet CA's signature and the serial both vouch for.
        await db.schema.alterTable('certificates').addColumn('fingerprint', 'text').execute();
        await db.schema.createIndex('certificates_fingerprint').on('certificates').column('fingerprint').unique().execute();
      },
    },
    '0009_certificate_use': {
      async up(db: Kysely<unknown>) {
        // Issue 14, findings 3 and 9. `first_used_at`: when a certificate was first presented;
        // its first use revokes every other certificate of its node (http/auth.ts), so a copy
        // of an old key dies once the node renewed. `revoked_reason`: why it was revoked, so a
        // node whose own request crossed its renewal is told "superseded" (retry), not
        // "decommissioned". `bootstrap_tokens.node_id`: a token made by `nodes reenroll` that
        // enrolls exactly that node again. All nullable: existing rows mean "not yet known".
        await db.schema.alterTable('certificates').addColumn('first_used_at', 'bigint').execute();
        await db.schema.alterTable('certificates').addColumn('revoked_reason', 'text').execute();
        await db.schema.alterTable('bootstrap_tokens').addColumn('node_id', 'text').execute();
      },
    },
    '0010_release_key_expiry_revocation': {
      async up(db: Kysely<unknown>) {
        // Release keys carry a signed expiry (ISO text, exactly as signed) and, once revoked,
        // the revocation another trusted key signed. Keys trusted before have neither.
        await db.schema.alterTable('release_keys').addColumn('expires_at', 'text').execute();
        await db.schema.alterTable('release_keys').addColumn('revoked_at', 'text').execute();
        await db.schema.alterTable('release_keys').addColumn('revoked_by', 'text').execute();
        await db.schema.alterTable('release_keys').addColumn('revocation_signature', 'text').execute();
      },
    },
    '0011_node_log_budget': {
      async up(db: Kysely<unknown>) {
        // Each node's log bytes accepted on one UTC day (quotas/node-quotas.ts): the budget
        // holds across restarts and replicas because it is counted where the lines are stored.
        await db.schema.alterTable('node_telemetry').addColumn('log_day', 'integer').execute();
        await db.schema.alterTable('node_telemetry').addColumn('log_day_bytes', 'bigint').execute();
      },
    },
    '0012_api_token_scope': {
      async up(db: Kysely<unknown>) {
        // API tokens expire (null: never, only the initial admin token), record when they
        // were last used (written at most once a minute per token), and may be limited to
        // sites (a JSON array of geolocation.site values; null: the whole fleet).
        await db.schema.alterTable('api_tokens').addColumn('expires_at', 'bigint').execute();
        await db.schema.alterTable('api_tokens').addColumn('last_used_at', 'bigint').execute();
        await db.schema.alterTable('api_tokens').addColumn('sites', 'text').execute();
        // Tokens made before expiry existed get the default lifetime from now (not from
        // their creation: an old token expiring at the upgrade would lock its operator out
        // without warning). The initial admin token keeps never expiring, as new ones do.
        await db
          .updateTable('api_tokens' as never)
          .set({ expires_at: Date.now() + 90 * 86_400_000 } as never)
          .where(sql<boolean>`not (role = 'admin' and name = 'initial admin')`)
          .execute();
      },
    },
    '0013_workload_stats_instance': {
      async up(db: Kysely<unknown>) {
        // Issue 15: when the instance behind a stats sample began serving (node clock
        // re-anchored to the server's, ms) and the requests it had answered before the
        // sample's interval, so the gates leave a new instance's warm-up out. Null: an agent
        // from before warm-up existed; its samples count as warm.
        await db.schema.alterTable('workload_stats').addColumn('instance_started_at', 'bigint').execute();
        await db.schema.alterTable('workload_stats').addColumn('instance_requests_before', 'bigint').execute();
      },
    },
    '0014_latency_history': {
      async up(db: Kysely<unknown>) {
        // Issue 15: each deployment's latency by revision, site and hour, kept 30 days (and
        // capped per deployment) for `deployments latency` and `slo suggest`. One row per
        // key; histograms are merged into it as stats arrive (telemetry/latency-history/).
        await db.schema
          .createTable('latency_history')
          .addColumn('deployment', 'text', (c) => c.notNull())
          .addColumn('revision', 'integer', (c) => c.notNull())
          .addColumn('site', 'text', (c) => c.notNull())
          .addColumn('hour', 'bigint', (c) => c.notNull())
          .addColumn('requests', 'bigint', (c) => c.notNull())
          .addColumn('errors', 'bigint', (c) => c.notNull())
          .addColumn('latency', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('latency_history_key', ['deployment', 'revision', 'site', 'hour'])
          .execute();
        await db.schema.createIndex('latency_history_deployment_hour').on('latency_history').columns(['deployment', 'hour']).execute();
        await db.schema.createIndex('latency_history_hour').on('latency_history').column('hour').execute();
      },
    },
    '0015_registries': {
      async up(db: Kysely<unknown>) {
        // Issue 16: container registries (address, CA, pull credentials). The password is
        // sealed with the data dir's registry-secrets.key (AES-256-GCM), never stored in
        // clear. One registry per host: the host is what an image reference names. Added
        // after 0016 shipped, so it runs out of order on older databases (sql-store.ts).
        await db.schema
          .createTable('registries')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('server', 'text', (c) => c.notNull())
          .addColumn('host', 'text', (c) => c.notNull().unique())
          .addColumn('username', 'text')
          .addColumn('password_sealed', 'text')
          .addColumn('ca_pem', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();
      },
    },
    '0016_provision': {
      async up(db: Kysely<unknown>) {
        // Issue 17, `edgefleet provision`. A bootstrap token may be bound to one board serial
        // and/or hostname (a node whose facts say otherwise is refused, the use not taken),
        // belong to a provisioning batch, and record the node it last enrolled and when, so
        // `provision status` tells enrolled devices from pending and expired ones. All
        // nullable: existing tokens are unbound, outside any batch, and their uses unrecorded.
        await db.schema.alterTable('bootstrap_tokens').addColumn('bound_serial', 'text').execute();
        await db.schema.alterTable('bootstrap_tokens').addColumn('bound_hostname', 'text').execute();
        await db.schema.alterTable('bootstrap_tokens').addColumn('batch_id', 'text').execute();
        await db.schema.alterTable('bootstrap_tokens').addColumn('enrolled_node_id', 'text').execute();
        await db.schema.alterTable('bootstrap_tokens').addColumn('enrolled_at', 'bigint').execute();
        await db.schema.createIndex('bootstrap_tokens_batch').on('bootstrap_tokens').column('batch_id').execute();
      },
    },
    '0017_replicas': {
      async up(db: Kysely<unknown>) {
        // Issue 18, server replicas. The leader lease (leader/): who holds it, its fencing
        // term (bumped by every takeover; singleton writes check it in their transaction),
        // and its expiry by the database's clock (ms since the epoch); on SQLite one server
        // holds it. And the running totals forwarded to Prometheus, shared by the replicas
        // (telemetry/forwarders.ts), keyed by a hash of the series' labels. New tables only:
        // older servers never read them.
        await db.schema
          .createTable('leader_leases')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('holder', 'text', (c) => c.notNull())
          .addColumn('term', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('forward_totals')
          .addColumn('key', 'text', (c) => c.primaryKey())
          .addColumn('total', dialect === 'postgres' ? 'double precision' : 'real', (c) => c.notNull())
          .addColumn('touched_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('forward_totals_touched').on('forward_totals').column('touched_at').execute();
      },
    },
    '0018_cluster_material': {
      async up(db: Kysely<unknown>) {
        // Issue 18, replicas on PostgreSQL share no volume. `cluster_material` holds the fleet
        // CA, the registry-password key and a check value, each sealed under a key derived
        // from the cluster secret (cluster/material.ts), plus the (public) KDF salt. Artifacts
        // live in the database as 1 MiB chunks: `artifact_chunks` rows belong to an upload,
        // listed in `artifact_uploads` while it runs (touched at every chunk); a complete upload becomes a row of
        // `artifact_blobs` named by its digest. Created on SQLite too, where they stay empty
        // (one server keeps its CA and artifacts in its data dir).
        const bytes = dialect === 'postgres' ? 'bytea' : 'blob';
        await db.schema
          .createTable('cluster_material')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('value', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('artifact_uploads')
          .addColumn('upload_id', 'text', (c) => c.primaryKey())
          .addColumn('touched_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('artifact_chunks')
          .addColumn('upload_id', 'text', (c) => c.notNull())
          .addColumn('seq', 'integer', (c) => c.notNull())
          .addColumn('data', bytes, (c) => c.notNull())
          .addPrimaryKeyConstraint('artifact_chunks_key', ['upload_id', 'seq'])
          .execute();
        await db.schema
          .createTable('artifact_blobs')
          .addColumn('digest', 'text', (c) => c.primaryKey())
          .addColumn('upload_id', 'text', (c) => c.notNull().unique())
          .addColumn('size', 'bigint', (c) => c.notNull())
          .addColumn('chunk_bytes', 'integer', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
      },
    },
    '0019_enrollment_key': {
      async up(db: Kysely<unknown>) {
        // Issue 18, an enrollment repeated by its agent (the answer was lost to a timeout or
        // a failed-over replica): which bootstrap token and which key (SHA-256 of the CSR's
        // SubjectPublicKeyInfo) a node enrolled with, so the same token and key get the same
        // node again instead of a second one (nodes/enroll.ts). Unique together: two attempts
        // racing each other cannot both create a node. Nullable: nodes enrolled before keep
        // none, and older servers never read the columns.
        await db.schema.alterTable('nodes').addColumn('enrolled_token_id', 'text').execute();
        await db.schema.alterTable('nodes').addColumn('enrolled_key', 'text').execute();
        await db.schema.createIndex('nodes_enrollment_key').on('nodes').columns(['enrolled_token_id', 'enrolled_key']).unique().execute();
        // Additive (two nullable columns and an index): a replica one version older runs on it.
        await declareCompatibleFrom(db, '0019_enrollment_key', '0018_cluster_material');
      },
    },
  };
  return { getMigrations: async () => all };
}
