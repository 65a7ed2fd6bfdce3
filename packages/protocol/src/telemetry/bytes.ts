/**
 * Byte-level reading and writing for the telemetry wire format: LEB128 varints, zigzag for
 * signed numbers, big-endian float64, length-prefixed UTF-8. Numbers stay JavaScript
 * numbers (no BigInt): every varint on this wire is a safe integer (≤ 2^53 − 1), so the
 * reader rejects anything larger instead of silently rounding it.
 *
 * The reader bounds-checks every read and throws `TelemetryDecodeError('malformed')`, so a
 * truncated or hostile body fails with a sentence, never with a RangeError from a typed
 * array or an `undefined` that surfaces later.
 */
import { TelemetryDecodeError } from './decode-error.js';

/** A varint of at most 8 bytes holds 56 bits: enough for any safe integer, and no more. */
const MAX_VARINT_BYTES = 8;

const utf8 = new TextEncoder();
// `fatal`: a hostile body must not smuggle invalid UTF-8 into label values.
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** Zigzag: small negative and positive numbers both become small unsigned ones. */
export function zigzag(n: number): number {
  return n >= 0 ? n * 2 : -n * 2 - 1;
}

/** Inverse of `zigzag`. */
export function unzigzag(z: number): number {
  return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
}

/** An append-only buffer that grows as needed. */
export class ByteWriter {
  private buf = new Uint8Array(256);
  private len = 0;
  private readonly view8 = new DataView(new ArrayBuffer(8));

  get length(): number {
    return this.len;
  }

  byte(b: number): void {
    this.reserve(1);
    this.buf[this.len++] = b & 0xff;
  }

  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  /** Unsigned LEB128. `n` must be a safe integer ≥ 0 (callers validate first). */
  varint(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`a varint must be a whole number from 0 to 2^53 − 1, got ${n}`);
    // Division, not bit operators: those truncate to 32 bits.
    while (n >= 0x80) {
      this.byte((n % 0x80) | 0x80);
      n = Math.floor(n / 0x80);
    }
    this.byte(n);
  }

  /** Signed integer as zigzag LEB128. */
  svarint(n: number): void {
    this.varint(zigzag(n));
  }

  /** IEEE 754 double, big-endian (the byte order the XOR encoding reasons in). */
  float64(x: number): void {
    this.view8.setFloat64(0, x);
    for (let i = 0; i < 8; i++) this.byte(this.view8.getUint8(i));
  }

  /** Varint byte length, then the UTF-8 bytes. */
  string(s: string): void {
    const encoded = utf8.encode(s);
    this.varint(encoded.length);
    this.bytes(encoded);
  }

  /** The bytes written so far (a copy, so the writer can be reused). */
  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.buf.subarray(0, this.len));
    this.buf = grown;
  }
}

/** A cursor over a decoded body; every read is bounds-checked. */
export class ByteReader {
  private pos = 0;
  private readonly view: DataView;

  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /** Bytes not yet read. */
  get remaining(): number {
    return this.buf.length - this.pos;
  }

  byte(): number {
    this.need(1);
    return this.buf[this.pos++] as number;
  }

  bytes(n: number): Uint8Array {
    this.need(n);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      const b = this.byte();
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (!Number.isSafeInteger(value)) throw malformed(`a number at byte ${this.pos} is larger than 2^53 − 1`);
        return value;
      }
      scale *= 0x80;
    }
    throw malformed(`a number at byte ${this.pos} runs over ${MAX_VARINT_BYTES} bytes`);
  }

  svarint(): number {
    return unzigzag(this.varint());
  }

  float64(): number {
    this.need(8);
    const x = this.view.getFloat64(this.pos);
    this.pos += 8;
    return x;
  }

  /** Varint byte length, then that many bytes of UTF-8. */
  string(): string {
    return this.text(this.varint());
  }

  /** `n` bytes of UTF-8; invalid UTF-8 is an error, not replacement characters. */
  text(n: number): string {
    const raw = this.bytes(n);
    try {
      return utf8Strict.decode(raw);
    } catch {
      throw malformed(`the text ending at byte ${this.pos} is not valid UTF-8`);
    }
  }

  /**
   * A count read before a loop: rejected when it cannot possibly fit in what is left (each
   * item takes at least `minBytesEach`), so a hostile count never drives a long loop or a
   * large allocation.
   */
  count(what: string, minBytesEach: number): number {
    const n = this.varint();
    if (n * minBytesEach > this.remaining) throw malformed(`${what}: ${n} announced but only ${this.remaining} bytes remain`);
    return n;
  }

  private need(n: number): void {
    if (n > this.remaining) throw malformed(`the body ends early: ${n} more byte(s) needed at byte ${this.pos} of ${this.buf.length} (a truncated upload?)`);
  }
}

function malformed(message: string): TelemetryDecodeError {
  return new TelemetryDecodeError('malformed', message);
}
