import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  artifactOfPart,
  EdgefleetError,
  parseDuration,
  parseImageReference,
  type RegistryAccess,
  type Release,
  registryHostOf,
  releaseEnvProblem,
} from '@edgefleet/protocol';
import { writeFileDurable } from '@edgefleet/protocol/node';
import type { Logger } from 'pino';
import { type ArtifactSource, downloadArtifact, type LocalArtifactStore } from '../artifacts/index.js';
import { ImageError, type ImageSource, type Platform, type PreparedImage } from '../images/types.js';
import { wantsAccelerator } from './container/devices.js';
import { containerLabels, containerName, type DeviceMapping } from './container/run-args.js';
import { type LaunchSpec, MODEL_FD_PATH } from './instance.js';
import { inferencePort, launchSpec, partRuntime } from './launch.js';
import type { WorkloadOwner } from './leftovers.js';
import { imageKeyOf } from './planner.js';
import { downloadRetryDelayMs, imageRetryDelayMs } from './retry-delays.js';
import { processRuntime, type RuntimeInstance, type RuntimeProxy, type WorkloadRuntime } from './runtime.js';
import {
  DEFAULT_INFERENCE_LISTEN,
  type EndpointFailure,
  endpointFailureMessage,
  endpointFailureReason,
  endpointRetryDelayMs,
  inferenceAddress,
} from './site-ports.js';
import type { DownloadFailure, FailureRecord, ImageFailure, InstanceFailure, LocalWorkload, ModelChoice, RevisionRejection, Step } from './types.js';
import type { WorkloadUser } from './workload-user.js';

interface Slot {
  proxy: RuntimeProxy | undefined;
  /** The site port the proxy listens on (on the inference address); undefined: loopback. */
  sitePort: number | undefined;
  active: RuntimeInstance | undefined;
  candidate: RuntimeInstance | undefined;
  previousRevision: number | undefined;
  failures: FailureRecord[];
}

/** What survives an agent restart: the releases it held and the failures it must not repeat. */
interface PersistedState {
  version: 1;
  known: Record<string, Record<string, Release>>;
  previous: Record<string, number>;
  /** Rejected revisions, written with `reason: 'rolled-back'` as agents before `kind` read them. */
  rejected: Record<string, (Omit<RevisionRejection, 'kind'> & { reason: 'rolled-back' })[]>;
  pids: number[];
  /** Proxy ports, kept so a deployment's endpoint survives agent restarts. */
  proxyPorts?: Record<string, number>;
  /** What served last (active and ready) per deployment, so a restarted agent can serve it again, or switch back to it. */
  serving?: Record<string, { revision: number; model: ModelChoice }>;
  /** Which deployment holds which site port (port → deployment), so a restart keeps the same holder. */
  sitePorts?: Record<string, string>;
}

interface SupervisorOptions {
  dataDir: string;
  artifacts: LocalArtifactStore;
  source: () => ArtifactSource;
  clock: () => number;
  log: Logger;
  /** Called whenever something changed that the next plan should see. */
  onChange: () => void;
  /** Where request and restart counts go (stats for rollout gates, telemetry). */
  stats?: WorkloadObserver;
  /** How instances run (default: child processes; the simulator runs them in memory). */
  runtime?: WorkloadRuntime;
  /** The node's image store (images/types.ts): container parts get their image from it; absent: they report `image-pull-failed`. */
  images?: ImageSource;
  /** Addresses, CAs and pull credentials of registries, from the desired state (kept in memory; never logged). */
  registries?: () => readonly RegistryAccess[];
  /**
   * Disk the image store may keep for layers no kept revision needs (they make later pulls
   * smaller); beyond it, the oldest go. Default 2 GiB. Layers kept revisions need always stay.
   */
  imageBudgetBytes?: number;
  /** The node's platform for image indexes (default: this process's, `linux/arm64` on a Pi). */
  platform?: Platform;
  /** The accelerator device nodes a container that asks for the accelerator gets, with the groups owning them. */
  accelerator?: () => { devices: DeviceMapping[]; groups: number[] };
  /**
   * Where front doors of deployments with `spec.endpoint` listen for the site: `listen` is the
   * address (`--inference-listen`, default all interfaces), `host` what clients at the site
   * use to reach it (shown in the endpoint the node reports). Default: 0.0.0.0, the node's address.
   */
  inference?: { listen: string; host: string };
  /** The user workloads run as (see workload-user.ts); absent: as the agent. */
  workloadUser?: {
    user: WorkloadUser;
    /** Where each deployment gets its working folder; reachable by the user (not in the 0700 data folder). */
    workDirRoot: string;
    setpriv: string | undefined;
    /** The groups of the accelerator device nodes, looked up at each start. */
    groups: () => number[];
  };
}

