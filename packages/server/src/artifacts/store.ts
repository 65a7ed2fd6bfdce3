import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, type Stats, statSync } from 'node:fs';
import { type FileHandle, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { type EdgefleetError, errors } from '@edgefleet/protocol';
import { type SharedFile, SharedFiles } from './shared-files.js';

/** `sha256:` and 64 lowercase hex digits: the only form in which an artifact is named. */
const DIGEST = /^sha256:([0-9a-f]{64})$/;
/** A blob's file name: the bare hex of its digest. Anything else in `sha256/` is ignored. */
const BLOB_NAME = /^[0-9a-f]{64}$/;
/** A temp file older than this belongs to an upload that can no longer be running. */
export const STALE_TEMP_MS = 60 * 60 * 1000;

/** One stored artifact. `createdAt` is the blob's mtime: when it was first stored. */
export interface ArtifactEntry {
  digest: string;
  size: number;
  createdAt: Date;
}

/** An artifact opened for reading. Its size is that of the open file, so it cannot change underneath. */
export interface OpenedArtifact {
  entry: ArtifactEntry;
  /**
   * Streams bytes `start..end` (inclusive, like `fs.createReadStream`) of the open file and
   * closes it when the stream ends, fails or is destroyed. Call at most once.
   */
  stream(range?: { start: number; end: number }): Readable;
  /** Closes the file without reading it (HEAD, 304, 416). */
  close(): Promise<void>;
}

/** Options of {@link ArtifactStore.put}. */
export interface PutOptions {
  /** Refuse (413) an upload that grows past this many bytes. */
  maxBytes?: number;
}

/**
 * Where the server keeps artifacts: a directory ({@link ArtifactStore}, one server) or the
 * PostgreSQL database (artifacts/database-store.ts, replicas that share no volume). Both
 * are content-addressed and store an upload only once it is complete and hashed.
 */
export interface ArtifactStorage {
  /** Stores what `source` yields (hashed here) and returns its entry; see {@link ArtifactStore.put}. */
  put(source: Readable | AsyncIterable<Uint8Array>, opts?: PutOptions): Promise<ArtifactEntry>;
  has(digest: string): Promise<boolean>;
  size(digest: string): Promise<number | undefined>;
  stat(digest: string): Promise<ArtifactEntry | undefined>;
  /** Every stored artifact, sorted by digest. */
  list(): Promise<ArtifactEntry[]>;
  /** Opens `digest` for reading, or returns undefined when it is not stored. */
  open(digest: string): Promise<OpenedArtifact | undefined>;
}

/** Returns the 64-hex part of a `sha256:<hex>` digest, or undefined when it is not one. */
export function digestHex(digest: string): string | undefined {
  return DIGEST.exec(digest)?.[1];
}

export function invalidDigest(digest: string): EdgefleetError {
  const shown = digest.length > 80 ? `${digest.slice(0, 80)}…` : digest;
  return errors.badRequest(
    `invalid artifact digest "${shown}": must be "sha256:" followed by 64 lowercase hex digits`,
    'name artifacts by the digest "edgefleet artifact push" printed, e.g. sha256:9f86d08…',
    { field: 'digest' },
  );
}

function isErrno(err: unknown, ...codes: string[]): boolean {
  return codes.includes((err as NodeJS.ErrnoException | undefined)?.code ?? '');
}

/**
 * The server's content-addressed artifact store, a directory:
 *
 *     sha256/<hex>   one immutable blob per digest, named by the sha256 of its content
 *     tmp/<random>   uploads in flight
 *
 * The filesystem is the index: there is no database row to drift from the blobs. An upload
 * is hashed while it is written to `tmp/`, fsynced, and renamed to `sha256/<hex>` only once
 * complete, so a blob file exists only with its whole, verified content; a crash leaves at
 * most a temp file behind. Paths are only ever built from a validated 64-hex digest or a
 * name this class generated, never from what a client sent.
 */
export class ArtifactStore implements ArtifactStorage {
  readonly root: string;
  private readonly blobDir: string;
  private readonly tmpDir: string;
  private readonly readers = new SharedFiles();

  /**
   * Creates the directories and removes temp files older than an hour. Younger ones are
   * left alone: another server process sharing this directory may be writing them.
   * `opts.now` (ms since 1970) stands in for the current time in tests.
   */
  constructor(root: string, opts: { now?: number } = {}) {
    this.root = root;
    this.blobDir = join(root, 'sha256');
    this.tmpDir = join(root, 'tmp');
    mkdirSync(this.blobDir, { recursive: true });
    mkdirSync(this.tmpDir, { recursive: true });
    this.removeStaleTemp(opts.now ?? Date.now());
  }

  /** Removes temp files last written more than {@link STALE_TEMP_MS} before `now`; returns how many. */
  removeStaleTemp(now = Date.now()): number {
    let removed = 0;
    for (const name of readdirSync(this.tmpDir)) {
      const path = join(this.tmpDir, name);
      try {
        if (now - statSync(path).mtimeMs > STALE_TEMP_MS) {
          rmSync(path, { force: true, recursive: true });
          removed++;
        }
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
      }
    }
    return removed;
  }

  /**
   * Stores what `source` yields and returns its entry. The digest is computed here, from
   * the bytes as written. Storing content that is already present changes nothing.
   * Throws 507 `insufficient_storage` when the disk fills, 413 past `maxBytes`, and 400
   * when the source fails (an interrupted upload); in every case the temp file is removed.
   */
  async put(source: Readable | AsyncIterable<Uint8Array>, opts: PutOptions = {}): Promise<ArtifactEntry> {
    const tmp = join(this.tmpDir, randomBytes(16).toString('hex'));
    const hash = createHash('sha256');
    let size = 0;
    let file: FileHandle | undefined;
    try {
      file = await open(tmp, 'wx', 0o644);
      // Pulled by hand, not with for-await: leaving the loop must not destroy the source,
      // because for an HTTP upload that would take down the socket the error answer needs.
      const chunks = source[Symbol.asyncIterator]();
      for (;;) {
        let next: IteratorResult<Uint8Array>;
        try {
          next = await chunks.next();
        } catch (err) {
          throw errors.badRequest(`the upload was interrupted after ${size} bytes: ${(err as Error).message}`, 'push the file again', { cause: err });
        }
        if (next.done) break;
        const chunk = typeof next.value === 'string' ? Buffer.from(next.value) : next.value;
        size += chunk.byteLength;
        if (opts.maxBytes !== undefined && size > opts.maxBytes) {
          throw errors.payloadTooLarge(
            `the artifact is larger than the limit of ${opts.maxBytes} bytes`,
            'ship a smaller model, or split it into several artifacts',
          );
        }
        hash.update(chunk);
        await writeAll(file, chunk);
      }
      // Durable before it becomes visible: a power cut after the rename must not leave a
      // blob whose content is not on disk.
      await file.sync();
      await file.close();
      file = undefined;
      const hex = hash.digest('hex');
      const final = this.blobPath(hex);
      const existing = await statIfExists(final);
      if (existing !== undefined) {
        // Same digest, same content: keep the first copy and its creation time.
        await rm(tmp, { force: true });
        return { digest: `sha256:${hex}`, size: existing.size, createdAt: existing.mtime };
      }
      await rename(tmp, final);
      await syncDirectory(this.blobDir);
      const stored = await stat(final);
      return { digest: `sha256:${hex}`, size: stored.size, createdAt: stored.mtime };
    } catch (err) {
      await file?.close().catch(() => {});
      await rm(tmp, { force: true }).catch(() => {});
      if (isErrno(err, 'ENOSPC', 'EDQUOT')) {
        throw errors.insufficientStorage(
          `the server ran out of disk space storing the artifact (after ${size} bytes)`,
          `free space on the server's data volume (${this.root}) and push again`,
          { cause: err },
        );
      }
      throw err;
    }
  }

  /** True when the store holds `digest` (`sha256:<hex>`; anything else is a 400). */
  async has(digest: string): Promise<boolean> {
    return (await this.stat(digest)) !== undefined;
  }

  /** Size in bytes of `digest`, or undefined when the store does not hold it. */
  async size(digest: string): Promise<number | undefined> {
    return (await this.stat(digest))?.size;
  }

  /** The entry of `digest`, or undefined when the store does not hold it. */
  async stat(digest: string): Promise<ArtifactEntry | undefined> {
    const hex = this.hexOf(digest);
    const s = await statIfExists(this.blobPath(hex));
    return s === undefined ? undefined : { digest: `sha256:${hex}`, size: s.size, createdAt: s.mtime };
  }

  /** Every stored artifact, sorted by digest. */
  async list(): Promise<ArtifactEntry[]> {
    const names = (await readdir(this.blobDir)).filter((n) => BLOB_NAME.test(n)).sort();
    const entries: ArtifactEntry[] = [];
    for (const hex of names) {
      const s = await statIfExists(this.blobPath(hex));
      if (s?.isFile()) entries.push({ digest: `sha256:${hex}`, size: s.size, createdAt: s.mtime });
    }
    return entries;
  }

  /**
   * Opens `digest` for reading, or returns undefined when the store does not hold it. Every
   * download of one blob in flight shares one descriptor (shared-files.ts): a release sends
   * the same artifact to thousands of nodes at once.
   */
  async open(digest: string): Promise<OpenedArtifact | undefined> {
    const hex = this.hexOf(digest);
    let file: SharedFile;
    try {
      file = await this.readers.acquire(this.blobPath(hex));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
    return {
      entry: { digest: `sha256:${hex}`, size: file.stats.size, createdAt: file.stats.mtime },
      stream: (range) => file.stream(range),
      close: async () => file.release(),
    };
  }

  private hexOf(digest: string): string {
    const hex = digestHex(digest);
    if (hex === undefined) throw invalidDigest(digest);
    return hex;
  }

  /** The only place a blob path is made, and only from 64 hex digits. */
  private blobPath(hex: string): string {
    if (!BLOB_NAME.test(hex)) throw new Error(`refusing to build a blob path from "${hex}"`);
    return join(this.blobDir, hex);
  }
}

async function writeAll(file: FileHandle, chunk: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < chunk.byteLength) {
    const { bytesWritten } = await file.write(chunk, offset, chunk.byteLength - offset);
    offset += bytesWritten;
  }
}

async function statIfExists(path: string): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

/** Makes a rename durable. Best effort: some filesystems cannot fsync a directory. */
async function syncDirectory(path: string): Promise<void> {
  let dir: FileHandle | undefined;
  try {
    dir = await open(path, 'r');
    await dir.sync();
  } catch {
    // The blob itself is synced; losing the rename in a crash only loses the upload.
  } finally {
    await dir?.close().catch(() => {});
  }
}
