import {
  type AlertReport,
  errors,
  LOG_CONTENT_TYPE,
  type LogBatch,
  LogDecodeError,
  matchesSelector,
  StatusRequestSchema,
  scrubSecrets,
  TELEMETRY_CONTENT_TYPE,
  type TelemetryBatch,
  TelemetryDecodeError,
  type TelemetryUploadResponse,
} from '@edgefleet/protocol';
import { decodeLogBatch, decodeTelemetryBatch } from '@edgefleet/protocol/node';
import { z } from 'zod';
import type { ServerContext } from '../context.js';
import type { DesiredWatch } from '../deployments/desired-watch.js';
import { desiredStateOf } from '../deployments/node-desired.js';
import { selectorOf } from '../deployments/plan-apply.js';
import { parseWith } from '../http/errors.js';
import { effectiveLabels } from '../nodes/view.js';
import { SERIES_STALE_MS } from '../quotas/node-quotas.js';
import { quotasOf } from '../quotas/of-context.js';
import type { NodeAlertRecord, NodeRecord } from '../store/index.js';
import { seriesKey } from '../store/telemetry.js';
import { attributeSeries, describeSeries, type Uploader } from './attribute.js';
import { historySiteOf } from './latency-history/ingest.js';
import { latestSamples } from './latest.js';
import { telemetrySettingsFor } from './settings.js';
import { refuseInconsistentInstanceSeries, statsFromSeries } from './stats.js';
import { insertStatsEndingNow, recordStatus } from './status-report.js';

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

/** Where ingest says what a node's batch left out. */
interface IngestLog {
  debug(details: object, message: string): void;
}

/** Turns a codec error into the API's: 413 for bombs and oversize bodies, 400 naming the problem otherwise. */
function decodeProblem(err: unknown, what: string): never {
  if (err instanceof TelemetryDecodeError || err instanceof LogDecodeError) {
    if (err.reason === 'too-large') throw errors.payloadTooLarge(`${what}: ${err.message}`, 'send smaller batches');
    throw errors.badRequest(
      `${what}: ${err.message}`,
      err.reason === 'unsupported-version'
        ? 'the agent and server versions differ: upgrade the older one'
        : 'the batch is malformed; the agent drops it and sends the next',
    );
  }
  throw err;
}

function rawBody(body: unknown, contentType: string): Uint8Array {
  if (!(body instanceof Uint8Array)) throw errors.unsupportedMediaType(`expected a body of type ${contentType}`, `send Content-Type: ${contentType}`);
  return body;
}

/** What the server knows about which workloads the node runs or ran. */
async function uploaderOf(ctx: ServerContext, node: NodeRecord): Promise<Uploader> {
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
}

/** The answer to an upload: accepted or a replay, the node's settings, and its desired version when it folds heartbeats. */
async function uploadAnswer(
  ctx: ServerContext,
  watch: DesiredWatch,
  node: NodeRecord,
  accepted: boolean,
  rejected: TelemetryUploadResponse['rejected'],
): Promise<TelemetryUploadResponse> {
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
    res.desiredVersion = (await desiredStateOf(watch, fresh)).version;
  }
  return res;
}

/**
 * `POST /v1/agent/telemetry`: decodes a metrics batch (`body` is its raw bytes), checks the
 * node sends only its own series, stores it once (replays are acknowledged, not stored),
 * forwards what was new, and records a folded heartbeat.
 */
