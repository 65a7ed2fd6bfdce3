/**
 * How a GET or HEAD of an artifact is answered, decided from the request's conditional and
 * range headers alone (RFC 9110 §13 and §14). Pure, so it is tested as a table; the route
 * only carries the decision out.
 */
export type ArtifactResponsePlan = { status: 200 } | { status: 206; start: number; end: number } | { status: 304 } | { status: 416 };

/** The request headers the plan depends on. */
export interface ConditionalHeaders {
  range?: string | undefined;
  ifNoneMatch?: string | undefined;
  ifRange?: string | undefined;
}

/** A single byte range, inclusive at both ends, or why there is none. */
type RangeRequest = { kind: 'none' } | { kind: 'range'; start: number; end: number } | { kind: 'unsatisfiable' };

/**
 * Reads a `Range` header against a representation of `size` bytes. One range only:
 * `bytes=N-`, `bytes=N-M`, `bytes=-N`. A header we do not understand — another unit, bad
 * syntax, several ranges — is ignored (the whole artifact is served), as RFC 9110 allows;
 * a well-formed range that starts past the end is unsatisfiable.
 */
export function parseRange(header: string | undefined, size: number): RangeRequest {
  if (header === undefined) return { kind: 'none' };
  const m = /^bytes=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header.trim());
  if (m === null) return { kind: 'none' };
  const [, first = '', last = ''] = m;
  if (first === '') {
    if (last === '') return { kind: 'none' };
    // Suffix range: the last N bytes.
    const n = Number(last);
    if (n === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'range', start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(first);
  if (last !== '' && Number(last) < start) return { kind: 'none' };
  if (start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'range', start, end: last === '' ? size - 1 : Math.min(Number(last), size - 1) };
}

/** Strips the weak marker: `If-None-Match` compares entity tags weakly. */
function opaque(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag;
}

/** True when an `If-None-Match` header names `etag` (or is `*`, as the artifact exists). */
function noneMatchHits(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const tags = header.split(',').map((t) => t.trim());
  return tags.includes('*') || tags.some((t) => opaque(t) === opaque(etag));
}

/**
 * True when a `Range` may be honoured under `If-Range`: absent, or a strong entity tag equal
 * to ours. A date is never enough — we send no `Last-Modified` to compare it with — so the
 * client gets the whole artifact, which is always correct.
 */
function ifRangeHolds(header: string | undefined, etag: string): boolean {
  if (header === undefined) return true;
  return header.trim() === etag;
}

/** Decides the status (and byte range) of a GET or HEAD of an artifact of `size` bytes. */
export function planArtifactResponse(headers: ConditionalHeaders, size: number, etag: string): ArtifactResponsePlan {
  // If-None-Match is evaluated before Range: a client holding the content wants no bytes.
  if (noneMatchHits(headers.ifNoneMatch, etag)) return { status: 304 };
  if (headers.range === undefined || !ifRangeHolds(headers.ifRange, etag)) return { status: 200 };
  const range = parseRange(headers.range, size);
  if (range.kind === 'none') return { status: 200 };
  if (range.kind === 'unsatisfiable') return { status: 416 };
  return { status: 206, start: range.start, end: range.end };
}
