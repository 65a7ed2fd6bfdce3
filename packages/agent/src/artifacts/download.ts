import { addAbortSignal, Readable } from 'node:stream';
import { sleep as abortableSleep, backoffDelay, EdgefleetError, errors, retryClassOf } from '@edgefleet/protocol';
import { artifactDigestHex } from './digest.js';
import { diskFullError, isDiskFull } from './errors.js';
import type { LocalArtifactStore } from './local-store.js';
import type { PartialArtifact } from './partial.js';
import { type ArtifactResponseHeaders, planArtifactResponse } from './response.js';

/**
 * Where artifact bytes come from. `EdgefleetClient.openArtifact` has exactly this shape;
 * tests put a plain HTTP server behind it. `offset > 0` means "send `Range: bytes=offset-`".
 * An implementation may return an error status or throw an `EdgefleetError` carrying it.
 */
export interface ArtifactSource {
  open(digest: string, offset: number, signal?: AbortSignal): Promise<{ status: number; headers: ArtifactResponseHeaders; body: Readable }>;
}

/** What {@link downloadArtifact} needs. */
export interface DownloadOptions {
  source: ArtifactSource;
  /** `sha256:<64 hex>`; anything else is refused before a path is built. */
  digest: string;
  store: LocalArtifactStore;
  /** Stops the download; the partial stays for the next run. */
  signal?: AbortSignal;
  /** Attempts before a transient failure is given up on (default 5). */
  maxAttempts?: number;
  /** Waits between attempts, less when `signal` aborts (then the next attempt throws its reason). Injected in tests. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Uniform [0, 1) for backoff jitter. */
  random?: () => number;
  /** Bytes in the partial so far (resumed bytes included) and the full size when known. */
  onProgress?: (received: number, total: number | undefined) => void;
}

/** A completed download. */
export interface DownloadResult {
  /** The verified blob in the store. */
  path: string;
  /** Its size. */
  bytes: number;
  /** The byte the successful attempt started from: > 0 when it continued a partial. */
  resumedFrom: number;
  /** Attempts made; 0 when the artifact was already in the store. */
  attempts: number;
}

/** Default for {@link DownloadOptions.maxAttempts}. */
export const DEFAULT_DOWNLOAD_ATTEMPTS = 5;
const BACKOFF_BASE_MS = 1_000;
const BACKOFF_CAP_MS = 60_000;

/** A failure the next attempt may not see; the partial is kept so it resumes. */
class TransientDownloadError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'TransientDownloadError';
  }
}

/**
 * Downloads an artifact into the store, resuming a partial left by an earlier run, and
 * returns only once the bytes hash to `digest` and sit in `sha256/`.
 *
 * - Transient failures (connection reset, 5xx, truncated body, timeouts) are retried with
 *   exponential backoff and full jitter, up to `maxAttempts`; the last one throws
 *   `download_failed` and the partial stays, so a later call resumes.
 * - A refusal (404, 403, …) throws at once.
 * - Bytes that do not hash to the digest throw `digest_mismatch` and leave no file at all.
 * - A full disk deletes the partial and throws `disk_full`.
 * - Aborting `signal` throws its reason and keeps the partial.
 */
export async function downloadArtifact(opts: DownloadOptions): Promise<DownloadResult> {
  const { digest, store, signal } = opts;
  artifactDigestHex(digest);
  if (store.has(digest)) return { path: store.pathOf(digest), bytes: store.sizeOf(digest), resumedFrom: 0, attempts: 0 };
  signal?.throwIfAborted();
  const requested = opts.maxAttempts ?? DEFAULT_DOWNLOAD_ATTEMPTS;
  // NaN would never compare >= an attempt number and so retry forever.
  const maxAttempts = Number.isFinite(requested) ? Math.max(1, Math.floor(requested)) : DEFAULT_DOWNLOAD_ATTEMPTS;
  const sleep = opts.sleep ?? abortableSleep;
  const random = opts.random ?? Math.random;
  let partial: PartialArtifact | undefined;
  try {
    // Opened once and kept across attempts, so a retry does not re-hash what is on disk.
    partial = await store.openPartial(digest);
    // A crash between the last write and the rename leaves a whole artifact in partial/.
    if (partial.size > 0 && partial.isComplete()) {
      const bytes = partial.size;
      return { path: await partial.commit(), bytes, resumedFrom: bytes, attempts: 0 };
    }
    for (let attempt = 1; ; attempt += 1) {
      signal?.throwIfAborted();
      if (partial.faulted) {
        // A failed local write may have left bytes the hash never saw: re-read the file.
        await partial.close().catch(() => undefined);
        partial = undefined;
        partial = await store.openPartial(digest);
      }
      try {
        return { ...(await attemptDownload(partial, opts)), attempts: attempt };
      } catch (err) {
        signal?.throwIfAborted();
        if (!(err instanceof TransientDownloadError)) throw err;
        if (attempt >= maxAttempts) throw givenUp(digest, attempt, partial.size, err);
        await sleep(backoffDelay(attempt - 1, { random, baseMs: BACKOFF_BASE_MS, capMs: BACKOFF_CAP_MS }), signal);
      }
    }
  } catch (err) {
    if (isDiskFull(err)) {
      // A full disk should not also hold half a model: drop the partial, report, retry later.
      if (partial === undefined) store.discardPartial(digest);
      else await partial.discard();
      throw diskFullError(digest, store.root, err);
    }
    throw err;
  } finally {
    // Keeps the partial (or deletes it if empty). Its fsync only protects progress, not
    // correctness, since the next open re-hashes the file, so a failure here is not fatal.
    await partial?.close().catch(() => undefined);
  }
}

