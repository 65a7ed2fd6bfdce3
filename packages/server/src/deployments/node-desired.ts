import type { DesiredState } from '@edgefleet/protocol';
import type { ServerContext } from '../context.js';
import { effectiveLabels } from '../nodes/view.js';
import type { NodeRecord } from '../store/index.js';
import { labelsKeyOf } from './desired-inputs.js';
import type { DesiredWatch } from './desired-watch.js';

/**
 * The node's desired state as the store has it now (the node as the caller read it): from
 * the watch's shared inputs after a check of the store's change marks, so a burst of
 * uploads and downloads after a release costs a lookup each instead of a load of every
 * deployment, key and registry each (issue 18: 1,000 nodes reacting at once).
 */
export async function desiredStateOf(watch: DesiredWatch, node: NodeRecord): Promise<DesiredState> {
  const labels = effectiveLabels(node);
  return (await watch.fresh()).desiredFor(node.id, labels, labelsKeyOf(labels));
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
  /**
   * Resolves when a changed answer may go (deployments/answer-pacer.ts), given how much longer
   * the poll would have waited; at once when absent.
   */
  pace?: (signal: AbortSignal, pollLeftMs: number) => Promise<void>;
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
    let paced = poll.pace === undefined;
    let waited = false;
    for (;;) {
      if (subscription.takeNodeChange()) {
        const fresh = await ctx.store.getNode(node.id);
        if (fresh === undefined) return { kind: 'node-gone' };
        node = fresh;
        labels = effectiveLabels(node);
        labelsKey = labelsKeyOf(labels);
      }
      const desired = (await watch.current()).desiredFor(node.id, labels, labelsKey);
      if (desired.version !== poll.since) {
        if (paced) return { kind: 'changed', desired };
        // Wait for the pacer, then compute again: the answer sent is the one current then.
        // A poll that waited for this change could have gone on waiting until its end; one that
        // came with an old version expects its answer now.
        await poll.pace?.(poll.signal, waited ? Math.max(0, deadline - Date.now()) : 0);
        paced = true;
        if (poll.signal.aborted) return { kind: 'aborted' };
        if (poll.closing()) return { kind: 'closing' };
        continue;
      }
      if (Date.now() >= deadline) return { kind: 'unchanged' };
      await subscription.wait(deadline, poll.signal);
      waited = true;
      if (poll.signal.aborted) return { kind: 'aborted' };
      if (poll.closing()) return { kind: 'closing' };
    }
  } finally {
    subscription.close();
  }
}
