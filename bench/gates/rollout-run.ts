/**
 * One simulated rollout: the world (`world.ts`) and the real planner (`planRollout`, the
 * controller's pure core) in simulated time. Every `planEveryMs` the driver does what the
 * rollout controller does on a pass: it gathers the targeted nodes with what they last
 * reported and their stats since the state's window start (`statsWindow`), plans, keeps
 * the state as the store would (a JSON round trip through `parseRolloutState`), and tells
 * the nodes whose desired revision changed (`desiredRevisions`) — the long-poll nudge.
 *
 * A run stops when the rollout ends (Succeeded, RolledBack, Aborted), or early once its
 * answer is known (`stopAfterFirstBake`: a detection run stops when step 1's bake is over),
 * or at `maxMs` of simulated time.
 */
import { type RolloutStrategy, type RolloutStrategyInput, RolloutStrategySchema, resolveRolloutStrategy } from '@edgefleet/protocol';
import {
  desiredRevisions,
  parseRolloutState,
  planRollout,
  type RolloutNode,
  type RolloutState,
  statsWindow,
} from '../../packages/server/src/rollouts/index.js';
import { BASELINE_REVISION, DEPLOYMENT, NEW_REVISION, T0, type TrafficLevel, World, type WorldNode, type WorldParameters } from './world.js';

export interface RunOptions {
  nodes: number;
  seed: number;
  traffic: TrafficLevel;
  /** The new revision's latency multiplier (1: A/A). */
  regression: number;
  /** `spec.rollout` as written (defaults: the contract's steps and gates). */
  strategy?: RolloutStrategyInput;
  /** Cadence of the planner passes (`nextPlanAt`). */
  cadence: PlanCadence;
  /** Stop once step 1's bake is over without a rollback (detection runs). */
  stopAfterFirstBake: boolean;
  maxMs: number;
  /** The world's parameters (default `WORLD`). */
  parameters?: WorldParameters;
  /**
   * Baseline traffic simulated before the rollout starts (default `LEAD_IN_MS`): a real
   * fleet has run its current revision for hours when a rollout begins, and the gates read
   * each node's samples from before the step to tell its speed.
   */
  leadInMs?: number;
}

/** Default `leadInMs`: 30 minutes of the current revision before the rollout. */
export const LEAD_IN_MS = 30 * 60_000;

/** How a run ended. */
export type RunOutcome =
  /** The rollout succeeded: every node on the new revision. */
  | 'succeeded'
  /** Rolled back (or paused, with onFailure: pause) by a gate or a timeout. */
  | 'rolled-back'
  /** A detection run that reached the end of step 1's bake without a rollback. */
  | 'passed-first-bake'
  /** Still going at maxMs. */
  | 'unfinished';

export interface RunResult {
  outcome: RunOutcome;
  /** The state's reason at the end (GateFailed, Succeeded, …). */
  reason: string;
  /** Simulated ms from the rollout's start to its rollback (null unless rolled back). */
  rolledBackAfterMs: number | null;
  /** Whether the rollback came before step 1's bake was over (or before step 1 was reached). */
  withinFirstBake: boolean;
  /** 0-based step at the end. */
  step: number;
  /** The last gate message (why it rolled back, or the last verdict). */
  message: string;
  /**
   * Whether the last gate evaluation compared a canary cohort with the fleet-wide baseline
   * (too little baseline data in its own site × accelerator cohort): a mix of accelerators.
   */
  onFleetBaseline: boolean;
  plans: number;
  simulatedMs: number;
}

/** The default strategy of the contract, as `spec.rollout: {}` parses. */
export function defaultStrategy(input: RolloutStrategyInput = {}): RolloutStrategy {
  return RolloutStrategySchema.parse(input);
}

/**
 * When the planner passes. The controller passes every second, but a verdict that rests on
 * the window's data moves little when a few seconds are added to many minutes: passes come
 * every `minMs` while the gate window is young, then every 1/`perWindow` of its age, at most
 * `maxMs` apart. With 5 s, 1/20 and 60 s: every 5 s for the first 100 s of a window (a
 * step's canaries switching and warming up), every 30 s at 10 minutes, every minute after
 * 20 minutes. This keeps a thousand full rollouts to minutes (the gates read every sample
 * of the window on every pass).
 */
export interface PlanCadence {
  minMs: number;
  perWindow: number;
  maxMs: number;
}

export const DEFAULT_CADENCE: PlanCadence = { minMs: 5_000, perWindow: 20, maxMs: 60_000 };

/** The next pass after one at `now`, for a gate window that started at `windowStart`. */
export function nextPlanAt(c: PlanCadence, now: number, windowStart: number): number {
  const gap = Math.min(c.maxMs, Math.max(c.minMs, (now - windowStart) / c.perWindow));
  return now + Math.round(gap / 1000) * 1000;
}

