/**
 * Property tests (issue 14, fuzzing campaign) of the log batch codec, which decodes bodies
 * from untrusted nodes: any bytes decode to a batch or throw `LogDecodeError` with a reason
 * and a message naming what is wrong; every valid batch round-trips.
 */
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeLogBatch, encodeLogBatch, LogDecodeError } from '../../../src/node/telemetry/log-batch.js';
import type { LogBatch } from '../../../src/telemetry/types.js';

const LIMITS = { maxDecodedBytes: 256 * 1024, maxEntries: 500 };

function decodeOrError(bytes: Uint8Array): LogBatch | LogDecodeError {
  try {
    return decodeLogBatch(bytes, LIMITS);
  } catch (err) {
    expect(err).toBeInstanceOf(LogDecodeError);
    const e = err as LogDecodeError;
    expect(['too-large', 'malformed', 'unsupported-version']).toContain(e.reason);
    expect(e.message).toMatch(/^log batch/);
    return e;
  }
}

const entry = fc.record(
  {
    tsNs: fc.bigInt({ min: 0n, max: 9_223_372_036_854_775_807n }).map(String),
    source: fc.string({ minLength: 1, maxLength: 20 }),
    revision: fc.integer({ min: 1, max: 1_000_000 }),
    stream: fc.constantFrom('stdout' as const, 'stderr' as const, 'agent' as const),
    level: fc.constantFrom('debug' as const, 'info' as const, 'warn' as const, 'error' as const),
    line: fc.string({ maxLength: 100 }),
  },
  { requiredKeys: ['tsNs', 'source', 'stream', 'level', 'line'] },
);
const batchArb: fc.Arbitrary<LogBatch> = fc.record(
  {
    v: fc.constant(1 as const),
    stream: fc.string({ minLength: 1, maxLength: 20 }),
    seq: fc.nat(),
    entries: fc.array(entry, { maxLength: 10 }),
    suppressed: fc.array(fc.record({ source: fc.string({ maxLength: 10 }), stream: fc.string({ maxLength: 10 }), count: fc.nat() }), { maxLength: 2 }),
    // "__proto__" as a key: zod's record parser drops it (it is an object's prototype, not a
    // stream name), so such a batch decodes without it; no agent names a stream so.
    dropped: fc.dictionary(
      fc.string({ maxLength: 10 }).filter((k) => k !== '__proto__'),
      fc.nat(),
      { maxKeys: 2 },
    ),
  },
  { requiredKeys: ['v', 'stream', 'seq', 'entries'] },
);

/** A valid batch with one field replaced by any JSON value, gzipped: past the inflate and the JSON parse. */
const brokenField = fc
  .tuple(
    batchArb,
    fc.constantFrom('v', 'stream', 'seq', 'entries', 'suppressed', 'dropped', 'tsNs', 'source', 'revision', 'level', 'line'),
    fc.jsonValue({ maxDepth: 2 }),
  )
  .map(([batch, field, value]) => {
    const b = structuredClone(batch) as unknown as Record<string, unknown>;
    const target = field in b || (b.entries as unknown[]).length === 0 ? b : ((b.entries as Record<string, unknown>[])[0] as Record<string, unknown>);
    target[field] = value;
    return gzipSync(JSON.stringify(b));
  });

describe('log batch codec (property tests)', () => {
  it('decodes any bytes to a batch or throws LogDecodeError with a reason', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          fc.uint8Array({ maxLength: 300 }).map((b) => gzipSync(b)),
          fc.jsonValue({ maxDepth: 3 }).map((v) => gzipSync(JSON.stringify(v))),
          brokenField,
          batchArb.map((b) => {
            const z = Buffer.from(encodeLogBatch(b));
            return z.subarray(0, z.length - 3);
          }),
        ),
        (bytes) => {
          decodeOrError(bytes);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('decodes every valid batch it encodes to that batch', () => {
    fc.assert(
      fc.property(batchArb, (batch) => {
        expect(decodeLogBatch(encodeLogBatch(batch))).toEqual(batch);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses invalid UTF-8 and a deep JSON nesting with LogDecodeError', () => {
    expect(decodeOrError(gzipSync(Buffer.from([0x7b, 0xff, 0xfe, 0x7d])))).toBeInstanceOf(LogDecodeError);
    expect(decodeOrError(gzipSync(`${'['.repeat(100_000)}${']'.repeat(100_000)}`))).toBeInstanceOf(LogDecodeError);
  });
});
