import { type LatencyHistogram, mergeHistograms, type WorkloadStats } from '@edgefleet/protocol';
import type { LatencyHistoryRecord } from '../../store/index.js';

/** Length of one history bucket: an hour. */
export const HISTORY_BUCKET_MS = 3_600_000;

/** Start of the hour `at` (ms) falls in. */
export function hourOf(at: number): number {
  return Math.floor(at / HISTORY_BUCKET_MS) * HISTORY_BUCKET_MS;
}

/**
 * The history rows one report adds: its (re-anchored) stats summed by deployment, revision
 * and the hour their interval ended in, at the node's site. Only revisions the server knows
 * count: `current` maps each deployment to its newest revision, and stats of another
 * deployment, or of a revision beyond it, are left out, so a node cannot make rows (and
 * the table grow) for names that do not exist. Intervals without requests add nothing.
 */
export function historyRecordsOf(stats: readonly WorkloadStats[], site: string, current: ReadonlyMap<string, number>): LatencyHistoryRecord[] {
  const rows = new Map<string, LatencyHistoryRecord>();
  for (const s of stats) {
    const newest = current.get(s.deployment);
    if (newest === undefined || s.revision > newest || s.requests <= 0) continue;
    // The hour the interval ended in: a report's intervals last seconds to a minute, so one
    // straddling the hour is counted whole on the side it ended.
    const hour = hourOf(Math.max(0, s.intervalEnd - 1));
    const key = `${s.deployment}\u0000${s.revision}\u0000${hour}`;
    const row = rows.get(key);
    if (row === undefined) {
      rows.set(key, { deployment: s.deployment, revision: s.revision, site, hour, requests: s.requests, errors: s.errors, latency: s.latency });
    } else {
      row.requests += s.requests;
      row.errors += s.errors;
      row.latency = mergeHistograms(row.latency, s.latency as LatencyHistogram);
    }
  }
  return [...rows.values()];
}
