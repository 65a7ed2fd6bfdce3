/**
 * Property tests (issue 14, fuzzing campaign) of canonical JSON (RFC 8785), which hashes
 * releases for their signatures: checked against an independent writer of the RFC's rules
 * (strings escaped character by character per §3.2.2.2, numbers by ECMAScript's
 * Number::toString per §3.2.2.3, keys sorted by UTF-16 code units per §3.2.3); the text
 * parses back to the value; key order and whitespace never change it; and a value that is
 * not JSON data throws a TypeError, never anything else. The RFC's own examples and
 * Appendix B's numbers are in canonical.test.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../src/canonical.js';

const SHORT: Record<number, string> = { 8: '\\b', 9: '\\t', 10: '\\n', 12: '\\f', 13: '\\r', 34: '\\"', 92: '\\\\' };

/** RFC 8785 §3.2.2.2 by hand; a lone surrogate as its lowercase escape (ES2019, outside I-JSON). */
function rfcString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const short = SHORT[c];
    if (short !== undefined) out += short;
    else if (c < 0x20) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && s.charCodeAt(i + 1) >= 0xdc00 && s.charCodeAt(i + 1) <= 0xdfff) {
      out += s[i] + (s[i + 1] as string);
      i++;
    } else if (c >= 0xd800 && c <= 0xdfff) out += `\\u${c.toString(16)}`;
    else out += s[i];
  }
  return `${out}"`;
}

/** An independent RFC 8785 writer for JSON data. */
function rfcCanonical(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'number') return Object.is(v, -0) ? '0' : String(v);
  if (typeof v === 'string') return rfcString(v);
  if (Array.isArray(v)) return `[${v.map(rfcCanonical).join(',')}]`;
  const keys = Object.keys(v as object).sort((a, b) => {
    // UTF-16 code units, compared one by one (what `<` on strings does, written out).
    for (let i = 0; i < Math.min(a.length, b.length); i++) if (a.charCodeAt(i) !== b.charCodeAt(i)) return a.charCodeAt(i) - b.charCodeAt(i);
    return a.length - b.length;
  });
  return `{${keys.map((k) => `${rfcString(k)}:${rfcCanonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
}

const anyString = fc.oneof(fc.string({ unit: 'binary', maxLength: 20 }), fc.string({ unit: 'grapheme', maxLength: 10 }), fc.string({ maxLength: 20 }));
const json = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    anyString,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(anyString, tie('value'), { maxKeys: 4 }),
  ),
})).value;

/** Shuffles every object's keys (the same data, written in another order). */
function reorder(v: unknown, seed: number): unknown {
  if (Array.isArray(v)) return v.map((x) => reorder(x, seed));
  if (v === null || typeof v !== 'object') return v;
  const entries = Object.entries(v as object);
  const rotated = entries.map((_, i) => entries[(i + seed) % entries.length] as [string, unknown]).reverse();
  const out: Record<string, unknown> = {};
  for (const [k, x] of rotated) Object.defineProperty(out, k, { value: reorder(x, seed + 1), enumerable: true, writable: true, configurable: true });
  return out;
}

describe('canonicalJson (property tests, RFC 8785)', () => {
  it('writes what an independent RFC 8785 writer writes', () => {
    fc.assert(
      fc.property(json, (v) => {
        expect(canonicalJson(v)).toBe(rfcCanonical(v));
      }),
      { numRuns: 2000 },
    );
  });

  it('writes every double as ECMAScript Number::toString (§3.2.2.3), -0 as 0', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (n) => {
        expect(canonicalJson(n)).toBe(Object.is(n, -0) ? '0' : String(n));
        expect(Object.is(JSON.parse(canonicalJson(n)), n === 0 ? 0 : n)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('parses back to the value, is a fixed point, and ignores key order', () => {
    fc.assert(
      fc.property(json, fc.nat(), (v, seed) => {
        const text = canonicalJson(v);
        // -0 is written 0; everything else comes back as it was.
        expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(v), (_k, x) => (Object.is(x, -0) ? 0 : x)));
        expect(canonicalJson(JSON.parse(text))).toBe(text);
        expect(canonicalJson(reorder(v, seed))).toBe(text);
        expect(canonicalJson(JSON.parse(JSON.stringify(v, null, 2)))).toBe(text);
      }),
      { numRuns: 1000 },
    );
  });

  it('throws only a TypeError for values that are not JSON data', () => {
    fc.assert(
      fc.property(
        fc.anything({
          withBigInt: true,
          withBoxedValues: true,
          withDate: true,
          withMap: true,
          withSet: true,
          withNullPrototype: true,
          withTypedArray: true,
          withSparseArray: true,
          withObjectString: true,
        }),
        (v) => {
          let text: string;
          try {
            text = canonicalJson(v);
          } catch (err) {
            expect(err).toBeInstanceOf(TypeError);
            expect((err as Error).message).toMatch(/^canonical JSON /);
            return;
          }
          expect(() => JSON.parse(text)).not.toThrow();
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('writes a deep but bounded nesting', () => {
    let v: unknown = 1;
    for (let i = 0; i < 1000; i++) v = i % 2 === 0 ? [v] : { k: v };
    expect(canonicalJson(v)).toBe(rfcCanonical(v));
  });
});
