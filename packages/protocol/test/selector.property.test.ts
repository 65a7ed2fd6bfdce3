/**
 * Property tests (issue 14, fuzzing campaign) of the label selector parser, which takes
 * outside input (`?selector=`, manifests): any text either parses or throws the documented
 * `invalid_selector` error with the text and a reason; a parsed selector written back parses
 * to the same selector; and a long input is answered in bounded time.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EdgefleetError } from '../src/errors.js';
import { formatSelector, matchesSelector, parseSelector } from '../src/selector.js';

/** Parses, or returns the documented error; anything else thrown fails the property. */
function parseOrError(text: string): ReturnType<typeof parseSelector> | EdgefleetError {
  try {
    return parseSelector(text);
  } catch (err) {
    expect(err).toBeInstanceOf(EdgefleetError);
    const e = err as EdgefleetError;
    expect(e.code).toBe('invalid_selector');
    expect(e.status).toBe(400);
    expect(e.message).toMatch(/^invalid label selector ".*": \S/s);
    expect(e.hint.length).toBeGreaterThan(0);
    return e;
  }
}

const name = fc.stringMatching(/^[a-z0-9]([a-z0-9._-]{0,10}[a-z0-9])?$/);
const key = fc.oneof(
  name,
  fc.tuple(fc.stringMatching(/^[a-z0-9]{1,8}(\.[a-z0-9]{1,8}){0,2}$/), name).map(([p, n]) => `${p}/${n}`),
);
const value = fc.oneof(fc.constant(''), name);
/** One requirement in kubectl syntax, with optional spaces. */
const requirement = fc.oneof(
  fc.tuple(key, fc.constantFrom('=', '==', '!='), value).map(([k, op, v]) => `${k}${op}${v}`),
  fc.tuple(key, fc.constantFrom('in', 'notin'), fc.array(name, { minLength: 1, maxLength: 4 })).map(([k, op, vs]) => `${k} ${op} (${vs.join(', ')})`),
  key,
  key.map((k) => `!${k}`),
);
const validSelector = fc.array(requirement, { minLength: 1, maxLength: 6 }).map((rs) => rs.join(','));
/** Text made mostly of the selector's own alphabet, so the parser gets far before it fails. */
const selectorish = fc
  .array(fc.constantFrom('a', 'k', 'b.c/d', '=', '==', '!=', '!', '(', ')', ',', ' ', 'in', 'notin', ' in ', '-', '_', '.', '/', '\t', 'é', '\u0000'), {
    maxLength: 40,
  })
  .map((parts) => parts.join(''));

describe('parseSelector (property tests)', () => {
  it('throws nothing but invalid_selector with a reason, on any text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 100 }), selectorish), (text) => {
        parseOrError(text);
      }),
      { numRuns: 2000 },
    );
  });

  it('parses every well-formed selector, and its written form parses to the same selector', () => {
    fc.assert(
      fc.property(validSelector, (text) => {
        const parsed = parseSelector(text);
        const written = formatSelector(parsed);
        expect(parseSelector(written)).toEqual(parsed);
        expect(formatSelector(parseSelector(written))).toBe(written);
      }),
      { numRuns: 1000 },
    );
  });

  it('matches the same labels before and after a round trip', () => {
    fc.assert(
      fc.property(validSelector, fc.dictionary(key, value, { maxKeys: 5 }), (text, labels) => {
        const parsed = parseSelector(text);
        expect(matchesSelector(parseSelector(formatSelector(parsed)), labels)).toBe(matchesSelector(parsed, labels));
      }),
      { numRuns: 500 },
    );
  });

  it('answers a long input in bounded time (no backtracking blow-up)', () => {
    for (const text of ['a,'.repeat(50_000), `k in (${'v,'.repeat(50_000)}`, '('.repeat(100_000), `${'a'.repeat(100_000)}=`, '!'.repeat(100_000)]) {
      const started = performance.now();
      parseOrError(text);
      // Generous: a linear parser does this in milliseconds even on a loaded machine.
      expect(performance.now() - started).toBeLessThan(5_000);
    }
  });
});
