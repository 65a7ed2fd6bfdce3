/**
 * The API's JSON shapes as the dashboard reads them. Where @edgefleet/protocol defines a
 * shape it is used as is (types only, erased at build); the rollout status, events and
 * audit entries are contracts of the server (docs/API.md) and are written out here.
 */
import type { AlertView, DeploymentView, LogLine, LogList, Node, NodeTelemetry, Release, Role } from '@edgefleet/protocol';

export type { AlertView, DeploymentView, LogLine, LogList, Node, NodeTelemetry, Release, Role };

/** `GET /v1/whoami`. */
export interface Whoami {
  role: Role;
  tokenId: string;
}

/** Rollout phases, from the server's closed set. */
export type RolloutPhase = 'Progressing' | 'Holding' | 'Paused' | 'Succeeded' | 'RolledBack' | 'Aborted';

/** What a gate evaluation measured (`rollout status -o json`: `gate.measured`). */
export interface GateMeasured {
  canaryNodes: number;
  canaryRequests: number;
  canaryErrors: number;
  errorRate: number | null;
  maxRestarts: number;
  fallbackRate: number | null;
  p95LatencyMs: number | null;
  baselineNodes: number;
  baselineRequests: number;
  baselineP95LatencyMs: number | null;
  p95LatencyRatio: number | null;
  cohortsCompared: number;
  cohortsOnFleetBaseline: number;
}

/** The thresholds a gate applied. */
export interface GateThresholds {
  minRequests: number;
  p95LatencyRatio: number | null;
  maxP95LatencyMs: number | null;
  maxErrorRate: number;
  maxRestarts: number;
  maxFallbackRate: number;
}

/** `GET /v1/deployments/{name}/rollout`. */
export interface RolloutStatus {
  deployment: string;
  revision: number;
  fromRevision: number | null;
  phase: RolloutPhase;
  step: number;
  steps: number;
  nodes: { total: number; updated: number; pending: number; deferred: number; failed: number; rolledBack: number };
  gate: { evaluatedAt: string; result: 'pass' | 'fail' | 'hold'; reason: string; measured: GateMeasured; thresholds: GateThresholds } | null;
  conditions: Array<{ type: string; status: string; reason: string; message: string }>;
}

/** One entry of `GET /v1/events` (a rollout decision). */
export interface RolloutEvent {
  deployment: string;
  seq: number;
  time: string;
  type: string;
  revision: number;
  step: number;
  message: string;
  nodeIds?: string[];
  gate?: { result: string; reason: string; message: string; evaluatedAt: number; measured: GateMeasured; thresholds: GateThresholds };
}

/** One entry of `GET /v1/audit`. */
export interface AuditEntry {
  at: string;
  actor: string;
  action: string;
  target: string;
  details: Record<string, unknown>;
}

/** One entry of `GET /v1/deployments/{name}/revisions`. */
export interface RevisionView {
  revision: number;
  releaseDigest: string;
  commit: string | null;
  createdAt: string;
  release: Release;
}

/** `GET /v1/telemetry/latest?name=`: one metric's latest value per node. */
export interface LatestValues {
  name: string;
  items: Array<{ nodeId: string; value: number; t: number }>;
}

/** Rollout commands an operator can send. */
export type RolloutCommand = 'pause' | 'resume' | 'promote' | 'abort' | 'undo';

/** A keyed change from the watch stream: items to insert or replace, keys to drop. */
export interface Upserts<T> {
  upserted: T[];
  deleted: string[];
}

/** What `GET /v1/watch` sends, by event name. */
export type WatchEvent =
  | { kind: 'hello'; data: { pollMs: number; heartbeatMs: number; role: Role } }
  | { kind: 'nodes'; data: Upserts<Node> }
  | { kind: 'deployments'; data: Upserts<DeploymentView> }
  | { kind: 'rollouts'; data: Upserts<RolloutStatus> }
  | { kind: 'alerts'; data: { items: AlertView[] } }
  | { kind: 'events'; data: { items: RolloutEvent[] } }
  | { kind: 'audit'; data: { items: AuditEntry[] } };
