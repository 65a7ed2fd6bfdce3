/**
 * The number encodings of a series' points, each the cheapest we measured for its kind of
 * data after deflate (figures in docs/TELEMETRY.md):
 * - timestamps as delta-of-delta, so points at the regular resolution cost one byte each;
 * - gauge and histogram-sum values either as a decimal-scaled integer delta (values with a
 *   few decimals, like load averages, temperatures and byte counts) or Gorilla-style XOR of
 *   the IEEE 754 bits against a reference value (arbitrary floats, like a CPU ratio). Both
 *   reproduce every value bit for bit. A gauge's `last` refers to the previous point's
 *   `last`, its `min` and `max` to its own `last`: they sit close to it, which made whole
 *   batches 4 % smaller than referring each field to its own previous value.
 */
import type { ByteReader, ByteWriter } from './bytes.js';
import { TelemetryDecodeError } from './decode-error.js';
import type { GaugePoint } from './types.js';

/** Mode byte of a float field: XOR of the bits against the previous value. */
const FLOAT_MODE_XOR = 0;
/** Largest decimal scale tried: 10^9 covers nanosecond-resolution seconds. */
const MAX_DECIMAL_SCALE = 9;
/**
 * Scaled integers stay within ±2^50 so the zigzag of a difference of two is below 2^52 (a
 * safe integer); larger values take the XOR path.
 */
const MAX_SCALED = 2 ** 50;

/**
 * Writes timestamps: the first relative to `base`, the second as its distance from the first
 * minus `expectedDeltaMs`, then each further one as a delta of deltas. With `base` the first
 * timestamp of the last earlier series that had points and `expectedDeltaMs` the resolution,
 * every timestamp of a regular batch after the first costs one byte.
 */
export function writeTimestamps(w: ByteWriter, ts: readonly number[], base: number, expectedDeltaMs: number): void {
  let prev = base;
  let prevDelta = expectedDeltaMs;
  ts.forEach((t, i) => {
    if (i === 0) w.svarint(t - base);
    else {
      const delta = t - prev;
      w.svarint(delta - prevDelta);
      prevDelta = delta;
    }
    prev = t;
  });
}

/** Reads `count` timestamps written by `writeTimestamps`; each must lie in 0 … `maxMs`. */
export function readTimestamps(r: ByteReader, count: number, base: number, expectedDeltaMs: number, maxMs: number): number[] {
  const ts: number[] = [];
  let prev = base;
  let prevDelta = expectedDeltaMs;
  for (let i = 0; i < count; i++) {
    let t: number;
    if (i === 0) t = base + r.svarint();
    else {
      const delta = prevDelta + r.svarint();
      t = prev + delta;
      prevDelta = delta;
    }
    if (!(Number.isSafeInteger(t) && t >= 0 && t <= maxMs))
      throw new TelemetryDecodeError('malformed', `point ${i}: timestamp ${t} is not a whole number of Unix milliseconds from 0 to ${maxMs}`);
    ts.push(t);
    prev = t;
  }
  return ts;
}

/**
 * The mode of a run of values: `k + 1` when every value times 10^k is a whole number that
 * divides back to the exact same double (the smallest such k ≤ 9), otherwise
 * `FLOAT_MODE_XOR`.
 */
export function floatMode(values: Iterable<number>): number {
  const all = [...values];
  for (let k = 0; k <= MAX_DECIMAL_SCALE; k++) if (all.every((v) => scalesExactly(v, 10 ** k))) return k + 1;
  return FLOAT_MODE_XOR;
}

function scalesExactly(v: number, scale: number): boolean {
  const n = Math.round(v * scale);
  // -0 would come back as +0, so it takes the XOR path, which keeps the sign bit.
  return Math.abs(n) <= MAX_SCALED && n / scale === v && !Object.is(v, -0);
}

/** Checks a mode byte read from the wire. */
export function checkFloatMode(mode: number): void {
  if (mode > MAX_DECIMAL_SCALE + 1)
    throw new TelemetryDecodeError('malformed', `float mode ${mode} is neither XOR (0) nor a decimal scale (1 … ${MAX_DECIMAL_SCALE + 1})`);
}

