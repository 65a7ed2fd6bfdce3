import { canonicalJson, type DesiredState, type Labels, matchesSelector, type Selector, sha256Hex, type TrustedKey } from '@edgefleet/protocol';
import type { DeploymentRecord, RevisionRecord } from '../store/index.js';

/** A deployment with its parsed selector and the revision nodes should run. */
export interface TargetedDeployment {
  deployment: DeploymentRecord;
  selector: Selector;
  revision: RevisionRecord;
}

/**
 * What one node should run: every deployment whose selector matches its effective labels,
 * at the deployment's current revision. Pure, so the long-poll handler can recompute it
 * cheaply and compare versions.
 */
export function desiredStateFor(
  labels: Labels,
  targets: readonly TargetedDeployment[],
  trustedKeys: readonly TrustedKey[],
  requireSigned: boolean,
): DesiredState {
  const workloads = targets
    .filter((t) => matchesSelector(t.selector, labels))
    .map((t) => ({ deployment: t.deployment.name, revision: t.revision.revision, release: t.revision.release }))
    .sort((a, b) => (a.deployment < b.deployment ? -1 : 1));
  const body = { workloads, trustedKeys: [...trustedKeys], requireSigned };
  return { version: sha256Hex(canonicalJson(body)).slice(0, 32), ...body };
}
