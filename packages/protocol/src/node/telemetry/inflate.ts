/**
 * Decompression with a ceiling on the output, for every compressed body a node sends.
 * A few kilobytes of deflate can expand to gigabytes; zlib stops as soon as the output
 * passes `maxBytes`, so a bomb costs at most `maxBytes` of memory and the time to produce
 * it, and the caller answers 413 instead of running out of memory.
 */
import { gunzipSync, inflateRawSync } from 'node:zlib';

/** Why `inflateLimited` failed: the output passed the ceiling, or the input is not valid compressed data. */
export class InflateError extends Error {
  readonly reason: 'too-large' | 'malformed';

  constructor(reason: 'too-large' | 'malformed', message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InflateError';
    this.reason = reason;
  }
}

/** The compressions edgefleet bodies use: gzip for JSON bodies, raw deflate inside the binary metrics format. */
export type CompressedEncoding = 'gzip' | 'deflate-raw';

/**
 * Decompresses `bytes`, refusing to produce more than `maxBytes`. Throws `InflateError`
 * (`too-large` past the ceiling, `malformed` for corrupt or truncated input). `dictionary`
 * is a preset deflate dictionary (raw deflate only).
 */
export function inflateLimited(bytes: Uint8Array, encoding: CompressedEncoding, maxBytes: number, dictionary?: Uint8Array): Buffer {
  if (!(Number.isSafeInteger(maxBytes) && maxBytes > 0)) throw new RangeError(`maxBytes must be a whole number of bytes > 0, got ${maxBytes}`);
  try {
    if (encoding === 'gzip') return gunzipSync(bytes, { maxOutputLength: maxBytes });
    return inflateRawSync(bytes, { maxOutputLength: maxBytes, ...(dictionary === undefined ? {} : { dictionary }) });
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE')
      throw new InflateError('too-large', `the ${encoding} body expands to more than ${maxBytes} bytes`, { cause: err });
    throw new InflateError('malformed', `the ${encoding} body is not valid ${encoding} data (${(err as Error).message})`, { cause: err });
  }
}
