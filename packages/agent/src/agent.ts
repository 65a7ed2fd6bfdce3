import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import {
  assertValidLabels,
  type HardwareFacts,
  type Labels,
  type NetworkConditions,
  parseBootstrapToken,
  sleep,
  type WorkloadStatus,
} from '@edgefleet/protocol';
import type { Logger } from 'pino';
import { agentLogger } from './agent-log.js';
import { type ArtifactSource, LocalArtifactStore } from './artifacts/index.js';
import { secureDataDir } from './data-dir.js';
import { ImageStore } from './images/image-store.js';
import type { ImageSource, Platform } from './images/types.js';
import { NfdFeatureWriter, nfdFeatureSync } from './k8s/nfd-features.js';
import { NodeObserver } from './probe/node-observer.js';
import type { AgentContext } from './session/context.js';
import { openSession } from './session/enrollment.js';
import { Heartbeat } from './session/heartbeat.js';
import { type ReleaseKeyPinning, releaseKeyPinning } from './session/release-key-pin.js';
import type { AgentSession } from './session/session.js';
import { loadDesired } from './sync/desired-store.js';
import { DesiredStateSync } from './sync/desired-sync.js';
import { PinnedKeys } from './sync/pinned-keys.js';
import { ReleaseHistory } from './sync/release-history.js';
import { youngInstance } from './telemetry/metrics/standard.js';
import { NodeTelemetry, type NodeTelemetryOptions } from './telemetry/node-telemetry.js';
import { WakeableSleep } from './wakeable-sleep.js';
import { acceleratorDeviceMappings } from './workloads/container/devices.js';
import { type EngineFacts, Podman, type PodmanOptions } from './workloads/container/engine.js';
import { ContainerMetrics } from './workloads/container/metrics.js';
import { withContainers } from './workloads/container/runtime.js';
import { ReconcileLoop } from './workloads/reconcile-loop.js';
import { type ContainerSupport, processRuntime, type WorkloadRuntime } from './workloads/runtime.js';
import { DEFAULT_INFERENCE_LISTEN, inferenceAddress, parseInferenceListen } from './workloads/site-ports.js';
import { WorkloadStatsCollector } from './workloads/stats.js';
import { WorkloadSupervisor } from './workloads/supervisor.js';
import type { LocalWorkload } from './workloads/types.js';
import { acceleratorGroups, hostUserSystem, resolveWorkloadUser, type UserSystem, type WorkloadIdentity } from './workloads/workload-user.js';

/** Options of `edgefleet agent`. */
export interface AgentOptions {
  /**
   * The control plane's URL, or several (replicas sharing one CA): a request that finds one
   * unreachable goes to the next, with the same identity (no new enrollment).
   */
  server: string | readonly string[];
  /** Bootstrap token; needed only until the node has enrolled. */
  token?: string;
  dataDir: string;
  /** Root for every hardware read (`/` on a Pi, a fixture folder in tests). */
  hwRoot: string;
  site?: string;
  /** Extra labels the node declares about itself. */
  labels?: Labels;
  name?: string;
  clock?: () => number;
  random?: () => number;
  /** Waits `ms` or until the signal aborts. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Where the agent logs; its lines also go into the node's log pipeline (info and up). */
  log?: Logger;
  /** Metrics, logs, local alerts and their uplink (see NodeTelemetryOptions). */
  telemetry?: NodeTelemetryOptions;
  /** How workloads run (default: child processes; the simulator runs them in memory). */
  runtime?: WorkloadRuntime;
  /**
   * The container engine (issue 16): podman's options, or `false` for none. Default: podman on
   * PATH, checked at start (`podman version`, then crun if it works here, else runc); a node
   * without one reports `containerEngine: null` and `runtime-unavailable` for container
   * releases. Not used with `runtime` (the simulator's runtime brings its own).
   */
  containerEngine?: PodmanOptions | false;
  /**
   * The node's image store (images/types.ts): container releases get their verified images
   * from it. Default: an `ImageStore` in `<dataDir>/images` once a container engine was found.
   */
  images?: ImageSource;
  /**
   * The node's platform for image indexes (`linux/arm64` on a Pi). Default: this process's.
   * The simulator sets it per simulated node, which need not be the machine it runs on.
   */
  platform?: Platform;
  /**
   * The user workloads run as (`edgefleet agent` passes `edgefleet-workload` unless its
   * config says otherwise), created when missing; `false` or absent: as the agent itself.
   * Only a root agent can switch; another says so in its facts.
   */
  workloadUser?: string | false;
  /**
   * Root of the workloads' working folders when they run as their own user (default: beside
   * the data folder, `<data>-workloads`, e.g. /var/lib/edgefleet-workloads). Its parents must
   * be open to the user; the data folder itself is not.
   */
  workloadDir?: string;
  /**
   * The node's inference address (`--inference-listen`): front doors of deployments with
   * `spec.endpoint` listen on it at their port, for the site. Default 0.0.0.0 (all
   * interfaces). Management traffic never uses it: it stays on the agent's outbound connection.
   */
  inferenceListen?: string;
  /** How the workload user is looked up and created (tests); default: the host's getent and useradd. */
  userSystem?: UserSystem;
  /**
   * The Node Feature Discovery feature file the node's labels are written to (k8s/nfd-features.ts),
   * kept in step at every observation; absent: none.
   */
  nfdFeaturesFile?: string;
  /** Simulated link conditions for every request (the simulator); none on a real node. */
  network?: NetworkConditions;
  /** Tuning of the workload supervisor (tests shorten these). */
  workloads?: {
    /** Consecutive primary failures that count as a crash loop (default 3). */
    crashLoopThreshold?: number;
    /** Wait before trying a crash-looping primary again, by failure count (default 30 s doubling to 10 min). */
    primaryRetryDelayMs?: (failures: number) => number;
    /** Long-poll wait for desired state (default 120 s, sync/desired-sync.ts). */
    desiredWaitSeconds?: number;
    /** Reconcile pass interval (default 1 s; changes also trigger a pass at once). */
    reconcileIntervalMs?: number;
    /** How often containers' CPU and memory are read for the metrics (default 15 s). */
    containerStatsIntervalMs?: number;
  };
}

