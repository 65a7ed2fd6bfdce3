/**
 * The binary metrics batch (`application/vnd.edgefleet.telemetry.v1`): what a node uploads,
 * and what it keeps in its disk queue while offline. Built for metered links: strings become
 * indexes into a static table both sides know plus a per-batch table, timestamps
 * delta-of-deltas, values the cheapest lossless form measured for their kind, and the whole
 * body is raw-deflated. The byte layout is documented in docs/TELEMETRY.md ("Wire format");
 * keep the two in step.
 *
 * Decoding assumes a hostile sender: the body is inflated under a ceiling, every read is
 * bounds-checked, every count is checked against the bytes left before a loop, and every
 * series is validated with the same rules the encoder applies (`validate.ts`). Any failure
 * is a `TelemetryDecodeError` whose message says what is wrong and where.
 */
import { deflateRawSync } from 'node:zlib';
import { HISTOGRAM_BUCKETS } from '../../histogram.js';
import { ByteReader, ByteWriter } from '../../telemetry/bytes.js';
import {
  checkFloatMode,
  FloatRunReader,
  FloatRunWriter,
  floatMode,
  readGaugePoints,
  readTimestamps,
  writeGaugePoints,
  writeTimestamps,
} from '../../telemetry/columns.js';
import { TelemetryDecodeError } from '../../telemetry/decode-error.js';
import { PRESET_DICTIONARY_V1 } from '../../telemetry/dictionary.js';
import { readCounts, writeCounts } from '../../telemetry/histogram-counts.js';
import { parseTelemetryMeta } from '../../telemetry/meta.js';
import { STATIC_SYMBOL_INDEX, STATIC_SYMBOL_TABLE_VERSION, staticSymbolTable, TELEMETRY_WIRE_VERSION } from '../../telemetry/symbols.js';
import type { CounterPoint, HistogramPoint, MetricKind, SeriesLabels, TelemetryBatch, TelemetryMeta, TelemetrySeries } from '../../telemetry/types.js';
import { batchHeaderProblem, labelNameProblem, MAX_TIMESTAMP_MS, seriesProblem } from '../../telemetry/validate.js';
import { InflateError, inflateLimited } from './inflate.js';

export { type DecodeFailureReason, TelemetryDecodeError } from '../../telemetry/decode-error.js';
export { TelemetryMetaSchema } from '../../telemetry/meta.js';
export {
  STANDARD_LABEL_NAMES,
  STANDARD_LABEL_VALUES,
  STANDARD_METRIC_NAMES,
  STATIC_SYMBOL_TABLE_VERSION,
  TELEMETRY_WIRE_VERSION,
} from '../../telemetry/symbols.js';
export { LABEL_NAME_PATTERN, MAX_TIMESTAMP_MS, METRIC_NAME_PATTERN } from '../../telemetry/validate.js';
export { type CompressedEncoding, InflateError, inflateLimited } from './inflate.js';

/** The first three bytes of every batch: `EFT`. */
const MAGIC = [0x45, 0x46, 0x54] as const;
const HEADER_BYTES = 5;
/** Flags byte, bits 0–1: how the body is compressed. Bits 2–7 are reserved (0). */
const COMPRESSION_NONE = 0;
const COMPRESSION_DEFLATE_RAW = 1;
const COMPRESSION_DEFLATE_RAW_PRESET = 2;
const COMPRESSION_BITS = 0b11;

/** Kind codes on the wire, by index. */
const KINDS: readonly MetricKind[] = ['counter', 'gauge', 'histogram'];
/** Counter value tag 0: a float64 follows (an increase that is not a whole number). */
const COUNTER_FLOAT_TAG = 0;

/** What `decodeTelemetryBatch` accepts by default. */
const TELEMETRY_DECODE_LIMITS = Object.freeze({
  /** Size of the inflated body. */
  maxDecodedBytes: 8 * 1024 * 1024,
  maxSeries: 10_000,
  /** Points over all series (the decoded objects take ~100 bytes each). */
  maxPoints: 250_000,
  /**
   * Histogram bucket counts over all points. A count can take a single bit on the wire, so
   * without this a body within `maxDecodedBytes` could still decode to ~60 million numbers.
   */
  maxBuckets: 1_000_000,
});

