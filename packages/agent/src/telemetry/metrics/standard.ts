/**
 * The standard metric set of a node — names, labels and help text fixed here, because the
 * server's gates and dashboards, the Prometheus a site scrapes and the docs all refer to them
 * by name — and the calls the rest of the agent makes to move them. Each call updates the
 * registry (local `/metrics`) and, through the registry's sink, the uplink aggregator.
 */

import type { QueueStats } from '@edgefleet/queues';
import type { EdgeAggregator } from './aggregator.js';
import type { NodeMetricsReading } from './node.js';
import { type BoundCounter, type BoundGauge, type BoundHistogram, type Counter, type Gauge, type Histogram, MetricsRegistry } from './registry.js';

/** Why telemetry or log data was lost before upload, e.g. `queue-full`. Free text, few values. */
export type DropReason = string;

/**
 * Every metric name of the standard set, for documentation and tests: the wire's own list
 * (protocol's static symbol table), so a name the agent emits always has a short symbol.
 */
export { STANDARD_METRIC_NAMES } from '@edgefleet/protocol';

const WORKLOAD = ['deployment', 'revision'] as const;

/** The series one revision's inference requests move. */
interface InferenceSeries {
  ok: BoundCounter;
  error: BoundCounter;
  duration: BoundHistogram;
  instanceStart: BoundGauge;
  instanceRequests: BoundGauge;
}

/**
 * The gauges that carry a revision's serving instance to the server in the telemetry batch:
 * metered nodes send no stats in their heartbeat, and the server reads the gates' warm-up
 * fields out of these (server/telemetry/stats.ts). Not in the static symbol table (frozen at
 * v1), so a batch that has them spells their names: about 90 bytes an upload, which would
 * take a metered node over its 4 MB a month. So they move only while the instance is young
 * (`youngInstance`): a few uploads after each start, nothing in the steady state.
 */
export const INSTANCE_METRIC_NAMES = Object.freeze({
  start: 'edgefleet_workload_instance_start_timestamp_seconds',
  requests: 'edgefleet_workload_instance_requests',
} as const);

/**
 * How long an instance counts as young for the gauges: until it has answered this many
 * requests and served this long, whichever ends later. Far beyond the gates' default warm-up
 * (50 requests, 30 s): a metered node's samples after it carry no instance fields, which the
 * server counts as warm.
 */
export const YOUNG_INSTANCE = Object.freeze({ requests: 1_000, ms: 3_600_000 });

/** The instance serving a revision, as the stats collector knows it. */
export interface ServingInstanceReading {
  /** When it began serving, node clock ms. */
  startedAt: number;
  /** Requests it answered since, this one included. */
  answered: number;
}

/**
 * What goes into the instance gauges for a request at `now`: the instance while it is young
 * (its start never after `now`: a clock stepped back since reads as now), else nothing.
 */
export function youngInstance(instance: ServingInstanceReading | undefined, now: number): ServingInstanceReading | undefined {
  if (instance === undefined) return undefined;
  const startedAt = Math.min(instance.startedAt, now);
  if (instance.answered > YOUNG_INSTANCE.requests && now - startedAt >= YOUNG_INSTANCE.ms) return undefined;
  return { startedAt, answered: instance.answered };
}

/** The agent's metrics: owns a registry with the standard set; optionally feeds an aggregator. */
export class AgentMetrics {
  readonly registry = new MetricsRegistry();

  private readonly cpuUsage: Gauge;
  private readonly load1: Gauge;
  private readonly load5: Gauge;
  private readonly load15: Gauge;
  private readonly memoryUsed: Gauge;
  private readonly memoryTotal: Gauge;
  private readonly diskUsed: Gauge;
  private readonly diskTotal: Gauge;
  private readonly temperature: Gauge;
  private readonly throttled: Gauge;
  private readonly networkReceive: Counter;
  private readonly networkTransmit: Counter;
  private readonly uptime: Gauge;
  private readonly requestDuration: Histogram;
  private readonly requests: Counter;
  private readonly modelLoadFailures: Counter;
  private readonly restarts: Counter;
  private readonly fallbackActive: Gauge;
  private readonly instanceStart: Gauge;
  private readonly instanceRequests: Gauge;
  private readonly acceleratorHealthy: Gauge;
  private readonly queueRecords: Gauge;
  private readonly queueBytes: Gauge;
  private readonly queueCapacity: Gauge;
  private readonly droppedSamples: Counter;
  private readonly droppedLogLines: Counter;
  private readonly uplinkSent: Counter;
  private readonly uplinkReceived: Counter;
  private readonly lastUpload: Gauge;
  private readonly suppressedLines: Counter;
  private readonly inferenceByDeployment = new Map<string, Map<number | string, InferenceSeries>>();

