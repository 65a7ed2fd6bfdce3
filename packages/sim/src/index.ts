/**
 * @edgefleet/sim: many real agents in one process over simulated hardware, inference and
 * links — the engine of `edgefleet sim` and of the `npm start` demo.
 *
 * Each node is the real `Agent` (enrollment, mTLS, desired-state sync, downloads, planner,
 * telemetry) on its own fixture hardware root and data dir, with a simulated workload
 * runtime (runtime.ts), simulated link (link.ts), modelled gauges (readings.ts) and
 * synthetic inference traffic (traffic.ts). All agents share one event loop and one pooled
 * timer (timers.ts). Faults come from a plan (faults.ts) put on the clock by
 * fault-scheduler.ts; a release can rehearse bad behaviour through annotations
 * (behaviour.ts).
 *
 * The API:
 *
 * ```ts
 * const sim = await startSimulation({ server, token, nodes: 60, sites: 6, adminToken });
 * sim.onEvent((e) => console.log(e.type, e));      // SimulationEvent (events.ts)
 * await sim.whenStarted();                          // every node enrolled (or failed)
 * sim.setSiteOutage('site-03', true);               // cut a site off; false restores it
 * sim.summary();                                    // SimulationSummary (summary.ts)
 * formatSummaryLine(sim.summary());                 // the per-interval line
 * sim.ranRevision('detect', 2);                     // node names that ever started revision 2
 * const final = await sim.stop();                   // also after options.durationMs
 * ```
 *
 * - `startSimulation(options: SimulationOptions): Promise<Simulation>` validates every
 *   option first (a config `EdgefleetError` naming the flag), refuses a node count the
 *   machine cannot hold unless `force`, then returns while nodes start in waves.
 * - `parseSimFlags(flags: SimFlags): SimulationOptions` is the command's flag parser.
 * - `parseFaultFile(text, file): FaultPlan`, `parseSiteOutage`, `parseHatMix` parse the
 *   fault and mix syntaxes; `releaseBehaviour(release)` reads the what-if annotations.
 * - Events (`SimulationEvent`): node-enrolled, fleet-started, node-failed, node-offline,
 *   node-online, site-outage, accelerator-failed, accelerator-restored, power-cut,
 *   power-restored, revision-serving, rollout (with an admin token), annotation-problems,
 *   summary (every interval).
 * - `startWorkerFleet(options, { workers })` (workers.ts): the same simulation over N worker
 *   processes (worker.ts), each running every N-th node of one plan (plan.ts), with one
 *   merged summary (`mergeSummaries`); what `edgefleet sim --workers N` runs.
 * - Container releases (issue 16): every node has a simulated podman and image store
 *   (images.ts); `options.images` sizes the images, and the summary's `images` says what
 *   their pulls moved over the links.
 */
export const SIM_VERSION = '0.1.0';

export {
  ANNOTATION_PREFIX,
  CRASH_PROBABILITY,
  ERROR_RATE,
  LATENCY_MULTIPLIER,
  LOAD_SECONDS,
  type ReleaseBehaviour,
  releaseBehaviour,
} from './behaviour.js';
export { capacityProblems, capacityWarnings, estimateFootprint, type FootprintEstimate, type MachineResources, machineResources } from './capacity.js';
export type { PowerCutMoment, SimulationEvent, SimulationEventBody, SimulationListener } from './events.js';
export { catchUpSpeed, FastClock } from './fast-clock.js';
export { exponential, type FaultCounts, FaultScheduler } from './fault-scheduler.js';
export {
  type AcceleratorFailure,
  type FaultPlan,
  type FaultTiming,
  noFaults,
  type OfflineChurn,
  type PowerCut,
  parseBandwidth,
  parseFaultFile,
  parseSiteOutage,
  type SiteLink,
  type SiteOutage,
} from './faults.js';
export {
  assignHats,
  computeOf,
  DEFAULT_HAT_MIX,
  HAT_KINDS,
  type HatKind,
  type HatMix,
  PRESET_OF,
  parseHatMix,
  removeAccelerator,
  restoreAccelerator,
} from './hardware.js';
export {
  DEFAULT_IMAGE,
  ImageCatalog,
  type ImageTable,
  MB,
  parseImageTable,
  type SimulatedImage,
  type SimulatedImageSpec,
  SimulatedImageStore,
  type SimulatedImageStoreOptions,
  type SimulatedLayer,
} from './images.js';
export { bodyQuantileMs, type ComputeKind, LATENCY_MODELS, type LatencyModel, sampleLatencyMs, TAIL_FACTOR, TAIL_SHARE } from './latency.js';
export { DEFAULT_BULK_BYTES_PER_SECOND, type LinkProfile, SimulatedLink, type SimulatedLinkOptions } from './link.js';
export { type NodePlan, SIMULATED_PLATFORM, SimNode } from './node.js';
export { type AgentTuning, MAX_NODES, parseSimFlags, type SimFlags, type SimulationOptions, siteNames, validateSimulationOptions } from './options.js';
export { MAX_WORKERS, type PlanInput, parseWorkers, planFleet, type Shard, shardIndexes, splitPlan, validateWorkers } from './plan.js';
export { type NodeLoad, NodeReadings } from './readings.js';
export { REQUEST_KINDS, type RequestKind, type RequestSamples, RequestTimer, requestKindOf } from './request-timer.js';
export { type RevisionInfo, SIMULATED_ENGINE, SimulatedInstance, SimulatedRuntime, type SimulatedRuntimeOptions } from './runtime.js';
export { type Simulation, startSimulation } from './simulation.js';
export { formatElapsed, formatSummaryLine, mergeSummaries, type RolloutView, type SimulationSummary, type WorkerSummary } from './summary.js';
export { MAX_REAL_WAIT_MS, TimerPool, type TimerPoolOptions } from './timers.js';
export { dailyLoad, loadSlowdown, poisson, TrafficGenerator } from './traffic.js';
export { defaultWorkers, type FleetSummary, startWorkerFleet, type WorkerFleet, type WorkerFleetOptions } from './workers.js';