/** Ceilings for `decodeTelemetryBatch`; each defaults to `TELEMETRY_DECODE_LIMITS`. */
interface TelemetryDecodeLimits {
  maxDecodedBytes?: number;
  maxSeries?: number;
  maxPoints?: number;
  maxBuckets?: number;
}

/**
 * Encodes a batch for upload or for the disk queue. Throws a RangeError naming the series
 * and point when the batch breaks a rule the server would reject it for (an invalid name, a
 * negative counter increase, a non-finite value, a histogram off the v1 layout, …).
 */
export function encodeTelemetryBatch(batch: TelemetryBatch): Uint8Array {
  checkForEncoding(batch);
  const body = writeBody(batch);
  // The smallest of the three: deflate can make a tiny body larger.
  const candidates: [number, Uint8Array][] = [
    [COMPRESSION_DEFLATE_RAW_PRESET, deflateRawSync(body, { level: 9, dictionary: PRESET_DICTIONARY_V1 })],
    [COMPRESSION_DEFLATE_RAW, deflateRawSync(body, { level: 9 })],
    [COMPRESSION_NONE, body],
  ];
  const [compression, payload] = candidates.reduce((best, c) => (c[1].length < best[1].length ? c : best));
  const out = new Uint8Array(HEADER_BYTES + payload.length);
  out.set([...MAGIC, TELEMETRY_WIRE_VERSION, compression]);
  out.set(payload, HEADER_BYTES);
  return out;
}

/**
 * Decodes a batch from an untrusted node. Throws `TelemetryDecodeError`: `too-large` when the
 * body inflates past `maxDecodedBytes` or holds more than `maxSeries` series, `maxPoints`
 * points or `maxBuckets` histogram buckets; `unsupported-version` when a newer format,
 * compression or symbol table wrote it; `malformed` for everything else.
 */
export function decodeTelemetryBatch(bytes: Uint8Array, limits: TelemetryDecodeLimits = {}): TelemetryBatch {
  const d = TELEMETRY_DECODE_LIMITS;
  const resolved: Required<TelemetryDecodeLimits> = {
    maxDecodedBytes: limits.maxDecodedBytes ?? d.maxDecodedBytes,
    maxSeries: limits.maxSeries ?? d.maxSeries,
    maxPoints: limits.maxPoints ?? d.maxPoints,
    maxBuckets: limits.maxBuckets ?? d.maxBuckets,
  };
  const body = readHeaderAndInflate(bytes, resolved.maxDecodedBytes);
  return readBody(new ByteReader(body), resolved);
}

// ---- encoding ------------------------------------------------------------------------

function checkForEncoding(batch: TelemetryBatch): void {
  const header = batchHeaderProblem(batch);
  if (header !== undefined) throw new RangeError(`cannot encode telemetry batch: ${header}`);
  batch.series.forEach((series, i) => {
    const problem = seriesProblem(series);
    if (problem !== undefined) throw new RangeError(`cannot encode telemetry batch: series ${i} (${series.name}): ${problem}`);
  });
}

/** Interns strings: static table first, then the batch's own table in order of first use. */
class SymbolWriter {
  readonly dynamic: string[] = [];
  private readonly dynamicIndex = new Map<string, number>();
  private readonly staticCount = (staticSymbolTable(STATIC_SYMBOL_TABLE_VERSION) as readonly string[]).length;

  index(s: string): number {
    const fixed = STATIC_SYMBOL_INDEX.get(s);
    if (fixed !== undefined) return fixed;
    let i = this.dynamicIndex.get(s);
    if (i === undefined) {
      i = this.staticCount + this.dynamic.length;
      this.dynamic.push(s);
      this.dynamicIndex.set(s, i);
    }
    return i;
  }
}

