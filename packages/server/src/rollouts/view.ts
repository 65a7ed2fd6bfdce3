import { matchesSelector, type RolloutStatus, RolloutStrategySchema, type WorkloadStatus } from '@edgefleet/protocol';
import { describeCause, stalledCondition } from '../controller/stall.js';
import { selectorOf } from '../deployments/plan-apply.js';
import { effectiveLabels, nodeStatus } from '../nodes/view.js';
import type { DeploymentRecord, NodeLabelsRecord, RolloutStallRecord } from '../store/index.js';
import { RolloutStateSchema } from './state.js';
import { rolloutStatus, stalledRolloutStatus } from './status.js';
import type { RolloutNode } from './types.js';

/**
 * The nodes a deployment targets, as the rollout planner and status see them, from rows
 * already read (every node; this deployment's reports by node id).
 */
export function rolloutNodesOf(
  d: DeploymentRecord,
  records: readonly NodeLabelsRecord[],
  reports: ReadonlyMap<string, WorkloadStatus>,
  now: number,
  heartbeatIntervalMs: number,
): RolloutNode[] {
  const selector = selectorOf(d.spec.selector);
  const nodes: RolloutNode[] = [];
  for (const n of records) {
    const labels = effectiveLabels(n);
    if (!matchesSelector(selector, labels)) continue;
    const w = reports.get(n.id);
    nodes.push({
      id: n.id,
      labels,
      online: nodeStatus(n, now, heartbeatIntervalMs, labels) === 'online',
      lastSeen: n.lastSeen,
      workload: w === undefined ? null : { revision: w.revision, state: w.state, servingRevision: w.servingRevision ?? null },
      // Attached by the controller's pass (one object shape for every node: V8 reads them faster).
      stats: undefined,
    });
  }
  return nodes;
}

/**
 * The rollout view of `GET /v1/deployments/{name}/rollout` (and the watch feed), from the
 * stored state and the targeted nodes, with the controller's stored stall if any. A stored
 * state that does not parse is answered with the Stalled condition instead of an error (the
 * stored stall's words, or the parse error's before the controller has stored one).
 * `d.spec.rollout` must be set.
 */
export function rolloutView(d: DeploymentRecord, stored: unknown, targeted: readonly RolloutNode[], stall?: RolloutStallRecord): RolloutStatus {
  const steps = stepsOf(d);
  const parsed = RolloutStateSchema.safeParse(stored);
  if (!parsed.success) return unreadableRolloutView(d, describeCause(parsed.error), stall);
  return rolloutStatus(parsed.data, steps, targeted, undefined, stalledCondition(stall));
}

/** The step count of a deployment's rollout strategy (`d.spec.rollout` must be set). */
function stepsOf(d: DeploymentRecord): number {
  return RolloutStrategySchema.parse(d.spec.rollout).steps.length;
}

/**
 * The rollout view of a deployment whose stored state cannot be read (`cause`: why): the
 * Stalled condition, in the stored stall's words once the controller has stored one.
 */
export function unreadableRolloutView(d: DeploymentRecord, cause: string, stall?: RolloutStallRecord): RolloutStatus {
  const stalled = stalledCondition(stall) ?? {
    type: 'Stalled',
    status: 'True',
    reason: 'RolloutStateInvalid',
    message: `the stored rollout state is unreadable: ${cause}`,
    lastTransitionTime: new Date().toISOString(),
    observedRevision: d.revision,
  };
  return stalledRolloutStatus(d.name, d.revision, stepsOf(d), stalled);
}
