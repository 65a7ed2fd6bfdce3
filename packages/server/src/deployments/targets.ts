import { EdgefleetError } from '@edgefleet/protocol';
import type { ServerContext } from '../context.js';
import { describeCause } from '../controller/stall.js';
import { desiredRevisions, type RolloutState, RolloutStateSchema } from '../rollouts/state.js';
import { readRolloutStates } from '../rollouts/stored-states.js';
import type { TargetedDeployment } from './desired.js';
import { selectorOf } from './plan-apply.js';

/**
 * Every deployment with its selector and the revision each node runs, as desired state
 * needs them. Without `spec.rollout`, every selected node runs the current revision at
 * once. With it, the rollout state decides per node; until the controller has started the
 * rollout of a new revision, nodes keep what the previous rollout gave them (a canary is
 * never skipped by a race between apply and the controller).
 */
export async function loadTargets(ctx: ServerContext): Promise<TargetedDeployment[]> {
  const out: TargetedDeployment[] = [];
  // Current revisions and rollout states in one read each, not one per deployment.
  const [deployments, currentRevisions, rolloutOf] = await Promise.all([
    ctx.store.listDeployments(),
    ctx.store.listCurrentRevisions(),
    readRolloutStates(ctx.store),
  ]);
  const currentOf = new Map(currentRevisions.map((r) => [r.deployment, r]));
  for (const deployment of deployments) {
    // An apply between the reads may have moved the deployment on: then read the revision it
    // names (revisions never change). A deployment is written with its revision in one
    // transaction; a missing one would be a bug.
    const current = currentOf.get(deployment.name);
    const revision = current?.revision === deployment.revision ? current : await ctx.store.getRevision(deployment.name, deployment.revision);
    if (revision === undefined) continue;
    const target: TargetedDeployment = { deployment, selector: selectorOf(deployment.spec.selector), revision };
    if (deployment.spec.rollout !== undefined) {
      const stored = rolloutOf.get(deployment.name);
      if (stored !== undefined && !stored.readable) {
        out.push(stalledTarget(ctx, target, stored.cause));
        continue;
      }
      const parsed = stored === undefined ? undefined : RolloutStateSchema.safeParse(stored.state);
      if (parsed !== undefined && !parsed.success) {
        out.push(stalledTarget(ctx, target, describeCause(parsed.error)));
        continue;
      }
      const state = parsed?.data;
      const revisions = new Map((await ctx.store.listRevisions(deployment.name)).map((r) => [r.revision, r]));
      // Before the controller's first plan for this revision, nodes keep what they had: what
      // the previous rollout gave them, or the revision before this one.
      const previous = [...revisions.keys()].filter((r) => r < deployment.revision).at(-1) ?? null;
      const perNode = state === undefined ? () => previous : desiredRevisions(state);
      target.revisionFor = (nodeId) => {
        const n = perNode(nodeId);
        return n === null ? null : (revisions.get(n) ?? null);
      };
      target.revisionForInputs = {
        state: state === undefined ? null : withoutBookkeeping(state),
        previous,
        revisions: [...revisions.values()].map((r) => [r.revision, r.releaseDigest]),
      };
    }
    out.push(target);
  }
  return out;
}

/** What was logged about unreadable rollout states, per server: each cause once, not on every load. */
const reported = new WeakMap<ServerContext, Set<string>>();

/**
 * A deployment whose stored rollout state cannot be read: which revision each node should
 * run is unknown, so its nodes get no answer (503; they keep running what they run) while
 * nodes of every other deployment get theirs. The controller marks the rollout Stalled;
 * repairing the state ends it.
 */
function stalledTarget(ctx: ServerContext, target: TargetedDeployment, cause: string): TargetedDeployment {
  const name = target.deployment.name;
  const seen = reported.get(ctx) ?? new Set<string>();
  reported.set(ctx, seen);
  if (!seen.has(`${name}\n${cause}`)) {
    seen.add(`${name}\n${cause}`);
    ctx.log.warn({ deployment: name }, `desired state: the rollout state of ${name} is unreadable, its nodes keep what they run: ${cause}`);
  }
  return {
    ...target,
    revisionFor: () => {
      throw new EdgefleetError({
        code: 'unavailable',
        message: `the rollout of deployment "${name}" is stalled: its stored state is unreadable`,
        hint: 'the node keeps running what it runs; an operator must repair or undo the rollout (see its Stalled condition)',
      });
    },
    revisionForInputs: { stalled: cause },
  };
}

/** Rollout state fields that change on passes that move no node: gate evaluations, progress clocks, messages, event counts. */
const BOOKKEEPING: ReadonlyArray<keyof RolloutState> = [
  'gate',
  'message',
  'reason',
  'hold',
  'events',
  'updatedCount',
  'lastProgressAt',
  'reachedAt',
  'windowStart',
  'stepStartedAt',
];

/**
 * The rollout state less its bookkeeping. Kept by exclusion: a field added to the state
 * later counts as one that may move nodes, which costs a needless wake at worst.
 */
function withoutBookkeeping(state: RolloutState): Partial<RolloutState> {
  const rest: Partial<RolloutState> = { ...state };
  for (const field of BOOKKEEPING) delete rest[field];
  return rest;
}