/** Who hears about workload traffic and trouble: the gates' stats and the telemetry pipeline. */
interface WorkloadObserver {
  request(deployment: string, revision: number, latencyMs: number, ok: boolean, fallback: boolean): void;
  restart(deployment: string, revision: number): void;
  /**
   * A new instance began serving the revision at `startedAt` (node clock): it is active and
   * ready, so the proxy routes to it. The gates leave its warm-up out.
   */
  instanceStarted?(deployment: string, revision: number, startedAt: number): void;
  /** The instance failed before it ever became ready: the model did not load. */
  loadFailure?(deployment: string, revision: number): void;
  /** Output of a workload process. */
  output?(deployment: string, revision: number, stream: 'stdout' | 'stderr', chunk: Buffer): void;
}

/**
 * The executor of the agent's plan: it owns the workload processes, downloads and failure
 * records, performs one step per handler, and reports everything back as observations.
 * Downloads run in the background; the planner sees them finish on a later pass.
 */
/** Default disk budget for layers no kept revision needs (see `imageBudgetBytes`). */
export const DEFAULT_IMAGE_BUDGET_BYTES = 2 * 1024 ** 3;

export class WorkloadSupervisor {
  private readonly slots = new Map<string, Slot>();
  private readonly known = new Map<string, Map<number, Release>>();
  private readonly downloads = new Map<string, Promise<void>>();
  readonly downloadFailures = new Map<string, DownloadFailure & { count: number }>();
  /** Images imported into the engine, by canonical reference. */
  private readonly readyImages = new Map<string, { prepared: PreparedImage; imageId: string }>();
  private readonly pulls = new Map<string, Promise<void>>();
  readonly imageFailures = new Map<string, ImageFailure & { count: number }>();
  private readonly statePath: string;
  /** Instances the stats heard began serving (see `announceServing`). */
  private readonly announced = new WeakSet<RuntimeInstance>();

  constructor(private readonly opts: SupervisorOptions) {
    this.statePath = join(opts.dataDir, 'workloads.json');
    this.load();
  }

  /** Remembers the releases the server asked for, so switching back needs no server. */
  learn(deployment: string, revision: number, release: Release): void {
    let revs = this.known.get(deployment);
    if (revs === undefined) {
      revs = new Map();
      this.known.set(deployment, revs);
    }
    if (!revs.has(revision)) {
      revs.set(revision, release);
      this.persist();
    }
  }

  knownReleases(): ReadonlyMap<string, ReadonlyMap<number, Release>> {
    return this.known;
  }

  observe(): Map<string, LocalWorkload> {
    const out = new Map<string, LocalWorkload>();
    for (const [deployment, s] of this.slots) {
      const lastServing = this.serving.get(deployment);
      if (
        s.active === undefined &&
        s.candidate === undefined &&
        s.failures.length === 0 &&
        s.previousRevision === undefined &&
        lastServing === undefined &&
        s.sitePort === undefined
      )
        continue;
      out.set(deployment, {
        deployment,
        active: s.active?.observe(),
        candidate: s.candidate?.observe(),
        previousRevision: s.previousRevision,
        failures: [...s.failures],
        proxyPort: s.proxy?.port,
        sitePort: s.sitePort,
        siteHost: s.sitePort === undefined ? undefined : this.inference.host,
        lastServing,
      });
    }
    return out;
  }

  async execute(steps: readonly Step[]): Promise<void> {
    for (const step of steps) {
      try {
        await this.handlers[step.action](step as never);
      } catch (err) {
        this.opts.log.warn({ step }, `step failed: ${(err as Error).message}`);
      }
    }
  }