/** What the agent knows about its standing with the server, for status output and tests. */
export interface AgentState {
  nodeId: string | undefined;
  lastHeartbeatAt: number | undefined;
  heartbeatIntervalMs: number;
  certNotAfter: number | undefined;
  lastRenewalAt: number | undefined;
  consecutiveFailures: number;
  lastError: string | undefined;
  /** Version of the desired state the node runs. */
  desiredVersion: string | undefined;
  /** The workload statuses last reported. */
  workloads: WorkloadStatus[];
}

/**
 * The node agent: enrolls once (session/enrollment.ts), then, with its session, runs four
 * loops until stopped: the heartbeat (session/heartbeat.ts), the desired-state long poll
 * (sync/desired-sync.ts), the reconcile loop (workloads/reconcile-loop.ts) and the telemetry
 * uplink. Unreachable servers are waited out with capped, jittered backoff; only errors no
 * retry can fix (revoked, untrusted server, bad token) end it.
 */
export class Agent {
  readonly state: AgentState = {
    nodeId: undefined,
    lastHeartbeatAt: undefined,
    heartbeatIntervalMs: 60_000,
    certNotAfter: undefined,
    lastRenewalAt: undefined,
    consecutiveFailures: 0,
    lastError: undefined,
    desiredVersion: undefined,
    workloads: [],
  };
  /** Metrics, logs, local alerts and their uplink. */
  readonly telemetry: NodeTelemetry;
  private readonly ctx: AgentContext;
  private readonly abort = new AbortController();
  private readonly observer: NodeObserver;
  private readonly artifacts: LocalArtifactStore;
  private readonly pinned: PinnedKeys;
  private readonly history: ReleaseHistory;
  private readonly stats: WorkloadStatsCollector;
  /** The loops' waits, woken by news from the others. */
  private readonly waits: { heartbeat: WakeableSleep; reconcile: WakeableSleep; desired: WakeableSleep };
  /** The running session, for diagnostics (none before the node has an identity). */
  private session: AgentSession | undefined;
  /** Who workloads run as. */
  readonly workloadIdentity: WorkloadIdentity;
  /** The container engine found at start: undefined before the check, null without one. */
  private engine: EngineFacts | null | undefined;
  /** Processes and containers, once an engine was found (else the process runtime). */
  private engineRuntime: WorkloadRuntime | undefined;
  /** Containers' CPU, memory and devices as metrics, once an engine was found. */
  private containerMetrics: ContainerMetrics | undefined;
  /** The running desired-state sync (its registries are the image pulls' credentials). */
  private desiredSync: DesiredStateSync | undefined;

