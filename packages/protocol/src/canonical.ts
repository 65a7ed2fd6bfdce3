/**
 * Canonical JSON, so the same release always hashes to the same digest wherever it was
 * written (YAML or JSON, any key order, any whitespace): the JSON Canonicalization Scheme
 * (RFC 8785) for JSON data. Object keys sorted by UTF-16 code unit order, no whitespace,
 * numbers as ECMAScript writes them (RFC 8785 §3.2.2.3 is that algorithm: -0 is `0`,
 * `1e+21`, `1e-7`), strings as `JSON.stringify` writes them (RFC 8785 §3.2.2.2: only `"`,
 * `\` and U+0000..U+001F escaped, `\b \t \n \f \r` short, the rest `\u00xx` lowercase).
 *
 * Where JavaScript values go beyond JSON data, the choices are fixed here so two values
 * never collapse to one text: `undefined` members are dropped and `undefined` array items
 * are `null` (as `JSON.stringify` does); NaN, Infinity, functions, symbols, bigints, a
 * top-level `undefined`, cycles and objects that are not plain (Date, Map, class
 * instances) throw a TypeError. A lone surrogate in a string is written as its `\udxxx`
 * escape (ES2019 `JSON.stringify`); RFC 8785 expects I-JSON input, which has none.
 */
export function canonicalJson(value: unknown): string {
  return write(value, new Set());
}

function write(value: unknown, ancestors: Set<object>): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('canonical JSON cannot hold NaN or Infinity');
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      // Without this, a function member came out as the text `undefined`: not JSON at all.
      throw new TypeError(`canonical JSON cannot hold a ${typeof value}`);
  }
  const obj = value as object;
  if (ancestors.has(obj)) throw new TypeError('canonical JSON cannot hold a cyclic structure');
  const proto: unknown = Object.getPrototypeOf(obj);
  if (!Array.isArray(obj) && proto !== Object.prototype && proto !== null) {
    // A Date or Map has no own enumerable keys: it would be `{}`, equal to every other one.
    throw new TypeError(`canonical JSON holds plain objects and arrays only, not ${obj.constructor?.name ?? 'this object'}`);
  }
  ancestors.add(obj);
  try {
    if (Array.isArray(obj)) return `[${Array.from(obj, (v: unknown) => (v === undefined ? 'null' : write(v, ancestors))).join(',')}]`;
    const entries = Object.entries(obj as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${write(v, ancestors)}`).join(',')}}`;
  } finally {
    ancestors.delete(obj);
  }
}
