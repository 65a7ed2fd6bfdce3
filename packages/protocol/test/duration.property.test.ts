/**
 * Property tests (issue 14, fuzzing campaign) of durations (manifest fields, CLI flags): any
 * text parses to a whole, finite number of milliseconds or throws the documented 400
 * `bad_request` naming the text; `formatDuration` and `parseDuration` round-trip.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../src/duration.js';
import { EdgefleetError } from '../src/errors.js';

const durationish = fc
  .array(
    fc.oneof(fc.nat({ max: 100_000 }).map(String), fc.constantFrom('ms', 's', 'm', 'h', 'd', '.', '5', ' ', '-', 'e', '1e400', 'µs', 'x', '9'.repeat(400))),
    {
      maxLength: 12,
    },
  )
  .map((parts) => parts.join(''));

describe('parseDuration (property tests)', () => {
  it('gives a finite whole number ≥ 0 or throws bad_request naming the text, on any text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 60 }), durationish), (text) => {
        let ms: number;
        try {
          ms = parseDuration(text, 'interval');
        } catch (err) {
          expect(err).toBeInstanceOf(EdgefleetError);
          expect((err as EdgefleetError).code).toBe('bad_request');
          expect((err as EdgefleetError).field).toBe('interval');
          expect((err as EdgefleetError).message).toContain(`invalid interval "${text}"`);
          return;
        }
        expect(Number.isInteger(ms) && ms >= 0).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('refuses a duration too long for a whole number of milliseconds, instead of answering Infinity (found by fuzzing)', () => {
    expect(() => parseDuration(`${'9'.repeat(400)}ms`, 'interval')).toThrow(/invalid interval ".*": longer than 9007199254740991 ms/);
    expect(() => parseDuration('99999999999999999999d')).toThrow(EdgefleetError);
    expect(parseDuration('104249991d')).toBe(104249991 * 86_400_000);
  });

  it('round-trips: formatDuration(ms) parses back to ms', () => {
    fc.assert(
      fc.property(fc.nat({ max: Number.MAX_SAFE_INTEGER }), (ms) => {
        expect(parseDuration(formatDuration(ms))).toBe(ms);
      }),
      { numRuns: 2000 },
    );
  });

  it('answers a long input in bounded time', () => {
    for (const text of ['1s'.repeat(100_000), `${'1'.repeat(200_000)}x`, `${'1.'.repeat(100_000)}s`]) {
      const started = performance.now();
      try {
        parseDuration(text);
      } catch {}
      expect(performance.now() - started).toBeLessThan(5_000);
    }
  });
});
