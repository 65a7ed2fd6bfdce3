import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { errors } from '@edgefleet/protocol';
import type { Logger } from 'pino';
import type { ArtifactBlobRecord, ArtifactChunkRepository } from '../store/index.js';
import { ChunkCache } from './chunk-cache.js';
import {
  type ArtifactEntry,
  type ArtifactStorage,
  ArtifactStore,
  digestHex,
  invalidDigest,
  type OpenedArtifact,
  type PutOptions,
  STALE_TEMP_MS,
} from './store.js';

/** Bytes per stored chunk: large enough that rows are few, small enough to hold one in memory per transfer. */
export const ARTIFACT_CHUNK_BYTES = 1024 * 1024;

/**
 * Chunk bytes a replica keeps in memory for downloads (chunk-cache.ts): a release's model,
 * old and new, of up to about 30 MiB each, read from the database once per replica.
 */
export const ARTIFACT_CACHE_BYTES = 64 * 1024 * 1024;

/** PostgreSQL's SQLSTATE for a full disk (class 53, insufficient resources). */
const PG_DISK_FULL = '53100';

function entryOf(blob: ArtifactBlobRecord): ArtifactEntry {
  return { digest: blob.digest, size: blob.size, createdAt: new Date(blob.createdAt) };
}

/**
 * Artifacts in the database, for server replicas that share no volume: an upload is
 * hashed as it arrives and written as numbered chunks of {@link ARTIFACT_CHUNK_BYTES}, one
 * at a time (at most one chunk is held in memory); it becomes visible under its digest in
 * the transaction that records it complete, so a reader on any replica sees a whole blob or
 * none. Reads fetch one chunk per query and slice the first and last to the asked range,
 * so Range requests and resumed downloads cost only the chunks they touch; chunks read lately
 * are kept in memory ({@link ChunkCache}), so a release's many downloads of one model read
 * it from the database about once per replica. Same contract
 * as the directory store: 413 past `maxBytes`, 400 when the upload is interrupted, 507 when
 * the database's disk fills; a failed upload's chunks are removed.
 */
export class DatabaseArtifactStore implements ArtifactStorage {
  constructor(
    private readonly chunks: ArtifactChunkRepository,
    private readonly now: () => number,
    private readonly chunkBytes = ARTIFACT_CHUNK_BYTES,
    private readonly cache = new ChunkCache(ARTIFACT_CACHE_BYTES),
  ) {}

  /** Removes uploads no replica has written to for {@link STALE_TEMP_MS}: they can no longer be running. */
  removeStaleUploads(): Promise<number> {
    return this.chunks.removeStaleArtifactUploads(this.now() - STALE_TEMP_MS);
  }

  async put(source: Readable | AsyncIterable<Uint8Array>, opts: PutOptions = {}): Promise<ArtifactEntry> {
    const uploadId = randomBytes(16).toString('hex');
    const hash = createHash('sha256');
    let size = 0;
    let seq = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const flush = async (): Promise<void> => {
      const data = pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
      await this.chunks.putArtifactChunk(uploadId, seq++, data, this.now());
    };
    await this.chunks.beginArtifactUpload(uploadId, this.now());
    try {
      // Pulled by hand, not with for-await: leaving the loop must not destroy the source,
      // because for an HTTP upload that would take down the socket the error answer needs.
      const it = source[Symbol.asyncIterator]();
      for (;;) {
        let next: IteratorResult<Uint8Array>;
        try {
          next = await it.next();
        } catch (err) {
          throw errors.badRequest(`the upload was interrupted after ${size} bytes: ${(err as Error).message}`, 'push the file again', { cause: err });
        }
        if (next.done) break;
        let chunk = typeof next.value === 'string' ? Buffer.from(next.value) : Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
        size += chunk.byteLength;
        if (opts.maxBytes !== undefined && size > opts.maxBytes) {
          throw errors.payloadTooLarge(
            `the artifact is larger than the limit of ${opts.maxBytes} bytes`,
            'ship a smaller model, or split it into several artifacts',
          );
        }
        hash.update(chunk);
        // Every stored chunk but the last is exactly chunkBytes long, so a byte's chunk is
        // found by division when reading a range.
        while (pendingBytes + chunk.byteLength >= this.chunkBytes) {
          const take = this.chunkBytes - pendingBytes;
          pending.push(chunk.subarray(0, take));
          pendingBytes += take;
          chunk = chunk.subarray(take);
          await flush();
        }
        if (chunk.byteLength > 0) {
          pending.push(chunk);
          pendingBytes += chunk.byteLength;
        }
      }
      if (pendingBytes > 0) await flush();
      const digest = `sha256:${hash.digest('hex')}`;
      const stored = await this.chunks.commitArtifactUpload({ digest, uploadId, size, chunkBytes: this.chunkBytes, createdAt: this.now() });
      return entryOf(stored);
    } catch (err) {
      await this.chunks.discardArtifactUpload(uploadId).catch(() => {});
      if ((err as { code?: string }).code === PG_DISK_FULL) {
        throw errors.insufficientStorage(
          `the database ran out of disk space storing the artifact (after ${size} bytes)`,
          'free space on the PostgreSQL server (or remove unused artifacts) and push again',
          { cause: err },
        );
      }
      throw err;
    }
  }

