import type { Counter, Gauge, MetricsRegistry } from '../../telemetry/metrics/registry.js';

/** A running container as the supervisor knows it. */
export interface RunningContainer {
  deployment: string;
  revision: number;
  name: string;
  /** Device nodes it holds, as the container sees them (`/dev/hailo0`). */
  devices: string[];
}

/** CPU and memory of a container, as the engine reads them from its cgroup. */
export interface ContainerUsage {
  cpuSeconds: number;
  memoryBytes: number;
  memoryLimitBytes: number;
}

/** The cAdvisor names the fleet's dashboards already chart, labelled by deployment and revision. */
export const CONTAINER_METRIC_NAMES = Object.freeze({
  cpu: 'container_cpu_usage_seconds_total',
  memory: 'container_memory_working_set_bytes',
  memoryLimit: 'container_spec_memory_limit_bytes',
  device: 'edgefleet_container_device_held',
} as const);

/**
 * Per-workload CPU and memory of containers, and which device nodes each holds, as metrics
 * (local `/metrics` and the uplink). Series of containers that are gone are removed, so a
 * revision that stopped does not linger at its last value.
 */
export class ContainerMetrics {
  private readonly cpu: Counter;
  private readonly memory: Gauge;
  private readonly memoryLimit: Gauge;
  private readonly device: Gauge;
  private readonly seen = new Map<string, { deployment: string; revision: string }>();
  private readonly seenDevices = new Map<string, { deployment: string; revision: string; device: string }>();

  constructor(registry: MetricsRegistry) {
    const labels = ['deployment', 'revision'];
    this.cpu = registry.counter(CONTAINER_METRIC_NAMES.cpu, 'Cumulative CPU time consumed by the workload container, seconds (cAdvisor name).', labels);
    this.memory = registry.gauge(CONTAINER_METRIC_NAMES.memory, 'Memory the workload container uses, bytes (cAdvisor name).', labels);
    this.memoryLimit = registry.gauge(
      CONTAINER_METRIC_NAMES.memoryLimit,
      'Memory limit of the workload container, bytes; 0 without one (cAdvisor name).',
      labels,
    );
    this.device = registry.gauge(CONTAINER_METRIC_NAMES.device, '1 while the workload container holds this accelerator device node.', [...labels, 'device']);
  }

  /** Publishes one reading: the containers running and what the engine measured of each. */
  sample(containers: readonly RunningContainer[], usage: ReadonlyMap<string, ContainerUsage>): void {
    // Two containers of one revision (a restart racing the reading) add up.
    const sums = new Map<string, { labels: { deployment: string; revision: string }; u: ContainerUsage }>();
    const devices = new Map<string, { deployment: string; revision: string; device: string }>();
    for (const c of containers) {
      const labels = { deployment: c.deployment, revision: String(c.revision) };
      for (const device of c.devices) devices.set(`${c.deployment}\0${c.revision}\0${device}`, { ...labels, device });
      const u = usage.get(c.name);
      if (u === undefined) continue;
      const key = `${c.deployment}\0${c.revision}`;
      const sum = sums.get(key);
      if (sum === undefined) sums.set(key, { labels, u: { ...u } });
      else {
        sum.u.cpuSeconds += u.cpuSeconds;
        sum.u.memoryBytes += u.memoryBytes;
        sum.u.memoryLimitBytes += u.memoryLimitBytes;
      }
    }
    for (const [key, labels] of this.seen)
      if (!sums.has(key)) {
        this.cpu.remove(labels);
        this.memory.remove(labels);
        this.memoryLimit.remove(labels);
        this.seen.delete(key);
      }
    for (const [key, { labels, u }] of sums) {
      this.cpu.setTotal(labels, u.cpuSeconds);
      this.memory.set(labels, u.memoryBytes);
      this.memoryLimit.set(labels, u.memoryLimitBytes);
      this.seen.set(key, labels);
    }
    for (const [key, labels] of this.seenDevices)
      if (!devices.has(key)) {
        this.device.remove(labels);
        this.seenDevices.delete(key);
      }
    for (const [key, labels] of devices) {
      this.device.set(labels, 1);
      this.seenDevices.set(key, labels);
    }
  }
}
