import type { LatencyHistogram } from '../histogram.js';

/**
 * Telemetry as it travels from a node to the server (see docs/TELEMETRY.md for the byte
 * layout). The agent aggregates at the edge, so what travels is already summarised per
 * interval of the profile's resolution:
 * - counters as the increase over the interval `(t − resolution, t]`;
 * - gauges as min / max / last over the interval;
 * - latency as a mergeable histogram (the DDSketch layout of `histogram.ts`, milliseconds)
 *   plus the exact sum, so Prometheus' `_sum` / `_count` stay exact.
 */

export type MetricKind = 'counter' | 'gauge' | 'histogram';

/** Labels a node may put on its own series. `node` and `site` are stamped by the server. */
export type SeriesLabels = Record<string, string>;

export interface CounterPoint {
  /** End of the interval, Unix ms (node clock). */
  t: number;
  /** Increase during the interval (≥ 0). */
  inc: number;
}

export interface GaugePoint {
  t: number;
  min: number;
  max: number;
  last: number;
}

export interface HistogramPoint {
  t: number;
  /** Exact sum of the observed values, in milliseconds. */
  sumMs: number;
  /** Observations of the interval (count = sum of `hist.counts`). */
  hist: LatencyHistogram;
}

export type TelemetrySeries =
  | { kind: 'counter'; name: string; labels: SeriesLabels; points: CounterPoint[] }
  | { kind: 'gauge'; name: string; labels: SeriesLabels; points: GaugePoint[] }
  | { kind: 'histogram'; name: string; labels: SeriesLabels; points: HistogramPoint[] };

/** A local alert as the node reports it: every firing one, and each one that resolved since the last batch. */
export interface AlertReport {
  /** Rule name, e.g. `DiskAlmostFull`. */
  name: string;
  state: 'firing' | 'resolved';
  severity: 'warning' | 'critical';
  /** When it started firing (or resolved), Unix ms, node clock. */
  since: number;
  /** Human sentence with the measured value, e.g. "disk 93% full (threshold 90%)". */
  message: string;
  /** Extra labels of the alert (e.g. `workload`). */
  labels?: Record<string, string>;
}

/** One upload (or one queued segment record) of metrics. */
export interface TelemetryBatch {
  /** Random id of the node's queue; it changes only when the queue is recreated (data dir wiped). */
  stream: string;
  /** Batch number within `stream`, strictly increasing; the server ignores numbers it has seen (replays). */
  seq: number;
  /** The resolution the points were aggregated at, ms. */
  resolutionMs: number;
  series: TelemetrySeries[];
  /** Optional JSON side-car: local alerts, the folded heartbeat of the metered profile. */
  meta?: TelemetryMeta;
}

export interface TelemetryMeta {
  alerts?: AlertReport[];
  /** Metered profile: the heartbeat (a StatusRequest body) folded into the upload. */
  status?: unknown;
}

/** The telemetry profiles: how finely to aggregate and how often to upload. */
export type TelemetryProfileName = 'lan' | 'metered';

interface TelemetryProfile {
  name: TelemetryProfileName;
  resolutionMs: number;
  uploadIntervalMs: number;
  /** Whether the heartbeat travels inside the upload instead of on its own. */
  foldHeartbeats: boolean;
}

export const TELEMETRY_PROFILES: Readonly<Record<TelemetryProfileName, TelemetryProfile>> = {
  lan: { name: 'lan', resolutionMs: 15_000, uploadIntervalMs: 60_000, foldHeartbeats: false },
  metered: { name: 'metered', resolutionMs: 300_000, uploadIntervalMs: 900_000, foldHeartbeats: true },
};

/** The node label (detected from `--telemetry-profile`, or set by an operator) that picks the profile. */
export const TELEMETRY_PROFILE_LABEL = 'telemetry.profile';

/** Media type of an encoded `TelemetryBatch`. */
export const TELEMETRY_CONTENT_TYPE = 'application/vnd.edgefleet.telemetry.v1';

/** A log line after scrubbing, as the node ships it. */
export interface LogEntry {
  /** Unix time in nanoseconds, as a decimal string (Loki's resolution; keeps order within a ms). */
  tsNs: string;
  /** `agent` for the agent's own lines, otherwise the workload's deployment name. */
  source: string;
  /** Revision of the workload that wrote it; absent for the agent. */
  revision?: number;
  /** `stdout` / `stderr` of a workload, `agent` for the agent. */
  stream: 'stdout' | 'stderr' | 'agent';
  level: 'debug' | 'info' | 'warn' | 'error';
  line: string;
}

/** One upload of log lines (gzip-compressed JSON on the wire). */
export interface LogBatch {
  v: 1;
  stream: string;
  seq: number;
  entries: LogEntry[];
  /** Info/debug lines the sampler left out, per source/stream since the last batch. */
  suppressed?: { source: string; stream: string; count: number }[];
  /** Lines lost before upload, by reason (`queue-full`, …). */
  dropped?: Record<string, number>;
}

export const LOG_CONTENT_TYPE = 'application/vnd.edgefleet.logs.v1+json';

/**
 * Upper bounds (seconds, +Inf implied) of the classic Prometheus histogram of inference
 * latency: the agent's local `/metrics` and the server's remote_write use the same ones, so a
 * site that scrapes its nodes and one that reads the server's Prometheus see the same buckets.
 */
export const LATENCY_BOUNDS_SECONDS: readonly number[] = Object.freeze([
  0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 2.5, 5, 10,
]);
