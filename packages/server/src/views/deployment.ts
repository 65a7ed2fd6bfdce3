import type { DeploymentView, Node, WorkloadStatus } from '@edgefleet/protocol';
import { type RolloutStalledCondition, stalledCondition } from '../controller/stall.js';
import { selectorOf } from '../deployments/plan-apply.js';
import { deploymentStatus } from '../deployments/status.js';
import type { DeploymentRecord, NodeWorkloadRecord, RolloutStallRecord } from '../store/index.js';

/**
 * The deployment view (`GET /v1/deployments/{name}`, the list, the watch feed), from every
 * node's view, the workload reports of this deployment (node id → status) and its rollout's
 * stored stall, if any.
 */
export function deploymentView(
  d: DeploymentRecord,
  nodes: readonly Node[],
  reports: ReadonlyMap<string, WorkloadStatus>,
  stall?: RolloutStallRecord,
): DeploymentView {
  const stalled: RolloutStalledCondition | undefined = stalledCondition(stall);
  return {
    apiVersion: 'edgefleet.dev/v1',
    kind: 'Deployment',
    metadata: {
      name: d.name,
      generation: d.generation,
      source: d.source,
      createdAt: new Date(d.createdAt).toISOString(),
      updatedAt: new Date(d.updatedAt).toISOString(),
    },
    spec: d.spec,
    status: deploymentStatus(d, selectorOf(d.spec.selector), nodes, reports, stalled),
  };
}

/** Workload reports grouped by deployment (deployment name → node id → status), from one read of them all. */
export function reportsByDeployment(workloads: readonly NodeWorkloadRecord[]): Map<string, Map<string, WorkloadStatus>> {
  const out = new Map<string, Map<string, WorkloadStatus>>();
  for (const w of workloads) {
    const m = out.get(w.status.deployment) ?? new Map<string, WorkloadStatus>();
    m.set(w.nodeId, w.status);
    out.set(w.status.deployment, m);
  }
  return out;
}

/** Stored stalls by deployment name, from one read of them all. */
export function stallsByDeployment(stalls: readonly RolloutStallRecord[]): Map<string, RolloutStallRecord> {
  return new Map(stalls.map((s) => [s.deployment, s]));
}
