import { type AlertReport, EdgefleetError, type StatusRequest, type TelemetrySeries, type TelemetryUploadResponse } from '@edgefleet/protocol';
import {
  decodeTelemetryBatch,
  type EdgefleetClient,
  encodeLogBatch,
  encodeTelemetryBatch,
  type UploadAnswerPart,
  uploadAnswerDigest,
} from '@edgefleet/protocol/node';
import type { DurableQueue } from '@edgefleet/queues';
import type { Logger } from 'pino';
import type { LogBatchDraft } from './logs/collector.js';

/**
 * The node's side of the telemetry uplink: batches go into durable queues first and are
 * sent oldest-first from there, so a week without a link loses nothing the queues can
 * hold. Each record's queue id is its batch number (`seq`), so a batch re-sent after a lost
 * answer is recognised by the server and not counted twice.
 *
 * Replays after an outage are paced (`replayPerSecond`), and the first one waits a random
 * part of an interval, so a whole site coming back does not flood the server.
 */
interface UplinkOptions {
  metricsQueue: DurableQueue;
  /** The log collector's side of its queue: read a batch, ack it once delivered. */
  logs: { readBatch(maxEntries: number, maxBytes?: number): LogBatchDraft | undefined; ack(lastId: number): void };
  /** Ids of the two queues: they change only when a queue is created afresh. */
  streams: { metrics: string; logs: string };
  client: () => EdgefleetClient | undefined;
  clock: () => number;
  random: () => number;
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  log: Logger;
  /** Batches per second while catching up (default 5). */
  replayPerSecond?: number;
  /**
   * What the node holds of the last answers (settings, heartbeat interval, desired version):
   * its digest goes with each upload as `known`, and the server answers 204 while it is
   * current. Derived from the node's state at each send rather than stored, so it cannot go
   * stale: it changes exactly when what the node holds changes. Absent: no `known`.
   */
  held?: () => UploadAnswerPart | undefined;
  /** Every full answer (not the 204s, which say nothing new): telemetry settings, desired version. */
  onResponse?: (res: TelemetryUploadResponse) => void;
  /** Payload bytes of each successful upload, for the agent's own metrics. */
  onTransfer?: (sentBytes: number, receivedBytes: number) => void;
  /** A batch the server refused as malformed (it is dropped, never retried forever). */
  onRejected?: (kind: 'metrics' | 'logs', records: number, reason: string) => void;
}

/** Why a send stopped: delivered everything, or must wait (link down, server busy). */
export type DrainResult = { delivered: number; done: true } | { delivered: number; done: false; retryAfterMs?: number; error: string };

export class Uplink {
  constructor(private readonly opts: UplinkOptions) {}

  /** Queues one metrics batch (the interval points closed since the last one, and the alerts). */
  enqueueMetrics(series: TelemetrySeries[], resolutionMs: number, alerts: AlertReport[]): void {
    if (series.length === 0 && alerts.length === 0) return;
    const batch = { stream: this.opts.streams.metrics, seq: 0, resolutionMs, series, ...(alerts.length > 0 ? { meta: { alerts } } : {}) };
    this.opts.metricsQueue.append(encodeTelemetryBatch(batch));
  }

  /**
   * Sends queued metrics, oldest first, then queued logs. `status` (metered profile) rides
   * with the newest metrics batch — or alone when nothing is queued — so it is current even
   * when older batches are replayed first.
   */
  async drain(signal: AbortSignal, status?: StatusRequest, statusResolutionMs = 1, onStatusDelivered?: () => void): Promise<DrainResult> {
    const metrics = await this.drainMetrics(signal, status, statusResolutionMs, onStatusDelivered);
    if (!metrics.done) return metrics;
    const logs = await this.drainLogs(signal);
    return { ...logs, delivered: metrics.delivered + logs.delivered };
  }

