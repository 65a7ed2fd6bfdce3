import type { PreparedImage } from '../../images/types.js';
import type { LaunchSpec } from '../instance.js';
import type { ContainerSupport, WorkloadRuntime } from '../runtime.js';
import type { EngineFacts, Podman } from './engine.js';
import { ContainerInstance } from './instance.js';

/**
 * A runtime that runs container specs with podman and everything else with `base` (the
 * process runtime): the agent's runtime on a node with an engine.
 */
export function withContainers(base: WorkloadRuntime, podman: Podman, facts: EngineFacts, agentKey: string): WorkloadRuntime {
  const containers: ContainerSupport = {
    facts,
    agentKey,
    network: podman.network,
    load: (image: PreparedImage) => podman.load(image),
    unload: (imageId: string) => podman.unload(imageId),
    leftovers: () => podman.containersOf(agentKey),
    remove: (names) => podman.remove(names),
    stats: () => podman.stats(),
  };
  return {
    spawn(spec, release, events) {
      if (spec.container === undefined) return base.spawn(spec, release, events);
      return new ContainerInstance(
        spec as LaunchSpec & { container: NonNullable<LaunchSpec['container']> },
        podman,
        events.clock,
        events.onEvent,
        events.onOutput,
      );
    },
    openProxy: (...args) => base.openProxy(...args),
    freePort: () => base.freePort(),
    ...(base.leftoverProcesses === undefined ? {} : { leftoverProcesses: base.leftoverProcesses }),
    containers,
  };
}
