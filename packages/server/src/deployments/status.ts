import { matchesSelector, type Node, type Selector, type WorkloadState, type WorkloadStatus } from '@edgefleet/protocol';
import type { DeploymentRecord } from '../store/index.js';

/** A condition in the Flux/Kubernetes style, with a reason from a closed set. */
export interface Condition {
  type: 'Ready' | 'Reconciling' | 'Stalled';
  status: 'True' | 'False';
  reason: string;
  message: string;
}

/** One node's line in a deployment's status (the `deployments get -o json` contract). */
export interface NodeWorkloadLine {
  node: string;
  nodeId: string;
  revision: number | null;
  state: WorkloadState;
  reason: string | null;
  endpoint: string | null;
  message: string | null;
}

export interface DeploymentStatus {
  revision: number;
  generation: number;
  observedGeneration: number;
  conditions: Condition[];
  nodes: NodeWorkloadLine[];
}

const SERVING: ReadonlySet<WorkloadState> = new Set(['running', 'degraded']);
const BROKEN: ReadonlySet<WorkloadState> = new Set(['failed', 'verification-failed']);

/**
 * A deployment's status from what its nodes reported. Targeted nodes that reported nothing
 * yet are `pending`; nodes that still report it after leaving the selector are listed until
 * they have stopped it. Applies are synchronous, so observedGeneration is the generation.
 */
export function deploymentStatus(
  d: DeploymentRecord,
  selector: Selector,
  nodes: readonly Node[],
  reports: ReadonlyMap<string, WorkloadStatus>,
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
  const conditions: Condition[] = [
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
    {
      type: 'Stalled',
      status: broken.length > 0 ? 'True' : 'False',
      reason: broken.length > 0 ? 'NodeFailures' : 'None',
      message: broken.length > 0 ? `revision ${d.revision} failed on ${broken.length} node(s): ${broken.slice(0, 5).join('; ')}` : '',
    },
  ];
  return { revision: d.revision, generation: d.generation, observedGeneration: d.generation, conditions, nodes: lines };
}
