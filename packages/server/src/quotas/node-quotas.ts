import type { Logger } from 'pino';
import type { Clock } from '../clock.js';

/**
 * Per-node quotas (issue 14, finding 10): what one node may make the server keep or hold,
 * so a broken or stolen node cannot exhaust storage, Prometheus/Loki cardinality or
 * connections for the rest of the fleet. Beyond a quota the node gets 429 `quota_exceeded`
 * (logs, long polls) or the excess is dropped and named in the upload's `rejected`
 * (series, alerts); every refusal is counted here and logged.
 */
export interface NodeQuotaLimits {
  /** Log line bytes (UTF-8) accepted per node per UTC day; beyond it a log batch gets 429. */
  logBytesPerDay: number;
  /** Alert records kept per node; a new one beyond it replaces the oldest resolved one, or is dropped. */
  alertsPerNode: number;
  /** Distinct series kept and forwarded per node (cardinality); new ones beyond it are dropped. */
  seriesPerNode: number;
  /** Desired-state long polls held per node; a new one beyond it ends the oldest (1; tests may raise it). */
  longPollsPerNode: number;
}

/**
 * Defaults: far above a healthy node (a few hundred series, some MiB of logs a day, a
 * handful of alerts), far below what would hurt a server of a few thousand nodes.
 */
export const DEFAULT_NODE_QUOTAS: Readonly<NodeQuotaLimits> = Object.freeze({
  logBytesPerDay: 64 * 1024 * 1024,
  alertsPerNode: 200,
  seriesPerNode: 2000,
  longPollsPerNode: 1,
});

/** A latest value older than this no longer counts against the series bound (a week offline replays within it). */
export const SERIES_STALE_MS = 8 * 86_400_000;

/** What a node was refused for. */
export type QuotaKind = 'log-bytes' | 'series' | 'alerts' | 'long-polls';

/** How often, at most, one node's refusals of one kind are logged (the count keeps going between). */
const LOG_EVERY_MS = 10 * 60_000;

/** Checks the limits given to `edgefleet server`: whole numbers of at least 1. */
export function nodeQuotaLimits(given: Partial<NodeQuotaLimits> = {}): NodeQuotaLimits {
  const limits = { ...DEFAULT_NODE_QUOTAS, ...given };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`node quota ${name} must be a whole number of at least 1, got ${value}`);
  }
  return limits;
}

/** The server's per-node quotas: the limits, and the count of refusals per node and kind. */
export class NodeQuotas {
  readonly limits: NodeQuotaLimits;
  private readonly refusals = new Map<string, Map<QuotaKind, { count: number; loggedAt: number }>>();

  constructor(
    limits: Partial<NodeQuotaLimits>,
    private readonly log: Pick<Logger, 'warn'>,
    private readonly clock: Clock,
  ) {
    this.limits = nodeQuotaLimits(limits);
  }

  /** Counts `n` refusals of `kind` for a node and logs them (at most once per node and kind every 10 min). */
  refused(node: { id: string; name: string }, kind: QuotaKind, n: number, detail: string): void {
    if (n <= 0) return;
    let kinds = this.refusals.get(node.id);
    if (kinds === undefined) {
      kinds = new Map();
      this.refusals.set(node.id, kinds);
    }
    const entry = kinds.get(kind) ?? { count: 0, loggedAt: Number.NEGATIVE_INFINITY };
    entry.count += n;
    kinds.set(kind, entry);
    const now = this.clock();
    if (now - entry.loggedAt >= LOG_EVERY_MS) {
      entry.loggedAt = now;
      this.log.warn({ node: node.name, quota: kind, refusedTotal: entry.count }, `node quota exceeded: ${detail}`);
    }
  }

  /** Refusals counted for a node since the server started, by kind. */
  refusedFor(nodeId: string): Partial<Record<QuotaKind, number>> {
    const out: Partial<Record<QuotaKind, number>> = {};
    for (const [kind, { count }] of this.refusals.get(nodeId) ?? []) out[kind] = count;
    return out;
  }

  /** Refusals of `kind` across all nodes since the server started. */
  refusedTotal(kind: QuotaKind): number {
    let n = 0;
    for (const kinds of this.refusals.values()) n += kinds.get(kind)?.count ?? 0;
    return n;
  }
}
