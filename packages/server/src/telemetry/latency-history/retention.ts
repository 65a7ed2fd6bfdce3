import type { Store } from '../../store/index.js';

/** How long the latency history is kept: 30 days. */
export const HISTORY_RETENTION_MS = 30 * 86_400_000;

/**
 * Rows kept per deployment at most. A row is one revision at one site for one hour, so
 * 20,000 rows are 30 days (720 hours) of 27 revision-and-site pairs; a deployment spread
 * over more sites keeps fewer days (the oldest hours go first). A row holds one merged
 * histogram, a few hundred bytes (at most ~3 KiB), so a deployment's history stays under
 * ~60 MiB even in the worst case and is a few MiB in practice.
 */
export const HISTORY_ROWS_PER_DEPLOYMENT = 20_000;

/** Drops history older than 30 days and, per deployment, the oldest hours beyond the row cap. */
export function pruneLatencyHistory(store: Store, now: number): Promise<number> {
  return store.pruneLatencyHistory({ before: now - HISTORY_RETENTION_MS, rowsPerDeployment: HISTORY_ROWS_PER_DEPLOYMENT });
}
