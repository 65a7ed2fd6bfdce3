import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../src/canonical.js';
import { sha256Hex } from '../src/node/sha256.js';

/** The IEEE 754 double whose bits are this hex, as RFC 8785 Appendix B lists them. */
function double(hex: string): number {
  return Buffer.from(hex, 'hex').readDoubleBE(0);
}

describe('canonicalJson: numbers (RFC 8785 Appendix B)', () => {
  const table: Array<[string, string]> = [
    ['0000000000000000', '0'],
    ['8000000000000000', '0'], // -0
    ['0000000000000001', '5e-324'],
    ['8000000000000001', '-5e-324'],
    ['7fefffffffffffff', '1.7976931348623157e+308'],
    ['ffefffffffffffff', '-1.7976931348623157e+308'],
    ['4340000000000000', '9007199254740992'],
    ['c340000000000000', '-9007199254740992'],
    ['4430000000000000', '295147905179352830000'],
    ['44b52d02c7e14af5', '9.999999999999997e+22'],
    ['44b52d02c7e14af6', '1e+23'],
    ['44b52d02c7e14af7', '1.0000000000000001e+23'],
    ['444b1ae4d6e2ef4e', '999999999999999700000'],
    ['444b1ae4d6e2ef4f', '999999999999999900000'],
    ['444b1ae4d6e2ef50', '1e+21'],
    ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
    ['3eb0c6f7a0b5ed8d', '0.000001'],
    ['41b3de4355555553', '333333333.3333332'],
    ['41b3de4355555554', '333333333.33333325'],
    ['41b3de4355555555', '333333333.3333333'],
    ['41b3de4355555556', '333333333.3333334'],
    ['41b3de4355555557', '333333333.33333343'],
    ['becbf647612f3696', '-0.0000033333333333333333'],
    ['43143ff3c1cb0959', '1424953923781206.2'],
  ];
  it.each(table)('%s → %s', (hex, text) => {
    expect(canonicalJson(double(hex))).toBe(text);
  });

  it.each([
    [-0, '0'],
    [1e21, '1e+21'],
    [1e-7, '1e-7'],
    [4.5, '4.5'],
    [2e-3, '0.002'],
    [0.000001, '0.000001'],
    [1e30, '1e+30'],
    [100, '100'],
  ])('%s → %s', (n, text) => {
    expect(canonicalJson(n)).toBe(text);
  });

  it('writes numbers as they parse, whatever their spelling in the source', () => {
    expect(canonicalJson(JSON.parse('[4.50, 2e-3, 1E30, 0.000000000000000000000000001, 333333333.33333329, -0.0]'))).toBe(
      '[4.5,0.002,1e+30,1e-27,333333333.3333333,0]',
    );
  });

  it.each([NaN, Infinity, -Infinity, double('7fffffffffffffff'), double('7ff0000000000000')])('refuses %s', (n) => {
    expect(() => canonicalJson(n)).toThrow(/NaN or Infinity/);
    expect(() => canonicalJson({ a: [n] })).toThrow(/NaN or Infinity/);
  });
});

