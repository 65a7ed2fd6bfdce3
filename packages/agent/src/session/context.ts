import type { Logger } from 'pino';
import type { AgentOptions, AgentState } from '../agent.js';

/** What every part of a running agent shares: its options, time, randomness, log and state. */
export interface AgentContext {
  readonly opts: AgentOptions;
  readonly clock: () => number;
  readonly random: () => number;
  /** Waits `ms` or until the signal aborts; never rejects. */
  readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly log: Logger;
  /** What the agent reports about itself (status output, tests, the simulator). */
  readonly state: AgentState;
}
