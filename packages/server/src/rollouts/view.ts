import { matchesSelector, RolloutStrategySchema, type WorkloadStatus } from '@edgefleet/protocol';
import { selectorOf } from '../deployments/plan-apply.js';
import { effectiveLabels, nodeStatus } from '../nodes/view.js';
import type { DeploymentRecord, NodeRecord } from '../store/index.js';
import { parseRolloutState } from './state.js';
import { type RolloutStatus, rolloutStatus } from './status.js';
import type { RolloutNode } from './types.js';

/**
 * The nodes a deployment targets, as the rollout planner and status see them, from rows
 * already read (every node; this deployment's reports by node id).
 */
export function rolloutNodesOf(
  d: DeploymentRecord,
  records: readonly NodeRecord[],
  reports: ReadonlyMap<string, WorkloadStatus>,
  now: number,
  heartbeatIntervalMs: number,
): RolloutNode[] {
  const selector = selectorOf(d.spec.selector);
  return records
    .filter((n) => matchesSelector(selector, effectiveLabels(n)))
    .map((n) => {
      const w = reports.get(n.id);
      return {
        id: n.id,
        labels: effectiveLabels(n),
        online: nodeStatus(n, now, heartbeatIntervalMs) === 'online',
        lastSeen: n.lastSeen,
        workload: w === undefined ? null : { revision: w.revision, state: w.state, servingRevision: w.servingRevision ?? null },
      };
    });
}

/**
 * The rollout view of `GET /v1/deployments/{name}/rollout` (and the watch feed), from the
 * stored state (validated here: throws when unreadable) and the targeted nodes.
 * `d.spec.rollout` must be set.
 */
export function rolloutView(d: DeploymentRecord, stored: unknown, targeted: readonly RolloutNode[]): RolloutStatus {
  return rolloutStatus(parseRolloutState(stored), RolloutStrategySchema.parse(d.spec.rollout).steps.length, targeted);
}
