/**
 * The simulated workload runtime: instances live in memory (no process, no port, no health
 * probe over HTTP). Everything above the `WorkloadRuntime` seam — the agent's planner,
 * supervisor, A/B switch, fallback and failure records — is the real code; this only decides
 * when an instance becomes ready and whether it dies, from the release's annotations
 * (behaviour.ts) and the node's hardware:
 *
 * - ready after the load time (annotation, else the simulation's default), ± 20 %;
 * - with the release's crash probability, per start, it dies at a random moment inside the
 *   first half of its health window after becoming ready (the agent then switches back);
 * - a primary that needs the accelerator dies at load when the node has none, and a running
 *   one dies when the accelerator fails (as a HailoRT process does when its device goes);
 * - with `containers` (issue 16) it is also a container engine ("podman" in the node's
 *   facts): container parts start after their image's start time and crash with the image's
 *   crash probability (images.ts) or the release's, whichever is higher. Their images come
 *   from the node's simulated image store, which the agent pulls through as usual.
 */
import type {
  ContainerSupport,
  InstanceCallbacks,
  InstanceObservation,
  LaunchSpec,
  PreparedImage,
  RuntimeInstance,
  RuntimeProxy,
  WorkloadRuntime,
} from '@edgefleet/agent';
import { parseDuration, type Release } from '@edgefleet/protocol';
import { type ReleaseBehaviour, releaseBehaviour } from './behaviour.js';
import type { ImageCatalog } from './images.js';

/** The container engine simulated nodes report in their facts (as `podman version` on Raspberry Pi OS 12). */
export const SIMULATED_ENGINE = { name: 'podman', version: '4.3.1', ociRuntime: 'crun' } as const;

/** What a simulated runtime needs from its node and the simulation. */
export interface SimulatedRuntimeOptions {
  /** Runs `fn` after `ms` (the simulation's pooled timer); returns a cancel function. */
  schedule: (ms: number, fn: () => void) => () => void;
  random: () => number;
  clock: () => number;
  /** Whether the node's accelerator works right now. */
  hasAccelerator: () => boolean;
  /** Model load time when the release does not say (default 2 s). */
  defaultLoadMs?: number;
  /** Called at every start (the simulation's record of which node ran which revision). */
  onStart?: (deployment: string, revision: number, model: 'primary' | 'fallback') => void;
  /** Called once per release whose annotations had problems. */
  onProblems?: (deployment: string, revision: number, problems: string[]) => void;
  /** The simulation's images: with it the node has a container engine; without, container releases report `runtime-unavailable`. */
  images?: ImageCatalog;
}

/** A revision as the runtime saw it at its first start on this node. */
export interface RevisionInfo {
  behaviour: ReleaseBehaviour;
  /** Whether its primary model runs on the accelerator (`runtime.accelerator` is not `none`). */
  usesAccelerator: boolean;
}

/** How an instance depends on the node's accelerator: cannot start without it, runs on it, or not at all. */
type DeviceUse = 'required' | 'uses' | 'none';

const NO_PROXY: RuntimeProxy = { port: 0, close: async () => {} };

/** A node's in-memory runtime. One per node; it outlives agent restarts (power cuts). */
export class SimulatedRuntime implements WorkloadRuntime {
  private readonly revisions = new Map<string, RevisionInfo>();
  private readonly live = new Set<SimulatedInstance>();
  /** Image ids (config digests) imported into the simulated engine. */
  private readonly loaded = new Set<string>();
  readonly containers?: ContainerSupport;

  constructor(private readonly opts: SimulatedRuntimeOptions) {
    if (opts.images !== undefined) {
      const containerNames = (): string[] => [...this.live].flatMap((i) => (i.spec.container === undefined ? [] : [i.spec.container.name]));
      this.containers = {
        facts: { ...SIMULATED_ENGINE },
        agentKey: 'simulated',
        network: 'edgefleet',
        load: async (image: PreparedImage) => {
          this.loaded.add(image.configDigest);
          return image.configDigest;
        },
        unload: async (imageId: string) => {
          if (![...this.live].some((i) => i.spec.container?.imageId === imageId)) this.loaded.delete(imageId);
        },
        // Called once when an agent starts: every container still live was started by an
        // earlier run of the agent (before a power cut) and is removed, as on a real node.
        leftovers: async () => containerNames(),
        remove: async (names) => {
          const gone = new Set(names);
          await Promise.all([...this.live].filter((i) => i.spec.container !== undefined && gone.has(i.spec.container.name)).map((i) => i.stop()));
        },
        // The simulator's gauges come from readings.ts; it has no cgroups to read per container.
        stats: async () => new Map(),
      };
    }
  }

  spawn(spec: LaunchSpec, release: Release, events: InstanceCallbacks): RuntimeInstance {
    const key = `${spec.deployment}\u0000${spec.revision}`;
    let info = this.revisions.get(key);
    if (info === undefined) {
      info = { behaviour: releaseBehaviour(release), usesAccelerator: release.runtime.accelerator !== 'none' };
      this.revisions.set(key, info);
      if (info.behaviour.problems.length > 0) this.opts.onProblems?.(spec.deployment, spec.revision, info.behaviour.problems);
    }
    const behaviour = spec.container === undefined ? info.behaviour : this.containerBehaviour(info.behaviour, spec.container.imageId);
    // `required`: the primary cannot start without the device. `preferred`: the primary uses
    // the device when the node has one and runs on the CPU otherwise (the agent starts it
    // either way when the release has no fallback) — so only one started with it loses it.
    const mode = release.runtime.accelerator;
    const device: DeviceUse =
      spec.model !== 'primary' || mode === 'none' ? 'none' : mode === 'required' ? 'required' : this.opts.hasAccelerator() ? 'uses' : 'none';
    let windowMs = 30_000;
    try {
      windowMs = parseDuration(release.health.window);
    } catch {
      // The schema checked it; keep the default if not.
    }
    const instance = new SimulatedInstance(spec, behaviour, device, windowMs, this.opts, events, (i) => this.live.delete(i));
    this.live.add(instance);
    this.opts.onStart?.(spec.deployment, spec.revision, spec.model);
    return instance;
  }

