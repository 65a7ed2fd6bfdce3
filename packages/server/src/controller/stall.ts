/**
 * A deployment's rollout that the controller cannot reconcile: its `Stalled` condition.
 * One deployment's unreadable state or failed plan must not stop the rollouts of the
 * others, nor go unnoticed: the controller catches it, records the condition (persisted,
 * so every replica and view sees it) and moves on to the next deployment. The condition
 * clears by itself on the first pass that succeeds again.
 */
import { z } from 'zod';
import type { RolloutStallRecord } from '../store/index.js';

/**
 * Why a rollout is stalled (a closed set):
 * - `RolloutStateInvalid`: the stored rollout state is not valid JSON or not a rollout
 *   state. The controller leaves it as it is (it is the only record of which nodes got
 *   which revision) and retries each pass: repairing the stored state clears it.
 * - `PlanningFailed`: the planner refused the deployment's inputs (a strategy it cannot
 *   resolve, a bug). Retried each pass: a new revision that plans clears it.
 */
export type RolloutStallReason = 'RolloutStateInvalid' | 'PlanningFailed';

/** A failure that stalls one deployment's rollout (as opposed to a store error, retried quietly). */
export class RolloutStalledError extends Error {
  constructor(
    readonly reason: RolloutStallReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'RolloutStalledError';
  }
}

/** The `Stalled` condition as status views show it, in the Flux/Kubernetes style. */
export interface RolloutStalledCondition {
  type: 'Stalled';
  status: 'True';
  reason: RolloutStallReason;
  message: string;
  /** ISO 8601: when the rollout stalled. */
  lastTransitionTime: string;
  /** The deployment revision the controller saw. */
  observedRevision: number;
}

/** The condition a stored stall shows; undefined when the deployment is not stalled. */
export function stalledCondition(stall: RolloutStallRecord | undefined): RolloutStalledCondition | undefined {
  if (stall === undefined) return undefined;
  return {
    type: 'Stalled',
    status: 'True',
    reason: stall.reason as RolloutStallReason,
    message: stall.message,
    lastTransitionTime: new Date(stall.since).toISOString(),
    observedRevision: stall.revision,
  };
}

/** What one failed or succeeded pass over a deployment does to its stored condition. */
type StallChange =
  /** Nothing to write or log: the condition is as stored. */
  | { change: 'none' }
  /** Stalled anew, or for another reason, message or revision: write it, log it once. */
  | { change: 'stalled'; stall: RolloutStallRecord }
  /** The pass succeeded after a stall: clear it, log it once. */
  | { change: 'cleared'; previous: RolloutStallRecord };

/**
 * Decides the change. `failure` is null when the pass succeeded. Only a change is written
 * and logged, so a stalled deployment costs one log line per cause, not one per second.
 * `since` is kept while the rollout stays stalled (the status did not change).
 */
export function stallChange(
  previous: RolloutStallRecord | undefined,
  failure: RolloutStalledError | null,
  deployment: string,
  revision: number,
  now: number,
): StallChange {
  if (failure === null) return previous === undefined ? { change: 'none' } : { change: 'cleared', previous };
  const same = previous !== undefined && previous.reason === failure.reason && previous.message === failure.message && previous.revision === revision;
  if (same) return { change: 'none' };
  return { change: 'stalled', stall: { deployment, reason: failure.reason, message: failure.message, revision, since: previous?.since ?? now } };
}

/** Zod issues named in a message; the rest are counted (a state missing every field has dozens). */
const ISSUES_SHOWN = 3;

/** A failure's cause in one line: a zod error as `field: problem` pairs, anything else by its message. */
export function describeCause(err: unknown): string {
  if (err instanceof z.ZodError) {
    const shown = err.issues.slice(0, ISSUES_SHOWN).map((i) => `${i.path.length === 0 ? '(root)' : i.path.join('.')}: ${i.message}`);
    const more = err.issues.length - shown.length;
    return more > 0 ? `${shown.join('; ')}; and ${more} more` : shown.join('; ');
  }
  if (err instanceof Error) return err.message;
  return String(err);
}
