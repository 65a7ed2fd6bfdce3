import {
  type AlertList,
  type AlertReport,
  type AlertView,
  EdgefleetError,
  LOG_CONTENT_TYPE,
  type LogBatch,
  LogDecodeError,
  type LogList,
  matchesSelector,
  type NodeTelemetry,
  parseDuration,
  StatusRequestSchema,
  TELEMETRY_CONTENT_TYPE,
  type TelemetryBatch,
  TelemetryDecodeError,
  type TelemetryUploadResponse,
} from '@edgefleet/protocol';
import { decodeLogBatch, decodeTelemetryBatch } from '@edgefleet/protocol/node';
import { z } from 'zod';
import type { ServerContext } from '../context.js';
import { selectorOf } from '../deployments/plan-apply.js';
import type { Api } from '../http/app.js';
import { authenticateOperator } from '../http/auth.js';
import { parseWith } from '../http/errors.js';
import { effectiveLabels } from '../nodes/view.js';
import type { NodeAlertRecord, NodeRecord } from '../store/index.js';
import { attributeSeries, type Uploader } from '../telemetry/attribute.js';
import { latestSamples } from '../telemetry/latest.js';
import { telemetrySettingsFor } from '../telemetry/settings.js';
import { statsFromSeries } from '../telemetry/stats.js';
import { desiredStateOfNode, recordStatus } from './agent.js';
import { resolveNode } from './nodes.js';

/** Largest decoded upload: far above a real batch (a few KiB), far below what would hurt the server. */
export const MAX_DECODED_UPLOAD_BYTES = 8 * 1024 * 1024;

const AlertReportSchema = z.object({
  name: z.string().min(1).max(100),
  state: z.enum(['firing', 'resolved']),
  severity: z.enum(['warning', 'critical']),
  since: z.number().int().nonnegative(),
  message: z.string().max(1000),
  labels: z.record(z.string(), z.string()).optional(),
});
const MetaSchema = z.object({ alerts: z.array(AlertReportSchema).max(100).optional(), status: z.unknown().optional() });

/** Turns a codec error into the API's: 413 for bombs and oversize bodies, 400 naming the problem otherwise. */
function decodeProblem(err: unknown, what: string): never {
  if (err instanceof TelemetryDecodeError || err instanceof LogDecodeError) {
    if (err.reason === 'too-large')
      throw new EdgefleetError({ code: 'payload_too_large', status: 413, message: `${what}: ${err.message}`, hint: 'send smaller batches' });
    throw new EdgefleetError({
      code: 'bad_request',
      status: 400,
      message: `${what}: ${err.message}`,
      hint:
        err.reason === 'unsupported-version'
          ? 'the agent and server versions differ: upgrade the older one'
          : 'the batch is malformed; the agent drops it and sends the next',
    });
  }
  throw err;
}

function rawBody(body: unknown, contentType: string): Uint8Array {
  if (!(body instanceof Uint8Array))
    throw new EdgefleetError({
      code: 'unsupported_media_type',
      status: 415,
      message: `expected a body of type ${contentType}`,
      hint: `send Content-Type: ${contentType}`,
    });
  return body;
}