  /** @param aggregator receives every change too (the uplink); omit for `/metrics` only. */
  constructor(aggregator?: EdgeAggregator) {
    const r = this.registry;
    if (aggregator !== undefined) r.addSink(aggregator);
    this.cpuUsage = r.gauge('edgefleet_node_cpu_usage_ratio', 'Share of CPU time spent busy across all cores since the previous reading (0 to 1).');
    this.load1 = r.gauge('edgefleet_node_load1', '1-minute load average.');
    this.load5 = r.gauge('edgefleet_node_load5', '5-minute load average.');
    this.load15 = r.gauge('edgefleet_node_load15', '15-minute load average.');
    this.memoryUsed = r.gauge('edgefleet_node_memory_used_bytes', 'Memory in use: MemTotal minus MemAvailable.');
    this.memoryTotal = r.gauge('edgefleet_node_memory_total_bytes', 'MemTotal of /proc/meminfo.');
    this.diskUsed = r.gauge('edgefleet_node_disk_used_bytes', 'Used bytes of the filesystem holding the agent data dir.');
    this.diskTotal = r.gauge('edgefleet_node_disk_total_bytes', 'Size of the filesystem holding the agent data dir.');
    this.temperature = r.gauge('edgefleet_node_temperature_celsius', 'SoC temperature (thermal_zone0).');
    this.throttled = r.gauge(
      'edgefleet_node_throttled_flags',
      'Raspberry Pi get_throttled bits: 0-3 now (under-voltage, frequency capped, throttled, soft limit), 16-19 since boot.',
    );
    this.networkReceive = r.counter('edgefleet_node_network_receive_bytes_total', 'Bytes received per interface since boot (loopback excluded).', [
      'interface',
    ]);
    this.networkTransmit = r.counter('edgefleet_node_network_transmit_bytes_total', 'Bytes sent per interface since boot (loopback excluded).', ['interface']);
    this.uptime = r.gauge('edgefleet_node_uptime_seconds', 'Seconds since the node booted.');
    this.requestDuration = r.histogram(
      'edgefleet_inference_request_duration_seconds',
      'Latency of successful inference requests through the agent proxy.',
      WORKLOAD,
    );
    this.requests = r.counter('edgefleet_inference_requests_total', 'Inference requests through the agent proxy, by outcome (ok or error).', [
      ...WORKLOAD,
      'outcome',
    ]);
    this.modelLoadFailures = r.counter('edgefleet_model_load_failures_total', 'Times a model server failed to load its model.', WORKLOAD);
    this.restarts = r.counter('edgefleet_workload_restarts_total', 'Workload process restarts after a crash or failed health check.', WORKLOAD);
    this.fallbackActive = r.gauge('edgefleet_workload_fallback_active', '1 while the CPU fallback model serves instead of the accelerated one.', WORKLOAD);
    this.instanceStart = r.gauge(
      INSTANCE_METRIC_NAMES.start,
      'Unix time (node clock) the instance serving the revision began serving; rollout gates leave its warm-up out. Set while the instance is young (its first 1,000 requests or hour).',
      WORKLOAD,
    );
    this.instanceRequests = r.gauge(
      INSTANCE_METRIC_NAMES.requests,
      'Inference requests the instance serving the revision has answered since it began serving; it stops moving once the instance has answered 1,000 and served an hour.',
      WORKLOAD,
    );
    this.acceleratorHealthy = r.gauge('edgefleet_accelerator_healthy', '1 while the AI accelerator is present and answering, 0 otherwise.', ['accelerator']);
    this.queueRecords = r.gauge('edgefleet_agent_queue_records', 'Telemetry records waiting in the on-disk queue.');
    this.queueBytes = r.gauge('edgefleet_agent_queue_bytes', 'Bytes the waiting telemetry records take on disk.');
    this.queueCapacity = r.gauge('edgefleet_agent_queue_capacity_bytes', 'Size limit of the on-disk telemetry queue.');
    this.droppedSamples = r.counter('edgefleet_agent_dropped_samples_total', 'Telemetry samples lost before upload, by reason.', ['reason']);
    this.droppedLogLines = r.counter('edgefleet_agent_dropped_log_lines_total', 'Log lines lost before upload, by reason.', ['reason']);
    this.uplinkSent = r.counter('edgefleet_agent_uplink_sent_bytes_total', 'Bytes the agent sent to the server.');
    this.uplinkReceived = r.counter('edgefleet_agent_uplink_received_bytes_total', 'Bytes the agent received from the server.');
    this.lastUpload = r.gauge('edgefleet_agent_last_upload_timestamp_seconds', 'Unix time of the last successful telemetry upload.');
    this.suppressedLines = r.counter('edgefleet_agent_log_lines_suppressed_total', 'Info and debug log lines left out by the per-stream rate limit.');
  }

