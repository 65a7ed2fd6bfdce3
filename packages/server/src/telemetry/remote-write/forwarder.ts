import { EDGEFLEET_VERSION } from '@edgefleet/protocol';
import type { DurableQueue, QueueStats } from '@edgefleet/queues';
import type { Logger } from 'pino';
import { type Clock, systemClock } from '../../clock.js';
import { type Backoff, DeliveryLoop, type FetchLike, frameRecord, type TargetTls } from './delivery.js';
import { encodeWriteRequest, REMOTE_WRITE_HEADERS } from './encode.js';
import { type PromSample, type PromSeries, seriesKey } from './samples.js';

/**
 * Forwards Prometheus series to one remote_write 1.0 target (Prometheus with
 * `--web.enable-remote-write-receiver`, Thanos Receive, Mimir, …). `enqueue` encodes the
 * series into requests of at most `maxSamplesPerRequest` samples and appends them to a
 * durable queue, so an outage of the target loses nothing up to the queue's bound; the
 * send loop ({@link DeliveryLoop}) retries 5xx / 429 / network errors with backoff and
 * drops (and counts) requests refused with any other 4xx.
 *
 * Before queueing, samples the target would refuse are left out and counted, because
 * Prometheus refuses a whole request for one bad sample (HTTP 400, all of it rolled back):
 * - `out-of-order`: not newer than the newest sample already queued for the same series
 *   (the spec requires each series in time order; a repeat of a timestamp is refused
 *   unless the value is identical too);
 * - `too-old`: older than `maxSampleAgeMs` (default 1 h) by the forwarder's clock.
 *   Prometheus' head block takes nothing more than an hour behind its newest sample
 *   (half the 2 h block range) — and with other nodes reporting live, its newest is now.
 *   A target with an out-of-order window (Mimir, Prometheus `out_of_order_time_window`)
 *   can take older samples: raise the option to match.
 * Counters are sent as running totals, so dropping one of their samples loses no increase:
 * the next sample carries it.
 */

/** Why samples were dropped: left out before queueing, refused by the target, or not queued. */
type SampleDropReason = 'out-of-order' | 'too-old' | 'rejected' | 'queue-error';

/** Options of {@link RemoteWriteForwarder}. */
export interface RemoteWriteForwarderOptions {
  /** The target's remote_write endpoint, e.g. `http://prometheus:9090/api/v1/write`. */
  url: string;
  /** Where requests wait for the target (a SegmentQueue on the server's data dir). The caller closes it. */
  queue: DurableQueue;
  log: Logger;
  fetch?: FetchLike;
  /** Samples per request (default 2000, the size Prometheus' own senders use). */
  maxSamplesPerRequest?: number;
  /** Default 500 ms doubling up to 30 s. */
  backoff?: Backoff;
  /** Extra headers, e.g. `Authorization` or a tenant header. */
  headers?: Record<string, string>;
  tls?: TargetTls;
  clock?: Clock;
  /** Samples older than this are not sent (default 1 h; see the module comment). */
  maxSampleAgeMs?: number;
  /** A POST not answered in this long is retried (default 30 s). */
  timeoutMs?: number;
  /** Waits between attempts (tests). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** What {@link RemoteWriteForwarder.stats} reports. */
export interface RemoteWriteStats {
  sentRequests: number;
  sentSamples: number;
  /** Requests the target refused with a 4xx other than 429 (dropped, not retried). */
  droppedRequests: number;
  /** Samples dropped for any reason (sum of `droppedSamplesByReason`). */
  droppedSamples: number;
  droppedSamplesByReason: Record<SampleDropReason, number>;
  retries: number;
  lastError: string | undefined;
  /** The queue's own figures; its `droppedRecords` are requests lost to a full queue. */
  queue: QueueStats;
}

/** See the module comment. */
export class RemoteWriteForwarder {
  private readonly delivery: DeliveryLoop;
  private readonly maxSamplesPerRequest: number;
  private readonly maxSampleAgeMs: number;
  private readonly clock: Clock;
  /** Newest sample time queued per series: the out-of-order guard. */
  private readonly newest = new Map<string, number>();
  private lastSweep: number;
  private readonly dropped: Record<Exclude<SampleDropReason, 'rejected'>, number> = { 'out-of-order': 0, 'too-old': 0, 'queue-error': 0 };