  /** The step handlers, one per action: the compiler checks every action has one. */
  private readonly handlers: { [A in Step['action']]: (step: Extract<Step, { action: A }>) => Promise<void> } = {
    download: async (step) => this.download(step.digest),
    pull: async (step) => this.pull(step.image, step.deployment, step.revision),
    start: async (step) => this.start(step.deployment, step.revision, step.model),
    promote: async (step) => this.promote(step.deployment),
    listen: async (step) => this.listen(step.deployment, step.port),
    stop: async (step) => {
      const s = this.slot(step.deployment);
      const inst = s[step.which];
      s[step.which] = undefined;
      this.opts.log.info({ deployment: step.deployment, revision: inst?.spec.revision, model: inst?.spec.model }, `stopping ${step.which}: ${step.reason}`);
      await inst?.stop();
      if (s.active === undefined && s.candidate === undefined && step.cause === 'no-longer-desired') {
        await s.proxy?.close();
        s.proxy = undefined;
        this.proxyPorts.delete(step.deployment);
        this.serving.delete(step.deployment);
        if (s.sitePort !== undefined) this.releaseSitePort(step.deployment);
        s.sitePort = undefined;
        this.endpointFailures.delete(step.deployment);
      }
      this.persist();
    },
    restart: async (step) => {
      const s = this.slot(step.deployment);
      const old = s.active;
      if (old === undefined) return;
      await old.stop();
      const inst = this.spawn(old.spec.deployment, old.spec.revision, old.spec.model, old.spec.port);
      if (inst !== undefined) inst.promotedAt = old.promotedAt;
      s.active = inst;
      // It begins serving once ready: announced by its ready event (or now, if a runtime made it ready at once).
      if (inst !== undefined) {
        this.announceServing(step.deployment, inst);
        this.rememberServing(step.deployment, inst);
      }
      // The new pid must be on disk: after a kill -9 the next agent kills leftovers by pid.
      this.persist();
    },
    reject: async (step) => {
      const s = this.slot(step.deployment);
      s.failures.push({ kind: 'revision-rejected', revision: step.revision, model: 'primary', message: step.message, at: this.opts.clock(), count: 1 });
      this.persist();
    },
    gc: async (step) => {
      const removed = this.opts.artifacts.gc(new Set(step.keep));
      if (removed.length > 0) this.opts.log.info({ removed }, 'removed artifacts no longer needed');
      await this.collectImages(new Set(step.keepImages));
    },
  };

  /**
   * Images no kept revision needs leave the engine (podman keeps one a container still
   * uses), then the image store drops their layers beyond the disk budget, oldest first.
   */
  private async collectImages(keep: ReadonlySet<string>): Promise<void> {
    const engine = this.runtime.containers;
    for (const [key, ready] of [...this.readyImages]) {
      if (keep.has(key)) continue;
      // Forgotten either way: if it is needed again, `load` finds it in the engine or imports it anew.
      this.readyImages.delete(key);
      try {
        await engine?.unload?.(ready.imageId);
        this.opts.log.info({ image: key }, 'removed an image no kept revision needs');
      } catch (err) {
        this.opts.log.warn({ image: key }, `image not removed from the engine: ${(err as Error).message}`);
      }
    }
    const store = this.opts.images;
    if (store === undefined) return;
    const { freedBytes } = await store.collect(
      [...keep].map((k) => parseImageReference(k)),
      this.opts.imageBudgetBytes ?? DEFAULT_IMAGE_BUDGET_BYTES,
    );
    if (freedBytes > 0) this.opts.log.info({ freedBytes }, 'image store: removed layers beyond its disk budget');
  }

  /** Canonical references of the images the engine holds, ready to run. */
  images(): ReadonlySet<string> {
    return new Set(this.readyImages.keys());
  }

  /** Whether this node runs containers (the runtime has an engine). */
  get containerEngine(): boolean {
    return this.runtime.containers !== undefined;
  }

  /**
   * Removes containers an earlier run of this agent left (killed with -9, power cut): they
   * would hold ports and the accelerator. Called before the first reconcile pass.
   */
  async removeLeftoverContainers(): Promise<string[]> {
    const engine = this.runtime.containers;
    if (engine === undefined) return [];
    const mine = new Set([...this.slots.values()].flatMap((s) => [s.active, s.candidate]).map((i) => (i?.spec as LaunchSpec | undefined)?.container?.name));
    const left = (await engine.leftovers()).filter((n) => !mine.has(n));
    if (left.length > 0) {
      await engine.remove(left);
      this.opts.log.info({ containers: left }, `removed ${left.length} containers an earlier agent run left`);
    }
    return left;
  }

  /**
   * After a restart: the images of held releases that the store still has verified and the
   * engine still holds are ready at once (no network), so what served before can serve again
   * while a new revision's image arrives.
   */
  async restoreReadyImages(): Promise<void> {
    const engine = this.runtime.containers;
    const store = this.opts.images;
    if (engine === undefined || store === undefined) return;
    const platform = this.opts.platform ?? nodePlatform();
    for (const revisions of this.known.values())
      for (const release of revisions.values())
        for (const model of ['primary', 'fallback'] as const) {
          const key = imageKeyOf(release, model);
          if (key === undefined || this.readyImages.has(key)) continue;
          const prepared = store.prepared(parseImageReference(key), platform);
          if (prepared === undefined) continue;
          try {
            this.readyImages.set(key, { prepared, imageId: await engine.load(prepared) });
          } catch (err) {
            this.opts.log.warn({ image: key }, `held image not usable: ${(err as Error).message}`);
          }
        }
  }