  private async drainMetrics(
    signal: AbortSignal,
    status: StatusRequest | undefined,
    statusResolutionMs: number,
    onStatusDelivered: (() => void) | undefined,
  ): Promise<DrainResult> {
    const queue = this.opts.metricsQueue;
    let delivered = 0;
    let statusSent = status === undefined;
    while (!signal.aborted) {
      const [record] = queue.peek(1);
      let body: Uint8Array;
      let carriesStatus = false;
      if (record === undefined) {
        if (statusSent) return { delivered, done: true };
        carriesStatus = true;
        // Nothing queued, but the heartbeat must still go out.
        body = encodeTelemetryBatch({ stream: this.opts.streams.metrics, seq: 0, resolutionMs: statusResolutionMs, series: [], meta: { status } });
      } else {
        const newest = queue.stats().records === 1;
        carriesStatus = newest && !statusSent;
        body = this.metricsBody(record.data, record.id, carriesStatus ? status : undefined);
      }
      const failure = await this.send('metrics', body, signal);
      if (failure !== undefined) return { ...failure, delivered };
      if (carriesStatus) {
        statusSent = true;
        onStatusDelivered?.();
      }
      if (record === undefined) continue;
      queue.ack(record.id);
      delivered++;
      if (queue.stats().records > 0) await this.pace(signal);
    }
    return { delivered, done: false, error: 'stopped' };
  }

  private async drainLogs(signal: AbortSignal): Promise<DrainResult> {
    let delivered = 0;
    while (!signal.aborted) {
      const draft = this.opts.logs.readBatch(1000, 256 * 1024);
      if (draft === undefined) return { delivered, done: true };
      const { lastId, ...rest } = draft;
      // The batch number is the id of its last record: a re-send after a lost answer repeats it.
      const body = encodeLogBatch({ v: 1, stream: this.opts.streams.logs, seq: lastId, ...rest });
      const failure = await this.send('logs', body, signal);
      if (failure !== undefined) return { ...failure, delivered };
      this.opts.logs.ack(lastId);
      delivered++;
      if (this.opts.logs.readBatch(1) !== undefined) await this.pace(signal);
    }
    return { delivered, done: false, error: 'stopped' };
  }

  /** Uploads one body; undefined when delivered or dropped for good, else why to wait. */
  private async send(kind: 'metrics' | 'logs', body: Uint8Array, signal: AbortSignal): Promise<Extract<DrainResult, { done: false }> | undefined> {
    const client = this.opts.client();
    if (client === undefined) return { delivered: 0, done: false, error: 'not connected' };
    try {
      const held = this.opts.held?.();
      const opts = { signal, ...(held === undefined ? {} : { known: uploadAnswerDigest(held) }) };
      const res = kind === 'metrics' ? await client.uploadTelemetry(body, opts) : await client.uploadLogs(body, opts);
      this.opts.onTransfer?.(body.byteLength, 0);
      if (res !== undefined) this.opts.onResponse?.(res);
      return undefined;
    } catch (err) {
      if (err instanceof EdgefleetError && isPermanentRefusal(err)) {
        // A batch the server will never take (malformed, too large): drop it, say so, go on.
        this.opts.log.error({ kind, status: err.status }, `telemetry batch dropped, the server refused it: ${err.message}`);
        this.opts.onRejected?.(kind, 1, err.code);
        return undefined;
      }
      // An overloaded server says how long to wait; spread the wait so a site does not return in step.
      const asked = err instanceof EdgefleetError ? err.retryAfterMs : undefined;
      const retryAfterMs = asked !== undefined ? asked * (1 + this.opts.random()) : undefined;
      return { delivered: 0, done: false, error: (err as Error).message, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
    }
  }

  /** Catching up: pace the replay so a site's worth of nodes does not arrive at once. */
  private async pace(signal: AbortSignal): Promise<void> {
    const pace = 1000 / (this.opts.replayPerSecond ?? 5);
    await this.opts.sleep(pace * (0.5 + this.opts.random()), signal);
  }

  /** The queued batch with its batch number and, for the newest one, the folded heartbeat. */
  private metricsBody(data: Uint8Array, id: number, status: StatusRequest | undefined): Uint8Array {
    const batch = decodeTelemetryBatch(data);
    batch.seq = id;
    batch.stream = this.opts.streams.metrics;
    if (status !== undefined) batch.meta = { ...(batch.meta ?? {}), status };
    return encodeTelemetryBatch(batch);
  }
}

/** 4xx answers that a retry cannot fix. 401/403 for certificate trouble and 429 are not among them. */
function isPermanentRefusal(err: EdgefleetError): boolean {
  return err.status === 400 || err.status === 413 || err.status === 415 || err.status === 422 || (err.status === 403 && err.code === 'forbidden');
}
