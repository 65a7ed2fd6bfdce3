/**
 * `edgefleet rollout status -o json`: a rollout's state and its nodes, in the shape of the
 * route table's RolloutStatus (packages/protocol/src/api/views.ts).
 */
import type { RolloutCondition, RolloutNodeCounts, RolloutStatus, WorkloadState } from '@edgefleet/protocol';
import type { RolloutStalledCondition } from '../controller/stall.js';
import { isActive, type RolloutState } from './state.js';
import type { RolloutNode, RolloutNodeWorkload } from './types.js';

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
 * strategy's step count; `stalled` the controller's Stalled condition, if any. Reads only;
 * the planner returns the same after each plan.
 */
export function rolloutStatus(
  state: RolloutState,
  steps: number,
  nodes: readonly RolloutNode[],
  counts: RolloutNodeCounts = countNodes(state, nodes),
  stalled?: RolloutStalledCondition,
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
  if (stalled !== undefined) conditions.push(stalled);
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
        : {
            evaluatedAt: new Date(g.evaluatedAt).toISOString(),
            result: g.result,
            reason: g.reason,
            measured: g.measured,
            thresholds: g.thresholds,
            message: g.message,
            gates: g.gates,
          },
    conditions,
  };
}

/**
 * The status of a rollout whose stored state cannot be read: its phase is unknown, its
 * nodes are not counted, and the Stalled condition says why (the controller leaves the
 * state as it is; repairing it clears the condition).
 */
export function stalledRolloutStatus(deployment: string, revision: number, steps: number, stalled: RolloutStalledCondition): RolloutStatus {
  return {
    deployment,
    revision,
    fromRevision: null,
    phase: 'Stalled',
    step: 1,
    steps,
    nodes: { total: 0, updated: 0, pending: 0, deferred: 0, failed: 0, rolledBack: 0 },
    gate: null,
    conditions: [
      { type: 'Ready', status: 'False', reason: stalled.reason, message: `Stalled: ${stalled.message}` },
      { type: 'Progressing', status: 'False', reason: stalled.reason, message: stalled.message },
      { type: 'GatesPassing', status: 'Unknown', reason: 'NotEvaluated', message: 'the rollout state is unreadable' },
      stalled,
    ],
  };
}