  /** The containers running now, with what they hold: for the node's readings and metrics. */
  containers(): { deployment: string; revision: number; model: ModelChoice; name: string; devices: string[] }[] {
    return [...this.slots.entries()].flatMap(([deployment, s]) =>
      [s.active, s.candidate].flatMap((i) => {
        const c = (i?.spec as LaunchSpec | undefined)?.container;
        return i === undefined || c === undefined
          ? []
          : [{ deployment, revision: i.spec.revision, model: i.spec.model, name: c.name, devices: c.devices.map((d) => d.container) }];
      }),
    );
  }

  /** Makes an image ready in the background: the image store pulls and verifies it, the engine imports it. */
  private pull(image: string, deployment: string, revision: number): void {
    if (this.pulls.has(image) || this.readyImages.has(image)) return;
    const release = this.known.get(deployment)?.get(revision);
    const job = (async () => {
      const engine = this.runtime.containers;
      if (engine === undefined) throw new ImageError('image-pull-failed', 'this node has no container engine');
      if (this.opts.images === undefined) throw new ImageError('image-pull-failed', 'this agent has no image store configured');
      const reference = parseImageReference(image);
      const prepared = await this.opts.images.prepare({
        reference,
        access: registryFor(reference.registry, this.opts.registries?.() ?? []),
        platform: this.opts.platform ?? nodePlatform(),
        ...(release?.verify === undefined ? {} : { cosignPublicKey: release.verify.cosign.publicKey }),
      });
      const imageId = await engine.load(prepared);
      this.readyImages.set(image, { prepared, imageId });
      return prepared;
    })()
      .then(
        (prepared) => {
          this.imageFailures.delete(image);
          this.opts.log.info({ image, manifest: prepared.manifestDigest, platform: prepared.platform, bytes: prepared.bytes }, 'image verified and imported');
        },
        (err: unknown) => {
          const reason = err instanceof ImageError ? err.reason : 'image-pull-failed';
          const count = (this.imageFailures.get(image)?.count ?? 0) + 1;
          // Each reason has its own backoff (retry-delays.ts): a missing platform waits an hour.
          const delay = imageRetryDelayMs(count, reason);
          this.imageFailures.set(image, { reason, message: (err as Error).message, retryAt: this.opts.clock() + delay, count });
          this.opts.log.warn({ image, reason }, `image not ready: ${(err as Error).message}`);
        },
      )
      .finally(() => {
        this.pulls.delete(image);
        this.opts.onChange();
      });
    this.pulls.set(image, job);
  }

  private slot(deployment: string): Slot {
    let s = this.slots.get(deployment);
    if (s === undefined) {
      s = { proxy: undefined, sitePort: undefined, active: undefined, candidate: undefined, previousRevision: undefined, failures: [] };
      this.slots.set(deployment, s);
    }
    return s;
  }

  private download(digest: string): void {
    if (this.downloads.has(digest)) return;
    const job = downloadArtifact({ source: this.opts.source(), digest, store: this.opts.artifacts })
      .then(
        (r) => {
          this.downloadFailures.delete(digest);
          this.opts.log.info({ digest, bytes: r.bytes, resumedFrom: r.resumedFrom }, 'artifact downloaded and verified');
        },
        (err: unknown) => {
          const code = err instanceof EdgefleetError ? err.code : 'download_failed';
          const tampered = code === 'digest_mismatch';
          const count = (this.downloadFailures.get(digest)?.count ?? 0) + 1;
          // A failed download is retried later with backoff; a tampered artifact waits longer.
          const delay = downloadRetryDelayMs(count, tampered);
          this.downloadFailures.set(digest, { tampered, code, message: (err as Error).message, retryAt: this.opts.clock() + delay, count });
          this.opts.log.warn({ digest, code }, `download failed: ${(err as Error).message}`);
        },
      )
      .finally(() => {
        this.downloads.delete(digest);
        this.opts.onChange();
      });
    this.downloads.set(digest, job);
  }

