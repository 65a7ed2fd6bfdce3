import type { ServerContext } from '../context.js';
import type { RouteHandlers } from '../http/routes.js';
import { ingestLogs, ingestMetrics } from '../telemetry/ingest.js';
import { FleetLatestValues } from '../telemetry/latest-values.js';
import { listAlertViews, listNodeLogs, nodeTelemetryView } from '../telemetry/reads.js';

type TelemetryRoutes = 'uploadTelemetry' | 'uploadLogs' | 'nodeLogs' | 'alerts' | 'nodeTelemetry' | 'latestValues';

/**
 * Agent uploads of metrics and logs (compressed bytes: the body limit applies before any
 * decompression, and the decoders stop inflating at MAX_DECODED_UPLOAD_BYTES), and what
 * operators read back.
 */
export function telemetryHandlers(ctx: ServerContext): Pick<RouteHandlers, TelemetryRoutes> {
  const latest = new FleetLatestValues(ctx);
  return {
    uploadTelemetry: async ({ caller, body }) => ingestMetrics(ctx, caller.node, body),
    uploadLogs: async ({ caller, body, request }) => ingestLogs(ctx, caller.node, body, request.log),
    nodeLogs: async ({ params, query }) => listNodeLogs(ctx, params.ref, query),
    alerts: async ({ query }) => listAlertViews(ctx, query),
    nodeTelemetry: async ({ params }) => nodeTelemetryView(ctx, params.ref),
    latestValues: async ({ query }) => latest.read(query.name),
  };
}
