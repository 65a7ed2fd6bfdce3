/**
 * The bucket counts of one latency histogram point, Rice-coded. They are most of a metered
 * upload (two workloads' histograms were half of the batch as deflated varints), and they are
 * noise around a smooth shape, which deflate's byte-level Huffman codes handle poorly: Rice
 * codes measured 19 % (metered) to 23 % (lan) smaller than deflated varints (figures in
 * docs/TELEMETRY.md).
 *
 * Layout: a parameter byte, then a bit stream (most significant bit first, zero-padded to a
 * whole byte) of one code per bucket.
 * - parameter byte: bit 4 set = each count is coded as the zigzag difference from the
 *   previous bucket's count (the first from 0), clear = the counts themselves; bits 0–3 = k.
 * - code of a value x: q = ⌊x / 2^k⌋ one-bits, a zero-bit, then the k low bits of x. When
 *   q ≥ 32 the code is instead 32 one-bits followed by x in 53 bits, so a single huge count
 *   costs 85 bits, not millions.
 * The encoder tries both transforms and every k and keeps the shortest.
 */
import { type ByteReader, type ByteWriter, unzigzag, zigzag } from './bytes.js';
import { TelemetryDecodeError } from './decode-error.js';

const DELTA_FLAG = 0x10;
const MAX_K = 15;
const ESCAPE_ONES = 32;
const ESCAPE_BITS = 53;
/** Differences of counts below this stay below 2^52 after zigzag: safe integers. */
const MAX_COUNT_FOR_DELTA = 2 ** 50;

/** Writes `counts` (whole numbers ≥ 0, validated by the caller). */
export function writeCounts(w: ByteWriter, counts: readonly number[]): void {
  const plain = bestCoding(counts, false);
  const delta = counts.every((c) => c < MAX_COUNT_FOR_DELTA) ? bestCoding(neighbourDeltas(counts), true) : undefined;
  const chosen = delta !== undefined && delta.bits < plain.bits ? delta : plain;
  w.byte((chosen.delta ? DELTA_FLAG : 0) | chosen.k);
  const bits = new BitWriter(w);
  for (const x of chosen.values) writeRice(bits, x, chosen.k);
  bits.flush();
}

/** Reads `n` counts written by `writeCounts`. */
export function readCounts(r: ByteReader, n: number): number[] {
  const param = r.byte();
  if ((param & ~(DELTA_FLAG | MAX_K)) !== 0) throw malformed(`histogram count parameter byte 0x${param.toString(16)} has unknown bits set`);
  const k = param & MAX_K;
  // Every code takes at least k + 1 bits: refuse a count the rest of the body cannot hold.
  if (n * (k + 1) > r.remaining * 8) throw malformed(`${n} histogram counts cannot fit in the ${r.remaining} bytes left`);
  const bits = new BitReader(r);
  const values: number[] = [];
  for (let i = 0; i < n; i++) values.push(readRice(bits, k));
  return (param & DELTA_FLAG) !== 0 ? undoNeighbourDeltas(values) : values;
}

interface Coding {
  delta: boolean;
  k: number;
  values: readonly number[];
  bits: number;
}

function bestCoding(values: readonly number[], delta: boolean): Coding {
  let best: Coding = { delta, k: 0, values, bits: Number.POSITIVE_INFINITY };
  // Every code takes at least k + 1 bits: once n · (k + 1) reaches the best total, no larger
  // k can beat it. Counts are small, so this stops after a few k instead of trying all 16.
  for (let k = 0; k <= MAX_K && values.length * (k + 1) < best.bits; k++) {
    const bits = riceBits(values, k, best.bits);
    if (bits < best.bits) best = { delta, k, values, bits };
  }
  return best;
}

/** The length of `values` Rice-coded with `k`, or a number ≥ `limit` as soon as it reaches it. */
function riceBits(values: readonly number[], k: number, limit: number): number {
  const scale = 2 ** k;
  let bits = 0;
  for (let i = 0; i < values.length && bits < limit; i++) {
    const q = Math.floor((values[i] as number) / scale);
    bits += q >= ESCAPE_ONES ? ESCAPE_ONES + ESCAPE_BITS : q + 1 + k;
  }
  return bits;
}

function neighbourDeltas(counts: readonly number[]): number[] {
  return counts.map((c, i) => zigzag(c - (i === 0 ? 0 : (counts[i - 1] as number))));
}

function undoNeighbourDeltas(values: readonly number[]): number[] {
  let prev = 0;
  return values.map((z) => {
    prev += unzigzag(z);
    if (!(prev >= 0 && Number.isSafeInteger(prev))) throw malformed(`a histogram count decodes to ${prev}; counts are whole numbers ≥ 0`);
    return prev;
  });
}

function writeRice(bits: BitWriter, x: number, k: number): void {
  const q = Math.floor(x / 2 ** k);
  if (q >= ESCAPE_ONES) {
    for (let i = 0; i < ESCAPE_ONES; i++) bits.bit(1);
    bits.uint(x, ESCAPE_BITS);
    return;
  }
  for (let i = 0; i < q; i++) bits.bit(1);
  bits.bit(0);
  bits.uint(x % 2 ** k, k);
}

function readRice(bits: BitReader, k: number): number {
  let q = 0;
  while (q < ESCAPE_ONES && bits.bit() === 1) q++;
  if (q === ESCAPE_ONES) {
    const x = bits.uint(ESCAPE_BITS);
    if (!Number.isSafeInteger(x)) throw malformed(`an escaped histogram count ${x} is larger than 2^53 − 1`);
    return x;
  }
  return q * 2 ** k + bits.uint(k);
}

/** Bits, most significant first, into whole bytes of a ByteWriter. */
class BitWriter {
  private acc = 0;
  private used = 0;

  constructor(private readonly out: ByteWriter) {}

  bit(b: number): void {
    this.acc = (this.acc << 1) | b;
    if (++this.used === 8) {
      this.out.byte(this.acc);
      this.acc = 0;
      this.used = 0;
    }
  }

  /** The `width` low bits of `x`, high bit first (arithmetic, so widths above 32 work). */
  uint(x: number, width: number): void {
    for (let i = width - 1; i >= 0; i--) this.bit(Math.floor(x / 2 ** i) % 2);
  }

  /** Pads the last byte with zero bits. */
  flush(): void {
    if (this.used > 0) this.out.byte(this.acc << (8 - this.used));
    this.acc = 0;
    this.used = 0;
  }
}

/** Reads what BitWriter wrote; the padding of the last byte is skipped by construction. */
class BitReader {
  private current = 0;
  private left = 0;

  constructor(private readonly input: ByteReader) {}

  bit(): number {
    if (this.left === 0) {
      this.current = this.input.byte();
      this.left = 8;
    }
    this.left--;
    return (this.current >> this.left) & 1;
  }

  uint(width: number): number {
    let x = 0;
    for (let i = 0; i < width; i++) x = x * 2 + this.bit();
    return x;
  }
}

function malformed(message: string): TelemetryDecodeError {
  return new TelemetryDecodeError('malformed', message);
}
