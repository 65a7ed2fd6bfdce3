/**
 * The log batch (`application/vnd.edgefleet.logs.v1+json`): gzip-compressed JSON of a
 * `LogBatch`. Log lines are text and compress well as they are, so unlike metrics they need
 * no binary layout; JSON keeps them readable in a queue dump and close to Loki's push body.
 * Decoding assumes a hostile sender: bounded inflate, strict UTF-8, a schema for every field,
 * and a `LogDecodeError` whose message names the field.
 */
import { gzipSync } from 'node:zlib';
import { z } from 'zod';
import { LogDecodeError } from '../../telemetry/decode-error.js';
import type { LogBatch } from '../../telemetry/types.js';
import { InflateError, inflateLimited } from './inflate.js';

export { LogDecodeError } from '../../telemetry/decode-error.js';

/** What `decodeLogBatch` accepts by default. */
const LOG_DECODE_LIMITS = Object.freeze({
  /** Size of the gunzipped JSON. */
  maxDecodedBytes: 8 * 1024 * 1024,
  maxEntries: 50_000,
});

interface LogDecodeLimits {
  maxDecodedBytes?: number;
  maxEntries?: number;
}

/** Unix nanoseconds as a decimal string: up to 19 digits reaches the year 2286. */
const UNIX_NS = /^(0|[1-9][0-9]{0,18})$/;

const LogEntrySchema = z.object({
  tsNs: z.string().regex(UNIX_NS, 'must be Unix nanoseconds as a decimal string, e.g. "1767225600123456789"'),
  source: z.string().min(1, 'must name the agent or a deployment'),
  revision: z.number().int().positive().optional(),
  stream: z.enum(['stdout', 'stderr', 'agent']),
  level: z.enum(['debug', 'info', 'warn', 'error']),
  line: z.string(),
});

const LogBatchSchema = z.object({
  v: z.literal(1),
  stream: z.string().min(1, 'must be the id of the node queue'),
  seq: z.number().int().nonnegative(),
  entries: z.array(LogEntrySchema),
  suppressed: z.array(z.object({ source: z.string(), stream: z.string(), count: z.number().int().nonnegative() })).optional(),
  dropped: z.record(z.string(), z.number().int().nonnegative()).optional(),
});

const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** Encodes a batch for upload or for the disk queue (gzip, level 9: batches are small, links slow). */
export function encodeLogBatch(batch: LogBatch): Uint8Array {
  return new Uint8Array(gzipSync(JSON.stringify(batch), { level: 9 }));
}

/**
 * Decodes a batch from an untrusted node. Throws `LogDecodeError`: `too-large` past
 * `maxDecodedBytes` or `maxEntries`, `unsupported-version` for a `v` other than 1,
 * `malformed` (naming the field) for everything else.
 */
export function decodeLogBatch(bytes: Uint8Array, limits: LogDecodeLimits = {}): LogBatch {
  const maxDecodedBytes = limits.maxDecodedBytes ?? LOG_DECODE_LIMITS.maxDecodedBytes;
  const maxEntries = limits.maxEntries ?? LOG_DECODE_LIMITS.maxEntries;
  const json = parseJson(gunzip(bytes, maxDecodedBytes));
  checkVersionAndSize(json, maxEntries);
  const parsed = LogBatchSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new LogDecodeError('malformed', `log batch field ${fieldPath(issue?.path ?? [])}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data as LogBatch;
}

function gunzip(bytes: Uint8Array, maxDecodedBytes: number): string {
  let raw: Buffer;
  try {
    raw = inflateLimited(bytes, 'gzip', maxDecodedBytes);
  } catch (err) {
    if (err instanceof InflateError) throw new LogDecodeError(err.reason, `log batch: ${err.message}`, { cause: err });
    throw err;
  }
  try {
    return utf8Strict.decode(raw);
  } catch {
    throw new LogDecodeError('malformed', 'log batch: the JSON is not valid UTF-8');
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new LogDecodeError('malformed', `log batch: not valid JSON (${(err as Error).message})`);
  }
}

/** Checked before the schema, so a newer agent's batch is named as such and a huge one costs no validation. */
function checkVersionAndSize(json: unknown, maxEntries: number): void {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new LogDecodeError('malformed', 'log batch: the JSON must be an object');
  const { v, entries } = json as { v?: unknown; entries?: unknown };
  if (typeof v === 'number' && v !== 1)
    throw new LogDecodeError(
      'unsupported-version',
      `log batch version ${v} is not supported (this build reads version 1); upgrade the server before its nodes`,
    );
  if (Array.isArray(entries) && entries.length > maxEntries)
    throw new LogDecodeError('too-large', `log batch holds ${entries.length} entries, over the limit of ${maxEntries}`);
}

/** `entries[3].tsNs` rather than zod's `entries.3.tsNs`. */
function fieldPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('');
}
