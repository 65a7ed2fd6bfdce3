import { StringDecoder } from 'node:string_decoder';
import type { LogBatch, LogEntry } from '@edgefleet/protocol';
import type { DurableQueue, QueueStats } from '@edgefleet/queues';
import { type LogLevel, StreamLevels } from './level.js';
import { LogSampler, type SuppressedCount } from './sample.js';
import { createScrubber, opensPrivateKeyBlock, privateKeyBlockLine, type Scrubber } from './scrub.js';

/**
 * The node's log pipeline up to the disk: the agent's own pino lines and every workload's
 * stdout/stderr become `LogEntry`s — split into lines, levelled, sampled, scrubbed, truncated —
 * and go into a `DurableQueue`, one record per entry, where they wait for the uplink.
 *
 * Queue records are `LogQueueRecord`s, JSON in UTF-8 — the fields of a `LogBatch` without
 * `v`/`stream`/`seq`, so any record alone also makes a valid batch. The collector writes:
 * - `{"entries":[entry]}`, one record per kept line. One line per record makes the queue's
 *   own drop counter (`droppedRecords`, persisted across restarts) an exact count of lines;
 * - `{"entries":[],"suppressed":[{source,stream,count},…]}`, written by `flush()` when the
 *   sampler held lines back since the previous flush, so the counts are as durable as the lines.
 *
 * The uplink reads many records into one upload with `readBatch(maxRecords, maxBytes)`, sends
 * `encodeLogBatch({ v: 1, stream, seq: draft.lastId, entries, suppressed, dropped })`, and on
 * success calls `ack(draft.lastId)`. A crash between send and ack re-sends the lines (at least
 * once; Loki itself drops an entry identical in stream, timestamp and line).
 *
 * Line handling: chunks are decoded as UTF-8 per stream (a character split across chunks is
 * kept whole) and split on `\n`, `\r\n` and a lone `\r` (progress bars redraw with `\r`); the
 * partial last line waits for its newline (`endStream` flushes it when the process exits).
 * Empty lines are skipped. A line longer than `maxLineBytes` is cut, after scrubbing, with a
 * marker `…[truncated N bytes]`; a line still without a newline after 4 × maxLineBytes is
 * emitted cut and the rest of it, up to its newline, is discarded. A PEM private key printed
 * line by line is hidden: the BEGIN line reads `[private-key]`, the base64 lines after it up
 * to END are left out.
 *
 * Timestamps: `tsNs` is the ms clock × 10^6 plus a sequence within the ms, so lines keep
 * their order in one ms; it never goes backwards (a clock stepped back repeats the last ms
 * and counts on), because Loki refuses a stream's entries that go back in time.
 */

/** Options of `LogCollector`. */
export interface LogCollectorOptions {
  queue: DurableQueue;
  /** Default: `createScrubber()` (built-in rules only). */
  scrub?: Scrubber;
  /** Default: `new LogSampler()` (5 lines/s, burst 50, per stream). */
  sampler?: LogSampler;
  /** Unix ms. Default `Date.now`. */
  clock?: () => number;
  /** Longest line kept, in UTF-8 bytes (default 16 KiB); longer lines are cut with a marker. */
  maxLineBytes?: number;
  /** Pending entries that make the collector flush to the queue on its own (default 256). */
  batchLines?: number;
}

/** One queue record of the log queue (see the module comment). */
interface LogQueueRecord {
  entries: LogEntry[];
  suppressed?: SuppressedCount[];
}

/** What the uplink needs to build a `LogBatch`: everything but `v`, `stream` and `seq`, plus the id to ack. */
export interface LogBatchDraft {
  entries: LogEntry[];
  /** Lines the sampler suppressed, per source/stream, in the records this batch covers. */
  suppressed?: SuppressedCount[];
  /**
   * Lines lost before upload, by reason, as running totals since the queue was created
   * (counter semantics, persisted by the queue, so they survive restarts and never double
   * count): `queue-full` (oldest dropped), `corrupt` (damaged on disk). They are the queue's
   * record counts, which are lines because each line is its own record (a rare
   * suppressed-counts record counts as one). The server takes the increase between batches
   * of a stream, as for a Prometheus counter; absent while nothing was ever lost.
   */
  dropped?: Record<string, number>;
  /** Id of the last queue record the batch covers: `ack(lastId)` once the server has it. */
  lastId: number;
}

