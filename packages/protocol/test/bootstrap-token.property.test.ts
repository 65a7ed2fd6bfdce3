/**
 * Property tests (issue 14, fuzzing campaign) of the bootstrap and API token formats, which
 * arrive from outside (enroll bodies, `Authorization` headers): any text parses or is refused
 * in the documented way (`token_invalid` 401 for a bootstrap token, `undefined` for an API
 * token), and every token we format parses back to its parts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatApiToken, formatBootstrapToken, parseApiToken, parseBootstrapToken } from '../src/bootstrap-token.js';
import { EdgefleetError } from '../src/errors.js';

const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`));
const secret = fc.stringMatching(/^[A-Za-z0-9_-]{43}$/);
const bootstrapParts = fc.record({ caFingerprint: hex(64), id: hex(12), secret });
const apiParts = fc.record({ id: hex(12), secret });

/** Texts close to a token: a real one with a character changed, added or cut. */
const nearToken = fc
  .tuple(
    fc.oneof(bootstrapParts.map(formatBootstrapToken), apiParts.map(formatApiToken)),
    fc.nat(),
    fc.string({ maxLength: 3 }),
    fc.constantFrom('replace', 'insert', 'cut'),
  )
  .map(([token, at, s, how]) => {
    const i = at % (token.length + 1);
    if (how === 'cut') return token.slice(0, i);
    return `${token.slice(0, i)}${s}${token.slice(how === 'replace' ? i + 1 : i)}`;
  });

describe('token formats (property tests)', () => {
  it('parseBootstrapToken: parts or token_invalid (401) with a hint, on any text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), nearToken), (text) => {
        try {
          const parts = parseBootstrapToken(text);
          expect(formatBootstrapToken(parts)).toBe(text.trim());
        } catch (err) {
          expect(err).toBeInstanceOf(EdgefleetError);
          expect((err as EdgefleetError).code).toBe('token_invalid');
          expect((err as EdgefleetError).status).toBe(401);
          expect((err as EdgefleetError).hint).toMatch(/EF1/);
          // The refusal never echoes the secret it was given.
          expect((err as EdgefleetError).message).not.toContain(text.length > 8 ? text : '\u0000never');
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('parseApiToken: parts or undefined, never a throw, on any text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), nearToken), (text) => {
        const parts = parseApiToken(text);
        if (parts !== undefined) expect(formatApiToken(parts)).toBe(text.trim());
      }),
      { numRuns: 3000 },
    );
  });

  it('round-trips every token it formats, with surrounding whitespace', () => {
    fc.assert(
      fc.property(bootstrapParts, apiParts, fc.constantFrom('', ' ', '\n', '\t '), (b, a, ws) => {
        expect(parseBootstrapToken(`${ws}${formatBootstrapToken(b)}${ws}`)).toEqual(b);
        expect(parseApiToken(`${ws}${formatApiToken(a)}${ws}`)).toEqual(a);
      }),
      { numRuns: 500 },
    );
  });
});
