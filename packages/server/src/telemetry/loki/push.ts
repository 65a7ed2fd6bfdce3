import { gzipSync } from 'node:zlib';
import { EDGEFLEET_VERSION } from '@edgefleet/protocol';
import type { DurableQueue, QueueStats } from '@edgefleet/queues';
import type { Logger } from 'pino';
import { type Clock, systemClock } from '../../clock.js';
import { type Backoff, DeliveryLoop, type FetchLike, frameRecord, type TargetTls } from '../remote-write/delivery.js';
import { promLabelName, seriesKey } from '../remote-write/samples.js';

/**
 * Forwards log lines to Grafana Loki's push API (`POST /loki/api/v1/push`, JSON
 * `{"streams":[{"stream":{…},"values":[["<unix ns>","line"]]}]}`, gzip-compressed), through
 * a durable queue and the same send loop as remote_write: retry 5xx / 429 / network
 * errors with backoff, drop and count any other 4xx.
 *
 * Loki refuses an entry (and answers 400 for the whole push, so a client cannot tell what
 * got in) when it is
 * - older than `reject_old_samples_max_age` (168 h by default): dropped here as `too-old`
 *   when older than `maxAgeMs` (default 167 h — an hour short, so an entry that waits in
 *   the queue through a short outage still gets in);
 * - more than `creation_grace_period` (10 min) in the future: dropped as `too-new`;
 * - more than an hour (half of `max_chunk_age`) behind the newest entry of its stream
 *   (grafana/loki #9869): the forwarder keeps each stream's newest timestamp and drops
 *   such entries as `out-of-order`.
 * Within one push, each stream's values go out sorted by time, which Loki takes whatever
 * the spread (each entry is compared with the newest *before* it). So one stale line never
 * makes Loki refuse a batch of good ones.
 *
 * Stream label names are made valid for Loki as for Prometheus (`[a-zA-Z_][a-zA-Z0-9_]*`,
 * anything else becomes `_`); empty values are left out.
 */

/** A log line with the labels Loki indexes it by; `tsNs` is Unix time in ns, in decimal. */
export interface LokiEntry {
  labels: Readonly<Record<string, string>>;
  tsNs: string;
  line: string;
}

/** Why log lines were dropped. */
type LogDropReason = 'too-old' | 'too-new' | 'out-of-order' | 'invalid-timestamp' | 'rejected' | 'queue-error';

/** Options of {@link LokiForwarder}. */
export interface LokiForwarderOptions {
  /** Loki's base URL (`http://loki:3100`, the push path is added) or the full push URL. */
  url: string;
  /** Where pushes wait for Loki. The caller closes it. */
  queue: DurableQueue;
  log: Logger;
  /** Sent as `X-Scope-OrgID` (multi-tenant Loki). */
  tenant?: string;
  fetch?: FetchLike;
  /** Entries per push (default 5000). */
  maxEntriesPerRequest?: number;
  /**
   * Bytes of log lines per push (default 1 MiB, promtail's batch size). Loki refuses with 429
   * a push bigger than its per-tenant burst (6 MB): a bigger request would be retried forever.
   */
  maxBytesPerRequest?: number;
  backoff?: Backoff;
  headers?: Record<string, string>;
  tls?: TargetTls;
  clock?: Clock;
  /** Entries older than this are not sent (default 167 h; Loki's limit is 168 h). */
  maxAgeMs?: number;
  /** How far behind its stream's newest an entry may be (default 1 h, Loki's window). */
  outOfOrderWindowMs?: number;
  /** How far in the future an entry may be (default 10 min, Loki's creation grace period). */
  futureGraceMs?: number;
  timeoutMs?: number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** What {@link LokiForwarder.stats} reports. */
export interface LokiStats {
  sentRequests: number;
  sentEntries: number;
  /** Pushes Loki refused with a 4xx other than 429 (dropped, not retried). */
  droppedRequests: number;
  /** Entries dropped for any reason (sum of `droppedEntriesByReason`). */
  droppedEntries: number;
  droppedEntriesByReason: Record<LogDropReason, number>;
  retries: number;
  lastError: string | undefined;
  queue: QueueStats;
}

const NS_PER_MS = 1_000_000n;

/** See the module comment. */
export class LokiForwarder {
  private readonly delivery: DeliveryLoop;
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private readonly maxAgeNs: bigint;
  private readonly windowNs: bigint;
  private readonly graceNs: bigint;
  private readonly clock: Clock;
  /** Newest timestamp queued per stream (by stream key): the out-of-order guard. */
  private readonly newest = new Map<string, bigint>();
  private lastSweep: number;
  private readonly dropped: Record<Exclude<LogDropReason, 'rejected'>, number> = {
    'too-old': 0,
    'too-new': 0,
    'out-of-order': 0,
    'invalid-timestamp': 0,
    'queue-error': 0,
  };

