/**
 * Property tests (issue 14, fuzzing campaign) of the telemetry batch codec, which decodes
 * bodies from untrusted nodes: any bytes decode to a batch or throw `TelemetryDecodeError`
 * with a reason and a message (never a RangeError, TypeError or a zlib error); every batch
 * the agent can encode decodes to itself; what decodes, encoded again, decodes the same.
 */
import { deflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { histogramOf } from '../../../src/histogram.js';
import { decodeTelemetryBatch, encodeTelemetryBatch, MAX_TIMESTAMP_MS, TelemetryDecodeError } from '../../../src/node/telemetry/codec.js';
import type { TelemetryBatch, TelemetrySeries } from '../../../src/telemetry/types.js';

/** Small limits, so a hostile body reaches them quickly. */
const LIMITS = { maxDecodedBytes: 256 * 1024, maxSeries: 200, maxPoints: 5_000, maxBuckets: 50_000 };

function decodeOrError(bytes: Uint8Array): TelemetryBatch | TelemetryDecodeError {
  try {
    return decodeTelemetryBatch(bytes, LIMITS);
  } catch (err) {
    expect(err).toBeInstanceOf(TelemetryDecodeError);
    const e = err as TelemetryDecodeError;
    expect(['too-large', 'malformed', 'unsupported-version']).toContain(e.reason);
    expect(e.message.length).toBeGreaterThan(10);
    return e;
  }
}

const metricName = fc.stringMatching(/^[a-zA-Z_:][a-zA-Z0-9_:]{0,20}$/);
const labelName = fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9_]{0,10}$/);
const labels = fc.dictionary(labelName, fc.string({ maxLength: 12 }), { maxKeys: 3 });
const finite = fc.double({ noNaN: true, noDefaultInfinity: true });
const T0 = 1_767_225_600_000;

/** Points at strictly increasing times around T0, spaced by about the resolution. */
function times(count: number, resolutionMs: number): fc.Arbitrary<number[]> {
  return fc.array(fc.integer({ min: 1, max: resolutionMs * 3 }), { minLength: count, maxLength: count }).map((gaps) => {
    let t = T0;
    return gaps.map((g) => {
      t += g;
      return t;
    });
  });
}

function seriesArb(resolutionMs: number): fc.Arbitrary<TelemetrySeries> {
  return fc.integer({ min: 0, max: 4 }).chain((n) =>
    fc.oneof(
      fc.record({
        kind: fc.constant('counter' as const),
        name: metricName,
        labels,
        points: fc
          .tuple(
            times(n, resolutionMs),
            fc.array(fc.oneof(fc.nat(), fc.double({ min: 0, noNaN: true, noDefaultInfinity: true })), { minLength: n, maxLength: n }),
          )
          .map(([ts, incs]) => ts.map((t, i) => ({ t, inc: incs[i] as number }))),
      }),
      fc.record({
        kind: fc.constant('gauge' as const),
        name: metricName,
        labels,
        points: fc.tuple(times(n, resolutionMs), fc.array(fc.tuple(finite, finite, finite), { minLength: n, maxLength: n })).map(([ts, vs]) =>
          ts.map((t, i) => {
            const [min, last, max] = [...(vs[i] as number[])].sort((a, b) => a - b) as [number, number, number];
            return { t, min, max, last };
          }),
        ),
      }),
      fc.record({
        kind: fc.constant('histogram' as const),
        name: metricName,
        labels,
        points: fc
          .tuple(
            times(n, resolutionMs),
            fc.array(fc.array(fc.double({ min: 0.01, max: 60_000, noNaN: true }), { minLength: 1, maxLength: 20 }), { minLength: n, maxLength: n }),
          )
          .map(([ts, obs]) =>
            ts.map((t, i) => {
              const values = obs[i] as number[];
              return { t, sumMs: values.reduce((a, b) => a + b, 0), hist: histogramOf(values) };
            }),
          ),
      }),
    ),
  );
}

const batchArb: fc.Arbitrary<TelemetryBatch> = fc.constantFrom(15_000, 300_000).chain((resolutionMs) =>
  fc.record(
    {
      stream: fc.string({ minLength: 1, maxLength: 20 }),
      seq: fc.nat(),
      resolutionMs: fc.constant(resolutionMs),
      series: fc.array(seriesArb(resolutionMs), { maxLength: 5 }),
      meta: fc.record({
        alerts: fc.array(
          fc.record({
            name: fc.string({ minLength: 1, maxLength: 10 }),
            state: fc.constantFrom('firing' as const, 'resolved' as const),
            severity: fc.constantFrom('warning' as const, 'critical' as const),
            since: fc.integer({ min: 0, max: MAX_TIMESTAMP_MS }),
            message: fc.string({ maxLength: 30 }),
          }),
          { maxLength: 2 },
        ),
      }),
    },
    { requiredKeys: ['stream', 'seq', 'resolutionMs', 'series'] },
  ),
);

/** A valid encoding with bytes changed, cut or added. */
const mutated = fc
  .tuple(batchArb, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.constantFrom('flip', 'cut', 'append'))
  .map(([batch, edits, how]) => {
    const bytes = Buffer.from(encodeTelemetryBatch(batch));
    if (how === 'cut') return bytes.subarray(0, (edits[0]?.[0] ?? 0) % bytes.length);
    if (how === 'append') return Buffer.concat([bytes, Buffer.from(edits.map(([, b]) => b))]);
    for (const [at, b] of edits) bytes[at % bytes.length] = b;
    return bytes;
  });

/** The header of an uncompressed (or raw-deflated) batch, then any body: gets past the inflate. */
const headerThenJunk = fc
  .tuple(fc.constantFrom(0, 1, 2, 3, 0xff), fc.uint8Array({ maxLength: 300 }))
  .map(([flags, body]) => Buffer.concat([Buffer.from([0x45, 0x46, 0x54, 1, flags]), flags === 1 ? deflateRawSync(body) : Buffer.from(body)]));

describe('telemetry codec (property tests)', () => {
  it('decodes any bytes to a batch or throws TelemetryDecodeError with a reason', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), mutated, headerThenJunk), (bytes) => {
        decodeOrError(bytes);
      }),
      { numRuns: 500 },
    );
  });

  it('decodes every batch it encodes to that batch', () => {
    fc.assert(
      fc.property(batchArb, (batch) => {
        const decoded = decodeTelemetryBatch(encodeTelemetryBatch(batch));
        expect(decoded).toEqual(batch);
      }),
      { numRuns: 100 },
    );
  });

  it('re-encodes what it decoded from a damaged body to the same batch', () => {
    fc.assert(
      fc.property(fc.oneof(mutated, headerThenJunk), (bytes) => {
        const first = decodeOrError(bytes);
        if (first instanceof TelemetryDecodeError) return;
        expect(decodeTelemetryBatch(encodeTelemetryBatch(first))).toEqual(first);
      }),
      { numRuns: 300 },
    );
  });

  it('stops a body that inflates past its limit, in bounded time', () => {
    const bomb = Buffer.concat([Buffer.from([0x45, 0x46, 0x54, 1, 1]), deflateRawSync(Buffer.alloc(64 * 1024 * 1024))]);
    const started = performance.now();
    const e = decodeOrError(bomb);
    expect(e).toBeInstanceOf(TelemetryDecodeError);
    expect((e as TelemetryDecodeError).reason).toBe('too-large');
    expect(performance.now() - started).toBeLessThan(10_000);
  });
});