  /**
   * A container part starts in its image's start time (not the model load time) and crashes
   * with the image's crash probability when that is higher than the release's.
   */
  private containerBehaviour(behaviour: ReleaseBehaviour, imageId: string): ReleaseBehaviour {
    const img = this.loaded.has(imageId) ? this.opts.images?.byImageId(imageId) : undefined;
    if (img === undefined) throw new Error(`image ${imageId} is not in the simulated engine (the agent must load it first)`);
    return {
      ...behaviour,
      loadMs: behaviour.loadMs ?? img.startMs,
      crashProbability: Math.max(behaviour.crashProbability, img.crashProbability),
    };
  }

  /** No front door to open: synthetic traffic is counted through `Agent.recordInference`. */
  async openProxy(): Promise<RuntimeProxy> {
    return NO_PROXY;
  }

  async freePort(): Promise<number> {
    return 0;
  }

  /** What the node knows of a revision it has started, for the traffic generator. */
  revision(deployment: string, revision: number): RevisionInfo | undefined {
    return this.revisions.get(`${deployment}\u0000${revision}`);
  }

  /** The node's accelerator failed: primaries that use it die. */
  acceleratorLost(): void {
    for (const i of [...this.live]) i.deviceLost();
  }

  /** Instances started and not yet stopped or dead (tests, diagnostics). */
  get liveInstances(): number {
    return this.live.size;
  }
}

/** One simulated instance: starting → ready (→ exited), driven by the pooled timer. */
export class SimulatedInstance implements RuntimeInstance {
  health: InstanceObservation['health'] = 'starting';
  readySince: number | undefined;
  promotedAt: number | undefined;
  everReady = false;
  readonly pid = undefined;
  readonly startedAt: number;
  private exit: string | undefined;
  private cancelTimer: () => void = () => {};

  constructor(
    readonly spec: LaunchSpec,
    private readonly behaviour: ReleaseBehaviour,
    private readonly device: DeviceUse,
    private readonly windowMs: number,
    private readonly opts: SimulatedRuntimeOptions,
    private readonly events: InstanceCallbacks,
    private readonly gone: (i: SimulatedInstance) => void,
  ) {
    this.startedAt = opts.clock();
  }

  start(): void {
    if (this.device === 'required' && !this.opts.hasAccelerator()) {
      this.cancelTimer = this.opts.schedule(200 + 300 * this.opts.random(), () =>
        this.die('no accelerator device found (simulated HailoRT: HAILO_PCIE_DRIVER_NOT_INSTALLED)'),
      );
      return;
    }
    const loadMs = (this.behaviour.loadMs ?? this.opts.defaultLoadMs ?? 2_000) * (0.8 + 0.4 * this.opts.random());
    const crashes = this.opts.random() < this.behaviour.crashProbability;
    this.cancelTimer = this.opts.schedule(loadMs, () => {
      this.health = 'ready';
      this.readySince = this.opts.clock();
      this.everReady = true;
      this.events.onOutput(
        'stdout',
        Buffer.from(
          `${this.spec.container === undefined ? 'model' : 'container of'} ${this.spec.model} of revision ${this.spec.revision} ${this.spec.container === undefined ? 'loaded' : 'ready'} in ${(loadMs / 1000).toFixed(1)} s (simulated)\n`,
        ),
      );
      this.events.onEvent({ kind: 'ready' });
      if (crashes) {
        const after = Math.max(50, (this.windowMs / 2) * this.opts.random());
        const message =
          this.spec.container === undefined ? 'process ended (signal SIGSEGV, simulated crash)' : 'container exited with code 139 (SIGSEGV, simulated crash)';
        this.cancelTimer = this.opts.schedule(after, () => this.die(message));
      }
    });
  }

  observe(): InstanceObservation {
    return {
      revision: this.spec.revision,
      model: this.spec.model,
      health: this.health,
      startedAt: this.startedAt,
      promotedAt: this.promotedAt,
      readySince: this.readySince,
      port: this.spec.port,
      pid: undefined,
      exit: this.exit,
    };
  }

  async stop(): Promise<void> {
    this.cancelTimer();
    if (this.exit === undefined) this.exit = 'stopped';
    this.gone(this);
  }

  /** The accelerator this primary runs on went away. */
  deviceLost(): void {
    if (this.device !== 'none' && this.health !== 'exited') this.die('accelerator device lost (simulated)');
  }

  private die(message: string): void {
    this.cancelTimer();
    this.health = 'exited';
    this.readySince = undefined;
    this.exit = 'crashed';
    this.gone(this);
    this.events.onOutput('stderr', Buffer.from(`${message}\n`));
    this.events.onEvent({ kind: 'failed', reason: 'crashed', message });
  }
}