  /** Where site front doors listen (`inferenceListen`) and the host the site reaches them by. */
  private readonly inference: { listen: string; host: string };

  constructor(private readonly opts: AgentOptions) {
    const clock = opts.clock ?? Date.now;
    const random = opts.random ?? Math.random;
    const wait = opts.sleep ?? sleep;
    const log = agentLogger(opts.log, (line) => this.telemetry?.logs.agentLine(line));
    this.ctx = { opts, clock, random, sleep: wait, log, state: this.state };
    // Before anything reads or writes the data dir: private to the agent's user (data-dir.ts).
    const { fixed } = secureDataDir(opts.dataDir);
    if (fixed.length > 0) {
      log.warn({ count: fixed.length, first: fixed[0]?.path }, `made ${fixed.length} files and folders of the data dir private (0700/0600)`);
    }
    if (opts.labels !== undefined) assertValidLabels(opts.labels);
    // A malformed address stops the agent here; one the node lacks is reported per deployment.
    this.inference = inferenceAddress(parseInferenceListen(opts.inferenceListen ?? DEFAULT_INFERENCE_LISTEN));
    this.telemetry = new NodeTelemetry(
      { dataDir: opts.dataDir, hwRoot: opts.hwRoot, clock, random, sleep: wait, log },
      { metricsListen: false, ...(opts.telemetry ?? {}) },
    );
    this.waits = { heartbeat: new WakeableSleep(wait), reconcile: new WakeableSleep(wait), desired: new WakeableSleep(wait) };
    // A simulated runtime runs no process: there is no user to switch to.
    this.workloadIdentity =
      opts.runtime === undefined
        ? resolveWorkloadUser(opts.workloadUser, opts.userSystem ?? hostUserSystem)
        : { kind: 'agent', reason: 'workloads run in the simulator' };
    const wi = this.workloadIdentity;
    if (wi.kind === 'dedicated') log.info({ user: wi.user.name, uid: wi.user.uid, gid: wi.user.gid }, `workloads run as ${wi.user.name}`);
    else if (opts.runtime === undefined) log.warn(`workloads run as the agent itself: ${wi.reason}`);
    this.observer = new NodeObserver(
      {
        hwRoot: opts.hwRoot,
        site: opts.site,
        labels: opts.labels,
        profile: opts.telemetry?.profile,
        security: () => this.securityFacts(),
        containerEngine: () => this.engine,
        onLabels: opts.nfdFeaturesFile === undefined ? undefined : nfdFeatureSync(new NfdFeatureWriter(opts.nfdFeaturesFile), log),
        degraded: () => this.telemetry.degraded,
      },
      () => this.waits.reconcile.wake(),
    );
    this.artifacts = new LocalArtifactStore(join(opts.dataDir, 'artifacts'));
    this.pinned = new PinnedKeys(opts.dataDir);
    this.history = new ReleaseHistory(opts.dataDir);
    this.stats = new WorkloadStatsCollector(clock);
  }

  /** How this node confines workloads and where its release keys came from, for its facts. */
  private securityFacts(): NonNullable<HardwareFacts['security']> {
    const wi = this.workloadIdentity;
    const releaseKeyPinning = this.releaseKeyPinning();
    if (wi.kind === 'dedicated') return { workloadUser: wi.user.name, workloadsIsolated: true, releaseKeyPinning };
    const self = process.getuid?.();
    return { workloadUser: self === undefined ? 'agent' : `agent (uid ${self})`, workloadsIsolated: false, workloadsNote: wi.reason, releaseKeyPinning };
  }

  /** `token` once enrolled with a token naming a release key (or while enrolling with one), else `first-use`. */
  private releaseKeyPinning(): ReleaseKeyPinning {
    if (releaseKeyPinning(this.opts.dataDir) === 'token') return 'token';
    if (this.state.nodeId !== undefined || this.opts.token === undefined) return 'first-use';
    try {
      return parseBootstrapToken(this.opts.token).releaseKeyFingerprint === undefined ? 'first-use' : 'token';
    } catch {
      return 'first-use';
    }
  }

  /**
   * One inference request served on this node: into the rollout gates' stats and the
   * telemetry. The proxy calls it for real traffic; the simulator for synthetic traffic.
   */
  recordInference(deployment: string, revision: number, latencyMs: number, ok: boolean, fallback: boolean): void {
    this.stats.request(deployment, revision, latencyMs, ok, fallback);
    this.telemetry.inference(deployment, revision, latencyMs, ok, youngInstance(this.stats.instance(deployment, revision), this.ctx.clock()));
  }

