import { badRequest, type StatusRequest, type StatusResponse, type WorkloadStats, type WorkloadStatus } from '@edgefleet/protocol';
import type { ServerContext } from '../context.js';
import { effectiveLabels } from '../nodes/view.js';
import type { NodeRecord } from '../store/index.js';
import { addStatsToHistory, historySiteOf } from './latency-history/ingest.js';
import { telemetrySettingsFor } from './settings.js';

/**
 * Records a heartbeat: labels, facts (kept when omitted), workload statuses and the stats
 * the rollout gates read. Metered nodes send the same body folded into their uploads.
 */
export async function recordStatus(ctx: ServerContext, node: NodeRecord, body: StatusRequest): Promise<void> {
  // Before anything is written: a refused report changes nothing.
  if (body.stats !== undefined) refuseInconsistentInstances(body.stats, 'stats');
  const now = ctx.clock();
  // Facts and labels rarely change: rewriting kilobytes of the same JSON with every heartbeat
  // would only grow the database's log. `node` was read from the store for this request.
  const labelsChanged = body.labels !== undefined && JSON.stringify(body.labels) !== JSON.stringify(node.detectedLabels);
  const factsChanged = body.facts !== undefined && JSON.stringify(body.facts) !== JSON.stringify(node.facts);
  await ctx.store.recordHeartbeat(node.id, labelsChanged ? body.labels : undefined, factsChanged ? body.facts : undefined, now);
  // Most reports repeat the last one: rewriting the same rows would cost a transaction (an
  // fsync on SQLite) per heartbeat for nothing, so compare with the store first, a cheap read.
  if (body.workloads !== undefined && !(await workloadsUnchanged(ctx, node.id, body.workloads)))
    await ctx.store.replaceNodeWorkloads(node.id, body.workloads, now);
  if (body.stats !== undefined && body.stats.length > 0) await insertStatsEndingNow(ctx, node.id, body.stats, now, historySiteOf(node));
  // Detected labels may have changed (an accelerator died), and with them the desired state.
  // Omitted labels are unchanged labels (metered nodes send them only on change).
  if (labelsChanged) ctx.events.emit('desired');
}

/**
 * A node whose agent request was refused for overload (429) is alive: its lastSeen moves as
 * an unchanged heartbeat's does (grouped with the others; no labels, facts or statuses), so
 * the server's own overload never lists a working node offline. Not awaited: the refusal is
 * answered at once.
 */
export function recordRefusedNode(ctx: ServerContext, nodeId: string): void {
  ctx.store
    .recordHeartbeat(nodeId, undefined, undefined, ctx.clock())
    .catch((err: unknown) => ctx.log.warn({ err, node: nodeId }, 'recording a node whose request was refused as seen failed'));
}

/**
 * Stores workload stats re-anchored so the newest interval ends `now`: node clocks drift,
 * and rollout gate windows use the server's clock. The same stats go into the hourly
 * latency history of the node's `site`, in the same unit of work.
 */
export async function insertStatsEndingNow(ctx: ServerContext, nodeId: string, stats: readonly WorkloadStats[], now: number, site: string): Promise<void> {
  const anchored = reanchorStats(stats, now);
  await ctx.store.transaction(async (tx) => {
    await tx.insertWorkloadStats(nodeId, anchored);
    await addStatsToHistory(tx, anchored, site);
  });
}

/**
 * The stats moved onto the server's clock: every time of the report (interval bounds and
 * instance starts) shifts by the same offset, so that the newest interval ends `now`.
 *
 * An instance start is then kept at or before its interval's start. It is one by
 * construction (an instance serves before its interval opens), except when the node's clock
 * stepped between the two readings (a Raspberry Pi has no RTC: its clock jumps at the first
 * NTP sync) or a sample covers a restart; clamped, such a sample reads as the instance's
 * very start, which the gates treat as warm-up: left out rather than counted cold.
 */
export function reanchorStats(stats: readonly WorkloadStats[], now: number): WorkloadStats[] {
  if (stats.length === 0) return [];
  const shift = now - Math.max(...stats.map((x) => x.intervalEnd));
  return stats.map((x) => {
    const intervalStart = Math.max(0, x.intervalStart + shift);
    const out: WorkloadStats = { ...x, intervalStart, intervalEnd: x.intervalEnd + shift };
    if (x.instanceStartedAt !== undefined) out.instanceStartedAt = Math.max(0, Math.min(x.instanceStartedAt + shift, intervalStart));
    return out;
  });
}

/**
 * Refuses (400) stats whose instance fields contradict their interval: an instance that
 * started after the end of the interval it is said to have served. Left in, such a start
 * would mark every sample of a node as warm-up, and a compromised canary could keep its
 * samples out of the gates' analysis for good. (Negative or fractional counts and starts
 * never get here: the schema refuses them.) `where` names the list in the message.
 */
export function refuseInconsistentInstances(stats: readonly WorkloadStats[], where: string): void {
  stats.forEach((s, i) => {
    if (s.instanceStartedAt === undefined || s.instanceStartedAt <= s.intervalEnd) return;
    const field = `${where}.${i}.instanceStartedAt`;
    throw badRequest(
      `invalid body: ${field}: ${s.instanceStartedAt} is after the interval's end (${s.intervalEnd}); an instance cannot serve an interval before it started`,
      'send when the instance serving the revision began serving, on the same clock as intervalStart and intervalEnd (at or before intervalStart)',
      field,
    );
  });
}

/** True when the store already holds exactly these workload statuses for the node. */
async function workloadsUnchanged(ctx: ServerContext, nodeId: string, workloads: WorkloadStatus[]): Promise<boolean> {
  const stored = await ctx.store.listNodeWorkloads({ nodeId });
  if (stored.length !== workloads.length) return false;
  const byDeployment = new Map(stored.map((w) => [w.status.deployment, JSON.stringify(w.status)]));
  return workloads.every((w) => byDeployment.get(w.deployment) === JSON.stringify(w));
}

/** `POST /v1/agent/status`: records the report and tells the node how to report next. */
export async function reportStatus(ctx: ServerContext, node: NodeRecord, body: StatusRequest): Promise<StatusResponse> {
  await recordStatus(ctx, node, body);
  const labels = effectiveLabels({ ...node, detectedLabels: body.labels ?? node.detectedLabels });
  return {
    nodeId: node.id,
    heartbeatIntervalSeconds: ctx.heartbeatIntervalMs / 1000,
    certificateNotAfter: new Date(node.certNotAfter).toISOString(),
    telemetry: telemetrySettingsFor(labels, ctx.heartbeatIntervalMs),
  };
}