  constructor(private readonly opts: RemoteWriteForwarderOptions) {
    this.maxSamplesPerRequest = opts.maxSamplesPerRequest ?? 2000;
    if (!(this.maxSamplesPerRequest >= 1)) throw new RangeError(`maxSamplesPerRequest must be at least 1, got ${opts.maxSamplesPerRequest}`);
    this.maxSampleAgeMs = opts.maxSampleAgeMs ?? 3_600_000;
    this.clock = opts.clock ?? systemClock;
    this.lastSweep = this.clock();
    this.delivery = new DeliveryLoop({
      target: 'remote_write',
      url: opts.url,
      queue: opts.queue,
      log: opts.log,
      headers: { ...REMOTE_WRITE_HEADERS, 'User-Agent': `edgefleet-server/${EDGEFLEET_VERSION}`, ...opts.headers },
      ...(opts.fetch === undefined ? {} : { fetch: opts.fetch }),
      ...(opts.tls === undefined ? {} : { tls: opts.tls }),
      ...(opts.backoff === undefined ? {} : { backoff: opts.backoff }),
      ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }),
      ...(opts.sleep === undefined ? {} : { sleep: opts.sleep }),
      clock: this.clock,
    });
  }

  /**
   * Queues `series` for the target and returns at once (never waits for the network).
   * Series with the same labels are merged; samples the target would refuse are counted
   * and left out (see the module comment).
   */
  enqueue(series: readonly PromSeries[]): void {
    const now = this.clock();
    this.sweep(now);
    const oldest = now - this.maxSampleAgeMs;
    const merged = new Map<string, PromSeries>();
    for (const s of series) {
      const key = seriesKey(s.labels);
      const into = merged.get(key);
      if (into === undefined) merged.set(key, { labels: s.labels, samples: [...s.samples] });
      else into.samples.push(...s.samples);
    }
    const ready: PromSeries[] = [];
    for (const [key, s] of merged) {
      let newest = this.newest.get(key) ?? Number.NEGATIVE_INFINITY;
      const kept: PromSample[] = [];
      for (const sample of s.samples.sort((a, b) => a.t - b.t)) {
        if (sample.t < oldest) this.dropped['too-old']++;
        else if (sample.t <= newest) this.dropped['out-of-order']++;
        else {
          kept.push(sample);
          newest = sample.t;
        }
      }
      if (kept.length === 0) continue;
      this.newest.set(key, newest);
      ready.push({ labels: s.labels, samples: kept });
    }
    for (const request of this.split(ready)) {
      const samples = request.reduce((n, s) => n + s.samples.length, 0);
      try {
        this.opts.queue.append(frameRecord(samples, encodeWriteRequest(request)));
      } catch (err) {
        // Ingest must go on when the queue's disk fails; the loss is counted and logged.
        this.dropped['queue-error'] += samples;
        this.delivery.noteError(`could not queue ${samples} samples for remote_write: ${(err as Error).message}`);
        this.opts.log.error({ err, samples }, 'could not queue samples for remote_write; dropped them');
      }
    }
    this.delivery.notify();
  }

  /** Starts the send loop. */
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

  stats(): RemoteWriteStats {
    const d = this.delivery.stats();
    const byReason = { ...this.dropped, rejected: d.droppedItems };
    return {
      sentRequests: d.sentRequests,
      sentSamples: d.sentItems,
      droppedRequests: d.droppedRequests,
      droppedSamples: byReason['out-of-order'] + byReason['too-old'] + byReason['queue-error'] + byReason.rejected,
      droppedSamplesByReason: byReason,
      retries: d.retries,
      lastError: d.lastError,
      queue: this.opts.queue.stats(),
    };
  }

  /** Requests of at most `maxSamplesPerRequest` samples; a long series continues in the next request. */
  private *split(series: readonly PromSeries[]): Generator<PromSeries[]> {
    let request: PromSeries[] = [];
    let room = this.maxSamplesPerRequest;
    for (const s of series) {
      let from = 0;
      while (from < s.samples.length) {
        const take = Math.min(room, s.samples.length - from);
        request.push({ labels: s.labels, samples: s.samples.slice(from, from + take) });
        from += take;
        room -= take;
        if (room === 0) {
          yield request;
          request = [];
          room = this.maxSamplesPerRequest;
        }
      }
    }
    if (request.length > 0) yield request;
  }

  /** Forgets the newest time of series that have nothing left to guard: anything older is too old anyway. */
  private sweep(now: number): void {
    if (now - this.lastSweep < 600_000) return;
    this.lastSweep = now;
    for (const [key, t] of this.newest) if (t < now - this.maxSampleAgeMs) this.newest.delete(key);
  }
}
