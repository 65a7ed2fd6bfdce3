/**
 * A simulated node's gauges for telemetry (`NodeTelemetryOptions.readNode`), so thousands
 * of nodes report plausible, differing numbers without reading procfs:
 *
 * - temperature: a mean-reverting random walk toward 40–48 °C idle (per node), plus up to
 *   +18 °C under inference load, +3 °C with a Hailo-8L and +6 °C with a Hailo-8/10H (a
 *   26 TOPS module runs hotter); the CPU fallback heats the SoC most;
 * - CPU: busy share from the load (the fallback model keeps the CPU far busier than an
 *   accelerator does), as cumulative tick counters like /proc/stat, with load averages;
 * - memory: about 1.1 GB used of the board's RAM, more while a model is loaded;
 * - disk: the data dir's share of a 32 GB card, slowly growing;
 * - network: eth0 byte counters growing with the load;
 * - uptime: since the simulated boot (a power cut reboots).
 */
import type { NodeMetricsReading } from '@edgefleet/agent';
import type { HatKind } from './hardware.js';
import { standardNormal } from './latency.js';

/** What drives a node's gauges between two readings. */
export interface NodeLoad {
  /** Inference requests per second served lately. */
  requestsPerSecond: number;
  /** Whether the CPU fallback serves (it loads the CPU, not an accelerator). */
  onCpu: boolean;
  /** Models loaded. */
  models: number;
}

const MEMORY_TOTAL: Readonly<Record<HatKind, number>> = {
  hailo8l: 8 * 2 ** 30,
  hailo8: 8 * 2 ** 30,
  hailo10h: 16 * 2 ** 30,
  'coral-pcie': 4 * 2 ** 30,
  'coral-usb': 4 * 2 ** 30,
  none: 4 * 2 ** 30,
};
const HAT_HEAT: Readonly<Record<HatKind, number>> = { hailo8l: 3, hailo8: 6, hailo10h: 6, 'coral-pcie': 2, 'coral-usb': 1, none: 0 };
const USER_HZ = 100;
const CPUS = 4;

/** One node's modelled gauges; `read` advances them to `clock()`. */
export class NodeReadings {
  private temperature: number;
  private readonly idleTemperature: number;
  private bootAt: number;
  private lastAt: number;
  private cpuTotal = 0;
  private cpuIdle = 0;
  private load1 = 0.1;
  private load5 = 0.1;
  private load15 = 0.1;
  private rx = 0;
  private tx = 0;
  private disk: number;

  constructor(
    private readonly kind: HatKind,
    private readonly random: () => number,
    private readonly clock: () => number,
    private readonly load: () => NodeLoad,
  ) {
    this.idleTemperature = 40 + 8 * random();
    this.temperature = this.idleTemperature;
    this.bootAt = clock();
    this.lastAt = this.bootAt;
    this.disk = (5 + 2 * random()) * 2 ** 30;
  }

  /** A power cut: the node boots again (uptime and counters restart, the SoC has cooled). */
  reboot(): void {
    this.bootAt = this.clock();
    this.lastAt = this.bootAt;
    this.cpuTotal = 0;
    this.cpuIdle = 0;
    this.rx = 0;
    this.tx = 0;
    this.temperature = this.idleTemperature - 5;
  }

  /** The reading the agent's telemetry takes (`readNode`). */
  readonly read = async (): Promise<NodeMetricsReading> => {
    const now = this.clock();
    const dtSeconds = Math.max(0, (now - this.lastAt) / 1000);
    this.lastAt = now;
    const load = this.load();
    // An accelerator keeps the CPU light (pre/post-processing only); the fallback is heavy.
    const busy = Math.min(0.97, 0.03 + load.requestsPerSecond * (load.onCpu ? 0.12 : 0.004) + 0.02 * this.random());
    const ticks = dtSeconds * USER_HZ * CPUS;
    const previous = this.cpuTotal === 0 ? null : { total: this.cpuTotal, idle: this.cpuIdle };
    this.cpuTotal += ticks;
    this.cpuIdle += ticks * (1 - busy);
    const runnable = busy * CPUS;
    const decay = (tau: number): number => Math.exp(-dtSeconds / tau);
    this.load1 = runnable + (this.load1 - runnable) * decay(60);
    this.load5 = runnable + (this.load5 - runnable) * decay(300);
    this.load15 = runnable + (this.load15 - runnable) * decay(900);
    const target = this.idleTemperature + HAT_HEAT[this.kind] * Math.min(1, load.requestsPerSecond / 10) + 18 * busy;
    this.temperature += 0.3 * (target - this.temperature) + 0.4 * standardNormal(this.random);
    const bytes = dtSeconds * (600 + load.requestsPerSecond * 2_000);
    this.rx += Math.round(bytes * (0.9 + 0.2 * this.random()));
    this.tx += Math.round(bytes * 0.3 * (0.9 + 0.2 * this.random()));
    this.disk += dtSeconds * 50;
    const total = MEMORY_TOTAL[this.kind];
    return {
      cpu: { total: this.cpuTotal, idle: this.cpuIdle },
      cpuUsageRatio: previous === null || this.cpuTotal === previous.total ? null : busy,
      load1: round2(this.load1),
      load5: round2(this.load5),
      load15: round2(this.load15),
      memoryUsedBytes: Math.round(1.1 * 2 ** 30 + load.models * 300 * 2 ** 20 + 50 * 2 ** 20 * this.random()),
      memoryTotalBytes: total,
      diskUsedBytes: Math.round(this.disk),
      diskTotalBytes: 32 * 10 ** 9,
      temperatureC: Math.round(this.temperature * 10) / 10,
      throttledBits: this.temperature >= 80 ? 0x20002 : 0,
      network: [{ interface: 'eth0', receiveBytes: this.rx, transmitBytes: this.tx }],
      uptimeSeconds: Math.round((now - this.bootAt) / 1000),
    };
  };
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