  private async start(deployment: string, revision: number, model: ModelChoice): Promise<void> {
    const s = this.slot(deployment);
    if (s.candidate !== undefined) await s.candidate.stop();
    const release = this.known.get(deployment)?.get(revision);
    if (release === undefined) throw new Error(`no release known for ${deployment} revision ${revision}`);
    const port = release.runtime.port !== undefined && model === 'primary' ? release.runtime.port : await this.runtime.freePort();
    // A fixed port cannot be shared: the old instance has to go first (a short gap, documented).
    if (release.runtime.port !== undefined && s.active?.spec.port === port) await s.active.stop();
    s.candidate = this.spawn(deployment, revision, model, port);
    // A kill -9 during the wait for the front door leaves a process no workloads.json names; the
    // next agent finds it by what it is (killLeftovers), so no write is needed before the wait.
    if (s.proxy === undefined) s.proxy = await this.openProxy(deployment, s);
    if (s.active === undefined && s.candidate !== undefined) {
      // Nothing serves yet: the first instance is the active one from the start.
      s.active = s.candidate;
      s.candidate = undefined;
      s.active.promotedAt = this.opts.clock();
      // Remembered as what serves only once it is ready (its ready event), so a revision that
      // never comes up does not replace the memory of the last one that did.
      this.announceServing(deployment, s.active);
      this.rememberServing(deployment, s.active);
    }
    this.persist();
  }

  private readonly proxyPorts = new Map<string, number>();
  private readonly serving = new Map<string, { revision: number; model: ModelChoice }>();
  /** Site port → the deployment that holds it (persisted). */
  private readonly sitePorts = new Map<number, string>();
  /** Deployments whose front door could not listen on their site port (cleared once it does). */
  readonly endpointFailures = new Map<string, EndpointFailure>();
  private inferenceDefaults: { listen: string; host: string } | undefined;

  /** Where site front doors listen and the host the site reaches them by. */
  get inference(): { listen: string; host: string } {
    this.inferenceDefaults ??= this.opts.inference ?? inferenceAddress(DEFAULT_INFERENCE_LISTEN);
    return this.inferenceDefaults;
  }

  /** Which deployment holds which site port on this node. */
  sitePortHolders(): ReadonlyMap<number, string> {
    return this.sitePorts;
  }

  private releaseSitePort(deployment: string): void {
    for (const [port, holder] of [...this.sitePorts]) if (holder === deployment) this.sitePorts.delete(port);
  }

  /**
   * Moves the deployment's front door onto its site port (on the inference address), or back
   * to loopback (`null`; closed when nothing runs). The new door opens before the old one
   * closes, so a port change never leaves the site without one; a failed listen leaves the old
   * door as it was and is retried with backoff (the planner reads `endpointFailures`).
   */
  private async listen(deployment: string, port: number | null): Promise<void> {
    const s = this.slot(deployment);
    const old = s.proxy;
    if (port === null) {
      if (s.sitePort === undefined) return;
      s.proxy = undefined;
      s.sitePort = undefined;
      this.releaseSitePort(deployment);
      this.endpointFailures.delete(deployment);
      await old?.close();
      if (s.active !== undefined || s.candidate !== undefined) s.proxy = await this.openProxy(deployment, s);
      this.opts.log.info({ deployment }, 'front door back on loopback');
      this.persist();
      return;
    }
    const { listen } = this.inference;
    let proxy: RuntimeProxy;
    try {
      proxy = await this.openProxy(deployment, s, { host: listen, port });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const previous = this.endpointFailures.get(deployment);
      const count = previous?.port === port ? previous.count + 1 : 1;
      const failure: EndpointFailure = {
        reason: endpointFailureReason(code),
        message: endpointFailureMessage(code, listen, port, (err as Error).message),
        port,
        retryAt: this.opts.clock() + endpointRetryDelayMs(count),
        count,
      };
      this.endpointFailures.set(deployment, failure);
      this.opts.log.warn({ deployment, port, reason: failure.reason, count }, failure.message);
      this.opts.onChange();
      return;
    }
    s.proxy = proxy;
    s.sitePort = port;
    this.endpointFailures.delete(deployment);
    this.releaseSitePort(deployment);
    this.sitePorts.set(port, deployment);
    this.opts.log.info({ deployment, listen, port }, 'front door listens for the site');
    this.persist();
    await old?.close();
  }

