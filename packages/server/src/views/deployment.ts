import type { Node, WorkloadStatus } from '@edgefleet/protocol';
import { selectorOf } from '../deployments/plan-apply.js';
import { type DeploymentStatus, deploymentStatus } from '../deployments/status.js';
import type { DeploymentRecord, NodeWorkloadRecord } from '../store/index.js';

/** A deployment as `GET /v1/deployments/{name}` (and the list, and the watch feed) return it. */
export interface DeploymentView {
  apiVersion: 'edgefleet.dev/v1';
  kind: 'Deployment';
  metadata: { name: string; generation: number; source: string | null; createdAt: string; updatedAt: string };
  spec: DeploymentRecord['spec'];
  status: DeploymentStatus;
}

/** The deployment view, from every node's view and the workload reports of this deployment (node id → status). */
export function deploymentView(d: DeploymentRecord, nodes: readonly Node[], reports: ReadonlyMap<string, WorkloadStatus>): DeploymentView {
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
    status: deploymentStatus(d, selectorOf(d.spec.selector), nodes, reports),
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
