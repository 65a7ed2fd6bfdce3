/**
 * What a simulation tells its caller as it runs: the demo narrates these, the command prints
 * the notable ones. Every event carries `elapsedMs` since the simulation started.
 */
import type { HatKind } from './hardware.js';
import type { SimulationSummary } from './summary.js';

/** Where a power cut caught the node: in a model download, a switch between models, or idle. */
export type PowerCutMoment = 'download' | 'switch' | 'steady' | 'enrollment';

export type SimulationEventBody =
  /** A node enrolled (first start) or came up with its saved identity. */
  | { type: 'node-enrolled'; node: string; nodeId: string }
  /** Every node has started (reported once) or failed: enrollment is over. */
  | { type: 'fleet-started'; nodes: number; started: number; failed: number; seconds: number }
  /** A node's agent ended with an error no retry fixes (a bad or used-up token, say). */
  | { type: 'node-failed'; node: string; message: string }
  | { type: 'node-offline'; node: string }
  | { type: 'node-online'; node: string }
  | { type: 'site-outage'; site: string; on: boolean; nodes: number }
  | { type: 'accelerator-failed'; node: string; kind: HatKind }
  | { type: 'accelerator-restored'; node: string; kind: HatKind }
  | { type: 'power-cut'; node: string; during: PowerCutMoment; downtimeMs: number }
  | { type: 'power-restored'; node: string }
  /** The first node of the fleet serves a revision. */
  | { type: 'revision-serving'; deployment: string; revision: number; node: string }
  /** A rollout changed phase or step (needs the admin token). */
  | { type: 'rollout'; deployment: string; revision: number; phase: string; step: number; steps: number; message: string }
  /** A release's simulator annotations had problems (ignored values). */
  | { type: 'annotation-problems'; deployment: string; revision: number; problems: string[] }
  | { type: 'summary'; summary: SimulationSummary };

/** An event and when it happened. */
export type SimulationEvent = SimulationEventBody & { elapsedMs: number };

/** Receives events; exceptions it throws are ignored (a narrator must not stop the fleet). */
export type SimulationListener = (event: SimulationEvent) => void;
