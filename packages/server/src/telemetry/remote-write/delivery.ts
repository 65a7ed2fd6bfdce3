import { backoffDelay, sleep } from '@edgefleet/protocol';
import type { DurableQueue } from '@edgefleet/queues';
import type { Logger } from 'pino';
import { Agent, fetch as undiciFetch } from 'undici';
import { type Clock, systemClock } from '../../clock.js';

/**
 * The send loop both forwarders share (remote_write and Loki): it takes the oldest record
 * of a durable queue, POSTs it, and decides by the answer, the rules both protocols agree on:
 * - 2xx: delivered, the record is acked;
 * - network error, timeout, 5xx or 429: transient, the same record is retried after a capped
 *   exponential backoff with jitter (or after `Retry-After` when the target sends one), for
 *   as long as it takes — the queue's bound, not a retry count, limits what waits;
 * - any other 4xx: the target will never take this body, so it is dropped (acked), counted
 *   and its response body logged once; retrying it would block everything behind it.
 * Records are framed as `[item count: u32 BE][body]`, so a dropped or delivered record
 * counts its samples or log lines without decoding the body. Ingest only ever appends to
 * the queue and wakes the loop: a slow or dead target never slows a node's upload.
 */

/** The part of WHATWG `fetch` the loop uses; `globalThis.fetch` fits. */
export type FetchLike = (
  url: string,
  init: { method: 'POST'; headers: Record<string, string>; body: Uint8Array<ArrayBuffer>; signal: AbortSignal },
) => Promise<{ status: number; headers: { get(name: string): string | null }; text(): Promise<string> }>;

/** TLS settings for an `https:` target. */
export interface TargetTls {
  /** PEM CA bundle to trust instead of the system's. */
  ca?: string | Buffer;
  /** `false` accepts any certificate (a lab target with a self-signed one). Default true. */
  rejectUnauthorized?: boolean;
}

/** Capped exponential backoff: a full-jitter draw up to `initialMs · 2^attempt`, at most `maxMs` (protocol's `backoffDelay`). */
export interface Backoff {
  initialMs: number;
  maxMs: number;
}

/** Options of {@link DeliveryLoop}. */
interface DeliveryLoopOptions {
  /** What is delivered, for log lines: `remote_write`, `loki`. */
  target: string;
  url: string;
  queue: DurableQueue;
  log: Logger;
  /** Every header of every POST. */
  headers: Record<string, string>;
  fetch?: FetchLike;
  tls?: TargetTls;
  /** Default 500 ms doubling up to 30 s. */
  backoff?: Backoff;
  /** A POST that has not answered after this long is abandoned and retried (default 30 s). */
  timeoutMs?: number;
  /** The longest `Retry-After` honoured (default 10 min), so a bogus header cannot stall forwarding for days. */
  maxRetryAfterMs?: number;
  clock?: Clock;
  /** Waits between attempts; tests substitute one that records the delays. Must settle early when `signal` aborts. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Uniform in [0, 1), for jitter. */
  random?: () => number;
}

/** Counters of the loop, since it was constructed. */
interface DeliveryStats {
  sentRequests: number;
  sentItems: number;
  /** Records the target refused with a 4xx other than 429, and those that could not be read back. */
  droppedRequests: number;
  droppedItems: number;
  retries: number;
  /** The last failure, as a sentence; cleared by nothing (it says what went wrong last). */
  lastError: string | undefined;
}

type Outcome = { kind: 'sent' } | { kind: 'retry'; error: string; afterMs: number | undefined } | { kind: 'rejected'; status: number; body: string };

/** Frames a record: the number of items it carries, then the body as it will be POSTed. */
export function frameRecord(items: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, items);
  out.set(body, 4);
  return out;
}

/** The inverse of {@link frameRecord}; throws on a record too short to hold the header. */
function unframeRecord(record: Uint8Array): { items: number; body: Uint8Array<ArrayBuffer> } {
  if (record.length < 4) throw new Error(`a queued record of ${record.length} bytes is too short to hold its 4-byte header`);
  // A copy, so the body is a plain ArrayBuffer view as fetch wants it (queues may hand out shared buffers).
  return { items: new DataView(record.buffer, record.byteOffset, 4).getUint32(0), body: record.slice(4) };
}

/** The send loop of one forwarding target (see the module comment). */
export class DeliveryLoop {
  private readonly counters: DeliveryStats = { sentRequests: 0, sentItems: 0, droppedRequests: 0, droppedItems: 0, retries: 0, lastError: undefined };
  private readonly backoff: Backoff;
  private readonly timeoutMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly clock: Clock;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly random: () => number;
  private agent: Agent | undefined;
  private abort: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private drainWaiters: (() => void)[] = [];

  constructor(private readonly opts: DeliveryLoopOptions) {
    this.backoff = opts.backoff ?? { initialMs: 500, maxMs: 30_000 };
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.maxRetryAfterMs = opts.maxRetryAfterMs ?? 600_000;
    this.clock = opts.clock ?? systemClock;
    this.sleep = opts.sleep ?? sleep;
    this.random = opts.random ?? Math.random;
  }

