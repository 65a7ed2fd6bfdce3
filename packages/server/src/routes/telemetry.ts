import { isFleetWide, nodeInScope } from '../auth/scope.js';
import type { ServerContext } from '../context.js';
import type { DesiredWatch } from '../deployments/desired-watch.js';
import type { RouteHandlers } from '../http/routes.js';
import { ingestLogs, ingestMetrics } from '../telemetry/ingest.js';
import { FleetLatestValues } from '../telemetry/latest-values.js';
import { listAlertViews, listNodeLogs, nodeTelemetryView } from '../telemetry/reads.js';
import { answerIsUnchanged } from '../telemetry/upload-answer.js';

type TelemetryRoutes = 'uploadTelemetry' | 'uploadLogs' | 'nodeLogs' | 'alerts' | 'nodeTelemetry' | 'latestValues';

/**
 * Agent uploads of metrics and logs (compressed bytes: the body limit applies before any
 * decompression, and the decoders stop inflating at MAX_DECODED_UPLOAD_BYTES), and what
 * operators read back.
 */
export function telemetryHandlers(ctx: ServerContext, watch: DesiredWatch): Pick<RouteHandlers, TelemetryRoutes> {
  const latest = new FleetLatestValues(ctx);
  return {
    // 204 when the node already holds what the answer would say (issue 18: bytes on its uplink).
    uploadTelemetry: async ({ caller, body, query, reply }) => {
      const answer = await ingestMetrics(ctx, watch, caller.node, body);
      return answerIsUnchanged(answer, query.known) ? reply.status(204).send() : answer;
    },
    uploadLogs: async ({ caller, body, query, request, reply }) => {
      const answer = await ingestLogs(ctx, watch, caller.node, body, request.log);
      return answerIsUnchanged(answer, query.known) ? reply.status(204).send() : answer;
    },
    nodeLogs: async ({ caller, params, query }) => listNodeLogs(ctx, params.ref, query, caller),
    alerts: async ({ caller, query }) => listAlertViews(ctx, query, caller),
    nodeTelemetry: async ({ caller, params }) => nodeTelemetryView(ctx, params.ref, caller),
    latestValues: async ({ caller, query }) => {
      const values = await latest.read(query.name);
      if (isFleetWide(caller)) return values;
      // The cache is fleet-wide; a token limited to sites gets its nodes' values only.
      const visible = new Set((await ctx.store.listNodes()).filter((n) => nodeInScope(caller, n)).map((n) => n.id));
      return { name: values.name, items: values.items.filter((v) => visible.has(v.nodeId)) };
    },
  };
}
