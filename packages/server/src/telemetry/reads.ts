import { type AlertList, type LogList, type NodeTelemetry, parseDuration } from '@edgefleet/protocol';
import { FLEET_WIDE, isFleetWide, nodeInScope, type Scope } from '../auth/scope.js';
import type { ServerContext } from '../context.js';
import { resolveNodeInScope } from '../nodes/service.js';
import { effectiveLabels } from '../nodes/view.js';
import { alertView } from '../views/alert.js';
import { telemetrySettingsFor } from './settings.js';

/** The query of `GET /v1/nodes/{ref}/logs`. */
interface NodeLogsQuery {
  workload?: string | undefined;
  /** A duration ("10m"): lines no older than that. */
  since?: string | undefined;
  /** Lines after this id (the previous page's `next`). */
  after?: number | undefined;
  limit: number;
}

/** A node's stored log lines, oldest first, with the cursor of the next page. */
export async function listNodeLogs(ctx: ServerContext, ref: string, q: NodeLogsQuery, scope: Scope = FLEET_WIDE): Promise<LogList> {
  const node = await resolveNodeInScope(ctx.store, ref, scope);
  const since = q.since === undefined ? undefined : ctx.clock() - parseDuration(q.since, 'since');
  const rows = await ctx.store.listLogs({
    nodeId: node.id,
    ...(q.workload === undefined ? {} : { source: q.workload }),
    ...(since === undefined ? {} : { since }),
    ...(q.after === undefined ? {} : { afterId: q.after }),
    limit: q.limit,
  });
  return {
    items: rows.map((r) => ({
      id: r.id,
      time: new Date(r.at).toISOString(),
      tsNs: r.tsNs,
      node: node.name,
      source: r.source,
      revision: r.revision,
      stream: r.stream,
      level: r.level,
      line: r.line,
    })),
    next: rows.at(-1)?.id ?? q.after ?? 0,
  };
}

/** Alerts in a state (or all), of one node (by id or name) or the whole fleet; nodes are read once for the list. */
export async function listAlertViews(
  ctx: ServerContext,
  q: { state: 'firing' | 'resolved' | 'all'; node?: string | undefined },
  scope: Scope = FLEET_WIDE,
): Promise<AlertList> {
  const node = q.node === undefined ? undefined : await resolveNodeInScope(ctx.store, q.node, scope);
  const alerts = await ctx.store.listAlerts({ ...(node === undefined ? {} : { nodeId: node.id }), ...(q.state === 'all' ? {} : { state: q.state }) });
  const nodes = new Map((await ctx.store.listNodes()).map((n) => [n.id, n]));
  const visible = alerts.filter((a) => {
    const n = nodes.get(a.nodeId);
    return isFleetWide(scope) || (n !== undefined && nodeInScope(scope, n));
  });
  return { items: visible.map((a) => alertView(a, nodes.get(a.nodeId))) };
}

/** A node's telemetry profile, last upload, latest values and alerts. */
export async function nodeTelemetryView(ctx: ServerContext, ref: string, scope: Scope = FLEET_WIDE): Promise<NodeTelemetry> {
  const node = await resolveNodeInScope(ctx.store, ref, scope);
  const t = await ctx.store.getNodeTelemetry(node.id);
  const alerts = await ctx.store.listAlerts({ nodeId: node.id });
  return {
    node: node.name,
    profile: telemetrySettingsFor(effectiveLabels(node), ctx.heartbeatIntervalMs).profile,
    lastUploadAt: t?.lastUploadAt == null ? null : new Date(t.lastUploadAt).toISOString(),
    latest: t?.latest ?? [],
    alerts: alerts.map((a) => alertView(a, node)),
  };
}
