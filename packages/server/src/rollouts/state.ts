/**
 * A rollout's persisted state: everything the planner decided so far, as plain JSON. The
 * executor stores it (with the plan's events) before acting on the plan's actions, so a
 * server killed at any point resumes from it without repeating or skipping a step.
 */
import { GateMeasuredSchema, GateNameSchema, GateReasonSchema, GateResultSchema, GateThresholdsSchema, GateVerdictSchema } from '@edgefleet/protocol';
import { z } from 'zod';
import { SPEED_LOOKBACK_MS } from './analysis/speed.js';
import type { GateEvaluation, GateStreaks } from './gates.js';
import type { HoldReason, RolloutPhase, RolloutReason } from './types.js';

export interface RolloutState {
  /** Format version of this object. */
  v: 1;
  deployment: string;
  /**
   * The deployment revision this rollout answers. Equal to `revision` except for an undo,
   * which moves the nodes back to the previous revision while the deployment's revision
   * stays; a deployment revision other than this one supersedes the rollout.
   */
  specRevision: number;
  /** The revision nodes move to. */
  revision: number;
  /** The revision they move from (the baseline); null for a deployment's first revision. */
  fromRevision: number | null;
  /**
   * The nodes this rollout moves, or null for every targeted node. Only an undo of an
   * unfinished rollout has a scope: the nodes that had got the revision being undone.
   */
  scope: string[] | null;
  phase: RolloutPhase;
  reason: RolloutReason;
  message: string;
  /** Current step, 0-based. */
  stepIndex: number;
  startedAt: number;
  stepStartedAt: number;
  /** When the current step first had `minReachedPercent` of its nodes updated (its bake starts); null before. */
  reachedAt: number | null;
  /** Start of the gate window: the step's start, or the last resume. */
  windowStart: number;
  /** Last time the rollout made progress (step start, a node updated, resume): the progress deadline's clock. */
  lastProgressAt: number;
  /** Picked nodes updated at the last plan (to notice progress). */
  updatedCount: number;
  /** Nodes picked so far (cumulative over steps), in pick order. */
  picked: string[];
  /** Picked nodes told to run `revision`, in the order they were told. */
  assigned: string[];
  /** Picked nodes deferred because they stayed unreachable; they catch up when they return. */
  deferred: string[];
  /** Nodes put back on the previous revision by a rollback. */
  rolledBack: string[];
  /** `promote` in effect: skip the current step's bake and gates, or every remaining step's. */
  promote: 'none' | 'step' | 'full';
  /** The last hold reason this step wrote an event for (SiteLimit, InsufficientData, Undecided); reset at each step and resume. */
  hold: HoldReason | null;
  /** The latest gate evaluation. */
  gate: GateEvaluation | null;
  /**
   * Each gate's failing streak in the current step (reset at each step and resume). Always
   * written by the planner; absent (none) in states stored before streaks existed.
   */
  gateStreaks?: GateStreaks;
  /** Events written so far; the next event's `seq`. */
  events: number;
  finishedAt: number | null;
}

/**
 * A stored gate evaluation: the protocol's view shapes, so a stored state and the status read
 * from it cannot drift apart. States stored before per-gate verdicts read back with none.
 */
const GateEvaluationSchema = z.object({
  result: GateResultSchema,
  reason: GateReasonSchema,
  failed: z.array(GateNameSchema),
  message: z.string(),
  evaluatedAt: z.number(),
  window: z.object({ from: z.number(), to: z.number() }),
  measured: GateMeasuredSchema,
  thresholds: GateThresholdsSchema,
  gates: z.array(GateVerdictSchema).default([]),
});

const GateStreakSchema = z.object({ failures: z.number().int().nonnegative(), countedAt: z.number() });

/** Validates a stored state (JSON read back from the store). */
export const RolloutStateSchema = z.object({
  v: z.literal(1),
  deployment: z.string(),
  specRevision: z.number().int(),
  revision: z.number().int(),
  fromRevision: z.number().int().nullable(),
  scope: z.array(z.string()).nullable(),
  phase: z.enum(['Progressing', 'Holding', 'Paused', 'Succeeded', 'RolledBack', 'Aborted']),
  reason: z.enum([
    'NodesUpdating',
    'SiteLimit',
    'Baking',
    'InsufficientData',
    'Undecided',
    'Succeeded',
    'GateFailed',
    'NodesFailed',
    'ProgressDeadlineExceeded',
    'AnalysisTimeExceeded',
    'PausedByOperator',
    'Aborted',
    'Undone',
  ]),
  message: z.string(),
  stepIndex: z.number().int().nonnegative(),
  startedAt: z.number(),
  stepStartedAt: z.number(),
  reachedAt: z.number().nullable(),
  windowStart: z.number(),
  lastProgressAt: z.number(),
  updatedCount: z.number().int().nonnegative(),
  picked: z.array(z.string()),
  assigned: z.array(z.string()),
  deferred: z.array(z.string()),
  rolledBack: z.array(z.string()),
  promote: z.enum(['none', 'step', 'full']),
  hold: z.enum(['NodesUpdating', 'SiteLimit', 'Baking', 'InsufficientData', 'Undecided', 'Paused']).nullable(),
  gate: GateEvaluationSchema.nullable(),
  // States stored before streaks existed: no gate was failing in a row.
  gateStreaks: z.partialRecord(GateNameSchema, GateStreakSchema).default({}),
  events: z.number().int().nonnegative(),
  finishedAt: z.number().nullable(),
}) satisfies z.ZodType<RolloutState>;

/** Parses a stored state; throws a zod error naming the field when it is not one. */
export function parseRolloutState(value: unknown): RolloutState {
  return RolloutStateSchema.parse(value);
}

/** Whether the rollout still moves (or waits to move) nodes. */
export function isActive(phase: RolloutPhase): boolean {
  return phase === 'Progressing' || phase === 'Holding' || phase === 'Paused';
}

/** Whether the state is an undo: moving back to the previous revision of the same deployment revision. */
export function isUndo(state: RolloutState): boolean {
  return state.revision !== state.specRevision;
}

/**
 * The revision each targeted node should run under a rollout state — what desired state
 * hands out. null: the deployment's workload should not run on the node (a first revision
 * not yet given to it, or rolled back). Build it once per state: it indexes the node lists.
 *
 * - Succeeded: `revision` everywhere (nodes that return or join later get it too).
 * - RolledBack / Aborted: the previous revision (nodes outside an undo's scope keep the
 *   revision they were on, which is `revision`).
 * - Otherwise: `revision` for assigned nodes, the previous revision for the rest.
 */
export function desiredRevisions(state: RolloutState): (nodeId: string) => number | null {
  const scope = state.scope === null ? null : new Set(state.scope);
  const base = (id: string): number | null => (scope !== null && !scope.has(id) ? state.revision : state.fromRevision);
  if (state.phase === 'Succeeded') return () => state.revision;
  if (state.phase === 'RolledBack' || state.phase === 'Aborted') return base;
  const assigned = new Set(state.assigned);
  return (id) => (assigned.has(id) ? state.revision : base(id));
}

/**
 * The stats window the next plan needs: samples whose interval ends after `from`. The
 * executor loads at least these (more is harmless; the gates filter by window). It reaches
 * `SPEED_LOOKBACK_MS` before the gate window: those samples only tell each canary node's
 * speed on the baseline revision before its switch (analysis/speed.ts), never analysed.
 */
export function statsWindow(state: RolloutState | null): { from: number } | null {
  if (state === null || !isActive(state.phase)) return null;
  return { from: state.windowStart - SPEED_LOOKBACK_MS };
}