  /** The workload instances as the supervisor sees them (diagnostics and tests). */
  workloadInstances(): ReadonlyMap<string, LocalWorkload> {
    return this.session?.supervisor.observe() ?? new Map();
  }

  /** Stops the loop at its next wait; `run()` then resolves. */
  stop(): void {
    this.abort.abort();
  }

  /** Probes the hardware and computes the labels to report. */
  observe(): Promise<{ facts: HardwareFacts; labels: Labels }> {
    return this.observer.observe();
  }

  /** Enrolls if needed, then heartbeats until stopped. Rejects only on a fatal error. */
  async run(): Promise<void> {
    const signal = this.abort.signal;
    let session: AgentSession | undefined;
    await this.detectContainerEngine();
    try {
      session = await openSession(
        { ...this.ctx, observer: this.observer, pinned: this.pinned },
        { metered: () => this.telemetry.settings.foldHeartbeats, supervisor: (source) => this.supervisor(source) },
        signal,
      );
      if (session === undefined) return; // stopped while enrolling
      this.session = session;
      await this.runSession(session, signal);
    } finally {
      await session?.close();
      await this.telemetry.close();
    }
  }

  /**
   * Looks for the container engine once, at start (as after a reboot): its facts are
   * reported, and container releases run only with one.
   */
  private async detectContainerEngine(): Promise<void> {
    const { log } = this.ctx;
    if (this.opts.runtime !== undefined) {
      this.engine = this.opts.runtime.containers?.facts ?? null;
      return;
    }
    if (this.opts.containerEngine === false) {
      this.engine = null;
      return;
    }
    const podman = new Podman(this.opts.containerEngine ?? {});
    const found = await podman.detect();
    if ('problem' in found) {
      this.engine = null;
      log.info(`${found.problem}: container releases report runtime-unavailable`);
      return;
    }
    this.engine = found.facts;
    this.containerMetrics ??= new ContainerMetrics(this.telemetry.metrics.registry);
    // One agent's containers are told from another's on the same host by its data dir.
    const agentKey = createHash('sha256').update(resolve(this.opts.dataDir)).digest('hex').slice(0, 16);
    this.engineRuntime = withContainers(processRuntime, podman, found.facts, agentKey);
    log.info({ ...found.facts }, `container engine: podman ${found.facts.version} with ${found.facts.ociRuntime ?? 'its default runtime'}`);
  }

  /** The session's loops, until stopped or a fatal error; its workloads stop with it. */
  private async runSession(session: AgentSession, signal: AbortSignal): Promise<void> {
    const { log, state } = this.ctx;
    const desired = new DesiredStateSync(this.ctx, {
      session,
      pinned: this.pinned,
      history: this.history,
      telemetry: this.telemetry,
      wait: this.waits.desired,
      onAccepted: () => this.waits.reconcile.wake(),
    });
    this.desiredSync = desired;
    // Containers of an earlier run (killed, power cut) hold ports and devices: gone before anything starts.
    await session.supervisor.removeLeftoverContainers().catch((err: unknown) => log.warn(`removing leftover containers failed: ${(err as Error).message}`));
    await session.supervisor.restoreReadyImages();
    // The last desired state keeps running while the server is out of reach.
    const saved = loadDesired(this.opts.dataDir);
    if (saved !== undefined) desired.accept(saved, false);
    // A taken metrics port degrades the node (facts.degraded) instead of ending the agent.
    await this.telemetry.start(() => this.waits.heartbeat.wake());
    const heartbeat = new Heartbeat(this.ctx, { session, telemetry: this.telemetry, observer: this.observer, stats: this.stats, wait: this.waits.heartbeat });
    const reconcile = new ReconcileLoop(this.ctx, {
      supervisor: session.supervisor,
      artifacts: this.artifacts,
      observer: this.observer,
      desired: () => desired.verified,
      wait: this.waits.reconcile,
      onStatusChange: () => this.waits.heartbeat.wake(),
    });
    // A throw in a background loop must not become an unhandled rejection that ends the
    // process: log it; the heartbeat loop (and the operator) carry on.
    const guard = (name: string, loop: Promise<void>): Promise<void> =>
      loop.catch((err: unknown) => log.error(`${name} loop stopped: ${(err as Error).message}`));
    const loops = [
      guard('desired-state', desired.run(signal)),
      guard('reconcile', reconcile.run(signal)),
      guard(
        'telemetry',
        this.telemetry.run(signal, {
          client: () => session.client,
          accelerators: () => this.observer.accelerators,
          workloads: () => state.workloads,
          foldedStatus: () => heartbeat.foldedStatus(),
          onResponse: (res) => {
            state.heartbeatIntervalMs = res.heartbeatIntervalSeconds * 1000;
            // The profile changed: the connection's keep-alive must follow it.
            session.followProfile();
            if (res.desiredVersion !== undefined && res.desiredVersion !== state.desiredVersion) this.waits.desired.wake();
          },
          held: () => ({ heartbeatIntervalSeconds: state.heartbeatIntervalMs / 1000, desiredVersion: state.desiredVersion }),
        }),
      ),
    ];
    const metrics = this.containerMetrics;
    const engine = this.engineRuntime?.containers;
    if (metrics !== undefined && engine !== undefined) loops.push(guard('container-metrics', this.readContainers(session, metrics, engine, signal)));
    try {
      await heartbeat.run(signal);
    } finally {
      this.abort.abort();
      await Promise.allSettled(loops);
      await session.supervisor.stopAll();
    }
  }

