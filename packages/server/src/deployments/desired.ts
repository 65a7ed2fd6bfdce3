import { canonicalJson, type DesiredState, type Labels, matchesSelector, type Selector, type TrustedKey } from '@edgefleet/protocol';
import { sha256Hex } from '@edgefleet/protocol/node';
import type { DeploymentRecord, RevisionRecord } from '../store/index.js';

/** A deployment with its parsed selector and the revision nodes should run. */
export interface TargetedDeployment {
  deployment: DeploymentRecord;
  selector: Selector;
  /** The deployment's current revision. */
  revision: RevisionRecord;
  /**
   * Under a staged rollout, the revision each node runs (null: none yet); undefined when
   * every selected node runs `revision` at once.
   */
  revisionFor?: (nodeId: string) => RevisionRecord | null;
  /**
   * Everything `revisionFor` answers from, as JSON: equal inputs give every node the same
   * answer, which lets long polls sleep through rollout bookkeeping that moves no node.
   */
  revisionForInputs?: unknown;
}

/**
 * What one node should run: every deployment whose selector matches its effective labels,
 * at the deployment's current revision. Pure, so the long-poll handler can recompute it
 * cheaply and compare versions.
 */
export function desiredStateFor(
  nodeId: string,
  labels: Labels,
  targets: readonly TargetedDeployment[],
  trustedKeys: readonly TrustedKey[],
  requireSigned: boolean,
): DesiredState {
  const workloads = targets
    .filter((t) => matchesSelector(t.selector, labels))
    .flatMap((t) => {
      const rev = t.revisionFor === undefined ? t.revision : t.revisionFor(nodeId);
      return rev === null
        ? []
        : [{ deployment: t.deployment.name, revision: rev.revision, release: rev.release, endpoint: t.deployment.spec.endpoint ?? null }];
    })
    .sort((a, b) => (a.deployment < b.deployment ? -1 : 1));
  const body = { workloads, trustedKeys: [...trustedKeys], requireSigned, registries: [] };
  return { version: sha256Hex(canonicalJson(body)).slice(0, 32), ...body };
}