/** The collector's own counters, for the agent's metrics. */
interface LogCollectorStats {
  /** Entries waiting for `flush()`. */
  pendingLines: number;
  /** Lines cut at `maxLineBytes` since start. */
  truncatedLines: number;
  /** Lines lost because the queue refused the append (disk full, I/O error), since start. */
  writeFailedLines: number;
  /** Lines the sampler suppressed since start. */
  suppressedLines: number;
  /** Queue records that did not decode when read back (should stay 0). */
  undecodableRecords: number;
}

type WorkloadStream = 'stdout' | 'stderr';

interface StreamState {
  source: string;
  revision: number | undefined;
  stream: LogEntry['stream'];
  decoder: StringDecoder;
  partial: string;
  /** The current line passed the hard cap and was emitted cut; drop text until its newline. */
  discarding: boolean;
  /** Lines hidden so far inside a PEM private key printed line by line; 0 when not inside one. */
  privateKeyLines: number;
  levels: StreamLevels;
}

const DEFAULT_MAX_LINE_BYTES = 16 * 1024;
/** A PEM body is at most ~100 lines (RSA 8192); past this, the "block" was not one. */
const MAX_PRIVATE_KEY_LINES = 200;
const LINE_BREAK = /\r\n|\n|\r/g;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function isLogEntry(v: unknown): v is LogEntry {
  const e = v as Partial<LogEntry> | null;
  return typeof e === 'object' && e !== null && typeof e.tsNs === 'string' && typeof e.source === 'string' && typeof e.line === 'string';
}

function isSuppressedCount(v: unknown): v is SuppressedCount {
  const s = v as Partial<SuppressedCount> | null;
  return typeof s === 'object' && s !== null && typeof s.source === 'string' && typeof s.stream === 'string' && Number.isSafeInteger(s.count);
}

/** Reads one log queue record back; undefined when it is not one (a record is CRC-checked, so only a bug gets here). */
export function decodeLogQueueRecord(data: Uint8Array): LogQueueRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(data));
  } catch {
    return undefined;
  }
  // A bare array of entries is accepted too, as the brief for the queue first allowed.
  const record = (Array.isArray(value) ? { entries: value } : value) as Partial<LogQueueRecord> | null;
  if (typeof record !== 'object' || record === null || !Array.isArray(record.entries) || !record.entries.every(isLogEntry)) return undefined;
  if (record.suppressed !== undefined && !(Array.isArray(record.suppressed) && record.suppressed.every(isSuppressedCount))) return undefined;
  return record.suppressed === undefined ? { entries: record.entries } : { entries: record.entries, suppressed: record.suppressed };
}

/** Cuts `line` to at most `maxBytes` UTF-8 bytes including the marker, at a character boundary. */
function truncateLine(line: string, maxBytes: number): { line: string; cut: number } {
  const bytes = Buffer.from(line, 'utf8');
  if (bytes.length <= maxBytes) return { line, cut: 0 };
  // The marker's length depends on the number it prints; 20 digits covers any line.
  const room = Math.max(0, maxBytes - Buffer.byteLength(`…[truncated ${'9'.repeat(20)} bytes]`));
  let end = room;
  while (end > 0 && ((bytes[end] as number) & 0xc0) === 0x80) end--; // not inside a multi-byte character
  const cut = bytes.length - end;
  return { line: `${bytes.subarray(0, end).toString('utf8')}…[truncated ${cut} bytes]`, cut };
}

/** Collects, levels, samples, scrubs and queues the node's log lines. See the module comment. */
export class LogCollector {
  private readonly queue: DurableQueue;
  private readonly scrub: Scrubber;
  private readonly sampler: LogSampler;
  private readonly clock: () => number;
  private readonly maxLineBytes: number;
  private readonly batchLines: number;
  private readonly streams = new Map<string, StreamState>();
  private pending: LogEntry[] = [];
  private lastMs = Number.NEGATIVE_INFINITY;
  private seq = 0;
  private truncatedLines = 0;
  private writeFailedLines = 0;
  private undecodableRecords = 0;
  /** The last error the queue threw on append, for the agent to report; cleared by a good append. */
  lastWriteError: Error | undefined;

