/**
 * What the pages show, derived from the fleet state: node health, per-site tiles, counts by
 * accelerator and firmware, the nodes table's rows, filtering and sorting. Pure functions
 * of their inputs, so a 10,000-node fleet is a unit test away.
 */
import { matchesSelector, type Selector } from '@edgefleet/protocol';
import type { AlertView, DeploymentView, Node } from './types.js';

/** How a node is doing, as the overview counts it. */
export type NodeHealth = 'online' | 'degraded' | 'offline';

/** Workload states that make an online node count as degraded (the CPU fallback, or broken). */
const DEGRADING: ReadonlySet<string> = new Set(['degraded', 'failed', 'verification-failed']);

/** One deployment's workload on one node, as the deployment's status reports it. */
export interface NodeWorkload {
  deployment: string;
  revision: number | null;
  state: string;
  reason: string | null;
  message: string | null;
  endpoint: string | null;
}

/** Every node's workloads, from the deployments' per-node status lines. */
export function workloadsByNode(deployments: Iterable<DeploymentView>): Map<string, NodeWorkload[]> {
  const out = new Map<string, NodeWorkload[]>();
  for (const d of deployments) {
    for (const line of d.status.nodes) {
      const list = out.get(line.nodeId) ?? [];
      list.push({
        deployment: d.metadata.name,
        revision: line.revision,
        state: line.state,
        reason: line.reason,
        message: line.message,
        endpoint: line.endpoint,
      });
      out.set(line.nodeId, list);
    }
  }
  return out;
}

/** Node ids with at least one firing alert. */
export function alertingNodes(alerts: readonly AlertView[]): Set<string> {
  return new Set(alerts.filter((a) => a.state === 'firing').map((a) => a.nodeId));
}

/**
 * Offline when the server has not heard from it for three report intervals; degraded when
 * online but a workload runs on its CPU fallback or failed, or an alert fires; else online.
 */
export function nodeHealth(node: Node, workloads: readonly NodeWorkload[] | undefined, alerting: boolean): NodeHealth {
  if (node.status === 'offline') return 'offline';
  if (alerting || (workloads ?? []).some((w) => DEGRADING.has(w.state))) return 'degraded';
  return 'online';
}

/** One row of the nodes table. */
export interface NodeRow {
  id: string;
  name: string;
  site: string;
  health: NodeHealth;
  accelerator: string;
  firmware: string;
  /** Deployment name → revision the node reports (null: pending). */
  revisions: Readonly<Record<string, number | null>>;
  /** ms since the epoch, or null when never seen. */
  lastSeen: number | null;
  temperature: number | null;
  labels: Readonly<Record<string, string>>;
}

/** The label values the table shows in place of a missing one. */
export const NO_SITE = '(no site)';
export const NO_ACCELERATOR = 'none';
export const UNKNOWN = 'unknown';

function factsTemperature(node: Node): number | null {
  const t = (node.facts as { thermal?: { temperatureC?: unknown } }).thermal?.temperatureC;
  return typeof t === 'number' ? t : null;
}

/**
 * The nodes table's rows. Temperature is the latest telemetry value when the node sends
 * telemetry, else what its last heartbeat's hardware facts said.
 */
export function nodeRows(
  nodes: Iterable<Node>,
  deployments: Iterable<DeploymentView>,
  alerts: readonly AlertView[],
  temperatures: ReadonlyMap<string, number>,
): NodeRow[] {
  const workloads = workloadsByNode(deployments);
  const alerting = alertingNodes(alerts);
  const rows: NodeRow[] = [];
  for (const n of nodes) {
    const w = workloads.get(n.id);
    const revisions: Record<string, number | null> = {};
    for (const x of w ?? []) revisions[x.deployment] = x.revision;
    rows.push({
      id: n.id,
      name: n.name,
      site: n.site ?? NO_SITE,
      health: nodeHealth(n, w, alerting.has(n.id)),
      accelerator: n.labels['ai.accelerator'] ?? NO_ACCELERATOR,
      firmware: n.labels['firmware.version'] ?? UNKNOWN,
      revisions,
      lastSeen: n.lastSeen === null ? null : Date.parse(n.lastSeen),
      temperature: temperatures.get(n.id) ?? factsTemperature(n),
      labels: n.labels,
    });
  }
  return rows;
}

/** Rows whose labels match the selector and whose name or site contains `text` (case-insensitive). */
export function filterRows(rows: readonly NodeRow[], selector: Selector, text: string): NodeRow[] {
  const needle = text.trim().toLowerCase();
  return rows.filter(
    (r) =>
      (selector.length === 0 || matchesSelector(selector, r.labels)) &&
      (needle === '' || r.name.toLowerCase().includes(needle) || r.site.toLowerCase().includes(needle)),
  );
}

export type SortDirection = 'ascending' | 'descending';

const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

/** A sortable value: nulls sort last whichever the direction. */
export type SortValue = string | number | null;

/** Sorts a copy by `value`, numbers numerically and strings in natural order (edge-2 before edge-10). */
export function sortRows<R>(rows: readonly R[], value: (row: R) => SortValue, direction: SortDirection): R[] {
  const sign = direction === 'ascending' ? 1 : -1;
  const keyed = rows.map((row) => ({ row, v: value(row) }));
  keyed.sort((a, b) => {
    if (a.v === null || b.v === null) return a.v === b.v ? 0 : a.v === null ? 1 : -1;
    const c = typeof a.v === 'number' && typeof b.v === 'number' ? a.v - b.v : collator.compare(String(a.v), String(b.v));
    return c * sign;
  });
  return keyed.map((k) => k.row);
}

/** Counts of nodes by health. */
export interface HealthCounts {
  total: number;
  online: number;
  degraded: number;
  offline: number;
}

export function healthCounts(rows: readonly NodeRow[]): HealthCounts {
  const c: HealthCounts = { total: rows.length, online: 0, degraded: 0, offline: 0 };
  for (const r of rows) c[r.health]++;
  return c;
}

/** A site's tile on the overview, coloured by its worst news. */
export interface SiteTile extends HealthCounts {
  site: string;
  /** healthy: every node online; critical: half or more offline; warning: anything between. */
  health: 'healthy' | 'warning' | 'critical';
}

export function siteTiles(rows: readonly NodeRow[]): SiteTile[] {
  const bySite = new Map<string, NodeRow[]>();
  for (const r of rows) {
    const list = bySite.get(r.site);
    if (list === undefined) bySite.set(r.site, [r]);
    else list.push(r);
  }
  const tiles: SiteTile[] = [];
  for (const [site, list] of bySite) {
    const c = healthCounts(list);
    const health = c.offline * 2 >= c.total ? 'critical' : c.offline + c.degraded > 0 ? 'warning' : 'healthy';
    tiles.push({ site, ...c, health });
  }
  // Worst first, then by name: the sites that need attention lead.
  const rank = { critical: 0, warning: 1, healthy: 2 } as const;
  return tiles.sort((a, b) => rank[a.health] - rank[b.health] || collator.compare(a.site, b.site));
}

/** How many rows have each value of `key`, most common first. */
export function countBy(rows: readonly NodeRow[], key: (row: NodeRow) => string): Array<{ value: string; count: number }> {
  const m = new Map<string, number>();
  for (const r of rows) m.set(key(r), (m.get(key(r)) ?? 0) + 1);
  return [...m].map(([value, count]) => ({ value, count })).sort((a, b) => b.count - a.count || a.value.localeCompare(b.value));
}