function writeBody(batch: TelemetryBatch): Uint8Array {
  // The series go to their own buffer first: the symbol table they fill precedes them.
  const symbols = new SymbolWriter();
  const seriesBytes = new ByteWriter();
  seriesBytes.varint(batch.series.length);
  let base = 0;
  for (const series of batch.series) base = writeSeries(seriesBytes, series, symbols, base, batch.resolutionMs);

  const w = new ByteWriter();
  w.string(batch.stream);
  w.varint(batch.seq);
  w.varint(batch.resolutionMs);
  w.varint(STATIC_SYMBOL_TABLE_VERSION);
  w.varint(symbols.dynamic.length);
  for (const s of symbols.dynamic) w.string(s);
  w.bytes(seriesBytes.finish());
  writeMeta(w, batch.meta);
  return w.finish();
}

/** Writes one series; returns the timestamp base for the next (this series' first timestamp). */
function writeSeries(w: ByteWriter, series: TelemetrySeries, symbols: SymbolWriter, base: number, resolutionMs: number): number {
  w.byte(KINDS.indexOf(series.kind));
  w.varint(symbols.index(series.name));
  const labels = Object.entries(series.labels);
  w.varint(labels.length);
  for (const [name, value] of labels) {
    w.varint(symbols.index(name));
    w.varint(symbols.index(value));
  }
  const ts = series.points.map((p) => p.t);
  w.varint(ts.length);
  writeTimestamps(w, ts, base, resolutionMs);
  writeValues(w, series);
  return ts[0] ?? base;
}

function writeValues(w: ByteWriter, series: TelemetrySeries): void {
  switch (series.kind) {
    case 'counter':
      for (const p of series.points) writeCounterIncrease(w, p.inc);
      return;
    case 'gauge': {
      const mode = floatMode(series.points.flatMap((p) => [p.min, p.max, p.last]));
      w.byte(mode);
      writeGaugePoints(w, series.points, mode);
      return;
    }
    case 'histogram': {
      const mode = floatMode(series.points.map((p) => p.sumMs));
      w.byte(mode);
      const sums = new FloatRunWriter(mode);
      let prevOffset = 0;
      for (const p of series.points) {
        sums.next(w, p.sumMs);
        w.svarint(p.hist.offset - prevOffset);
        w.varint(p.hist.counts.length);
        writeCounts(w, p.hist.counts);
        prevOffset = p.hist.offset;
      }
      return;
    }
  }
}

/** A whole increase is `inc + 1` (so 0 stays free as the float tag); anything else a float64. */
function writeCounterIncrease(w: ByteWriter, inc: number): void {
  if (Number.isSafeInteger(inc) && inc < Number.MAX_SAFE_INTEGER && !Object.is(inc, -0)) w.varint(inc + 1);
  else {
    w.varint(COUNTER_FLOAT_TAG);
    w.float64(inc);
  }
}

function writeMeta(w: ByteWriter, meta: TelemetryMeta | undefined): void {
  if (meta === undefined) {
    w.varint(0);
    return;
  }
  let json: string;
  try {
    json = JSON.stringify(meta);
  } catch (err) {
    throw new RangeError(`cannot encode telemetry batch: meta is not plain JSON data (${(err as Error).message})`);
  }
  w.string(json);
}

// ---- decoding ------------------------------------------------------------------------