  /**
   * Opens the deployment's stable front door: on loopback, on the port it had before if that
   * is free; or for the site, on exactly `site.port` of `site.host` (failing if it can't).
   */
  private async openProxy(deployment: string, s: Slot, site?: { host: string; port: number }): Promise<RuntimeProxy> {
    const proxy = await this.runtime.openProxy(
      deployment,
      () =>
        s.active !== undefined && s.active.health === 'ready'
          ? { port: s.active.spec.port, revision: s.active.spec.revision, fallback: s.active.spec.model === 'fallback' }
          : undefined,
      (r) => {
        if (r.inference) this.opts.stats?.request(r.deployment, r.revision, r.latencyMs, r.ok, r.fallback);
      },
      site?.port ?? this.proxyPorts.get(deployment) ?? 0,
      ...(site === undefined ? [] : [site.host]),
    );
    if (site === undefined) this.proxyPorts.set(deployment, proxy.port);
    return proxy;
  }

  private get runtime(): WorkloadRuntime {
    return this.opts.runtime ?? processRuntime;
  }

  private spawn(deployment: string, revision: number, model: ModelChoice, port: number): RuntimeInstance | undefined {
    const release = this.known.get(deployment)?.get(revision);
    if (release === undefined) return undefined;
    const spec =
      partRuntime(release, model).kind === 'container'
        ? this.containerSpec(deployment, revision, release, model, port)
        : this.processSpec(deployment, revision, release, model, port);
    if (spec === undefined) return undefined;
    const inst = this.runtime.spawn(spec, release, {
      clock: this.opts.clock,
      onEvent: (event) => this.onInstanceEvent(deployment, inst, event),
      onOutput: (stream, chunk) => this.opts.stats?.output?.(deployment, revision, stream, chunk),
    });
    inst.start();
    this.opts.log.info(
      { deployment, revision, model, port, pid: inst.pid, container: spec.container?.name, devices: spec.container?.devices.map((d) => d.container) },
      'workload started',
    );
    return inst;
  }

  /** A part run as a process: the model server, or the release's program (with its model, if it has one). */
  private processSpec(deployment: string, revision: number, release: Release, model: ModelChoice, port: number): LaunchSpec {
    const digest = artifactOfPart(release, model);
    // A release whose runtime brings its own code (process) may have no model file to hand over.
    const modelFile = digest === undefined ? undefined : this.opts.artifacts.pathOf(digest);
    const wu = this.opts.workloadUser;
    const spec = launchSpec(deployment, revision, release, model, wu === undefined || modelFile === undefined ? modelFile : MODEL_FD_PATH, port);
    if (wu === undefined) return spec;
    return {
      ...spec,
      cwd: spec.cwd ?? this.workDir(deployment, wu.user, wu.workDirRoot),
      runAs: { user: wu.user, groups: wu.groups(), setpriv: wu.setpriv, modelFile },
    };
  }

  /**
   * A part run as a container, from the image the engine imported: published on the
   * instance port on loopback (the proxy stays in front), as the workload user (or nobody),
   * with the accelerator's device nodes only when the release asks for the accelerator.
   */
  private containerSpec(deployment: string, revision: number, release: Release, model: ModelChoice, port: number): LaunchSpec | undefined {
    const rt = partRuntime(release, model);
    const engine = this.runtime.containers;
    const key = imageKeyOf(release, model);
    const ready = key === undefined ? undefined : this.readyImages.get(key);
    if (rt.kind !== 'container' || engine === undefined || ready === undefined || key === undefined) return undefined;
    const envProblem = releaseEnvProblem(release);
    if (envProblem !== undefined) throw new Error(`refusing to start ${deployment} revision ${revision}: ${envProblem.field}: ${envProblem.message}`);
    const containerPort = inferencePort(rt.ports);
    const accelerator = wantsAccelerator(release, model) ? (this.opts.accelerator?.() ?? { devices: [], groups: [] }) : { devices: [], groups: [] };
    const wu = this.opts.workloadUser?.user;
    return {
      deployment,
      revision,
      model,
      command: '',
      args: [],
      env: {},
      cwd: undefined,
      port,
      healthPath: release.health.path,
      healthIntervalMs: parseDuration(release.health.interval),
      failureThreshold: release.health.failureThreshold,
      container: {
        imageId: ready.imageId,
        reference: key,
        name: containerName(deployment, revision, model, randomBytes(4).toString('hex')),
        labels: containerLabels(engine.agentKey, deployment, revision, model, accelerator.devices),
        containerPort,
        hostPort: port,
        command: rt.command,
        args: rt.args,
        env: {
          ...(release.env ?? {}),
          ...rt.env,
          EDGEFLEET_DEPLOYMENT: deployment,
          EDGEFLEET_REVISION: String(revision),
          EDGEFLEET_PORT: String(containerPort),
        },
        resources: rt.resources,
        capabilities: rt.capabilities,
        devices: accelerator.devices,
        groups: accelerator.groups,
        // The workload user's ids when the agent has one, else nobody: never root.
        user: wu === undefined ? '65534:65534' : `${wu.uid}:${wu.gid}`,
        network: engine.network,
      },
    };
  }