/** Agent uploads of metrics and logs (mTLS, see agent.ts), and what operators read back. */
export function telemetryRoutes(app: Api, ctx: ServerContext): void {
  // Compressed bodies arrive as bytes; Fastify's body limit (1 MiB) applies before any
  // decompression, and the decoders stop inflating at MAX_DECODED_UPLOAD_BYTES.
  app.addContentTypeParser([TELEMETRY_CONTENT_TYPE, LOG_CONTENT_TYPE], { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  /** What the server knows about which workloads the node runs or ran. */
  const uploaderOf = async (node: NodeRecord): Promise<Uploader> => {
    const labels = effectiveLabels(node);
    const deployments = new Map((await ctx.store.listDeployments()).map((d) => [d.name, d]));
    const reported = new Set((await ctx.store.listNodeWorkloads({ nodeId: node.id })).map((w) => w.status.deployment));
    return {
      name: node.name,
      site: labels['geolocation.site'] ?? null,
      runs(deployment, revision) {
        const d = deployments.get(deployment);
        if (d === undefined || revision > d.revision) return false;
        return reported.has(deployment) || matchesSelector(selectorOf(d.spec.selector), labels);
      },
    };
  };

  const answer = async (node: NodeRecord, accepted: boolean, rejected: TelemetryUploadResponse['rejected']): Promise<TelemetryUploadResponse> => {
    const fresh = (await ctx.store.getNode(node.id)) ?? node;
    const settings = telemetrySettingsFor(effectiveLabels(fresh), ctx.heartbeatIntervalMs);
    // Every byte of the answer is paid for on a metered link: leave out what is empty.
    const res: TelemetryUploadResponse = {
      accepted,
      ...(rejected.length > 0 ? { rejected } : {}),
      telemetry: settings,
      heartbeatIntervalSeconds: ctx.heartbeatIntervalMs / 1000,
    } as TelemetryUploadResponse;
    if (settings.foldHeartbeats) {
      const desired = await desiredStateOfNode(ctx, node.id);
      if (desired !== undefined) res.desiredVersion = desired.version;
    }
    return res;
  };

  app.post('/v1/agent/telemetry', async (request): Promise<TelemetryUploadResponse> => {
    const node = request.agentNode!;
    let batch: TelemetryBatch;
    try {
      batch = decodeTelemetryBatch(rawBody(request.body, TELEMETRY_CONTENT_TYPE), { maxDecodedBytes: MAX_DECODED_UPLOAD_BYTES });
    } catch (err) {
      decodeProblem(err, 'telemetry batch');
    }
    const meta = parseWith(MetaSchema, batch.meta ?? {}, 'meta');
    const uploader = await uploaderOf(node);
    const attribution = attributeSeries(batch.series, uploader);
    if (!attribution.ok)
      throw new EdgefleetError({
        code: 'forbidden',
        status: 403,
        message: attribution.forged,
        hint: 'a node may only send its own series; node and site labels are set by the server',
      });
    const now = ctx.clock();
    const alerts = (meta.alerts ?? []).map((a: AlertReport): NodeAlertRecord => ({ ...a, nodeId: node.id, labels: a.labels ?? {}, reportedAt: now }));
    const accepted = await ctx.store.acceptMetrics(node.id, { stream: batch.stream, seq: batch.seq }, now, latestSamples(attribution.series), alerts);
    if (accepted) ctx.forwarding?.metrics(attribution.series);
    // A folded heartbeat is attached by the agent at send time, so it is current even when
    // the metrics it rides with are a replay.
    if (meta.status !== undefined) {
      await recordStatus(ctx, node, parseWith(StatusRequestSchema, meta.status, 'meta.status'));
      // The live batch of a metered node carries the gates' numbers in its series (the
      // folded heartbeat leaves them out). Replays are old news: only the live one counts,
      // re-anchored like heartbeat stats so the newest interval ends now.
      const stats = accepted ? statsFromSeries(attribution.series, batch.resolutionMs) : [];
      if (stats.length > 0) {
        const shift = now - Math.max(...stats.map((x) => x.intervalEnd));
        await ctx.store.insertWorkloadStats(
          node.id,
          stats.map((x) => ({ ...x, intervalStart: Math.max(0, x.intervalStart + shift), intervalEnd: x.intervalEnd + shift })),
        );
      }
    }
    return answer(node, accepted, attribution.rejected);
  });

  app.post('/v1/agent/logs', async (request): Promise<TelemetryUploadResponse> => {
    const node = request.agentNode!;
    let batch: LogBatch;
    try {
      batch = decodeLogBatch(rawBody(request.body, LOG_CONTENT_TYPE), { maxDecodedBytes: MAX_DECODED_UPLOAD_BYTES });
    } catch (err) {
      decodeProblem(err, 'log batch');
    }
    const site = effectiveLabels(node)['geolocation.site'] ?? null;
    const lines = batch.entries.map((e) => ({
      tsNs: e.tsNs,
      at: Math.floor(Number(BigInt(e.tsNs) / 1_000_000n)),
      source: e.source,
      revision: e.revision ?? null,
      stream: e.stream,
      level: e.level,
      line: e.line,
    }));
    const accepted = await ctx.store.acceptLogs(node.id, { stream: batch.stream, seq: batch.seq }, ctx.clock(), lines);
    if (accepted) {
      for (const s of batch.suppressed ?? []) request.log.debug({ node: node.name, ...s }, 'log lines suppressed by the node');
      ctx.forwarding?.logs(
        batch.entries.map((e) => ({
          labels: { job: 'edgefleet', node: node.name, ...(site === null ? {} : { site }), source: e.source, stream: e.stream, level: e.level },
          tsNs: e.tsNs,
          line: e.revision === undefined ? e.line : `${e.line} revision=${e.revision}`,
        })),
      );
    }
    return answer(node, accepted, []);
  });

  const LogsQuery = z.object({
    workload: z.string().min(1).optional(),
    since: z.string().optional(),
    after: z.coerce.number().int().nonnegative().optional(),
    limit: z.coerce.number().int().min(1).max(5000).default(1000),
  });

  app.get('/v1/nodes/:ref/logs', async (request): Promise<LogList> => {
    await authenticateOperator(ctx.store, request, 'viewer');
    const node = await resolveNode(ctx, parseWith(z.object({ ref: z.string().min(1) }), request.params, 'path').ref);
    const q = parseWith(LogsQuery, request.query, 'query');
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
  });

  const alertView = (a: NodeAlertRecord, node: NodeRecord | undefined): AlertView => ({
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
  });

  app.get('/v1/alerts', async (request): Promise<AlertList> => {
    await authenticateOperator(ctx.store, request, 'viewer');
    const q = parseWith(z.object({ state: z.enum(['firing', 'resolved', 'all']).default('firing'), node: z.string().optional() }), request.query, 'query');
    const node = q.node === undefined ? undefined : await resolveNode(ctx, q.node);
    const alerts = await ctx.store.listAlerts({ ...(node === undefined ? {} : { nodeId: node.id }), ...(q.state === 'all' ? {} : { state: q.state }) });
    const nodes = new Map((await ctx.store.listNodes()).map((n) => [n.id, n]));
    return { items: alerts.map((a) => alertView(a, nodes.get(a.nodeId))) };
  });

  app.get('/v1/nodes/:ref/telemetry', async (request): Promise<NodeTelemetry> => {
    await authenticateOperator(ctx.store, request, 'viewer');
    const node = await resolveNode(ctx, parseWith(z.object({ ref: z.string().min(1) }), request.params, 'path').ref);
    const t = await ctx.store.getNodeTelemetry(node.id);
    const alerts = await ctx.store.listAlerts({ nodeId: node.id });
    return {
      node: node.name,
      profile: telemetrySettingsFor(effectiveLabels(node), ctx.heartbeatIntervalMs).profile,
      lastUploadAt: t?.lastUploadAt == null ? null : new Date(t.lastUploadAt).toISOString(),
      latest: t?.latest ?? [],
      alerts: alerts.map((a) => alertView(a, node)),
    };
  });
}
