/**
 * `edgefleet rollout status -o json`: a rollout's state and its nodes, as a stable contract.
 */
import type { WorkloadState } from '@edgefleet/protocol';
import type { GateEvaluation, GateMeasured, GateThresholds } from './gates.js';
import { isActive, type RolloutState } from './state.js';
import type { RolloutNode, RolloutNodeWorkload, RolloutPhase } from './types.js';

/** A condition in the Flux/Kubernetes style; `reason` comes from a closed set. */
export interface RolloutCondition {
  /** `Ready`: the rollout succeeded. `Progressing`: it moves or waits to move. `GatesPassing`: the latest gate evaluation. */
  type: 'Ready' | 'Progressing' | 'GatesPassing';
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

/** Node counts; every targeted node is in exactly one bucket, so they add up to `total`. */
export interface RolloutNodeCounts {
  total: number;
  /** Serving the rollout's revision. */
  updated: number;
  /** Not yet picked, being switched, or waiting. */
  pending: number;
  /** Picked, unreachable for `offline.deferAfter`, and still away: they catch up on return. */
  deferred: number;
  /** Reported the rollout's revision as failed (the agent keeps serving the older one). */
  failed: number;
  /** Put back on the previous revision by a rollback, an abort or an undo. */
  rolledBack: number;
}

/** The `rollout status -o json` contract. */
export interface RolloutStatus {
  deployment: string;
  /** The revision the rollout moves to. */
  revision: number;
  fromRevision: number | null;
  phase: RolloutPhase;
  /** Current step, 1-based ("step 2 of 4"). */
  step: number;
  steps: number;
  nodes: RolloutNodeCounts;
  /** The latest gate evaluation; null before the first. */
  gate: {
    /** ISO 8601. */
    evaluatedAt: string;
    result: GateEvaluation['result'];
    reason: GateEvaluation['reason'];
    measured: GateMeasured;
    thresholds: GateThresholds;
  } | null;
  conditions: RolloutCondition[];
}

const HEALTHY: ReadonlySet<WorkloadState> = new Set(['running', 'degraded']);
const BROKEN: ReadonlySet<WorkloadState> = new Set(['failed', 'verification-failed']);

/** The revision a node's workload serves now, from what it reported. */
export function servingRevision(w: RolloutNodeWorkload | null): number | null {
  if (w === null) return null;
  if (w.servingRevision !== null) return w.servingRevision;
  return HEALTHY.has(w.state) ? w.revision : null;
}

/** Whether a node serves `revision` (updated and healthy: running, or degraded on its fallback). */
export function isUpdated(n: RolloutNode, revision: number): boolean {
  return servingRevision(n.workload) === revision;
}

/** Whether a node reported `revision` as failed (and does not serve it). */
export function isFailed(n: RolloutNode, revision: number): boolean {
  const w = n.workload;
  return w !== null && w.revision === revision && BROKEN.has(w.state) && servingRevision(w) !== revision;
}

/** Counts a rollout's targeted nodes into the status buckets. */
export function countNodes(state: RolloutState, nodes: readonly RolloutNode[]): RolloutNodeCounts {
  const rolledBack = new Set(state.rolledBack);
  const deferred = new Set(state.deferred);
  const counts: RolloutNodeCounts = { total: nodes.length, updated: 0, pending: 0, deferred: 0, failed: 0, rolledBack: 0 };
  for (const n of nodes) {
    if (rolledBack.has(n.id)) counts.rolledBack++;
    else if (isUpdated(n, state.revision)) counts.updated++;
    else if (isFailed(n, state.revision)) counts.failed++;
    else if (deferred.has(n.id) && !n.online) counts.deferred++;
    else counts.pending++;
  }
  return counts;
}

/**
 * A rollout's status from its persisted state and its targeted nodes. `steps` is the
 * strategy's step count. Reads only; the planner returns the same after each plan.
 */
export function rolloutStatus(
  state: RolloutState,
  steps: number,
  nodes: readonly RolloutNode[],
  counts: RolloutNodeCounts = countNodes(state, nodes),
): RolloutStatus {
  const g = state.gate;
  const moving = isActive(state.phase) && state.phase !== 'Paused';
  const conditions: RolloutCondition[] = [
    {
      type: 'Ready',
      status: state.phase === 'Succeeded' ? 'True' : 'False',
      reason: state.reason,
      message: state.phase === 'Succeeded' ? state.message : `${state.phase}: ${state.message}`,
    },
    { type: 'Progressing', status: moving ? 'True' : 'False', reason: state.reason, message: state.message },
    g === null
      ? { type: 'GatesPassing', status: 'Unknown', reason: 'NotEvaluated', message: 'no gate evaluated yet' }
      : { type: 'GatesPassing', status: g.result === 'pass' ? 'True' : g.result === 'fail' ? 'False' : 'Unknown', reason: g.reason, message: g.message },
  ];
  return {
    deployment: state.deployment,
    revision: state.revision,
    fromRevision: state.fromRevision,
    phase: state.phase,
    step: Math.min(state.stepIndex, Math.max(0, steps - 1)) + 1,
    steps,
    nodes: counts,
    gate:
      g === null
        ? null
        : { evaluatedAt: new Date(g.evaluatedAt).toISOString(), result: g.result, reason: g.reason, measured: g.measured, thresholds: g.thresholds },
    conditions,
  };
}
