/**
 * One plan's working state, shared by the policy modules (`steps.ts`, `commands.ts`,
 * `endings.ts`): the rollout's scalar state being decided, the node table, and the actions
 * and journal entries the plan emits so far. The node lists of the state live in the table
 * until the plan is saved.
 */
import type { ResolvedRolloutStrategy, RolloutStrategy } from '@edgefleet/protocol';
import type { GateAggregates, GateEvaluation } from './gates.js';
import type { NodeTable } from './node-table.js';
import type { RolloutState } from './state.js';
import type { HoldReason, RolloutAction, RolloutEvent, RolloutEventType } from './types.js';

/** Hold reasons worth an event (once per step and reason): a person may have to act. */
const HOLD_EVENTS: ReadonlySet<HoldReason> = new Set(['SiteLimit', 'InsufficientData', 'Undecided']);

/** A rollout's state while a plan decides it, with what the plan emitted so far. */
export interface RolloutPass {
  readonly deployment: string;
  /** The strategy with its durations in ms. */
  readonly strategy: ResolvedRolloutStrategy;
  /** The strategy as written (`spec.rollout`): messages quote its durations. */
  readonly spec: RolloutStrategy;
  readonly now: number;
  readonly table: NodeTable;
  /** The state being decided; its node lists are stale until the plan saves the table's. */
  state: RolloutState;
  readonly actions: RolloutAction[];
  /** Gate aggregates the caller keeps between plans (`RolloutPlanInput.aggregates`). */
  readonly aggregates?: GateAggregates;
}

/** Appends a journal entry, numbered after the rollout's previous ones. */
export function recordEvent(pass: RolloutPass, type: RolloutEventType, message: string, extra: { nodeIds?: string[]; gate?: GateEvaluation } = {}): void {
  const st = pass.state;
  const event: RolloutEvent = {
    seq: st.events,
    at: pass.now,
    type,
    revision: st.revision,
    step: st.stepIndex + 1,
    message,
    ...(extra.nodeIds === undefined ? {} : { nodeIds: extra.nodeIds }),
    ...(extra.gate === undefined ? {} : { gate: extra.gate }),
  };
  st.events++;
  pass.actions.push({ action: 'event', event });
}

/** The rollout waits: a hold action on every plan, an event only when the reason is new for the step. */
export function hold(pass: RolloutPass, reason: HoldReason, message: string): void {
  const st = pass.state;
  pass.actions.push({ action: 'hold', reason, message });
  if (reason !== 'Paused') {
    st.phase = reason === 'InsufficientData' || reason === 'Undecided' ? 'Holding' : 'Progressing';
    st.reason = reason;
    st.message = message;
  }
  // One event per step and reason worth a person's attention, however often a plan
  // flips between waiting on a site and waiting on nodes.
  if (HOLD_EVENTS.has(reason) && st.hold !== reason) {
    st.hold = reason;
    recordEvent(pass, 'Holding', `${reason}: ${message}`);
  }
}

/** "step 2 of 4". */
export function stepLabel(pass: RolloutPass): string {
  return `step ${pass.state.stepIndex + 1} of ${pass.strategy.steps.length}`;
}

/** How a new rollout starts: its revisions, its scope (null: every targeted node), its first event number. */
interface RolloutStart {
  revision: number;
  from: number | null;
  specRevision: number;
  scope: string[] | null;
  events: number;
}

/** A new rollout's state at `now`: step 1, nothing picked yet. */
export function startingState(deployment: string, now: number, o: RolloutStart): RolloutState {
  return {
    v: 1,
    deployment,
    specRevision: o.specRevision,
    revision: o.revision,
    fromRevision: o.from,
    scope: o.scope,
    phase: 'Progressing',
    reason: 'NodesUpdating',
    message: `moving to revision ${o.revision}`,
    stepIndex: 0,
    startedAt: now,
    stepStartedAt: now,
    reachedAt: null,
    windowStart: now,
    lastProgressAt: now,
    updatedCount: 0,
    picked: [],
    assigned: [],
    deferred: [],
    rolledBack: [],
    promote: 'none',
    hold: null,
    gate: null,
    gateStreaks: {},
    events: o.events,
    finishedAt: null,
  };
}

/** Replaces the rollout with a new one (a supersede or an undo); the table forgets the old marks. */
export function beginRollout(pass: RolloutPass, o: RolloutStart): void {
  pass.state = startingState(pass.deployment, pass.now, o);
  pass.table.reset(o.scope);
  pass.table.setRevision(o.revision);
}

/**
 * The revision the node at `p` runs under `phase` (see `desiredRevisions`, which says the
 * same from a persisted state).
 */
export function desiredAt(pass: RolloutPass, p: number, phase: RolloutState['phase']): number | null {
  const st = pass.state;
  if (phase === 'Succeeded') return st.revision;
  const base = st.scope !== null && !pass.table.inScope(p) ? st.revision : st.fromRevision;
  if (phase === 'RolledBack' || phase === 'Aborted') return base;
  return pass.table.isAssigned(p) ? st.revision : base;
}

/** "revision 3", or what a null revision means. */
export function revisionName(revision: number | null): string {
  return revision === null ? 'no previous revision' : `revision ${revision}`;
}