/** Gauge points after their mode byte. */
export function writeGaugePoints(w: ByteWriter, points: readonly GaugePoint[], mode: number): void {
  if (mode === FLOAT_MODE_XOR) {
    let prevLast = 0;
    for (const p of points) {
      writeXor(w, p.last, prevLast);
      writeXor(w, p.min, p.last);
      writeXor(w, p.max, p.last);
      prevLast = p.last;
    }
    return;
  }
  const scale = 10 ** (mode - 1);
  let prevLast = 0;
  for (const p of points) {
    const last = Math.round(p.last * scale);
    // min ≤ last ≤ max is checked before encoding, so both distances are unsigned.
    w.svarint(last - prevLast);
    w.varint(last - Math.round(p.min * scale));
    w.varint(Math.round(p.max * scale) - last);
    prevLast = last;
  }
}

/** Reads `n` gauge points' values; `ts` are their timestamps, already read. */
export function readGaugePoints(r: ByteReader, ts: readonly number[], mode: number): GaugePoint[] {
  const points: GaugePoint[] = [];
  if (mode === FLOAT_MODE_XOR) {
    let prevLast = 0;
    for (const t of ts) {
      const last = readXor(r, prevLast);
      points.push({ t, min: readXor(r, last), max: readXor(r, last), last });
      prevLast = last;
    }
    return points;
  }
  const scale = 10 ** (mode - 1);
  let prevLast = 0;
  for (const t of ts) {
    const last = checkScaled(prevLast + r.svarint());
    const min = checkScaled(last - r.varint());
    const max = checkScaled(last + r.varint());
    points.push({ t, min: min / scale, max: max / scale, last: last / scale });
    prevLast = last;
  }
  return points;
}

/**
 * Writes a run of values (a histogram series' sums), each relative to the previous one;
 * `next` calls may interleave with other writes.
 */
export class FloatRunWriter {
  private prev = 0;

  constructor(private readonly mode: number) {}

  next(w: ByteWriter, v: number): void {
    if (this.mode === FLOAT_MODE_XOR) {
      writeXor(w, v, this.prev);
      this.prev = v;
      return;
    }
    const n = Math.round(v * 10 ** (this.mode - 1));
    w.svarint(n - this.prev);
    this.prev = n;
  }
}

/** Reads what `FloatRunWriter` wrote, one value per `next`. */
export class FloatRunReader {
  private prev = 0;

  constructor(private readonly mode: number) {}

  next(r: ByteReader): number {
    if (this.mode === FLOAT_MODE_XOR) {
      this.prev = readXor(r, this.prev);
      return this.prev;
    }
    this.prev = checkScaled(this.prev + r.svarint());
    return this.prev / 10 ** (this.mode - 1);
  }
}

function checkScaled(n: number): number {
  if (!(Math.abs(n) <= MAX_SCALED)) throw new TelemetryDecodeError('malformed', `a scaled value ${n} is outside ±2^50`);
  return n;
}

const xorView = new DataView(new ArrayBuffer(16));

/**
 * `v` as the XOR of its IEEE 754 bits with those of `ref`, byte-aligned (deflate works on
 * bytes): a control byte holds the number of leading zero bytes (high nibble) and of the
 * bytes that follow (low nibble); trailing zero bytes are implied. `v === ref` (same bits)
 * is the single byte 0x80.
 */
function writeXor(w: ByteWriter, v: number, ref: number): void {
  xorView.setFloat64(0, v);
  xorView.setFloat64(8, ref);
  const xor = new Uint8Array(8);
  for (let i = 0; i < 8; i++) xor[i] = xorView.getUint8(i) ^ xorView.getUint8(8 + i);
  let lead = 0;
  while (lead < 8 && xor[lead] === 0) lead++;
  let end = 8;
  while (end > lead && xor[end - 1] === 0) end--;
  w.byte((lead << 4) | (end - lead));
  w.bytes(xor.subarray(lead, end));
}

function readXor(r: ByteReader, ref: number): number {
  const control = r.byte();
  const lead = control >> 4;
  const n = control & 0x0f;
  if (lead + n > 8) throw new TelemetryDecodeError('malformed', `XOR control byte 0x${control.toString(16)} describes more than 8 bytes`);
  const xor = r.bytes(n);
  xorView.setFloat64(0, ref);
  for (let i = 0; i < n; i++) xorView.setUint8(lead + i, xorView.getUint8(lead + i) ^ (xor[i] as number));
  return xorView.getFloat64(0);
}
