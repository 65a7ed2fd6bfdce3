import type { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { ArtifactStorage } from './artifacts/store.js';
import type { Clock } from './clock.js';
import type { RolloutController } from './controller/rollout-controller.js';
import type { DataDir } from './data-dir.js';
import type { GitopsLimits } from './gitops/limits.js';
import type { Fence } from './leader/elector.js';
import type { NodeQuotas } from './quotas/node-quotas.js';
import type { RegistrySecretBox } from './registries/secret-box.js';
import type { Store } from './store/index.js';
import type { TelemetryForwarding } from './telemetry/forwarding.js';

/** What every route needs, passed in explicitly: no module-level singletons. */
export interface ServerContext {
  store: Store;
  dataDir: DataDir;
  clock: Clock;
  log: Logger;
  /** How often agents are told to report; nodes are offline after three missed reports. */
  heartbeatIntervalMs: number;
  /** Lifetime of node client certificates (default 7 days). */
  nodeCertLifetimeMs: number;
  /** The content-addressed artifact store: `DATA/artifacts/`, or the database on PostgreSQL. */
  artifacts: ArtifactStorage;
  /** Refuse unsigned releases at apply (default for new data dirs). */
  requireSigned: boolean;
  /**
   * In-process signal that desired state may have changed ('desired'), so long-polling
   * agents answer at once. Replicas on PostgreSQL also re-check on a short timer.
   */
  events: EventEmitter;
  /** Where GitOps may read: local repositories' root and the remote clone size bound (gitops/limits.ts); the data dir and 256 MiB when omitted. */
  gitops?: GitopsLimits;
  /** Where stamped telemetry goes beyond the store: remote_write and Loki targets (none by default). */
  forwarding?: TelemetryForwarding;
  /** Per-node quotas and their refusal counts (defaults when omitted: see quotas/of-context.ts). */
  quotas?: NodeQuotas;
  /** Seals registry passwords with `DATA/registry-secrets.key`, or the cluster's key on PostgreSQL (see registries/secret-box.ts; made from `dataDir` when omitted). */
  registrySecrets?: RegistrySecretBox;
  /** How often long polls re-read the store's change marks (default 2 s), the fallback to change notifications. */
  desiredCheckIntervalMs?: number;
  /** Live streams (`GET /v1/watch`) one API token may hold open at once (default 16). */
  watchStreamsPerToken?: number;
  /**
   * The leader election of this replica (leader/elector.ts): singleton work runs only while
   * it leads, and its writes call `fence(tx)` inside their transaction. Omitted in tests
   * that run one piece of work directly (no fence then).
   */
  leader?: { readonly fence: Fence; readonly isLeader: boolean; readonly replica: string; readonly term: number | undefined };
  /** How many replicas share the fleet's work, this one included (replicas/change-bus.ts; 1 when omitted). */
  replicas?: () => number;
  /** The rollout controller, once started (routes nudge it after operator commands). */
  rollouts?: RolloutController;
  /**
   * Test seam of the unit of work: audited services call it inside their transaction,
   * after the change and before its audit entry (the kill test stops the process there).
   * Production passes none.
   */
  afterChange?: (action: string) => Promise<void> | void;
}
