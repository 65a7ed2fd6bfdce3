/**
 * Property tests (issue 14, fuzzing campaign) of the `Range` and conditional headers of an
 * artifact download, which any node or viewer sends: any header text against any size gives
 * a plan and never throws; a 206 range lies inside the artifact; a well-formed single range
 * gives exactly the bytes RFC 9110 §14.1.2 says.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseRange, planArtifactResponse } from '../../src/artifacts/http-range.js';

const size = fc.oneof(fc.nat({ max: 10 }), fc.nat({ max: 2 ** 40 }), fc.constant(8 * 1024 ** 3));
const digits = fc.oneof(fc.nat({ max: 2 ** 40 }).map(String), fc.constantFrom('', '0', '00', '99999999999999999999999', '9'.repeat(400), '1e3', '-1', ' 5'));
const rangeish = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc
    .tuple(
      fc.constantFrom('bytes=', 'BYTES=', 'bytes = ', 'items=', '', 'bytes=,'),
      digits,
      fc.constantFrom('-', '--', ' - ', ''),
      digits,
      fc.constantFrom('', ',0-1', ' ', ';x'),
    )
    .map((p) => p.join('')),
);
const etag = `"sha256:${'a'.repeat(64)}"`;

describe('artifact Range and conditional headers (property tests)', () => {
  it('plans any headers against any size without throwing; a 206 lies inside the artifact', () => {
    fc.assert(
      fc.property(
        fc.option(rangeish, { nil: undefined }),
        fc.option(fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('*', etag, `W/${etag}`, `"x", ${etag}`)), { nil: undefined }),
        fc.option(fc.oneof(fc.string({ maxLength: 20 }), fc.constant(etag)), { nil: undefined }),
        size,
        (range, ifNoneMatch, ifRange, n) => {
          const plan = planArtifactResponse({ range, ifNoneMatch, ifRange }, n, etag);
          expect([200, 206, 304, 416]).toContain(plan.status);
          if (plan.status === 206) {
            expect(Number.isSafeInteger(plan.start) && Number.isSafeInteger(plan.end)).toBe(true);
            expect(0 <= plan.start && plan.start <= plan.end && plan.end < n).toBe(true);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('serves exactly the bytes of a well-formed single range', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 40 }), fc.nat({ max: 2 ** 41 }), fc.option(fc.nat({ max: 2 ** 41 }), { nil: undefined }), (n, first, last) => {
        const r = parseRange(`bytes=${first}-${last ?? ''}`, n);
        if (last !== undefined && last < first) expect(r).toEqual({ kind: 'none' });
        else if (first >= n) expect(r).toEqual({ kind: 'unsatisfiable' });
        else expect(r).toEqual({ kind: 'range', start: first, end: Math.min(last ?? n - 1, n - 1) });
      }),
      { numRuns: 2000 },
    );
  });

  it('serves the last N bytes of a suffix range', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 40 }), fc.integer({ min: 1, max: 2 ** 41 }), (n, suffix) => {
        expect(parseRange(`bytes=-${suffix}`, n)).toEqual({ kind: 'range', start: Math.max(0, n - suffix), end: n - 1 });
      }),
      { numRuns: 1000 },
    );
  });
});
