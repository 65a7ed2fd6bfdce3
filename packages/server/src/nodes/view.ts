import type { Labels, Node, NodeStatus } from '@edgefleet/protocol';
import type { NodeLabelsRecord, NodeRecord } from '../store/index.js';
import { reportIntervalMs } from '../telemetry/settings.js';

/** Missed heartbeats after which a node counts as offline. */
export const MISSED_HEARTBEATS_OFFLINE = 3;

/** Effective labels: what the node detected, overridden by what an operator set. */
export function effectiveLabels(node: Pick<NodeLabelsRecord, 'detectedLabels' | 'operatorLabels'>): Labels {
  return { ...node.detectedLabels, ...node.operatorLabels };
}

/**
 * A node is online while its last report is younger than three of its report intervals
 * (the heartbeat interval, or the upload interval of a metered node, which reports only
 * with its uploads). Computed at read time from `lastSeen`, so no timer has to flip it and
 * every replica agrees.
 */
export function nodeStatus(node: NodeLabelsRecord, now: number, heartbeatIntervalMs: number, labels: Labels = effectiveLabels(node)): NodeStatus {
  if (node.lastSeen === null) return 'offline';
  const interval = reportIntervalMs(labels, heartbeatIntervalMs);
  return now - node.lastSeen <= MISSED_HEARTBEATS_OFFLINE * interval ? 'online' : 'offline';
}

/** The operator's view of a node, as the API returns it. */
export function nodeView(node: NodeRecord, now: number, heartbeatIntervalMs: number): Node {
  const labels = effectiveLabels(node);
  return {
    id: node.id,
    name: node.name,
    site: labels['geolocation.site'] ?? null,
    labels,
    detectedLabels: node.detectedLabels,
    operatorLabels: node.operatorLabels,
    status: nodeStatus(node, now, heartbeatIntervalMs),
    lastSeen: node.lastSeen === null ? null : new Date(node.lastSeen).toISOString(),
    facts: node.facts,
    certificate: { serial: node.certSerial, notAfter: new Date(node.certNotAfter).toISOString() },
    createdAt: new Date(node.createdAt).toISOString(),
  };
}