function readHeaderAndInflate(bytes: Uint8Array, maxDecodedBytes: number): Uint8Array {
  if (bytes.length < HEADER_BYTES || MAGIC.some((b, i) => bytes[i] !== b))
    throw new TelemetryDecodeError(
      'malformed',
      `not an edgefleet telemetry batch: it must start with "EFT" and a version byte (content type application/vnd.edgefleet.telemetry.v1)`,
    );
  const version = bytes[3] as number;
  if (version !== TELEMETRY_WIRE_VERSION)
    throw new TelemetryDecodeError(
      'unsupported-version',
      `telemetry wire version ${version} is not supported (this build reads version ${TELEMETRY_WIRE_VERSION}); upgrade the server before its nodes`,
    );
  const flags = bytes[4] as number;
  const compression = flags & COMPRESSION_BITS;
  if (flags !== compression || compression > COMPRESSION_DEFLATE_RAW_PRESET)
    throw new TelemetryDecodeError('unsupported-version', `telemetry flags 0x${flags.toString(16)} name a compression or feature this build does not know`);
  const payload = bytes.subarray(HEADER_BYTES);
  if (compression === COMPRESSION_NONE) {
    if (payload.length > maxDecodedBytes)
      throw new TelemetryDecodeError('too-large', `the batch body is ${payload.length} bytes, over the limit of ${maxDecodedBytes}`);
    return payload;
  }
  try {
    return inflateLimited(payload, 'deflate-raw', maxDecodedBytes, compression === COMPRESSION_DEFLATE_RAW_PRESET ? PRESET_DICTIONARY_V1 : undefined);
  } catch (err) {
    if (err instanceof InflateError) throw new TelemetryDecodeError(err.reason, `telemetry batch: ${err.message}`, { cause: err });
    throw err;
  }
}

interface DecodeContext {
  symbols: readonly string[];
  resolutionMs: number;
  limits: Required<TelemetryDecodeLimits>;
  points: number;
  buckets: number;
}

function readBody(r: ByteReader, limits: Required<TelemetryDecodeLimits>): TelemetryBatch {
  const stream = within('header', () => r.string());
  const seq = within('header', () => r.varint());
  const resolutionMs = within('header', () => r.varint());
  const headerProblem = batchHeaderProblem({ stream, seq, resolutionMs });
  if (headerProblem !== undefined) throw new TelemetryDecodeError('malformed', headerProblem);
  const ctx: DecodeContext = { symbols: within('symbol table', () => readSymbols(r)), resolutionMs, limits, points: 0, buckets: 0 };

  const count = within('series count', () => r.count('series', 4));
  if (count > limits.maxSeries) throw new TelemetryDecodeError('too-large', `the batch holds ${count} series, over the limit of ${limits.maxSeries}`);
  const series: TelemetrySeries[] = [];
  let base = 0;
  for (let i = 0; i < count; i++) {
    const s = readSeries(r, ctx, i, base);
    base = s.points[0]?.t ?? base;
    series.push(s);
  }
  const meta = within('meta', () => readMeta(r));
  if (r.remaining > 0) throw new TelemetryDecodeError('malformed', `${r.remaining} unexpected byte(s) after the meta section`);
  const batch: TelemetryBatch = { stream, seq, resolutionMs, series };
  if (meta !== undefined) batch.meta = meta;
  return batch;
}

function readSymbols(r: ByteReader): string[] {
  const version = r.varint();
  const fixed = staticSymbolTable(version);
  if (fixed === undefined)
    throw new TelemetryDecodeError(
      'unsupported-version',
      `static symbol table version ${version} is newer than this build knows (up to ${STATIC_SYMBOL_TABLE_VERSION}); upgrade the server before its nodes`,
    );
  const count = r.count('batch symbols', 1);
  const symbols = [...fixed];
  for (let i = 0; i < count; i++) symbols.push(r.string());
  return symbols;
}

function readSeries(r: ByteReader, ctx: DecodeContext, i: number, base: number): TelemetrySeries {
  const head = within(`series ${i}`, () => {
    const code = r.byte();
    const kind = KINDS[code];
    if (kind === undefined) throw new TelemetryDecodeError('malformed', `kind ${code} is not a metric kind (0 counter, 1 gauge, 2 histogram)`);
    return { kind, name: readSymbol(r, ctx) };
  });
  return within(`series ${i} (${head.name})`, () => {
    const labels = readLabels(r, ctx);
    const n = r.count('points', 2);
    ctx.points += n;
    if (ctx.points > ctx.limits.maxPoints) throw new TelemetryDecodeError('too-large', `the batch holds more than ${ctx.limits.maxPoints} points`);
    const ts = readTimestamps(r, n, base, ctx.resolutionMs, MAX_TIMESTAMP_MS);
    const series = readPoints(r, ctx, head.kind, head.name, labels, ts);
    const problem = seriesProblem(series);
    if (problem !== undefined) throw new TelemetryDecodeError('malformed', problem);
    return series;
  });
}