  /** Reads the containers' CPU and memory (the engine's cgroup figures) into the metrics, until stopped. */
  private async readContainers(session: AgentSession, metrics: ContainerMetrics, engine: ContainerSupport, signal: AbortSignal): Promise<void> {
    const interval = this.opts.workloads?.containerStatsIntervalMs ?? 15_000;
    while (!signal.aborted) {
      const running = session.supervisor.containers();
      try {
        metrics.sample(running, running.length === 0 ? new Map() : await engine.stats());
      } catch (err) {
        this.ctx.log.debug(`reading container stats failed: ${(err as Error).message}`);
      }
      await this.ctx.sleep(interval, signal);
    }
  }

  private images: ImageSource | undefined;

  /** The image store: the one given, else the agent's own once a container engine was found. */
  private imageSource(): ImageSource | undefined {
    if (this.opts.images !== undefined) return this.opts.images;
    if (this.engineRuntime === undefined) return undefined;
    this.images ??= new ImageStore({ dataDir: this.opts.dataDir });
    return this.images;
  }

  /** The workload supervisor of a session, fetching artifacts from `source`. */
  private supervisor(source: () => ArtifactSource): WorkloadSupervisor {
    return new WorkloadSupervisor({
      dataDir: this.opts.dataDir,
      artifacts: this.artifacts,
      source,
      clock: this.ctx.clock,
      log: this.ctx.log,
      onChange: () => this.waits.reconcile.wake(),
      ...(this.opts.runtime === undefined ? {} : { runtime: this.opts.runtime }),
      ...(this.engineRuntime === undefined ? {} : { runtime: this.engineRuntime }),
      ...(this.imageSource() === undefined ? {} : { images: this.imageSource() as ImageSource }),
      ...(this.opts.platform === undefined ? {} : { platform: this.opts.platform }),
      registries: () => this.desiredSync?.registries ?? [],
      inference: this.inference,
      accelerator: () => {
        const devices = acceleratorDeviceMappings(this.opts.hwRoot, this.observer.acceleratorFacts);
        return {
          devices,
          groups: acceleratorGroups(
            this.opts.hwRoot,
            devices.map((d) => d.container),
          ),
        };
      },
      ...(this.workloadIdentity.kind === 'dedicated'
        ? {
            workloadUser: {
              user: this.workloadIdentity.user,
              workDirRoot: resolve(this.opts.workloadDir ?? `${resolve(this.opts.dataDir)}-workloads`),
              setpriv: this.workloadIdentity.setpriv,
              groups: () => acceleratorGroups(this.opts.hwRoot, this.observer.acceleratorDevices),
            },
          }
        : {}),
      stats: {
        request: (deployment, revision, latencyMs, ok, fallback) => this.recordInference(deployment, revision, latencyMs, ok, fallback),
        restart: (deployment, revision) => {
          this.stats.restart(deployment, revision);
          this.telemetry.restart(deployment, revision);
        },
        instanceStarted: (deployment, revision, startedAt) => this.stats.instanceStarted(deployment, revision, startedAt),
        loadFailure: (deployment, revision) => this.telemetry.loadFailure(deployment, revision),
        output: (deployment, revision, stream, chunk) => this.telemetry.output(deployment, revision, stream, chunk),
      },
    });
  }
}