  /**
   * One inference request through the proxy. Only successful requests go into the latency
   * histogram: a refused connection answers in microseconds and would drag the percentiles the
   * rollout gates compare down exactly when a revision is broken.
   */
  inference(deployment: string, revision: number | string, latencyMs: number, ok: boolean, instance?: ServingInstanceReading): void {
    const series = this.inferenceSeries(deployment, revision);
    if (ok) {
      series.ok.inc();
      series.duration.observeMs(latencyMs);
    } else {
      series.error.inc();
    }
    // Set with every request, so each interval with traffic has a point: the server reads the
    // instance of an interval from its max start, and its requests before from the least count.
    if (instance !== undefined) {
      series.instanceStart.set(instance.startedAt / 1000);
      series.instanceRequests.set(instance.answered);
    }
  }

  /** The bound series of one revision, bound at its first request: a node serves a handful of revisions, thousands of requests each. */
  private inferenceSeries(deployment: string, revision: number | string): InferenceSeries {
    let byRevision = this.inferenceByDeployment.get(deployment);
    if (byRevision === undefined) {
      byRevision = new Map();
      this.inferenceByDeployment.set(deployment, byRevision);
    }
    let series = byRevision.get(revision);
    if (series === undefined) {
      const labels = { deployment, revision: String(revision) };
      series = {
        ok: this.requests.bind({ ...labels, outcome: 'ok' }),
        error: this.requests.bind({ ...labels, outcome: 'error' }),
        duration: this.requestDuration.bind(labels),
        instanceStart: this.instanceStart.bind(labels),
        instanceRequests: this.instanceRequests.bind(labels),
      };
      byRevision.set(revision, series);
    }
    return series;
  }

  /** A workload process crashed or failed its health checks and was restarted. */
  restart(deployment: string, revision: number | string): void {
    this.restarts.inc({ deployment, revision: String(revision) });
  }

  /** A model server could not load its model. */
  modelLoadFailure(deployment: string, revision: number | string): void {
    this.modelLoadFailures.inc({ deployment, revision: String(revision) });
  }

  /** Whether the CPU fallback serves the deployment's revision now. */
  fallback(deployment: string, revision: number | string, active: boolean): void {
    this.fallbackActive.set({ deployment, revision: String(revision) }, active ? 1 : 0);
  }

  /** Health of the accelerator of kind `kind` (the `ai.accelerator` label value, e.g. `hailo8l`). */
  accelerator(kind: string, healthy: boolean): void {
    this.acceleratorHealthy.set({ accelerator: kind }, healthy ? 1 : 0);
  }

  /** The telemetry queue's current state. */
  queue(stats: QueueStats): void {
    this.queueRecords.set({}, stats.records);
    this.queueBytes.set({}, stats.bytes);
    this.queueCapacity.set({}, stats.maxBytes);
  }

  /** `n` samples or log lines lost before upload, and why. */
  dropped(kind: 'samples' | 'logs', reason: DropReason, n: number): void {
    (kind === 'samples' ? this.droppedSamples : this.droppedLogLines).inc({ reason }, n);
  }

  /** Info/debug log lines the sampler left out. */
  logLinesSuppressed(n: number): void {
    this.suppressedLines.inc({}, n);
  }

  /**
   * Bytes moved by one exchange with the server. `atMs`, when given, is the time an upload
   * succeeded; a failed attempt still counts its bytes (they were paid for) but passes none.
   */
  uplink(sentBytes: number, receivedBytes: number, atMs?: number): void {
    this.uplinkSent.inc({}, sentBytes);
    this.uplinkReceived.inc({}, receivedBytes);
    if (atMs !== undefined) this.lastUpload.set({}, atMs / 1000);
  }

  /**
   * Publishes one node reading. A reading that is null removes its series, so `/metrics` shows
   * it absent rather than stale; an interface that disappeared keeps its last total.
   */
  sampleNode(reading: NodeMetricsReading): void {
    const put = (g: Gauge, v: number | null): void => (v === null ? g.remove({}) : g.set({}, v));
    put(this.cpuUsage, reading.cpuUsageRatio);
    put(this.load1, reading.load1);
    put(this.load5, reading.load5);
    put(this.load15, reading.load15);
    put(this.memoryUsed, reading.memoryUsedBytes);
    put(this.memoryTotal, reading.memoryTotalBytes);
    put(this.diskUsed, reading.diskUsedBytes);
    put(this.diskTotal, reading.diskTotalBytes);
    put(this.temperature, reading.temperatureC);
    put(this.throttled, reading.throttledBits);
    put(this.uptime, reading.uptimeSeconds);
    for (const n of reading.network) {
      this.networkReceive.setTotal({ interface: n.interface }, n.receiveBytes);
      this.networkTransmit.setTotal({ interface: n.interface }, n.transmitBytes);
    }
  }
}