  constructor(private readonly opts: LokiForwarderOptions) {
    this.maxEntries = opts.maxEntriesPerRequest ?? 5000;
    this.maxBytes = opts.maxBytesPerRequest ?? 1024 * 1024;
    this.maxAgeNs = BigInt(opts.maxAgeMs ?? 167 * 3_600_000) * NS_PER_MS;
    this.windowNs = BigInt(opts.outOfOrderWindowMs ?? 3_600_000) * NS_PER_MS;
    this.graceNs = BigInt(opts.futureGraceMs ?? 600_000) * NS_PER_MS;
    this.clock = opts.clock ?? systemClock;
    this.lastSweep = this.clock();
    this.delivery = new DeliveryLoop({
      target: 'loki',
      url: lokiPushUrl(opts.url),
      queue: opts.queue,
      log: opts.log,
      headers: {
        'Content-Type': 'application/json',
        'Content-Encoding': 'gzip',
        'User-Agent': `edgefleet-server/${EDGEFLEET_VERSION}`,
        ...(opts.tenant === undefined ? {} : { 'X-Scope-OrgID': opts.tenant }),
        ...opts.headers,
      },
      ...(opts.fetch === undefined ? {} : { fetch: opts.fetch }),
      ...(opts.tls === undefined ? {} : { tls: opts.tls }),
      ...(opts.backoff === undefined ? {} : { backoff: opts.backoff }),
      ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }),
      ...(opts.sleep === undefined ? {} : { sleep: opts.sleep }),
      clock: this.clock,
    });
  }

  /**
   * Queues `entries` for Loki and returns at once. Entries are grouped into streams by
   * label set and sorted by time; those Loki would refuse are counted and left out.
   */
  enqueue(entries: readonly LokiEntry[]): void {
    const nowNs = BigInt(Math.floor(this.clock())) * NS_PER_MS;
    this.sweep(nowNs);
    const oldest = nowNs - this.maxAgeNs;
    const latest = nowNs + this.graceNs;
    const streams = new Map<string, { labels: Record<string, string>; values: { ts: bigint; tsNs: string; line: string }[] }>();
    for (const e of entries) {
      if (!/^\d{1,20}$/.test(e.tsNs)) {
        this.dropped['invalid-timestamp']++;
        continue;
      }
      const ts = BigInt(e.tsNs);
      if (ts < oldest) this.dropped['too-old']++;
      else if (ts > latest) this.dropped['too-new']++;
      else {
        const labels = lokiLabels(e.labels);
        const key = seriesKey(labels);
        const stream = streams.get(key) ?? { labels, values: [] };
        stream.values.push({ ts, tsNs: ts.toString(), line: e.line });
        streams.set(key, stream);
      }
    }
    const ready: { labels: Record<string, string>; values: [string, string][] }[] = [];
    for (const [key, stream] of streams) {
      let newest = this.newest.get(key);
      const values: [string, string][] = [];
      // Stable sort: lines with the same timestamp keep the order they were written in.
      for (const v of stream.values.sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0))) {
        if (newest !== undefined && v.ts < newest - this.windowNs) {
          this.dropped['out-of-order']++;
          continue;
        }
        values.push([v.tsNs, v.line]);
        if (newest === undefined || v.ts > newest) newest = v.ts;
      }
      if (newest !== undefined) this.newest.set(key, newest);
      if (values.length > 0) ready.push({ labels: stream.labels, values });
    }
    for (const push of this.split(ready)) {
      const count = push.reduce((n, s) => n + s.values.length, 0);
      try {
        const body = gzipSync(JSON.stringify({ streams: push.map((s) => ({ stream: s.labels, values: s.values })) }));
        this.opts.queue.append(frameRecord(count, body));
      } catch (err) {
        this.dropped['queue-error'] += count;
        this.delivery.noteError(`could not queue ${count} log lines for Loki: ${(err as Error).message}`);
        this.opts.log.error({ err, entries: count }, 'could not queue log lines for Loki; dropped them');
      }
    }
    this.delivery.notify();
  }

  start(): void {
    this.delivery.start();
  }

  /** Stops the send loop; what is queued stays queued. */
  stop(): Promise<void> {
    return this.delivery.stop();
  }

  /** Settles when everything queued has been delivered or dropped (while started). */
  drained(): Promise<void> {
    return this.delivery.drained();
  }

  stats(): LokiStats {
    const d = this.delivery.stats();
    const byReason = { ...this.dropped, rejected: d.droppedItems };
    return {
      sentRequests: d.sentRequests,
      sentEntries: d.sentItems,
      droppedRequests: d.droppedRequests,
      droppedEntries: Object.values(byReason).reduce((a, b) => a + b, 0),
      droppedEntriesByReason: byReason,
      retries: d.retries,
      lastError: d.lastError,
      queue: this.opts.queue.stats(),
    };
  }

  /** Pushes within both bounds; a stream that does not fit continues in the next push, still in order. */
  private *split(streams: readonly { labels: Record<string, string>; values: [string, string][] }[]): Generator<typeof streams> {
    let push: { labels: Record<string, string>; values: [string, string][] }[] = [];
    let entries = 0;
    let bytes = 0;
    let current: [string, string][] | undefined;
    for (const s of streams) {
      current = undefined;
      for (const value of s.values) {
        const size = Buffer.byteLength(value[1]) + value[0].length;
        if (entries > 0 && (entries + 1 > this.maxEntries || bytes + size > this.maxBytes)) {
          yield push;
          push = [];
          entries = 0;
          bytes = 0;
          current = undefined;
        }
        if (current === undefined) {
          current = [];
          push.push({ labels: s.labels, values: current });
        }
        current.push(value);
        entries++;
        bytes += size;
      }
    }
    if (entries > 0) yield push;
  }

  /** Forgets streams whose newest entry is too old to matter: anything behind it is too old too. */
  private sweep(nowNs: bigint): void {
    const nowMs = Number(nowNs / NS_PER_MS);
    if (nowMs - this.lastSweep < 600_000) return;
    this.lastSweep = nowMs;
    for (const [key, ts] of this.newest) if (ts < nowNs - this.maxAgeNs) this.newest.delete(key);
  }
}

/** The push endpoint: a URL without a path gets Loki's `/loki/api/v1/push`. */
export function lokiPushUrl(url: string): string {
  const u = new URL(url);
  if (u.pathname === '/' || u.pathname === '') u.pathname = '/loki/api/v1/push';
  return u.toString();
}

function lokiLabels(labels: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(labels)) if (value !== '') out[promLabelName(name)] = value;
  return out;
}
