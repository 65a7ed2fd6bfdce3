/**
 * Running totals of the cumulative series the server forwards to Prometheus (counters,
 * histogram buckets, `_sum`, `_count`), kept in the database when several replicas share
 * it: whichever replica receives a node's batch advances the one total, so Prometheus sees
 * one consistent series per node (telemetry/forwarders.ts).
 */
export interface ForwardTotalsRepository {
  /**
   * Adds each increase to its series' total in one statement (created at 0 when new, or when
   * forgotten) and returns the totals after it, by key. Concurrent callers serialize per
   * series on the row, so every batch gets totals no other batch got.
   */
  advanceForwardTotals(increases: ReadonlyMap<string, number>, at: number): Promise<Map<string, number>>;
  /** Forgets totals not advanced since `before` (a series that returns restarts from 0: a counter reset). */
  pruneForwardTotals(before: number): Promise<number>;
}