  /**
   * The working folder of a deployment's workloads: theirs alone (0700, owned by the workload
   * user), under a root outside the agent's data folder, which stays closed to them: programs
   * use their working folder by its absolute path.
   */
  private workDir(deployment: string, user: WorkloadUser, root: string): string {
    mkdirSync(root, { recursive: true, mode: 0o755 });
    const dir = join(root, deployment);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chownSync(dir, user.uid, user.gid);
    chmodSync(dir, 0o700);
    return dir;
  }

  private onInstanceEvent(deployment: string, inst: RuntimeInstance, event: import('./instance.js').InstanceEvent): void {
    const s = this.slot(deployment);
    const { revision, model } = inst.spec;
    if (event.kind === 'failed') {
      const previous = s.failures.findLast((f): f is InstanceFailure => f.kind === 'instance-failed' && f.revision === revision && f.model === model);
      const count = (previous?.count ?? 0) + 1;
      s.failures = s.failures.filter((f) => f !== previous);
      s.failures.push({ kind: 'instance-failed', revision, model, reason: event.reason, message: event.message, at: this.opts.clock(), count });
      // Keep the list short: the planner only needs the latest per revision and model.
      if (s.failures.length > 20) s.failures.splice(0, s.failures.length - 20);
      this.opts.log.warn({ deployment, revision, model, count }, event.message);
      this.opts.stats?.restart(deployment, revision);
      if (!inst.everReady) this.opts.stats?.loadFailure?.(deployment, revision);
    } else {
      if (s.active === inst) {
        this.announceServing(deployment, inst);
        this.rememberServing(deployment, inst);
      }
      // Healthy again: a later failure starts a new count once it has stayed healthy a while.
      const window = 30_000;
      setTimeout(() => {
        if (inst.health === 'ready' && inst.readySince !== undefined && this.opts.clock() - inst.readySince >= Math.min(window, 5_000)) {
          s.failures = s.failures.filter((f) => !(f.kind === 'instance-failed' && f.revision === revision && f.model === model));
          this.opts.onChange();
        }
      }, Math.min(window, 5_000) + 50).unref();
    }
    this.opts.onChange();
  }

  private async promote(deployment: string): Promise<void> {
    const s = this.slot(deployment);
    const next = s.candidate;
    if (next === undefined) return;
    const old = s.active;
    next.promotedAt = this.opts.clock();
    s.active = next;
    s.candidate = undefined;
    if (old !== undefined && old.spec.revision !== next.spec.revision) s.previousRevision = old.spec.revision;
    this.rememberServing(deployment, next);
    this.announceServing(deployment, next);
    this.opts.log.info({ deployment, revision: next.spec.revision, model: next.spec.model, port: next.spec.port }, 'switched over');
    this.persist();
    await old?.stop();
  }

  /**
   * Tells the stats that `inst` serves now, once per instance and only when the proxy routes
   * to it (active and ready): warm-up runs from its first request, not from its process
   * start, so a model that loads for a minute still has its first seconds of traffic left out.
   * A promoted candidate is ready already; the first instance and a restarted one are
   * announced by their ready event. Readiness lost and regained is the same warm process.
   */
  private announceServing(deployment: string, inst: RuntimeInstance): void {
    if (inst.health !== 'ready' || this.announced.has(inst)) return;
    this.announced.add(inst);
    this.opts.stats?.instanceStarted?.(deployment, inst.spec.revision, this.opts.clock());
  }

  /**
   * Remembers (on disk) what serves the deployment once it is active and ready: after a
   * restart the planner serves it again, or switches back to it when the desired revision
   * cannot serve.
   */
  private rememberServing(deployment: string, inst: RuntimeInstance): void {
    if (inst.health !== 'ready' || this.slots.get(deployment)?.active !== inst) return;
    const { revision, model } = inst.spec;
    const last = this.serving.get(deployment);
    if (last?.revision === revision && last.model === model) return;
    this.serving.set(deployment, { revision, model });
    this.persist();
  }

  /** Stops every workload (agent shutdown). */
  async stopAll(): Promise<void> {
    await Promise.all([...this.slots.values()].flatMap((s) => [s.active?.stop(), s.candidate?.stop(), s.proxy?.close()]));
    // A container whose start raced the stop must not outlive the agent either.
    await this.removeLeftoverContainers().catch((err: unknown) => this.opts.log.warn(`removing containers failed: ${(err as Error).message}`));
  }