  /** Starts sending what is queued (and what is appended later). Idempotent. */
  start(): void {
    if (this.loop !== undefined) return;
    const abort = new AbortController();
    this.abort = abort;
    if (this.opts.fetch === undefined) this.agent = new Agent({ connect: { ...this.opts.tls }, keepAliveTimeout: 30_000 });
    this.loop = this.run(abort.signal).catch((err: unknown) => {
      this.opts.log.error({ err, target: this.opts.target }, `${this.opts.target} forwarding stopped on an unexpected error`);
    });
  }

  /**
   * Stops the loop. A POST in flight is abandoned; its record stays queued and is sent again
   * after the next start (at least once: both Prometheus and Loki ignore an exact repeat).
   */
  async stop(): Promise<void> {
    this.abort?.abort();
    this.wake?.();
    await this.loop;
    this.loop = undefined;
    this.abort = undefined;
    const agent = this.agent;
    this.agent = undefined;
    await agent?.close();
  }

  /** Wakes the loop after an append (it sleeps while the queue is empty). */
  notify(): void {
    this.wake?.();
  }

  /** Settles once the queue is empty (delivered or dropped). Only meaningful while started. */
  drained(): Promise<void> {
    if (this.opts.queue.stats().records === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  stats(): DeliveryStats {
    return { ...this.counters };
  }

  /** Records a failure that did not come from a POST (a record that cannot be read back, say). */
  noteError(error: string): void {
    this.counters.lastError = error;
  }

  private async run(signal: AbortSignal): Promise<void> {
    const { queue, log, target } = this.opts;
    let attempt = 0;
    while (!signal.aborted) {
      const [record] = queue.peek(1);
      if (record === undefined) {
        this.settleDrained();
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        this.wake = undefined;
        continue;
      }
      let framed: { items: number; body: Uint8Array<ArrayBuffer> };
      try {
        framed = unframeRecord(record.data);
      } catch (err) {
        queue.ack(record.id);
        this.counters.droppedRequests++;
        this.counters.lastError = `dropped unreadable queued record ${record.id}: ${(err as Error).message}`;
        log.error({ target, record: record.id }, this.counters.lastError);
        continue;
      }
      const outcome = await this.post(framed.body, signal);
      if (signal.aborted) break;
      switch (outcome.kind) {
        case 'sent':
          queue.ack(record.id);
          this.counters.sentRequests++;
          this.counters.sentItems += framed.items;
          if (attempt > 0) log.info({ target, retries: attempt }, `${target} delivers again after ${attempt} failed attempt(s)`);
          attempt = 0;
          break;
        case 'rejected':
          queue.ack(record.id);
          this.counters.droppedRequests++;
          this.counters.droppedItems += framed.items;
          this.counters.lastError = `${target} refused a request with HTTP ${outcome.status}: ${outcome.body}`;
          // Logged once per dropped request, body included: it is the only place that says why.
          log.error(
            { target, status: outcome.status, items: framed.items, body: outcome.body },
            `${target} refused a request (HTTP ${outcome.status}); dropped it without retrying`,
          );
          attempt = 0;
          break;
        case 'retry': {
          this.counters.retries++;
          this.counters.lastError = outcome.error;
          const delay = outcome.afterMs ?? this.backoffDelay(attempt);
          // The first failure of a run is a warning; the rest of an outage would flood the log.
          if (attempt === 0) log.warn({ target, delayMs: delay }, `${outcome.error}; retrying, with backoff, until it answers`);
          else log.debug({ target, attempt, delayMs: delay }, outcome.error);
          attempt++;
          await this.sleep(delay, signal);
          break;
        }
      }
    }
  }

  private async post(body: Uint8Array<ArrayBuffer>, stop: AbortSignal): Promise<Outcome> {
    const { url, target, headers } = this.opts;
    const signal = AbortSignal.any([stop, AbortSignal.timeout(this.timeoutMs)]);
    try {
      const init = { method: 'POST' as const, headers, body, signal };
      const agent = this.agent;
      const res =
        this.opts.fetch !== undefined
          ? await this.opts.fetch(url, init)
          : await undiciFetch(url, { ...init, ...(agent === undefined ? {} : { dispatcher: agent }) });
      const text = (await res.text()).slice(0, 1024);
      if (res.status >= 200 && res.status < 300) return { kind: 'sent' };
      if (res.status === 429 || res.status >= 500) {
        return { kind: 'retry', error: `${target} answered HTTP ${res.status}: ${text}`, afterMs: this.retryAfter(res.headers.get('retry-after')) };
      }
      return { kind: 'rejected', status: res.status, body: text };
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      const why = e.name === 'TimeoutError' ? `no answer within ${this.timeoutMs} ms` : (e.cause?.message ?? e.cause?.code ?? e.message);
      return { kind: 'retry', error: `cannot reach ${target} at ${url}: ${why}`, afterMs: undefined };
    }
  }

  /** `Retry-After` as seconds or an HTTP date, capped; undefined when absent or unreadable. */
  private retryAfter(header: string | null): number | undefined {
    if (header === null) return undefined;
    const value = header.trim();
    const ms = /^\d+$/.test(value) ? Number(value) * 1000 : Date.parse(value) - this.clock();
    if (Number.isNaN(ms)) return undefined;
    return Math.min(Math.max(0, ms), this.maxRetryAfterMs);
  }

  /** The fleet's one backoff rule (full jitter, capped) with this target's numbers. */
  private backoffDelay(attempt: number): number {
    return backoffDelay(attempt, { baseMs: this.backoff.initialMs, capMs: this.backoff.maxMs, random: this.random });
  }

  private settleDrained(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
