import type { TelemetrySeries } from '@edgefleet/protocol';

/** A log line with the labels Loki will index it by. */
export interface LabelledLogLine {
  labels: Record<string, string>;
  tsNs: string;
  line: string;
}

/**
 * Hands stamped telemetry to the configured external systems. Both calls only enqueue
 * (on disk): a slow or dead Prometheus or Loki never slows down ingest from nodes.
 */
export interface TelemetryForwarding {
  metrics(series: readonly TelemetrySeries[]): void;
  logs(lines: readonly LabelledLogLine[]): void;
}

/** Where to forward, from `edgefleet server --remote-write URL --loki URL`. */
export interface ForwardingTargets {
  remoteWrite?: string[];
  /** Oldest sample age a remote_write target accepts (Prometheus: about 1 h behind its newest). */
  remoteWriteMaxAgeMs?: number;
  loki?: string[];
  lokiTenant?: string;
  /** Bytes each target's disk queue may hold (default 256 MiB). */
  queueBytes?: number;
}