export async function ingestMetrics(ctx: ServerContext, watch: DesiredWatch, node: NodeRecord, body: unknown): Promise<TelemetryUploadResponse> {
  let batch: TelemetryBatch;
  try {
    batch = decodeTelemetryBatch(rawBody(body, TELEMETRY_CONTENT_TYPE), { maxDecodedBytes: MAX_DECODED_UPLOAD_BYTES });
  } catch (err) {
    decodeProblem(err, 'telemetry batch');
  }
  const meta = parseWith(MetaSchema, batch.meta ?? {}, 'meta');
  // Before anything is stored: a refused batch changes nothing.
  refuseInconsistentInstanceSeries(batch.series);
  const attribution = attributeSeries(batch.series, await uploaderOf(ctx, node));
  if (!attribution.ok) throw errors.forbidden(attribution.forged, 'a node may only send its own series; node and site labels are set by the server');
  const now = ctx.clock();
  const alerts = (meta.alerts ?? []).map((a: AlertReport): NodeAlertRecord => ({ ...a, nodeId: node.id, labels: a.labels ?? {}, reportedAt: now }));
  const quotas = quotasOf(ctx);
  const bounds = { series: quotas.limits.seriesPerNode, alerts: quotas.limits.alertsPerNode, staleMs: SERIES_STALE_MS };
  const acceptance = await ctx.store.acceptMetrics(node.id, { stream: batch.stream, seq: batch.seq }, now, latestSamples(attribution.series), alerts, bounds);
  const { accepted, refusedSeries, refusedAlerts } = acceptance;
  // Series over the node's bound are neither kept nor forwarded: Prometheus' cardinality stays bounded too.
  const series = refusedSeries.size === 0 ? attribution.series : attribution.series.filter((s) => !refusedSeries.has(seriesKey(s)));
  const rejected = [...attribution.rejected];
  if (refusedSeries.size > 0) {
    quotas.refused(node, 'series', refusedSeries.size, `node ${node.name} sent more than ${bounds.series} distinct series; new ones are dropped`);
    for (const s of attribution.series) {
      if (refusedSeries.has(seriesKey(s))) rejected.push({ series: describeSeries(s), reason: `over the node's bound of ${bounds.series} distinct series` });
    }
  }
  if (refusedAlerts > 0)
    quotas.refused(node, 'alerts', refusedAlerts, `node ${node.name} reported more than ${bounds.alerts} distinct alerts; new ones are dropped`);
  if (accepted) ctx.forwarding?.metrics(series);
  // A folded heartbeat is attached by the agent at send time, so it is current even when
  // the metrics it rides with are a replay.
  if (meta.status !== undefined) {
    await recordStatus(ctx, node, parseWith(StatusRequestSchema, meta.status, 'meta.status'));
    // The live batch of a metered node carries the gates' numbers in its series (the
    // folded heartbeat leaves them out). Replays are old news: only the live one counts,
    // re-anchored like heartbeat stats so the newest interval ends now.
    const stats = accepted ? statsFromSeries(series, batch.resolutionMs) : [];
    if (stats.length > 0) await insertStatsEndingNow(ctx, node.id, stats, now, historySiteOf(node));
  }
  return uploadAnswer(ctx, watch, node, accepted, rejected);
}

/** `POST /v1/agent/logs`: decodes a log batch, stores it once (same replay rule) and forwards what was new. */
export async function ingestLogs(ctx: ServerContext, watch: DesiredWatch, node: NodeRecord, body: unknown, log: IngestLog): Promise<TelemetryUploadResponse> {
  let batch: LogBatch;
  try {
    batch = decodeLogBatch(rawBody(body, LOG_CONTENT_TYPE), { maxDecodedBytes: MAX_DECODED_UPLOAD_BYTES });
  } catch (err) {
    decodeProblem(err, 'log batch');
  }
  const site = effectiveLabels(node)['geolocation.site'] ?? null;
  // Agents scrub before sending; scrub again (best effort) for older or misbehaving agents,
  // before anything is stored or forwarded to Loki.
  const entries = batch.entries.map((e) => ({ ...e, line: scrubSecrets(e.line) }));
  const lines = entries.map((e) => ({
    tsNs: e.tsNs,
    at: Math.floor(Number(BigInt(e.tsNs) / 1_000_000n)),
    source: e.source,
    revision: e.revision ?? null,
    stream: e.stream,
    level: e.level,
    line: e.line,
  }));
  const budget = quotasOf(ctx).limits.logBytesPerDay;
  const outcome = await ctx.store.acceptLogs(node.id, { stream: batch.stream, seq: batch.seq }, ctx.clock(), lines, budget);
  if (outcome.kind === 'over-budget') {
    const detail = `node ${node.name} is over its log budget of ${budget} bytes a day (${outcome.usedBytes} used, this batch ${outcome.batchBytes})`;
    quotasOf(ctx).refused(node, 'log-bytes', outcome.batchBytes, detail);
    // No Retry-After: the agent retries on its own schedule, so its metrics keep flowing meanwhile.
    throw errors.quotaExceeded(
      `${detail}: the batch is refused until the next UTC day`,
      'find what logs so much on this node (edgefleet nodes logs NODE); the server operator can raise --node-log-budget',
    );
  }
  const accepted = outcome.kind === 'stored';
  if (accepted) {
    for (const s of batch.suppressed ?? []) log.debug({ node: node.name, ...s }, 'log lines suppressed by the node');
    ctx.forwarding?.logs(
      entries.map((e) => ({
        labels: { job: 'edgefleet', node: node.name, ...(site === null ? {} : { site }), source: e.source, stream: e.stream, level: e.level },
        tsNs: e.tsNs,
        line: e.revision === undefined ? e.line : `${e.line} revision=${e.revision}`,
      })),
    );
  }
  return uploadAnswer(ctx, watch, node, accepted, []);
}
