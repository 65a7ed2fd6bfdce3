import type { WorkloadStats, WorkloadStatus } from '@edgefleet/protocol';

/** What a node last reported about one deployment's workload. */
export interface NodeWorkloadRecord {
  nodeId: string;
  status: WorkloadStatus;
  updatedAt: number;
}

/** The latest value of one series of a node (counters: the last interval's increase). */
export interface LatestSample {
  name: string;
  labels: Record<string, string>;
  kind: 'counter' | 'gauge' | 'histogram';
  t: number;
  value: number;
}

/** A node's local alert as last reported. */
export interface NodeAlertRecord {
  nodeId: string;
  name: string;
  state: 'firing' | 'resolved';
  severity: 'warning' | 'critical';
  since: number;
  message: string;
  labels: Record<string, string>;
  reportedAt: number;
}

/** A stored log line. */
export interface LogRecord {
  id: number;
  nodeId: string;
  tsNs: string;
  at: number;
  source: string;
  revision: number | null;
  stream: string;
  level: string;
  line: string;
}

/** Which upload of a node's queue this is: replays of an accepted `seq` are ignored. */
export interface UploadCursor {
  stream: string;
  seq: number;
}

/**
 * What nodes report about their workloads and themselves: workload statuses and stats,
 * latest metric values, alerts and logs, with the upload cursors that make uploads
 * idempotent.
 */
/** Per-node bounds on what a metrics upload may add (quotas/node-quotas.ts). */
export interface MetricsBounds {
  /** Distinct series kept in the node's latest values; new ones beyond it are refused. */
  series: number;
  /** Alert records kept for the node; a new one beyond it replaces the oldest resolved one, or is refused. */
  alerts: number;
  /** Latest values older than this (ms before `at`) are dropped, so churned series free their place. */
  staleMs: number;
}

/** What a metrics upload did: `accepted` false for a replay; what the bounds refused. */
export interface MetricsAcceptance {
  accepted: boolean;
  /** {@link seriesKey}s of new series refused by the bound. */
  refusedSeries: Set<string>;
  /** New alerts refused by the bound. */
  refusedAlerts: number;
}

/** What a log upload did: stored, a replay, or refused by the daily budget (with what was used). */
export type LogAcceptance = { kind: 'stored'; usedBytes: number } | { kind: 'replay' } | { kind: 'over-budget'; usedBytes: number; batchBytes: number };

/** Identity of a series among a node's latest values: its name and sorted labels. */
export function seriesKey(s: { name: string; labels: Record<string, string> }): string {
  return `${s.name}${JSON.stringify(Object.entries(s.labels).sort(([a], [b]) => (a < b ? -1 : 1)))}`;
}

/** Bytes a log line costs against a node's budget (its UTF-8 text). */
export function logLineBytes(line: string): number {
  return Buffer.byteLength(line, 'utf8');
}

export interface TelemetryRepository {
  /** Replaces everything a node reported about its workloads. */
  replaceNodeWorkloads(nodeId: string, statuses: WorkloadStatus[], at: number): Promise<void>;
  listNodeWorkloads(filter: { deployment?: string; nodeId?: string }): Promise<NodeWorkloadRecord[]>;

  /** Stores workload stats a node reported (the server stamps the node id). */
  insertWorkloadStats(nodeId: string, stats: WorkloadStats[]): Promise<void>;
  /** Stats of a deployment whose interval ended after `from` (ms); of the nodes `nodeIds` only when given. */
  listWorkloadStats(deployment: string, from: number, nodeIds?: readonly string[]): Promise<Array<WorkloadStats & { nodeId: string }>>;
  /** Drops stats older than `before` (bounded retention). */
  pruneWorkloadStats(before: number): Promise<number>;

  /**
   * Accepts one metrics upload atomically: false (and nothing written) when this node's
   * stream already accepted `seq` (a replay); otherwise advances the cursor, merges `latest`
   * into the node's latest values and upserts the alerts.
   */
  acceptMetrics(
    nodeId: string,
    cursor: UploadCursor,
    at: number,
    latest: LatestSample[],
    alerts: NodeAlertRecord[],
    bounds?: MetricsBounds,
  ): Promise<MetricsAcceptance>;
  /**
   * Accepts one log upload atomically (same replay rule), storing its lines. With
   * `budgetBytesPerDay`, a batch that would take the node's lines of this UTC day (by `at`)
   * beyond it is refused whole: nothing is written and the cursor stays.
   */
  acceptLogs(nodeId: string, cursor: UploadCursor, at: number, lines: Omit<LogRecord, 'id' | 'nodeId'>[], budgetBytesPerDay?: number): Promise<LogAcceptance>;
  getNodeTelemetry(nodeId: string): Promise<{ lastUploadAt: number | null; latest: LatestSample[] } | undefined>;
  /** Every node's telemetry row in one read (list routes must not read one per node). */
  listNodeTelemetry(): Promise<Array<{ nodeId: string; lastUploadAt: number | null; latest: LatestSample[] }>>;
  listAlerts(filter: { nodeId?: string; state?: 'firing' | 'resolved' }): Promise<NodeAlertRecord[]>;
  /** Lines of a node after `afterId` and at or after `since` (node time, ms), oldest first. */
  listLogs(filter: { nodeId: string; source?: string; since?: number; afterId?: number; limit: number }): Promise<LogRecord[]>;
  /** Drops log lines received before `before` and resolved alerts reported before it. */
  pruneTelemetry(before: number): Promise<number>;
}
