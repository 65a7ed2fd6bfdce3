import {
  type DeploymentCondition,
  type DeploymentStatus,
  matchesSelector,
  type Node,
  type NodeWorkloadLine,
  type Selector,
  type WorkloadState,
  type WorkloadStatus,
} from '@edgefleet/protocol';
import type { RolloutStalledCondition } from '../controller/stall.js';
import type { DeploymentRecord } from '../store/index.js';

const SERVING: ReadonlySet<WorkloadState> = new Set(['running', 'degraded']);
const BROKEN: ReadonlySet<WorkloadState> = new Set(['failed', 'verification-failed']);

/**
 * A deployment's status from what its nodes reported. Targeted nodes that reported nothing
 * yet are `pending`; nodes that still report it after leaving the selector are listed until
 * they have stopped it. Applies are synchronous, so observedGeneration is the generation.
 * `rolloutStalled`: the controller's Stalled condition of its rollout, which makes the
 * deployment's `Stalled` true whatever its nodes report.
 */
export function deploymentStatus(
  d: DeploymentRecord,
  selector: Selector,
  nodes: readonly Node[],
  reports: ReadonlyMap<string, WorkloadStatus>,
  rolloutStalled?: RolloutStalledCondition,
): DeploymentStatus {
  const lines: NodeWorkloadLine[] = [];
  let targeted = 0;
  let serving = 0;
  const broken: string[] = [];
  for (const n of nodes) {
    const report = reports.get(n.id);
    const isTarget = matchesSelector(selector, n.labels);
    if (!isTarget && report === undefined) continue;
    const line: NodeWorkloadLine = report
      ? {
          node: n.name,
          nodeId: n.id,
          revision: report.revision,
          state: report.state,
          reason: report.reason,
          endpoint: report.endpoint,
          message: report.message,
        }
      : { node: n.name, nodeId: n.id, revision: null, state: 'pending', reason: null, endpoint: null, message: null };
    lines.push(line);
    if (!isTarget) continue;
    targeted++;
    if (line.revision === d.revision && SERVING.has(line.state)) serving++;
    if (line.revision === d.revision && BROKEN.has(line.state)) broken.push(`${n.name}: ${line.reason ?? line.state}`);
  }
  const allServing = serving === targeted;
  const nodeFailures = broken.length > 0 ? `revision ${d.revision} failed on ${broken.length} node(s): ${broken.slice(0, 5).join('; ')}` : '';
  const conditions: DeploymentCondition[] = [
    {
      type: 'Ready',
      status: allServing ? 'True' : 'False',
      reason: targeted === 0 ? 'NoTargets' : allServing ? 'AllNodesServing' : 'NodesNotServing',
      message: targeted === 0 ? 'the selector matches no node' : `${serving}/${targeted} nodes serve revision ${d.revision}`,
    },
    {
      type: 'Reconciling',
      status: !allServing && broken.length < targeted - serving ? 'True' : 'False',
      reason: allServing ? 'Converged' : 'Progressing',
      message: allServing ? `revision ${d.revision} is in place` : `${targeted - serving - broken.length} nodes are moving to revision ${d.revision}`,
    },
    rolloutStalled !== undefined
      ? { ...rolloutStalled, message: nodeFailures === '' ? rolloutStalled.message : `${rolloutStalled.message}; ${nodeFailures}` }
      : { type: 'Stalled', status: broken.length > 0 ? 'True' : 'False', reason: broken.length > 0 ? 'NodeFailures' : 'None', message: nodeFailures },
  ];
  return { revision: d.revision, generation: d.generation, observedGeneration: d.generation, conditions, nodes: lines };
}