function readSymbol(r: ByteReader, ctx: DecodeContext): string {
  const i = r.varint();
  const s = ctx.symbols[i];
  if (s === undefined) throw new TelemetryDecodeError('malformed', `symbol ${i} does not exist (the batch knows ${ctx.symbols.length})`);
  return s;
}

function readLabels(r: ByteReader, ctx: DecodeContext): SeriesLabels {
  const count = r.count('labels', 2);
  const labels: SeriesLabels = {};
  for (let j = 0; j < count; j++) {
    const name = readSymbol(r, ctx);
    const value = readSymbol(r, ctx);
    // Checked before the assignment: `__proto__` as a key would vanish instead of failing.
    const problem = labelNameProblem(name);
    if (problem !== undefined) throw new TelemetryDecodeError('malformed', problem);
    if (Object.hasOwn(labels, name)) throw new TelemetryDecodeError('malformed', `label ${name} appears twice`);
    labels[name] = value;
  }
  return labels;
}

function readPoints(r: ByteReader, ctx: DecodeContext, kind: MetricKind, name: string, labels: SeriesLabels, ts: number[]): TelemetrySeries {
  switch (kind) {
    case 'counter':
      return { kind, name, labels, points: ts.map((t): CounterPoint => ({ t, inc: readCounterIncrease(r) })) };
    case 'gauge':
      return { kind, name, labels, points: readGaugePoints(r, ts, readMode(r)) };
    case 'histogram': {
      const sums = new FloatRunReader(readMode(r));
      let prevOffset = 0;
      const points = ts.map((t, j): HistogramPoint => {
        const sumMs = sums.next(r);
        const offset = prevOffset + r.svarint();
        prevOffset = offset;
        return { t, sumMs, hist: { v: 1, offset, counts: readHistogramCounts(r, ctx, j, offset) } };
      });
      return { kind, name, labels, points };
    }
  }
}

function readMode(r: ByteReader): number {
  const mode = r.byte();
  checkFloatMode(mode);
  return mode;
}

function readCounterIncrease(r: ByteReader): number {
  const tag = r.varint();
  return tag === COUNTER_FLOAT_TAG ? r.float64() : tag - 1;
}

/** Layout and limit checks come before the counts are read, so a hostile length never drives the loop. */
function readHistogramCounts(r: ByteReader, ctx: DecodeContext, point: number, offset: number): number[] {
  if (!(offset >= 0 && offset < HISTOGRAM_BUCKETS))
    throw new TelemetryDecodeError('malformed', `point ${point}: histogram offset ${offset} is outside 0 … ${HISTOGRAM_BUCKETS - 1} (layout v1)`);
  const n = r.varint();
  if (offset + n > HISTOGRAM_BUCKETS)
    throw new TelemetryDecodeError(
      'malformed',
      `point ${point}: histogram offset ${offset} + ${n} counts runs past bucket ${HISTOGRAM_BUCKETS - 1} (layout v1)`,
    );
  ctx.buckets += n;
  if (ctx.buckets > ctx.limits.maxBuckets) throw new TelemetryDecodeError('too-large', `the batch holds more than ${ctx.limits.maxBuckets} histogram buckets`);
  return readCounts(r, n);
}

function readMeta(r: ByteReader): TelemetryMeta | undefined {
  const length = r.varint();
  if (length === 0) return undefined;
  const text = r.text(length);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new TelemetryDecodeError('malformed', 'it is not valid JSON');
  }
  const parsed = parseTelemetryMeta(json);
  if ('problem' in parsed) throw new TelemetryDecodeError('malformed', parsed.problem);
  return parsed.meta;
}

/** Runs `read`, prefixing the message of a decode error with where it happened. */
function within<T>(where: string, read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof TelemetryDecodeError) throw new TelemetryDecodeError(err.reason, `${where}: ${err.message}`, { cause: err.cause });
    throw err;
  }
}
