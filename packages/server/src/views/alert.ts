import type { AlertView } from '@edgefleet/protocol';
import { effectiveLabels } from '../nodes/view.js';
import type { NodeAlertRecord, NodeLabelsRecord } from '../store/index.js';

/** The alert view of `GET /v1/alerts` (and the watch feed); `node` is undefined once the node is gone. */
export function alertView(a: NodeAlertRecord, node: NodeLabelsRecord | undefined): AlertView {
  return {
    node: node?.name ?? a.nodeId,
    nodeId: a.nodeId,
    site: node === undefined ? null : (effectiveLabels(node)['geolocation.site'] ?? null),
    name: a.name,
    state: a.state,
    severity: a.severity,
    since: new Date(a.since).toISOString(),
    message: a.message,
    labels: a.labels,
    reportedAt: new Date(a.reportedAt).toISOString(),
  };
}
