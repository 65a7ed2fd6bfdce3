/**
 * One simulated node: its hardware root, data dir, link, runtime and gauges, and the real
 * `Agent` running on them. The node outlives its agent: a power cut stops the agent without
 * ceremony and, after the downtime, starts a new `Agent` on the same data dir — the memory
 * queues are gone, as RAM is after a power cut; what the agent wrote to disk is not.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, type AgentOptions } from '@edgefleet/agent';
import { mulberry32, type TelemetryProfileName, type WorkloadStatus } from '@edgefleet/protocol';
import type { Logger } from 'pino';
import type { PowerCutMoment, SimulationEventBody } from './events.js';
import { computeOf, type HatKind, removeAccelerator, restoreAccelerator, writeNodeHardware } from './hardware.js';
import { type ImageCatalog, SimulatedImageStore } from './images.js';
import type { ComputeKind } from './latency.js';
import { type LinkProfile, SimulatedLink } from './link.js';
import type { AgentTuning } from './options.js';
import { NodeReadings } from './readings.js';
import { SimulatedRuntime } from './runtime.js';
import type { TimerPool } from './timers.js';

/** Which node it is: fixed by the seed and its position. */
export interface NodePlan {
  index: number;
  name: string;
  site: string;
  kind: HatKind;
  /** Board serial (16 hex): the same node across runs with the same seed. */
  serial: string;
  /** Folder holding `hw/` (hardware root) and `data/` (agent data dir). */
  dir: string;
}

/** What every node shares: the server, the pooled timer, and the simulation's bookkeeping. */
interface NodeContext {
  server: string;
  token: string;
  profile: TelemetryProfileName;
  tuning: AgentTuning;
  pool: TimerPool;
  clock: () => number;
  /** The agents' own logger (silent: their lines still reach each node's log pipeline). */
  log: Logger;
  seed: number;
  defaultLoadMs: number;
  siteDown: (site: string) => boolean;
  linkProfile: (site: string) => LinkProfile | undefined;
  started: (node: SimNode, deployment: string, revision: number) => void;
  emit: (event: SimulationEventBody) => void;
  /** The simulation's images: nodes have a container engine and an image store (absent: neither). */
  images?: ImageCatalog;
  /** Bytes of an image that arrived at a node over its link. */
  imageBytes?: (node: SimNode, reference: string, bytes: number) => void;
}

/**
 * The platform image indexes are resolved to on a simulated node: every simulated board is a
 * Raspberry Pi (hardware.ts presets), so `linux/arm64`.
 */
export const SIMULATED_PLATFORM = 'linux/arm64';

/** A well-mixed 32-bit seed for one random stream of one node. */
export function streamSeed(seed: number, index: number, stream: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (const v of [index, stream]) {
    h = Math.imul(h ^ v, 0x85ebca6b) >>> 0;
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
  }
  return h;
}

export class SimNode {
  readonly hwRoot: string;
  readonly dataDir: string;
  readonly runtime: SimulatedRuntime;
  readonly link: SimulatedLink;
  readonly readings: NodeReadings;
  /** The node's image store (with the simulation's images): held layers survive power cuts, as on disk. */
  readonly images: SimulatedImageStore | undefined;
  /** Seeded streams: the agent's jitter, the traffic, the hardware and the gauges. */
  readonly trafficRandom: () => number;
  private readonly agentRandom: () => number;
  agent: Agent | undefined;
  private running: Promise<void> | undefined;
  /** Whether it ever started (reported once). */
  started = false;
  powered = false;
  /** Cut off by churn (its site may be down as well: see `linkDown`). */
  churnOffline = false;
  acceleratorFailed = false;
  fatal: string | undefined;
  /** Requests per second it served lately (drives the gauges). */
  recentRps = 0;
  private stopping = false;

