import type { DesiredState } from '@edgefleet/protocol';
import type { ServerContext } from '../context.js';
import { effectiveLabels } from '../nodes/view.js';
import { loadRegistryAccess } from '../registries/access.js';
import type { NodeRecord } from '../store/index.js';
import { desiredStateFor } from './desired.js';
import { labelsKeyOf } from './desired-inputs.js';
import type { DesiredWatch } from './desired-watch.js';
import { toTrustedKey } from './keys.js';
import { loadTargets } from './targets.js';

/**
 * The node's desired state, computed afresh from the store: labels, deployments, keys, registries (for
 * metered uploads; long polls share the watch's cached inputs instead).
 */
export async function desiredStateOfNode(ctx: ServerContext, nodeId: string): Promise<DesiredState | undefined> {
  const node = await ctx.store.getNode(nodeId);
  if (node === undefined) return undefined;
  const keys = (await ctx.store.listReleaseKeys()).map(toTrustedKey);
  return desiredStateFor(node.id, effectiveLabels(node), await loadTargets(ctx), keys, ctx.requireSigned, await loadRegistryAccess(ctx));
}

/** How a desired-state long poll ended. */
type DesiredPollOutcome =
  | { kind: 'changed'; desired: DesiredState }
  | { kind: 'unchanged' }
  /** The node was decommissioned while it waited. */
  | { kind: 'node-gone' }
  /** The agent went away (its connection closed). */
  | { kind: 'aborted' }
  /** The server is shutting down. */
  | { kind: 'closing' };

/** One long poll of a node's desired state. */
interface DesiredPoll {
  node: NodeRecord;
  /** The version the agent has; the poll waits while the desired state still has it. */
  since: string | undefined;
  /** Longest wait, in seconds (0: answer at once). */
  waitSeconds: number;
  /** When `node` was read (performance.now()): changes after it wake the poll. */
  readAt: number;
  /** Aborted when the agent goes away. */
  signal: AbortSignal;
  /** True once the server is shutting down. */
  closing: () => boolean;
}

/**
 * Answers a desired-state long poll: at once when the version differs from the agent's,
 * otherwise when it changes or the wait ends. Waits on the process's one watch of desired
 * state, which notices in-process changes at once and other replicas' within 2 s.
 */
export async function pollDesiredState(watch: DesiredWatch, ctx: ServerContext, poll: DesiredPoll): Promise<DesiredPollOutcome> {
  let node = poll.node;
  const deadline = Date.now() + poll.waitSeconds * 1000;
  const subscription = watch.subscribe(node.id, poll.readAt);
  try {
    let labels = effectiveLabels(node);
    let labelsKey = labelsKeyOf(labels);
    for (;;) {
      if (subscription.takeNodeChange()) {
        const fresh = await ctx.store.getNode(node.id);
        if (fresh === undefined) return { kind: 'node-gone' };
        node = fresh;
        labels = effectiveLabels(node);
        labelsKey = labelsKeyOf(labels);
      }
      const desired = (await watch.current()).desiredFor(node.id, labels, labelsKey);
      if (desired.version !== poll.since) return { kind: 'changed', desired };
      if (Date.now() >= deadline) return { kind: 'unchanged' };
      await subscription.wait(deadline, poll.signal);
      if (poll.signal.aborted) return { kind: 'aborted' };
      if (poll.closing()) return { kind: 'closing' };
    }
  } finally {
    subscription.close();
  }
}
