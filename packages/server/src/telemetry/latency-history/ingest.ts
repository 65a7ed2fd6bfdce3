import type { WorkloadStats } from '@edgefleet/protocol';
import { effectiveLabels } from '../../nodes/view.js';
import type { NodeRecord, Store } from '../../store/index.js';
import { historyRecordsOf } from './records.js';

/** The site a node's history rows are kept under: its `geolocation.site` label, "" without one. */
export function historySiteOf(node: NodeRecord): string {
  return effectiveLabels(node)['geolocation.site'] ?? '';
}

/**
 * Adds a node's re-anchored stats to the hourly history, through `tx` (the caller's unit of
 * work, so the stats and their history commit together).
 */
export async function addStatsToHistory(tx: Store, stats: readonly WorkloadStats[], site: string): Promise<void> {
  const current = new Map<string, number>();
  for (const name of new Set(stats.map((s) => s.deployment))) {
    const d = await tx.getDeployment(name);
    if (d !== undefined) current.set(name, d.revision);
  }
  await tx.addLatencyHistory(historyRecordsOf(stats, site, current));
}