  constructor(
    readonly plan: NodePlan,
    private readonly ctx: NodeContext,
  ) {
    this.hwRoot = join(plan.dir, 'hw');
    this.dataDir = join(plan.dir, 'data');
    this.agentRandom = mulberry32(streamSeed(ctx.seed, plan.index, 1));
    this.trafficRandom = mulberry32(streamSeed(ctx.seed, plan.index, 2));
    const runtimeRandom = mulberry32(streamSeed(ctx.seed, plan.index, 3));
    this.runtime = new SimulatedRuntime({
      schedule: (ms, fn) => ctx.pool.schedule(ms, fn),
      random: runtimeRandom,
      clock: ctx.clock,
      hasAccelerator: () => plan.kind !== 'none' && !this.acceleratorFailed,
      defaultLoadMs: ctx.defaultLoadMs,
      onStart: (deployment, revision) => ctx.started(this, deployment, revision),
      onProblems: (deployment, revision, problems) => ctx.emit({ type: 'annotation-problems', deployment, revision, problems }),
      ...(ctx.images === undefined ? {} : { images: ctx.images }),
    });
    this.link = new SimulatedLink({
      random: mulberry32(streamSeed(ctx.seed, plan.index, 4)),
      sleep: ctx.pool.sleep,
      down: () => this.linkDown(),
      profile: () => ctx.linkProfile(plan.site),
    });
    this.images =
      ctx.images === undefined
        ? undefined
        : new SimulatedImageStore({ catalog: ctx.images, link: this.link, onBytes: (reference, bytes) => ctx.imageBytes?.(this, reference, bytes) });
    this.readings = new NodeReadings(plan.kind, mulberry32(streamSeed(ctx.seed, plan.index, 5)), ctx.clock, () => ({
      requestsPerSecond: this.recentRps,
      onCpu: this.servesOnCpu(),
      models: this.agent?.workloadInstances().size ?? 0,
    }));
  }

  get name(): string {
    return this.plan.name;
  }

  /** Why the node cannot reach the server now, or undefined. */
  linkDown(): string | undefined {
    if (this.ctx.siteDown(this.plan.site)) return `${this.plan.site} is cut off`;
    if (this.churnOffline) return `${this.plan.name} is offline`;
    return undefined;
  }

  /** Reporting to the server: powered, link up, last report delivered. */
  online(): boolean {
    const s = this.agent?.state;
    return this.powered && this.linkDown() === undefined && s !== undefined && s.lastHeartbeatAt !== undefined && s.consecutiveFailures === 0;
  }

  /** The workload statuses its agent last computed (what serves which revision). */
  workloads(): readonly WorkloadStatus[] {
    return this.powered ? (this.agent?.state.workloads ?? []) : [];
  }

  /** What computes a request served by `model` of a revision that does (not) use the accelerator. */
  computeFor(model: 'primary' | 'fallback', usesAccelerator: boolean): ComputeKind {
    if (model === 'fallback' || !usesAccelerator || this.acceleratorFailed) return 'cpu';
    return computeOf(this.plan.kind);
  }

  private servesOnCpu(): boolean {
    for (const w of this.workloads()) if (w.active === 'fallback') return true;
    return false;
  }

  /** Writes the hardware root (always: a fresh fixture repairs a failure left by a killed run). */
  async prepare(): Promise<void> {
    await writeNodeHardware(this.hwRoot, this.plan.kind, this.plan.serial);
  }

  /** Whether the node enrolled in an earlier run with this data dir. */
  hasIdentity(): boolean {
    return existsSync(join(this.dataDir, 'identity.json'));
  }

