import {
  canonicalJson,
  type DesiredState,
  type DesiredWorkload,
  type Labels,
  matchesSelector,
  parseImageReference,
  type RegistryAccess,
  type Release,
  registryHostOf,
  type Selector,
  type TrustedKey,
} from '@edgefleet/protocol';
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
  registries: readonly RegistryAccess[] = [],
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
  const body = { workloads, trustedKeys: [...trustedKeys], requireSigned, registries: registriesUsedBy(workloads, registries) };
  return { version: sha256Hex(canonicalJson(body)).slice(0, 32), ...body };
}

/** The registry hosts (`HOST[:PORT]`, lower-case) a release pulls images from: its container runtime's and its container fallback's. */
export function imageHostsOf(release: Release): string[] {
  const images: string[] = [];
  // Releases stored before runtimes existed have none (their defaults are filled in on the node).
  const runtime = release.runtime as Release['runtime'] | undefined;
  if (runtime?.kind === 'container' && runtime.image !== undefined) images.push(runtime.image);
  if (release.fallback !== undefined && 'kind' in release.fallback && release.fallback.kind === 'container') images.push(release.fallback.image);
  const hosts = new Set<string>();
  for (const image of images) {
    try {
      hosts.add(parseImageReference(image).registry.toLowerCase());
    } catch {
      // Releases are validated at apply: an unparsable image can't be pulled with any registry.
    }
  }
  return [...hosts];
}

/**
 * The registries a node needs, and only those: the ones whose host an image of its
 * workloads' revisions names (the primary and the fallback image). A revision the node
 * retains to switch back to is already in its image store; a rollback puts it back in
 * the desired state, and with it its registry. Sorted by name, so equal inputs give an
 * equal answer (and desired-state version).
 */
export function registriesUsedBy(workloads: readonly Pick<DesiredWorkload, 'release'>[], registries: readonly RegistryAccess[]): RegistryAccess[] {
  if (registries.length === 0) return [];
  const hosts = new Set(workloads.flatMap((w) => imageHostsOf(w.release)));
  if (hosts.size === 0) return [];
  return registries
    .filter((r) => {
      try {
        return hosts.has(registryHostOf(r.server).toLowerCase());
      } catch {
        return false;
      }
    })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