  async has(digest: string): Promise<boolean> {
    return (await this.stat(digest)) !== undefined;
  }

  async size(digest: string): Promise<number | undefined> {
    return (await this.stat(digest))?.size;
  }

  async stat(digest: string): Promise<ArtifactEntry | undefined> {
    const blob = await this.blob(digest);
    return blob === undefined ? undefined : entryOf(blob);
  }

  async list(): Promise<ArtifactEntry[]> {
    return (await this.chunks.listArtifactBlobs()).map(entryOf);
  }

  async open(digest: string): Promise<OpenedArtifact | undefined> {
    const blob = await this.blob(digest);
    if (blob === undefined) return undefined;
    return {
      entry: entryOf(blob),
      stream: (range) => Readable.from(this.bytes(blob, range?.start ?? 0, range?.end ?? blob.size - 1), { objectMode: false }),
      close: async () => {},
    };
  }

  /** Bytes `start..end` (inclusive) of a blob, one chunk fetched at a time. */
  private async *bytes(blob: ArtifactBlobRecord, start: number, end: number): AsyncGenerator<Buffer> {
    let seq = Math.floor(start / blob.chunkBytes);
    let pos = seq * blob.chunkBytes;
    while (pos <= end) {
      // The load runs at once (or not at all), so it reads this seq.
      const data = await this.cache.get(`${blob.uploadId}/${seq}`, () => this.chunks.getArtifactChunk(blob.uploadId, seq));
      if (data === undefined || data.byteLength === 0) throw new Error(`artifact ${blob.digest} is missing chunk ${seq} in the database`);
      const from = Math.max(0, start - pos);
      const to = Math.min(data.byteLength, end - pos + 1);
      yield Buffer.from(data.buffer, data.byteOffset + from, to - from);
      pos += data.byteLength;
      seq++;
    }
  }

  private async blob(digest: string): Promise<ArtifactBlobRecord | undefined> {
    if (digestHex(digest) === undefined) throw invalidDigest(digest);
    return this.chunks.getArtifactBlob(digest);
  }
}

/**
 * Copies into the database the artifacts a server that ran before kept in
 * `<dataDir>/artifacts/`, so moving to replicas loses none; the directory is left as it
 * was (remove it once every replica runs). Returns how many were copied.
 */
export async function importArtifactDirectory(dataDir: string, into: DatabaseArtifactStore, log: Logger): Promise<number> {
  const root = join(dataDir, 'artifacts');
  if (!existsSync(join(root, 'sha256'))) return 0;
  const dir = new ArtifactStore(root);
  let copied = 0;
  for (const entry of await dir.list()) {
    if (await into.has(entry.digest)) continue;
    const opened = await dir.open(entry.digest);
    if (opened === undefined) continue;
    const stored = await into.put(opened.stream());
    if (stored.digest !== entry.digest) throw new Error(`artifact file ${entry.digest} in ${root} holds other bytes (${stored.digest}): the file is damaged`);
    copied++;
  }
  if (copied > 0) log.info({ copied, from: root }, 'artifacts copied from the data dir into the database');
  return copied;
}
