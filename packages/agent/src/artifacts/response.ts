/**
 * How the downloader reads the answer to `GET /v1/artifacts/<digest>` sent with
 * `Range: bytes=<offset>-` (or no Range at offset 0), as a pure function of status and
 * headers so every case is a table row in the tests.
 */

/** Response headers as Node and undici give them. */
export type ArtifactResponseHeaders = Record<string, string | string[] | undefined>;

/** What to do with a response. `total` is the artifact's full size when the server said it. */
export type ResponsePlan =
  /** 206 from exactly our offset: append to the partial. */
  | { action: 'append'; total: number | undefined }
  /** 200: the whole artifact from byte 0 (a server that ignores Range): truncate, then write. */
  | { action: 'restart'; total: number | undefined }
  /** The partial cannot be continued (416, or a 206 for another range): drop it and try again. */
  | { action: 'discard-partial'; reason: string }
  /** A failure the next attempt may not see (5xx, 408, 429). */
  | { action: 'retry'; reason: string }
  /** A failure no retry fixes (404 unknown artifact, 403, …). */
  | { action: 'fail'; status: number; reason: string };

/** True for statuses that say "try again later" rather than "no". */
function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/** Decides what to do with the response to a request for the bytes from `offset` on. */
export function planArtifactResponse(status: number, headers: ArtifactResponseHeaders, offset: number): ResponsePlan {
  if (status === 200) return { action: 'restart', total: contentLength(headers) };
  if (status === 206) {
    const range = parseContentRange(firstHeader(headers, 'content-range'));
    if (range === undefined || range.start !== offset) {
      return {
        action: 'discard-partial',
        reason: `the server answered a request for bytes ${offset}- with Content-Range ${JSON.stringify(firstHeader(headers, 'content-range') ?? '')}`,
      };
    }
    // With an unknown total ("/*"), the end of the range we asked for is the end of the artifact.
    return { action: 'append', total: range.total ?? range.end + 1 };
  }
  if (status === 416) return { action: 'discard-partial', reason: `the server cannot serve bytes ${offset}- (HTTP 416)` };
  if (isRetryableStatus(status)) return { action: 'retry', reason: `the server answered HTTP ${status}` };
  return { action: 'fail', status, reason: `the server answered HTTP ${status}` };
}

/** A parsed `Content-Range: bytes start-end/total` (`total` undefined for `*`). */
interface ContentRange {
  start: number;
  end: number;
  total: number | undefined;
}

/** Parses a `Content-Range` header for a satisfied byte range; undefined when it is not one. */
export function parseContentRange(value: string | undefined): ContentRange | undefined {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(value?.trim() ?? '');
  if (m === null) return undefined;
  const start = Number(m[1]);
  const end = Number(m[2]);
  const total = m[3] === '*' ? undefined : Number(m[3]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return undefined;
  if (total !== undefined && (!Number.isSafeInteger(total) || end >= total)) return undefined;
  return { start, end, total };
}

function contentLength(headers: ArtifactResponseHeaders): number | undefined {
  const value = firstHeader(headers, 'content-length');
  if (value === undefined || !/^\d+$/.test(value.trim())) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : undefined;
}

function firstHeader(headers: ArtifactResponseHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
