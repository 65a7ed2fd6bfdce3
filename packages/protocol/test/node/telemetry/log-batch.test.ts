import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { inflateLimited } from '../../../src/node/telemetry/codec.js';
import { decodeLogBatch, encodeLogBatch, LogDecodeError } from '../../../src/node/telemetry/log-batch.js';
import type { LogBatch } from '../../../src/telemetry/types.js';

const batch: LogBatch = {
  v: 1,
  stream: 'logs-5f1c',
  seq: 42,
  entries: [
    { tsNs: '1767225600123456789', source: 'agent', stream: 'agent', level: 'info', line: 'upload ok (612 bytes)' },
    {
      tsNs: '1767225600223456789',
      source: 'people-counter',
      revision: 7,
      stream: 'stderr',
      level: 'error',
      line: 'camera /dev/video0: timeout ☹ user=[email]',
    },
  ],
  suppressed: [{ source: 'people-counter', stream: 'stdout', count: 118 }],
  dropped: { 'queue-full': 3 },
};

const gz = (json: unknown) => new Uint8Array(gzipSync(typeof json === 'string' ? json : JSON.stringify(json)));

function decodeError(bytes: Uint8Array, limits?: Parameters<typeof decodeLogBatch>[1]): LogDecodeError {
  try {
    decodeLogBatch(bytes, limits);
  } catch (err) {
    if (err instanceof LogDecodeError) return err;
    throw new Error(`expected a LogDecodeError, got ${String(err)}`, { cause: err });
  }
  throw new Error('expected the batch to be rejected, but it decoded');
}

describe('log batch', () => {
  it('returns a batch exactly as it was, gzip-compressed on the wire', () => {
    const encoded = encodeLogBatch(batch);
    expect([encoded[0], encoded[1]]).toEqual([0x1f, 0x8b]);
    expect(decodeLogBatch(encoded)).toStrictEqual(batch);
    const minimal: LogBatch = { v: 1, stream: 's', seq: 0, entries: [] };
    expect(decodeLogBatch(encodeLogBatch(minimal))).toStrictEqual(minimal);
  });

  it('names the field that is wrong', () => {
    const badTs = { ...batch, entries: [{ ...batch.entries[0], tsNs: '12:00' }] };
    const e = decodeError(gz(badTs));
    expect(e.reason).toBe('malformed');
    expect(e.message).toMatch(/^log batch field entries\[0\]\.tsNs: must be Unix nanoseconds/);
    expect(decodeError(gz({ ...batch, entries: [{ ...batch.entries[1], level: 'fatal' }] })).message).toMatch(/entries\[0\]\.level/);
    expect(decodeError(gz({ ...batch, dropped: { 'queue-full': -1 } })).message).toMatch(/dropped\.queue-full/);
    expect(decodeError(gz({ ...batch, seq: undefined })).message).toMatch(/field seq/);
  });

  it('names a newer batch version as unsupported', () => {
    const e = decodeError(gz({ ...batch, v: 2 }));
    expect(e.reason).toBe('unsupported-version');
    expect(e.message).toMatch(/version 2 is not supported/);
  });

  it('rejects what is not gzip, JSON or UTF-8, and anything cut short, with a LogDecodeError', () => {
    expect(decodeError(new TextEncoder().encode(JSON.stringify(batch))).message).toMatch(/not valid gzip data/);
    expect(decodeError(gz('{"v":1,')).message).toMatch(/not valid JSON/);
    expect(decodeError(gz('[1,2]')).message).toMatch(/must be an object/);
    expect(decodeError(new Uint8Array(gzipSync(Buffer.from([0x22, 0xff, 0x22])))).message).toMatch(/not valid UTF-8/);
    const encoded = encodeLogBatch(batch);
    for (let end = 0; end < encoded.length; end++) expect(decodeError(encoded.subarray(0, end)).reason).toBe('malformed');
  });

  it('stops a gzip bomb and oversized batches with too-large', () => {
    const bomb = new Uint8Array(gzipSync(new Uint8Array(64 * 1024 * 1024), { level: 9 }));
    expect(bomb.length).toBeLessThan(100_000);
    const e = decodeError(bomb);
    expect(e.reason).toBe('too-large');
    expect(e.message).toMatch(/expands to more than 8388608 bytes/);
    const many = { ...batch, entries: Array.from({ length: 11 }, () => batch.entries[0]) };
    expect(decodeError(gz(many), { maxEntries: 10 }).message).toMatch(/11 entries, over the limit of 10/);
    expect(decodeError(encodeLogBatch(batch), { maxDecodedBytes: 100 }).reason).toBe('too-large');
  });
});

describe('inflateLimited', () => {
  it('inflates within the limit and refuses past it', () => {
    const data = new Uint8Array(10_000).fill(7);
    expect(inflateLimited(gzipSync(data), 'gzip', 10_000)).toEqual(Buffer.from(data));
    expect(() => inflateLimited(gzipSync(data), 'gzip', 9_999)).toThrow(expect.objectContaining({ reason: 'too-large' }));
    expect(() => inflateLimited(new Uint8Array([1, 2, 3]), 'deflate-raw', 100)).toThrow(expect.objectContaining({ reason: 'malformed' }));
  });
});
