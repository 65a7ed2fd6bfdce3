import type { WorkloadState, WorkloadStats } from '@edgefleet/protocol';
import type { GateEvaluation } from './gates.js';

/** The label whose value names a node's site (per-site limits, cohorts by default). */
export const SITE_LABEL = 'geolocation.site';

/** What the planner needs to know about one targeted node. Plain data: no I/O behind it. */
export interface RolloutNode {
  id: string;
  /** Effective labels (operator over detected). */
  labels: Readonly<Record<string, string>>;
  /** Whether the node counts as online now (`nodes/` derives it from lastSeen). */
  online: boolean;
  /** When the node last reported, ms since the epoch; null if never. */
  lastSeen: number | null;
  /** What the node last reported for this deployment; null if nothing yet. */
  workload: RolloutNodeWorkload | null;
  /**
   * The node's stats samples for this deployment covering at least `statsWindow(state)`
   * (more is harmless: the gates keep those overlapping their window). They come in the
   * same heartbeat as `workload`, so the executor attaches them in the same join by node.
   */
  stats?: readonly WorkloadStats[];
}

/** A stats sample with the node it came from: the flat form a store query returns. */
export type NodeWorkloadStats = WorkloadStats & { nodeId: string };

/** The parts of a node's `WorkloadStatus` for this deployment that the planner reads. */
export interface RolloutNodeWorkload {
  /** The revision the node was told to run (its desired revision as it knows it). */
  revision: number;
  state: WorkloadState;
  /** The revision serving right now; an older one while the new one starts or after it failed. */
  servingRevision: number | null;
}

/**
 * An operator command, delivered to exactly one plan (the executor removes it once the
 * plan's state is persisted). `promote` skips the current step's bake and gates (`full`:
 * every remaining step); `undo` moves back to the previous revision through the steps
 * (`now`: at once); `abort` puts the nodes that got the new revision back and stops.
 */
export type RolloutCommand =
  | { command: 'pause' | 'resume' | 'abort'; by?: string }
  | { command: 'promote'; full?: boolean; by?: string }
  | { command: 'undo'; now?: boolean; by?: string };

/** Rollout phases (the `rollout status` contract). */
export type RolloutPhase = 'Progressing' | 'Holding' | 'Paused' | 'Succeeded' | 'RolledBack' | 'Aborted';

/** Why a rollout is not moving on right now. */
export type HoldReason =
  /** Nodes of the step are being switched or have not reported the new revision yet. */
  | 'NodesUpdating'
  /** Switching more nodes would exceed `maxUnavailablePerSite` or take a site's last serving node. */
  | 'SiteLimit'
  /** The step is reached; its bake time has not passed. */
  | 'Baking'
  /** Fewer than `gates.minRequests` requests after warm-up on a compared side: a gate never passes without data. */
  | 'InsufficientData'
  /** Enough data, but a gate's interval neither rules a regression out nor establishes it yet (or it failed fewer than `failureThreshold` times in a row). */
  | 'Undecided'
  /** Paused, by an operator or by a failure with `onFailure: pause`. */
  | 'Paused';

/** The reason of a rollout's current phase, from a closed set. */
export type RolloutReason =
  | Exclude<HoldReason, 'Paused'>
  | 'Succeeded'
  | 'GateFailed'
  | 'NodesFailed'
  | 'ProgressDeadlineExceeded'
  /** No gate verdict within `gates.maxAnalysisTime` after the bake. */
  | 'AnalysisTimeExceeded'
  | 'PausedByOperator'
  | 'Aborted'
  | 'Undone';

/** Kinds of rollout events: every decision, as `edgefleet events` shows them. */
export type RolloutEventType =
  | 'RolloutStarted'
  | 'RolloutSuperseded'
  | 'UndoStarted'
  | 'StepStarted'
  | 'StepReached'
  | 'Holding'
  | 'NodesDeferred'
  | 'NodesReturned'
  | 'GatePassed'
  | 'GateFailed'
  | 'NodesFailed'
  | 'ProgressDeadlineExceeded'
  | 'AnalysisTimeExceeded'
  | 'RollbackStarted'
  | 'Paused'
  | 'Resumed'
  | 'Promoted'
  | 'Aborted'
  | 'Succeeded'
  | 'CommandIgnored';

/** One entry of a rollout's journal. `seq` numbers a deployment's events without gaps. */
export interface RolloutEvent {
  seq: number;
  /** ms since the epoch. */
  at: number;
  type: RolloutEventType;
  /** The revision the rollout moves to. */
  revision: number;
  /** 1-based step number ("step 2 of 4"). */
  step: number;
  message: string;
  /** Nodes the event is about (deferred, returned, rolled back), when it is about nodes. */
  nodeIds?: string[];
  /** The gate evaluation behind a GatePassed / GateFailed / rollback event. */
  gate?: GateEvaluation;
}

/**
 * What the executor does, in order. Every action is idempotent; `assign` and `rollback`
 * are the only ones that change what nodes run, and they are already reflected in the
 * returned state (`desiredRevisions`), so persisting the state first makes them safe to
 * repeat after a crash.
 */
export type RolloutAction =
  /** Tell these nodes to run `revision`. */
  | { action: 'assign'; nodeIds: string[]; revision: number }
  /** A step begins (0-based index), with its node count. */
  | { action: 'startStep'; index: number; percent: number; nodes: number }
  /** Not moving on: why. Emitted on every plan that waits; an event only when the reason changes. */
  | { action: 'hold'; reason: HoldReason; message: string }
  | { action: 'passGate'; index: number; evaluation: GateEvaluation }
  | { action: 'failGate'; index: number; evaluation: GateEvaluation }
  /** Put these nodes back on `toRevision` (null: the deployment had no earlier revision — stop its workload). */
  | { action: 'rollback'; nodeIds: string[]; toRevision: number | null }
  /** These picked nodes stayed unreachable for `offline.deferAfter`; they catch up when they return. */
  | { action: 'defer'; nodeIds: string[] }
  /** The rollout ended. */
  | { action: 'finish'; phase: 'Succeeded' | 'RolledBack' | 'Aborted' }
  /** A journal entry to persist with the state. */
  | { action: 'event'; event: RolloutEvent };
