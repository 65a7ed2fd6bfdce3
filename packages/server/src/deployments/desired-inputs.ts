import { canonicalJson, type DesiredState, type Labels, matchesSelector, type RegistryAccess, type TrustedKey } from '@edgefleet/protocol';
import { sha256Hex } from '@edgefleet/protocol/node';
import type { ServerContext } from '../context.js';
import { loadRegistryAccess } from '../registries/access.js';
import { desiredStateFor, type TargetedDeployment } from './desired.js';
import { toTrustedKey } from './keys.js';
import { loadTargets } from './targets.js';

/** What one set of labels selects, and the answer when no selected target has a staged rollout. */
interface LabelsAnswer {
  selected: TargetedDeployment[];
  state: DesiredState | undefined;
}

/**
 * What desired state is made of apart from the node: the targeted deployments, the
 * trusted release keys and the container registries (with their opened passwords). Loaded once per change and shared by every long poll; a node's
 * answer is then a pure function of these and its labels, remembered per distinct label
 * set, so waking thousands of polls with like labels costs a lookup each.
 */
export class DesiredInputs {
  /**
   * Equal for two loads exactly when they give every node the same answer (the targets'
   * selectors, revisions and rollout inputs, the keys and the registries), so a load that changed nothing
   * for any node wakes no poll.
   */
  readonly key: string;
  private readonly byLabels = new Map<string, LabelsAnswer>();
  /**
   * Under a staged rollout: answers by label set and the revision each selected target gives
   * the node. Every node at the same step with like labels gets the same document; building
   * and hashing it per node (canonical JSON and SHA-256 of every release it holds) took 9 %
   * of the server's time while a rollout woke 7,500 polls (docs/BENCHMARKS.md).
   */
  private readonly byChoice = new Map<string, DesiredState>();

  constructor(
    readonly targets: readonly TargetedDeployment[],
    readonly trustedKeys: readonly TrustedKey[],
    readonly requireSigned: boolean,
    readonly registries: readonly RegistryAccess[] = [],
  ) {
    const targetKeys = targets.map((t) => ({
      deployment: t.deployment.name,
      selector: t.selector,
      revision: t.revision.revision,
      release: t.revision.releaseDigest,
      perNode: t.revisionForInputs ?? null,
    }));
    this.key = sha256Hex(canonicalJson({ targets: targetKeys, trustedKeys, requireSigned, registries }));
  }

  /** The node's desired state; `labelsKey` is {@link labelsKeyOf} of `labels`. */
  desiredFor(nodeId: string, labels: Labels, labelsKey: string): DesiredState {
    let answer = this.byLabels.get(labelsKey);
    if (answer === undefined) {
      const selected = this.targets.filter((t) => matchesSelector(t.selector, labels));
      // Under a staged rollout the answer depends on the node itself, not only its labels.
      const perNode = selected.some((t) => t.revisionFor !== undefined);
      answer = { selected, state: perNode ? undefined : desiredStateFor(nodeId, labels, selected, this.trustedKeys, this.requireSigned, this.registries) };
      this.byLabels.set(labelsKey, answer);
    }
    if (answer.state !== undefined) return answer.state;
    // A revision number names one revision of a deployment within these inputs (a deployment
    // deleted and made anew comes with new inputs, never with these): the choices and the
    // labels decide the whole document.
    const choices = answer.selected.map((t) => (t.revisionFor === undefined ? t.revision.revision : (t.revisionFor(nodeId)?.revision ?? 'none')));
    const key = `${labelsKey}\n${choices.join(',')}`;
    let state = this.byChoice.get(key);
    if (state === undefined) {
      state = desiredStateFor(nodeId, labels, answer.selected, this.trustedKeys, this.requireSigned, this.registries);
      this.byChoice.set(key, state);
    }
    return state;
  }
}

/** A node's labels as one string: nodes with equal labels share one answer. */
export function labelsKeyOf(labels: Labels): string {
  return canonicalJson(labels);
}

/** Reads the inputs from the store: deployments, their revisions and rollouts, release keys, registries. */
export async function loadDesiredInputs(ctx: ServerContext): Promise<DesiredInputs> {
  const targets = await loadTargets(ctx);
  const keys = (await ctx.store.listReleaseKeys()).map(toTrustedKey);
  return new DesiredInputs(targets, keys, ctx.requireSigned, await loadRegistryAccess(ctx));
}
