import type { InstanceEvent, LaunchSpec } from '../instance.js';
import { WorkloadInstance } from '../instance.js';
import type { RuntimeInstance } from '../runtime.js';
import type { InstanceObservation } from '../types.js';
import type { Podman } from './engine.js';
import { type ContainerLaunch, containerRunArgs } from './run-args.js';

/**
 * One container: an attached `podman run --rm` child of the agent. Its exit is the
 * container's, its stdout/stderr are the container's (into the log pipeline), and health
 * is the same HTTP check on the published loopback port as for a process. Stopping asks
 * podman to stop and remove the container, so nothing is left behind even when the
 * attached client is killed.
 */
export class ContainerInstance implements RuntimeInstance {
  private readonly inner: WorkloadInstance;

  constructor(
    readonly spec: LaunchSpec & { container: ContainerLaunch },
    private readonly podman: Podman,
    clock: () => number,
    onEvent: (event: InstanceEvent) => void,
    onOutput: (stream: 'stdout' | 'stderr', chunk: Buffer) => void,
  ) {
    const run: LaunchSpec = {
      ...spec,
      command: podman.command,
      args: [...podman.globalArgs, ...containerRunArgs(spec.container)],
      // The podman client's own environment; the container's is in its --env flags.
      env: podman.env,
      cwd: undefined,
      runAs: undefined,
    };
    this.inner = new WorkloadInstance(run, clock, onEvent, onOutput);
  }

  get health(): InstanceObservation['health'] {
    return this.inner.health;
  }
  get readySince(): number | undefined {
    return this.inner.readySince;
  }
  set readySince(v: number | undefined) {
    this.inner.readySince = v;
  }
  get promotedAt(): number | undefined {
    return this.inner.promotedAt;
  }
  set promotedAt(v: number | undefined) {
    this.inner.promotedAt = v;
  }
  get everReady(): boolean {
    return this.inner.everReady;
  }
  /** The attached podman client's pid (the container's own processes are in its cgroup). */
  get pid(): number | undefined {
    return this.inner.pid;
  }

  start(): void {
    this.inner.start();
  }

  observe(): InstanceObservation {
    return this.inner.observe();
  }

  async stop(graceMs = 3_000): Promise<void> {
    const name = this.spec.container.name;
    // podman stop sends the image's stop signal, then SIGKILL after the grace; the attached
    // client then exits by itself. The client is stopped too (it may be stuck), and the
    // container removed whatever happened.
    await Promise.allSettled([this.podman.stop(name, Math.max(1, Math.ceil(graceMs / 1000))), this.inner.stop(graceMs + 5_000)]);
    await this.podman.remove([name]).catch(() => undefined);
  }
}