  /** Boots the node: a new `Agent` on its data dir. */
  start(): void {
    if (this.stopping) return;
    this.powered = true;
    const t = this.ctx.tuning;
    const options: AgentOptions = {
      server: this.ctx.server,
      token: this.ctx.token,
      dataDir: this.dataDir,
      hwRoot: this.hwRoot,
      site: this.plan.site,
      name: this.plan.name,
      clock: this.ctx.clock,
      random: this.agentRandom,
      sleep: this.ctx.pool.sleep,
      log: this.ctx.log,
      runtime: this.runtime,
      network: this.link,
      ...(this.images === undefined ? {} : { images: this.images, platform: SIMULATED_PLATFORM }),
      telemetry: {
        profile: this.ctx.profile,
        memoryQueues: true,
        metricsListen: false,
        readNode: this.readings.read,
        sampleIntervalMs: t.sampleIntervalMs ?? 15_000,
        queueBytes: t.queueBytes ?? 2 * 1024 * 1024,
        logQueueBytes: Math.max(64 * 1024, Math.floor((t.queueBytes ?? 2 * 1024 * 1024) / 4)),
      },
      workloads: {
        reconcileIntervalMs: t.reconcileIntervalMs ?? 5_000,
        // The agent's own long-poll wait unless told (120 s): the server's cost per node is a
        // real agent's. (30 s here, a copy of the agent's old default, put 1.5 more requests per
        // node-minute on the server than real agents make.)
        ...(t.desiredWaitSeconds === undefined ? {} : { desiredWaitSeconds: t.desiredWaitSeconds }),
        ...(t.crashLoopThreshold === undefined ? {} : { crashLoopThreshold: t.crashLoopThreshold }),
        ...(t.primaryRetryDelayMs === undefined ? {} : { primaryRetryDelayMs: t.primaryRetryDelayMs }),
      },
    };
    const agent = new Agent(options);
    this.agent = agent;
    this.running = agent.run().then(
      () => {},
      (err: unknown) => {
        if (this.agent !== agent) return;
        this.fatal = (err as Error).message;
        this.ctx.emit({ type: 'node-failed', node: this.plan.name, message: this.fatal });
      },
    );
  }

  /** Where the node is now, for choosing power-cut moments. */
  moment(): PowerCutMoment {
    if (this.agent?.state.nodeId === undefined) return 'enrollment';
    for (const w of this.workloads()) if (w.state === 'downloading') return 'download';
    for (const l of this.agent.workloadInstances().values()) if (l.candidate !== undefined) return 'switch';
    return 'steady';
  }

  /**
   * The node loses power now: requests on the link fail, the agent is stopped without waiting
   * for anything to finish, its in-memory state is dropped; after `downtimeMs` it boots again.
   */
  async powerCut(downtimeMs: number): Promise<PowerCutMoment | undefined> {
    if (!this.powered || this.agent === undefined || this.stopping) return undefined;
    const during = this.moment();
    this.powered = false;
    this.link.powerCut();
    const agent = this.agent;
    const running = this.running;
    this.agent = undefined;
    agent.stop();
    this.ctx.emit({ type: 'power-cut', node: this.plan.name, during, downtimeMs });
    // The next agent must not share the data dir with the old one's last writes.
    await running;
    this.ctx.pool.schedule(downtimeMs, () => {
      if (this.stopping) return;
      this.readings.reboot();
      this.start();
      this.ctx.emit({ type: 'power-restored', node: this.plan.name });
    });
    return during;
  }

  /** The accelerator fails: the probe stops seeing it and primaries using it die. */
  async failAccelerator(): Promise<boolean> {
    if (this.plan.kind === 'none' || this.acceleratorFailed) return false;
    this.acceleratorFailed = true;
    await removeAccelerator(this.hwRoot, this.plan.kind);
    this.runtime.acceleratorLost();
    this.ctx.emit({ type: 'accelerator-failed', node: this.plan.name, kind: this.plan.kind });
    return true;
  }

  async restoreAccelerator(): Promise<void> {
    if (!this.acceleratorFailed) return;
    await restoreAccelerator(this.hwRoot, this.plan.kind, this.plan.serial);
    this.acceleratorFailed = false;
    this.ctx.emit({ type: 'accelerator-restored', node: this.plan.name, kind: this.plan.kind });
  }

  /** Stops the agent for good (end of the simulation) and waits for it. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.agent?.stop();
    await this.running;
  }
}