  constructor(opts: LogCollectorOptions) {
    this.queue = opts.queue;
    this.scrub = opts.scrub ?? createScrubber();
    this.sampler = opts.sampler ?? new LogSampler({ clock: opts.clock });
    this.clock = opts.clock ?? Date.now;
    this.maxLineBytes = Math.max(256, opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES);
    this.batchLines = Math.max(1, opts.batchLines ?? 256);
  }

  /** One of the agent's own log lines: a pino line (JSON text, possibly with its `\n`) or the object it logged. */
  agentLine(obj: Record<string, unknown> | string): void {
    let text: string;
    if (typeof obj === 'string') {
      text = obj;
    } else {
      try {
        text = JSON.stringify(obj);
      } catch (err) {
        text = JSON.stringify({ msg: `unserializable log object: ${(err as Error).message}` });
      }
    }
    const state = this.state('agent', undefined, 'agent');
    for (const line of text.split(LINE_BREAK)) this.take(state, line);
    this.autoFlush();
  }

  /** A chunk of a workload's stdout or stderr, as it came from the pipe. */
  workloadOutput(source: string, revision: number, stream: WorkloadStream, chunk: Buffer | string): void {
    const state = this.state(source, revision, stream);
    const text = typeof chunk === 'string' ? chunk : state.decoder.write(chunk);
    let start = 0;
    LINE_BREAK.lastIndex = 0;
    for (let m = LINE_BREAK.exec(text); m !== null; m = LINE_BREAK.exec(text)) {
      const piece = text.slice(start, m.index);
      start = m.index + m[0].length;
      if (state.discarding) {
        state.discarding = false;
        continue;
      }
      const line = state.partial + piece;
      state.partial = '';
      this.take(state, line);
    }
    if (!state.discarding) {
      state.partial += text.slice(start);
      if (state.partial.length > 4 * this.maxLineBytes) {
        this.take(state, state.partial);
        state.partial = '';
        state.discarding = true;
      }
    }
    this.autoFlush();
  }

  /** The workload's stream ended (process exited): its unterminated last line is taken as is, and the stream state freed. */
  endStream(source: string, revision: number, stream: WorkloadStream): void {
    const key = `${source}\u0000${revision}\u0000${stream}`;
    const state = this.streams.get(key);
    if (state === undefined) return;
    const rest = state.partial + state.decoder.end();
    if (!state.discarding) this.take(state, rest);
    this.streams.delete(key);
    this.autoFlush();
  }

  /** Writes the pending entries (and the sampler's suppressed counts) to the queue. Call it on a timer, e.g. every second. */
  flush(): void {
    const entries = this.pending;
    this.pending = [];
    for (const entry of entries) this.append(JSON.stringify({ entries: [entry] } satisfies LogQueueRecord), 1);
    const suppressed = this.sampler.drainSuppressed();
    if (suppressed.length > 0) this.append(JSON.stringify({ entries: [], suppressed } satisfies LogQueueRecord), 0);
  }

  /**
   * Flushes, then reads up to `maxRecords` queue records (at most about `maxBytes` of them,
   * at least one) as one batch draft, oldest first; undefined when the queue is empty.
   * Nothing is removed until `ack`. With one line per record, `maxRecords` is the most lines
   * an upload carries.
   */
  readBatch(maxRecords: number, maxBytes?: number): LogBatchDraft | undefined {
    this.flush();
    const records = this.queue.peek(maxRecords, maxBytes);
    const last = records[records.length - 1];
    if (last === undefined) return undefined;
    const entries: LogEntry[] = [];
    const suppressed = new Map<string, SuppressedCount>();
    for (const data of records) {
      const record = decodeLogQueueRecord(data.data);
      if (record === undefined) {
        this.undecodableRecords++;
        continue;
      }
      entries.push(...record.entries);
      for (const s of record.suppressed ?? []) {
        const key = `${s.source}\u0000${s.stream}`;
        const sum = suppressed.get(key);
        if (sum === undefined) suppressed.set(key, { source: s.source, stream: s.stream, count: s.count });
        else sum.count += s.count;
      }
    }
    const draft: LogBatchDraft = { entries, lastId: last.id };
    if (suppressed.size > 0) draft.suppressed = [...suppressed.values()];
    const dropped = droppedTotals(this.queue.stats());
    if (dropped !== undefined) draft.dropped = dropped;
    return draft;
  }

