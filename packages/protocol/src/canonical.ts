/**
 * Canonical JSON, so the same release always hashes to the same digest wherever it was
 * written (YAML or JSON, any key order, any whitespace): object keys sorted by UTF-16 code
 * unit order, no whitespace, strings and numbers as `JSON.stringify` writes them, `undefined`
 * members dropped. This is the JSON Canonicalization Scheme (RFC 8785) for the values a
 * manifest can hold (no NaN, no Infinity).
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('canonical JSON cannot hold NaN or Infinity');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}