describe('canonicalJson: strings (RFC 8785 §3.2.2.2)', () => {
  it('writes the RFC example', () => {
    // "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/" from §3.2.2
    const parsed = JSON.parse('"\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/"') as string;
    expect(canonicalJson(parsed)).toBe('"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"');
  });

  it('uses the short escapes for \\b \\t \\n \\f \\r and lowercase \\u00xx for other controls', () => {
    expect(canonicalJson('\b\t\n\f\r')).toBe('"\\b\\t\\n\\f\\r"');
    for (let c = 0; c < 0x20; c++) {
      if ([8, 9, 10, 12, 13].includes(c)) continue;
      expect(canonicalJson(String.fromCharCode(c))).toBe(`"\\u${c.toString(16).padStart(4, '0')}"`);
    }
    expect(canonicalJson('\u001f\u000b')).toBe('"\\u001f\\u000b"');
  });

  it('escapes only " and \\ otherwise: not /, not DEL, not non-ASCII, not U+2028', () => {
    expect(canonicalJson('a/b"c\\d')).toBe('"a/b\\"c\\\\d"');
    expect(canonicalJson('\u007f\u0080ö€😀\u2028\u2029')).toBe('"\u007f\u0080ö€😀\u2028\u2029"');
  });

  it('writes a lone surrogate as its escape (outside I-JSON, so outside RFC 8785: pinned here)', () => {
    expect(canonicalJson('\ud800')).toBe('"\\ud800"');
    expect(canonicalJson('a\udc00b')).toBe('"a\\udc00b"');
    // and a well-formed pair stays as it is
    expect(canonicalJson('\ud83d\ude00')).toBe('"😀"');
  });

  it('does not normalize Unicode (RFC 8785 §3.2.2.2): composed and decomposed forms differ', () => {
    expect(canonicalJson('\u00e9')).not.toBe(canonicalJson('e\u0301'));
    expect(canonicalJson({ '\u00e9': 1, 'e\u0301': 2 })).toBe('{"e\u0301":2,"\u00e9":1}');
  });

  it('hashes the UTF-8 bytes of the canonical text', () => {
    const text = canonicalJson({ '€': 'ö😀' });
    expect(sha256Hex(text)).toBe(createHash('sha256').update(Buffer.from(text, 'utf8')).digest('hex'));
    expect(sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });
});

describe('canonicalJson: objects and arrays', () => {
  it('writes the RFC §3.2.2 example', () => {
    const input = JSON.parse(`{
      "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
      "string": "\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\"\\/",
      "literals": [null, true, false]
    }`);
    expect(canonicalJson(input)).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  it('sorts keys by UTF-16 code units (the RFC §3.2.3 example), not by code point or locale', () => {
    const input = JSON.parse(`{
      "\\u20ac": "Euro Sign",
      "\\r": "Carriage Return",
      "\\ufb33": "Hebrew Letter Dalet With Dagesh",
      "1": "One",
      "\\ud83d\\ude00": "Emoji: Grinning Face",
      "\\u0080": "Control",
      "\\u00f6": "Latin Small Letter O With Diaeresis",
      "<!--": "Comment"
    }`);
    const out = canonicalJson(input);
    const keys = Object.keys(JSON.parse(out) as object);
    // Integer-like keys come first in JS key order; compare the text's order instead.
    const order = [...out.matchAll(/"((?:[^"\\]|\\.)*)":/g)].map((m) => JSON.parse(`"${m[1]}"`) as string);
    expect(order).toEqual(['\r', '1', '<!--', '\u0080', '\u00f6', '\u20ac', '\ud83d\ude00', '\ufb33']);
    expect(keys).toHaveLength(8);
    // U+1F600 is above U+FB33 as a code point but its first UTF-16 unit (D83D) is below FB33.
    expect(out).toBe(
      '{"\\r":"Carriage Return","1":"One","<!--":"Comment","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  it('sorts uppercase before lowercase and shorter prefixes first', () => {
    expect(canonicalJson({ b: 1, a: 2, B: 3, aa: 4, '': 5, '10': 6, '9': 7 })).toBe('{"":5,"10":6,"9":7,"B":3,"a":2,"aa":4,"b":1}');
  });

  it('sorts nested objects, keeps array order, and writes no whitespace', () => {
    const a = { z: [3, { y: 1, x: [] }, 'q'], a: { c: { e: null, d: true }, b: {} } };
    const b = { a: { b: {}, c: { d: true, e: null } }, z: [3, { x: [], y: 1 }, 'q'] };
    expect(canonicalJson(a)).toBe('{"a":{"b":{},"c":{"d":true,"e":null}},"z":[3,{"x":[],"y":1},"q"]}');
    expect(canonicalJson(b)).toBe(canonicalJson(a));
    expect(canonicalJson([[1, [2, [3]]], []])).toBe('[[1,[2,[3]]],[]]');
  });

  it('writes the same text for a value and its JSON round trip', () => {
    const v = { s: 'x\u0000y', n: [0.1, -1e-9, 12345678901234567000], t: true, o: { ключ: 'значение' } };
    expect(canonicalJson(JSON.parse(JSON.stringify(v)))).toBe(canonicalJson(v));
    expect(canonicalJson(JSON.parse(canonicalJson(v)))).toBe(canonicalJson(v));
  });

  it('accepts objects without a prototype (as some parsers make them)', () => {
    const o = Object.create(null) as Record<string, unknown>;
    o.b = 1;
    o.a = 2;
    expect(canonicalJson(o)).toBe('{"a":2,"b":1}');
  });

  it('drops undefined members and writes undefined or missing array items as null (as JSON.stringify does)', () => {
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
    expect(canonicalJson([undefined, 1])).toBe('[null,1]');
    // biome-ignore lint/suspicious/noSparseArray: the hole is the case under test
    expect(canonicalJson([, 1])).toBe('[null,1]');
  });

  it('lets the same object appear twice when it is not its own ancestor', () => {
    const shared = { k: 1 };
    expect(canonicalJson({ a: shared, b: [shared, shared] })).toBe('{"a":{"k":1},"b":[{"k":1},{"k":1}]}');
  });
});

describe('canonicalJson: values JSON cannot hold', () => {
  it.each([
    ['a function', () => 1, /function/],
    ['a symbol', Symbol('s'), /symbol/],
    ['a bigint', 1n, /bigint/],
    ['undefined', undefined, /undefined/],
  ])('refuses %s, alone or as a member', (_what, v, message) => {
    expect(() => canonicalJson(v)).toThrow(message);
    if (v !== undefined) {
      expect(() => canonicalJson({ a: v })).toThrow(TypeError);
      expect(() => canonicalJson([v])).toThrow(TypeError);
    }
  });

  it('refuses cycles with a TypeError, not a stack overflow', () => {
    const o: Record<string, unknown> = { a: 1 };
    o.self = o;
    expect(() => canonicalJson(o)).toThrow(/cyclic/);
    const arr: unknown[] = [1];
    arr.push({ back: arr });
    expect(() => canonicalJson(arr)).toThrow(/cyclic/);
  });

  it.each([
    ['Date', new Date(0)],
    ['Map', new Map([['a', 1]])],
    ['Set', new Set([1])],
    ['class instance', new (class Release {})()],
    ['Uint8Array', new Uint8Array([1, 2])],
  ])('refuses a %s rather than writing it as {} (two different ones would hash the same)', (_what, v) => {
    expect(() => canonicalJson(v)).toThrow(/plain objects and arrays only/);
    expect(() => canonicalJson({ at: v })).toThrow(TypeError);
  });
});
