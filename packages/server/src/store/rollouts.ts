/** A queued operator command for a rollout (pause, resume, promote, abort, undo). */
export interface RolloutCommandRecord {
  id: string;
  deployment: string;
  command: Record<string, unknown>;
  createdAt: number;
}

/**
 * A condition the rollout controller sets on a deployment whose rollout it cannot
 * reconcile (`Stalled`, status True), kept beside the rollout's state: the state may be
 * the very thing that cannot be read. No record: not stalled.
 */
export interface RolloutStallRecord {
  deployment: string;
  /** From a closed set: `RolloutStallReason` in controller/stall.ts. */
  reason: string;
  /** What is wrong and how to fix it, with the cause. */
  message: string;
  /** The deployment revision the controller saw when it stalled. */
  revision: number;
  /** When the deployment stalled for this reason and message (ms since the epoch). */
  since: number;
}

/**
 * Each deployment's rollout: its state (JSON the rollout module validates), the events it
 * emitted, the operator commands waiting for it, and its Stalled condition.
 */
export interface RolloutRepository {
  /** A deployment's rollout state (JSON the rollout module validates), if it has one. */
  getRollout(deployment: string): Promise<unknown | undefined>;
  listRollouts(): Promise<Array<{ deployment: string; state: unknown }>>;
  /**
   * Persists a rollout decision in one transaction: the new state, its events, and the
   * commands it consumed — so a restart never repeats or skips a step or loses an event.
   */
  saveRollout(
    deployment: string,
    state: unknown,
    events: Array<{ seq: number; at: number; event: unknown }>,
    consumedCommands: string[],
    at: number,
  ): Promise<void>;
  /** Deletes the rollout's state and its queued commands (its events stay, as history). */
  deleteRollout(deployment: string): Promise<void>;
  /** The newest `limit` events (of one deployment, or all), returned oldest first. */
  listRolloutEvents(filter: { deployment?: string; limit: number }): Promise<Array<{ deployment: string; seq: number; at: number; event: unknown }>>;
  enqueueRolloutCommand(command: RolloutCommandRecord): Promise<void>;
  /** A deployment's queued commands, oldest first. */
  listRolloutCommands(deployment: string): Promise<RolloutCommandRecord[]>;

  /** The deployment's Stalled condition, if the rollout controller set one. */
  getRolloutStall(deployment: string): Promise<RolloutStallRecord | undefined>;
  listRolloutStalls(): Promise<RolloutStallRecord[]>;
  /** Sets the deployment's Stalled condition (replacing any earlier one). */
  saveRolloutStall(stall: RolloutStallRecord): Promise<void>;
  /** Clears the deployment's Stalled condition; false when it had none. */
  clearRolloutStall(deployment: string): Promise<boolean>;
}