/** Runs one rollout in a fresh world. Pure: the same options give the same result. */
export function runRollout(o: RunOptions): RunResult {
  const strategy = defaultStrategy(o.strategy);
  const firstBakeMs = bakeMs(strategy);
  const start = T0 + (o.leadInMs ?? LEAD_IN_MS);
  const world = new World({
    nodes: o.nodes,
    seed: o.seed,
    traffic: o.traffic,
    regression: o.regression,
    horizonMs: start - T0 + o.maxMs,
    ...(o.parameters === undefined ? {} : { parameters: o.parameters }),
  });
  let state: RolloutState | null = null;
  let windowFrom = Number.NEGATIVE_INFINITY;
  let firstReachedAt: number | null = null;
  let plans = 0;
  let message = '';
  let onFleetBaseline = false;
  const labels = world.nodes.map((n) => ({ 'geolocation.site': `site-${String(n.site).padStart(3, '0')}`, 'ai.accelerator': n.accelerator }));
  const told = new Int32Array(world.nodes.length).fill(BASELINE_REVISION);

  for (let t = start; t <= start + o.maxMs; t = nextPlanAt(o.cadence, t, state?.windowStart ?? t)) {
    world.advanceTo(t);
    const window = statsWindow(state);
    if (window !== null && window.from !== windowFrom) {
      world.prune(window.from);
      windowFrom = window.from;
    }
    const plan = planRollout({
      deployment: DEPLOYMENT,
      strategy,
      revision: NEW_REVISION,
      fromRevision: BASELINE_REVISION,
      nodes: world.nodes.map((n, i) => rolloutNode(n, labels[i] as Record<string, string>)),
      state,
      now: t,
    });
    plans++;
    state = parseRolloutState(JSON.parse(JSON.stringify(plan.state)));
    // The verdict that decided (a step passed or failed) if any, else the latest one: a plan
    // that passes a step goes on to evaluate the next, whose verdict is then the state's.
    const decided = plan.actions.find((a) => a.action === 'passGate' || a.action === 'failGate');
    const verdict = decided?.action === 'passGate' || decided?.action === 'failGate' ? decided.evaluation : state.gate;
    if (verdict !== null) {
      message = verdict.message;
      // Read loosely: the field is main's gates' and may go with a new gate design.
      const measured = verdict.measured as unknown as Record<string, unknown> | undefined;
      onFleetBaseline = typeof measured?.cohortsOnFleetBaseline === 'number' && measured.cohortsOnFleetBaseline > 0;
    }
    if (state.stepIndex === 0 && state.reachedAt !== null) firstReachedAt = state.reachedAt;
    if (plan.actions.some((a) => a.action === 'assign' || a.action === 'rollback' || a.action === 'finish')) {
      const desired = desiredRevisions(state);
      world.nodes.forEach((n, i) => {
        const want = desired(n.id) ?? BASELINE_REVISION;
        if (told[i] !== want) {
          told[i] = want;
          world.tell(n, want, t);
        }
      });
    }
    const ended = endOf(state, t, firstReachedAt, firstBakeMs, start);
    if (ended !== null) return { ...ended, message: ended.outcome === 'succeeded' ? state.message : message, onFleetBaseline, plans, simulatedMs: t - start };
    if (o.stopAfterFirstBake && (state.stepIndex > 0 || (firstReachedAt !== null && t >= firstReachedAt + firstBakeMs))) {
      return {
        outcome: 'passed-first-bake',
        reason: state.reason,
        rolledBackAfterMs: null,
        withinFirstBake: false,
        step: state.stepIndex,
        message,
        onFleetBaseline,
        plans,
        simulatedMs: t - start,
      };
    }
  }
  return {
    outcome: 'unfinished',
    reason: state?.reason ?? 'none',
    rolledBackAfterMs: null,
    withinFirstBake: false,
    step: state?.stepIndex ?? 0,
    message,
    onFleetBaseline,
    plans,
    simulatedMs: o.maxMs,
  };
}

/**
 * The outcome of a state, or null while the rollout goes on. A rollout that failed and
 * paused (`onFailure: pause`) counts as rolled back: the release was judged bad.
 */
export function endOf(
  state: Pick<RolloutState, 'phase' | 'reason' | 'stepIndex'>,
  now: number,
  firstReachedAt: number | null,
  firstBakeMs: number,
  /** When the rollout started (its first plan). */
  rolloutStart = T0,
): Omit<RunResult, 'message' | 'onFleetBaseline' | 'plans' | 'simulatedMs'> | null {
  const judgedBad = state.phase === 'RolledBack' || (state.phase === 'Paused' && state.reason !== 'PausedByOperator');
  if (judgedBad) {
    return {
      outcome: 'rolled-back',
      reason: state.reason,
      rolledBackAfterMs: now - rolloutStart,
      withinFirstBake: state.stepIndex === 0 && (firstReachedAt === null || now <= firstReachedAt + firstBakeMs),
      step: state.stepIndex,
    };
  }
  if (state.phase === 'Succeeded' || state.phase === 'Aborted')
    return {
      outcome: state.phase === 'Succeeded' ? 'succeeded' : 'rolled-back',
      reason: state.reason,
      rolledBackAfterMs: null,
      withinFirstBake: false,
      step: state.stepIndex,
    };
  return null;
}

/** The first step's bake in ms. */
function bakeMs(strategy: RolloutStrategy): number {
  return resolveRolloutStrategy(strategy).steps[0]?.bakeMs ?? 0;
}

/** What the controller's `targetedNodes` gives the planner for one node, with its stats in the window. */
function rolloutNode(n: WorldNode, labels: Record<string, string>): RolloutNode {
  return {
    id: n.id,
    labels,
    online: true,
    lastSeen: n.lastSeen,
    workload: { revision: n.reported.revision, state: n.reported.state, servingRevision: n.reported.servingRevision },
    stats: n.stats,
  };
}
