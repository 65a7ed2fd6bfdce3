import { type AlertList, LOG_CONTENT_TYPE, type LogList, type NodeTelemetry, TELEMETRY_CONTENT_TYPE, type TelemetryUploadResponse } from '@edgefleet/protocol';
import { z } from 'zod';
import type { ServerContext } from '../context.js';
import type { Api } from '../http/app.js';
import { authenticateOperator } from '../http/auth.js';
import { parseWith } from '../http/errors.js';
import { ingestLogs, ingestMetrics } from '../telemetry/ingest.js';
import { listAlertViews, listNodeLogs, nodeTelemetryView } from '../telemetry/reads.js';

const RefParams = z.object({ ref: z.string().min(1) });
const LogsQuery = z.object({
  workload: z.string().min(1).optional(),
  since: z.string().optional(),
  after: z.coerce.number().int().nonnegative().optional(),
  limit: z.coerce.number().int().min(1).max(5000).default(1000),
});
const AlertsQuery = z.object({ state: z.enum(['firing', 'resolved', 'all']).default('firing'), node: z.string().optional() });

/** Agent uploads of metrics and logs (mTLS, see agent.ts), and what operators read back. */
export function telemetryRoutes(app: Api, ctx: ServerContext): void {
  // Compressed bodies arrive as bytes; Fastify's body limit (1 MiB) applies before any
  // decompression, and the decoders stop inflating at MAX_DECODED_UPLOAD_BYTES.
  app.addContentTypeParser([TELEMETRY_CONTENT_TYPE, LOG_CONTENT_TYPE], { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.post('/v1/agent/telemetry', async (request): Promise<TelemetryUploadResponse> => ingestMetrics(ctx, request.agentNode!, request.body));

  app.post('/v1/agent/logs', async (request): Promise<TelemetryUploadResponse> => ingestLogs(ctx, request.agentNode!, request.body, request.log));

  app.get('/v1/nodes/:ref/logs', async (request): Promise<LogList> => {
    await authenticateOperator(ctx.store, request, 'viewer');
    return listNodeLogs(ctx, parseWith(RefParams, request.params, 'path').ref, parseWith(LogsQuery, request.query, 'query'));
  });

  app.get('/v1/alerts', async (request): Promise<AlertList> => {
    await authenticateOperator(ctx.store, request, 'viewer');
    return listAlertViews(ctx, parseWith(AlertsQuery, request.query, 'query'));
  });

  app.get('/v1/nodes/:ref/telemetry', async (request): Promise<NodeTelemetry> => {
    await authenticateOperator(ctx.store, request, 'viewer');
    return nodeTelemetryView(ctx, parseWith(RefParams, request.params, 'path').ref);
  });
}