  /** The server has the batch that ended at `lastId`: remove it from the queue. */
  ack(lastId: number): void {
    this.queue.ack(lastId);
  }

  stats(): LogCollectorStats {
    return {
      pendingLines: this.pending.length,
      truncatedLines: this.truncatedLines,
      writeFailedLines: this.writeFailedLines,
      suppressedLines: this.sampler.suppressedTotal,
      undecodableRecords: this.undecodableRecords,
    };
  }

  // --- internals ------------------------------------------------------------------------

  private state(source: string, revision: number | undefined, stream: LogEntry['stream']): StreamState {
    const key = `${source}\u0000${revision ?? ''}\u0000${stream}`;
    let state = this.streams.get(key);
    if (state === undefined) {
      state = { source, revision, stream, decoder: new StringDecoder('utf8'), partial: '', discarding: false, privateKeyLines: 0, levels: new StreamLevels() };
      this.streams.set(key, state);
    }
    return state;
  }

  /** One complete line of a stream: hide PEM bodies, level, sample, scrub, cut, buffer. */
  private take(state: StreamState, raw: string): void {
    if (raw === '') return;
    if (state.privateKeyLines > 0) {
      const kind = privateKeyBlockLine(raw);
      if (kind === 'end') {
        state.privateKeyLines = 0;
        return;
      }
      if (kind === 'body' && state.privateKeyLines < MAX_PRIVATE_KEY_LINES) {
        state.privateKeyLines++;
        return;
      }
      state.privateKeyLines = 0;
    }
    if (opensPrivateKeyBlock(raw)) state.privateKeyLines = 1;

    const level: LogLevel = state.levels.detect(raw);
    // Sample before scrubbing: a suppressed line costs no regex work.
    if (!this.sampler.admit(state.source, state.stream, level)) return;
    const { line, cut } = truncateLine(this.scrub(raw), this.maxLineBytes);
    if (cut > 0) this.truncatedLines++;
    const entry: LogEntry =
      state.revision === undefined
        ? { tsNs: this.timestamp(), source: state.source, stream: state.stream, level, line }
        : { tsNs: this.timestamp(), source: state.source, revision: state.revision, stream: state.stream, level, line };
    this.pending.push(entry);
  }

  private timestamp(): string {
    let ms = Math.floor(this.clock());
    if (ms > this.lastMs) {
      this.lastMs = ms;
      this.seq = 0;
    } else {
      ms = this.lastMs;
      this.seq++;
      if (this.seq > 999_999) {
        // A million lines in one ms: borrow the next ms rather than break the order.
        this.lastMs = ++ms;
        this.seq = 0;
      }
    }
    return (BigInt(ms) * 1_000_000n + BigInt(this.seq)).toString();
  }

  private autoFlush(): void {
    if (this.pending.length >= this.batchLines) this.flush();
  }

  private append(json: string, lines: number): void {
    try {
      this.queue.append(encoder.encode(json));
      this.lastWriteError = undefined;
    } catch (err) {
      this.writeFailedLines += lines;
      this.lastWriteError = err as Error;
    }
  }
}

/** The queue's persisted loss counters, as `LogBatch.dropped` reasons; undefined when nothing was ever lost. */
function droppedTotals(stats: QueueStats & { corruptRecords?: number }): LogBatch['dropped'] {
  const dropped: Record<string, number> = {};
  if (stats.droppedRecords > 0) dropped['queue-full'] = stats.droppedRecords;
  if ((stats.corruptRecords ?? 0) > 0) dropped.corrupt = stats.corruptRecords as number;
  return Object.keys(dropped).length > 0 ? dropped : undefined;
}