/** One request: continue or restart the partial from the response, stream into it, commit. */
async function attemptDownload(partial: PartialArtifact, opts: DownloadOptions): Promise<Omit<DownloadResult, 'attempts'>> {
  const { source, digest, signal } = opts;
  let body: Readable | undefined;
  try {
    const offset = partial.size;
    const res = await openSource(source, digest, offset, signal);
    body = res.body;
    const plan = planArtifactResponse(res.status, res.headers, offset);
    switch (plan.action) {
      case 'fail':
        throw refused(digest, plan.status);
      case 'retry':
        throw new TransientDownloadError(plan.reason);
      case 'discard-partial':
        await partial.restart();
        throw new TransientDownloadError(plan.reason);
      case 'restart':
        if (partial.size > 0) await partial.restart();
        break;
      case 'append':
        break;
    }
    const resumedFrom = partial.size;
    opts.onProgress?.(partial.size, plan.total);
    // Stop reading at once on abort even if the source ignored the signal.
    const stream = signal === undefined ? body : addAbortSignal(signal, body);
    for await (const chunk of stream as AsyncIterable<Uint8Array>) {
      await partial.write(chunk);
      opts.onProgress?.(partial.size, plan.total);
    }
    if (plan.total !== undefined && partial.size < plan.total) {
      throw new TransientDownloadError(`the connection ended after ${partial.size} of ${plan.total} bytes`);
    }
    return { path: await partial.commit(), bytes: partial.size, resumedFrom };
  } catch (err) {
    if (isDiskFull(err) || err instanceof EdgefleetError || err instanceof TransientDownloadError || signal?.aborted === true) throw err;
    // Anything else (a reset socket, a body timeout, a read or write error) may pass on retry.
    throw new TransientDownloadError(`the download broke off: ${(err as Error).message}`, err);
  } finally {
    body?.destroy();
  }
}

/** Opens the source, turning a thrown status into the same decision a returned one gets. */
async function openSource(source: ArtifactSource, digest: string, offset: number, signal: AbortSignal | undefined) {
  try {
    return await source.open(digest, offset, signal);
  } catch (err) {
    if (!(err instanceof EdgefleetError)) throw err;
    if (err.status === 416) return { status: 416, headers: {}, body: Readable.from([]) };
    // The code's retry class decides: unreachable or busy passes on retry; an untrusted server stays untrusted.
    if (retryClassOf(err) !== 'terminal') {
      throw new TransientDownloadError(err.message, err);
    }
    throw err;
  }
}

function refused(digest: string, status: number): EdgefleetError {
  const message = `the server refused artifact ${digest} with HTTP ${status}`;
  if (status === 404) return errors.notFound(message, 'the server does not have this artifact: push it (edgefleet artifact push) or fix the digest');
  const hint = "check the node's certificate and the server";
  // The wire status stays on the error: a 410 or 422 is still "bad request" to the agent, but its log says which.
  const code = status === 401 ? 'unauthenticated' : status === 403 ? 'forbidden' : 'bad_request';
  return new EdgefleetError({ code, status, message, hint });
}

function givenUp(digest: string, attempts: number, kept: number, last: TransientDownloadError): EdgefleetError {
  return errors.downloadFailed(
    `downloading artifact ${digest} failed ${attempts} times; last: ${last.message}`,
    `${kept} bytes are kept, so the next try resumes from there`,
    { cause: last },
  );
}
