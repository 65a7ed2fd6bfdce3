import type { Release } from '@edgefleet/protocol';
import type { PreparedImage } from '../images/types.js';
import { type InstanceEvent, type LaunchSpec, WorkloadInstance } from './instance.js';
import { freePort } from './launch.js';
import { leftoverWorkloadPids, type WorkloadOwner } from './leftovers.js';
import { DeploymentProxy, type ProxiedRequest, type ProxyTarget } from './proxy.js';
import type { InstanceObservation } from './types.js';

/**
 * How workloads run on this node: by default as child processes behind a local HTTP proxy
 * per deployment. The simulator substitutes a runtime whose instances live in memory (no
 * process, no port), so thousands of agents fit in one process; everything above this seam —
 * planner, supervisor, A/B switch, fallback, failure records — is the real code either way.
 */
export interface WorkloadRuntime {
  /** Starts one instance of a release's primary or fallback model. */
  spawn(spec: LaunchSpec, release: Release, events: InstanceCallbacks): RuntimeInstance;
  /**
   * Opens a deployment's stable front door: on loopback at `wantedPort` when free, else any;
   * with `host` (a site endpoint), on exactly `host:wantedPort`, rejecting with the bind
   * error (its `code`: EADDRINUSE, EADDRNOTAVAIL, …) when that cannot be had.
   */
  openProxy(
    deployment: string,
    target: () => ProxyTarget | undefined,
    onRequest: (r: ProxiedRequest) => void,
    wantedPort: number,
    host?: string,
  ): Promise<RuntimeProxy>;
  /** A port for a new instance. */
  freePort(): Promise<number>;
  /**
   * Pids of workload processes an earlier agent on the same data folder left running
   * (leftovers.ts). Absent where instances are not processes (the simulator's).
   */
  leftoverProcesses?(owner: WorkloadOwner): number[];
  /**
   * The container engine, when this node has one (workloads/container/): specs with a
   * `container` part are spawned by it. Absent: container releases report `runtime-unavailable`.
   */
  readonly containers?: ContainerSupport;
}

/** What the supervisor needs of a container engine beside spawning. */
export interface ContainerSupport {
  /** What was found at start, for the node's facts. */
  readonly facts: { name: 'podman'; version: string; ociRuntime: string | null };
  /** Tells this agent's containers from others' on the same host (a label on each). */
  readonly agentKey: string;
  /** The network containers join. */
  readonly network: string;
  /** Imports a verified image into the engine's store (no network); returns the engine's image id. */
  load(image: PreparedImage): Promise<string>;
  /** Deletes an image no kept revision needs from the engine's store (one a container still uses stays). */
  unload?(imageId: string): Promise<void>;
  /** Names of containers an earlier run of this agent left behind. */
  leftovers(): Promise<string[]>;
  remove(names: readonly string[]): Promise<void>;
  /** CPU seconds and memory bytes of running containers, by container name. */
  stats(): Promise<Map<string, { cpuSeconds: number; memoryBytes: number; memoryLimitBytes: number }>>;
}

export interface InstanceCallbacks {
  clock: () => number;
  onEvent: (event: InstanceEvent) => void;
  onOutput: (stream: 'stdout' | 'stderr', chunk: Buffer) => void;
}

/** What the supervisor needs of a running instance. */
export interface RuntimeInstance {
  readonly spec: LaunchSpec;
  readonly health: InstanceObservation['health'];
  readySince: number | undefined;
  promotedAt: number | undefined;
  readonly everReady: boolean;
  readonly pid: number | undefined;
  start(): void;
  observe(): InstanceObservation;
  stop(graceMs?: number): Promise<void>;
}

export interface RuntimeProxy {
  readonly port: number;
  close(): Promise<void>;
}

/** The real runtime: child processes with HTTP health checks, an HTTP proxy per deployment. */
export const processRuntime: WorkloadRuntime = {
  spawn(spec, _release, events) {
    return new WorkloadInstance(spec, events.clock, events.onEvent, events.onOutput);
  },
  async openProxy(deployment, target, onRequest, wantedPort, host) {
    if (host !== undefined) {
      const site = new DeploymentProxy(deployment, target, onRequest, host);
      await site.listen(wantedPort);
      return site;
    }
    const proxy = new DeploymentProxy(deployment, target, onRequest);
    try {
      await proxy.listen(wantedPort);
    } catch {
      await proxy.listen(0);
    }
    return proxy;
  },
  freePort,
  leftoverProcesses: (owner) => leftoverWorkloadPids(owner),
};
