import type { LatencyHistogram } from '@edgefleet/protocol';

/**
 * One hour of a deployment's revision at one site: the merged latency histogram of every
 * request its nodes there answered in that hour, with the requests and errors.
 */
export interface LatencyHistoryRecord {
  deployment: string;
  revision: number;
  /** The nodes' `geolocation.site` (operator label); "" for nodes without one. */
  site: string;
  /** Start of the hour, ms since 1970 (a multiple of 3,600,000). */
  hour: number;
  requests: number;
  errors: number;
  latency: LatencyHistogram;
}

/** Bounds kept by {@link LatencyHistoryRepository.pruneLatencyHistory}. */
export interface LatencyHistoryBounds {
  /** Hours that started before this (ms) are dropped. */
  before: number;
  /** At most this many rows per deployment: beyond it the oldest hours go first. */
  rowsPerDeployment: number;
}

/** Per-revision, per-site hourly latency histograms (telemetry/latency-history/). */
export interface LatencyHistoryRepository {
  /**
   * Adds each record into its (deployment, revision, site, hour) row: histograms merge
   * losslessly, requests and errors add up. Concurrent additions to one row never lose one
   * (the row is locked while it is merged).
   */
  addLatencyHistory(records: readonly LatencyHistoryRecord[]): Promise<void>;
  /** A deployment's rows whose hour starts at or after `from`, oldest first; optionally one site or revision. */
  listLatencyHistory(deployment: string, from: number, filter?: { site?: string; revision?: number }): Promise<LatencyHistoryRecord[]>;
  /** Drops rows older than the bound and, per deployment, the oldest beyond the row cap; returns how many. */
  pruneLatencyHistory(bounds: LatencyHistoryBounds): Promise<number>;
}