  private persist(): void {
    const state: PersistedState = {
      version: 1,
      known: Object.fromEntries([...this.known].map(([d, revs]) => [d, Object.fromEntries([...revs].map(([r, rel]) => [String(r), rel]))])),
      previous: Object.fromEntries([...this.slots].filter(([, s]) => s.previousRevision !== undefined).map(([d, s]) => [d, s.previousRevision as number])),
      rejected: Object.fromEntries([...this.slots].map(([d, s]) => [d, s.failures.filter((f) => f.kind === 'revision-rejected').map(persistedRejection)])),
      pids: [...this.slots.values()].flatMap((s) => [s.active?.pid, s.candidate?.pid]).filter((p): p is number => p !== undefined),
      proxyPorts: Object.fromEntries(this.proxyPorts),
      serving: Object.fromEntries(this.serving),
      sitePorts: Object.fromEntries([...this.sitePorts].map(([port, d]) => [String(port), d])),
    };
    mkdirSync(this.opts.dataDir, { recursive: true, mode: 0o700 });
    writeFileDurable(this.statePath, JSON.stringify(state), 0o600);
  }

  private load(): void {
    const state = this.readState();
    // Workloads of a previous agent process (killed with -9) may still run and hold ports.
    this.killLeftovers();
    if (state === undefined) return;
    for (const [d, revs] of Object.entries(state.known ?? {})) this.known.set(d, new Map(Object.entries(revs).map(([r, rel]) => [Number(r), rel])));
    for (const [d, rev] of Object.entries(state.previous ?? {})) this.slot(d).previousRevision = rev;
    // Everything under `rejected` is a rejection, whatever else the record says (older files have no `kind`).
    for (const [d, failures] of Object.entries(state.rejected ?? {}))
      this.slot(d).failures.push(
        ...failures.map(
          (f): RevisionRejection => ({ kind: 'revision-rejected', revision: f.revision, model: f.model, message: f.message, at: f.at, count: f.count }),
        ),
      );
    for (const [d, port] of Object.entries(state.proxyPorts ?? {})) this.proxyPorts.set(d, port);
    for (const [d, serving] of Object.entries(state.serving ?? {})) this.serving.set(d, serving);
    for (const [port, d] of Object.entries(state.sitePorts ?? {})) if (Number.isInteger(Number(port))) this.sitePorts.set(Number(port), d);
  }

  private readState(): PersistedState | undefined {
    if (!existsSync(this.statePath)) return undefined;
    try {
      return JSON.parse(readFileSync(this.statePath, 'utf8')) as PersistedState;
    } catch {
      this.opts.log.warn(`ignoring unreadable ${this.statePath}`);
      return undefined;
    }
  }

  /**
   * Kills the workload processes an earlier agent process left, found by what they are
   * (leftovers.ts), not by the pids workloads.json wrote down: a process spawned just before a
   * kill -9 is in no file, and after a reboot a written-down pid may belong to anything. The
   * scan finds every written-down pid that is still ours, so that list adds nothing here; it is
   * still written for an older agent after a downgrade. Runtimes without real processes (the
   * simulator's) have nothing to scan.
   */
  private killLeftovers(): void {
    const owner: WorkloadOwner = { dataDir: this.opts.dataDir, workDirRoot: this.opts.workloadUser?.workDirRoot };
    for (const pid of this.runtime.leftoverProcesses?.(owner) ?? []) {
      try {
        process.kill(pid, 'SIGKILL');
        this.opts.log.warn({ pid }, 'killed a workload an earlier agent process left running');
      } catch {
        // Gone already.
      }
    }
  }
}

/** The registry entry for an image's registry host (`HOST[:PORT]`), if the desired state has one. */
export function registryFor(host: string, registries: readonly RegistryAccess[]): RegistryAccess | undefined {
  return registries.find((r) => {
    try {
      return registryHostOf(r.server) === host;
    } catch {
      return false;
    }
  });
}

/** This node's platform as image indexes name it. */
export function nodePlatform(arch: string = process.arch): Platform {
  const oci: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm/v7', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return `linux/${oci[arch] ?? arch}`;
}

/** A rejection as workloads.json holds it: with the `reason` agents before `kind` tell rejections by. */
function persistedRejection(f: RevisionRejection): PersistedState['rejected'][string][number] {
  return { revision: f.revision, model: f.model, reason: 'rolled-back', message: f.message, at: f.at, count: f.count };
}
