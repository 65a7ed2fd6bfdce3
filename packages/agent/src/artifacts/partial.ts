import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { digestMismatchError } from './errors.js';

/** The few file operations a partial download needs: the seam tests use to fail a write. */
export interface PartialFileHandle {
  write(chunk: Uint8Array, offset: number, length: number): Promise<{ bytesWritten: number }>;
  truncate(length: number): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** Opens (creating if missing) a partial file for appending. */
export type OpenPartialFile = (path: string) => Promise<PartialFileHandle>;

/**
 * The default opener. `O_APPEND` means every write lands at the current end, including
 * after `truncate(0)`, so a restart needs no seek.
 */
export const openPartialForAppend: OpenPartialFile = (path) => open(path, 'a', 0o600);

/** Fsyncs a directory so a rename or create inside it survives a power cut. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** What the store hands a partial when it opens one. */
interface PartialArtifactInit {
  digest: string;
  hex: string;
  partialPath: string;
  blobPath: string;
  openWrite: OpenPartialFile;
  /** Called once when the partial is closed, committed or discarded. */
  release: () => void;
}

/**
 * One partial download being written: `partial/<hex>.part`. It hashes every byte as it is
 * appended (after the bytes already there, on resume), so `commit` knows whether the file
 * is the artifact without reading it again, and it is the only way a file reaches
 * `sha256/`: verified, fsynced, then renamed. A power cut therefore leaves either no blob
 * or a complete, verified one.
 */
export class PartialArtifact {
  readonly digest: string;
  private readonly init: PartialArtifactInit;
  private readonly file: PartialFileHandle;
  private hash: Hash;
  private bytes: number;
  private closed = false;
  private fault = false;
  private released = false;

  private constructor(init: PartialArtifactInit, file: PartialFileHandle, hash: Hash, bytes: number) {
    this.digest = init.digest;
    this.init = init;
    this.file = file;
    this.hash = hash;
    this.bytes = bytes;
  }

  /** Opens the partial, hashing the bytes a previous run left so the download can resume. */
  static async open(init: PartialArtifactInit): Promise<PartialArtifact> {
    try {
      const hash = createHash('sha256');
      let bytes = 0;
      try {
        for await (const chunk of createReadStream(init.partialPath) as AsyncIterable<Buffer>) {
          hash.update(chunk);
          bytes += chunk.length;
        }
      } catch (err) {
        if ((err as { code?: unknown }).code !== 'ENOENT') throw err;
      }
      const file = await init.openWrite(init.partialPath);
      return new PartialArtifact(init, file, hash, bytes);
    } catch (err) {
      init.release();
      throw err;
    }
  }

  /** Bytes in the partial file. */
  get size(): number {
    return this.bytes;
  }

  /** True when the bytes already written are the whole artifact (a crash came before the rename). */
  isComplete(): boolean {
    return this.hash.copy().digest('hex') === this.init.hex;
  }

  /**
   * True after a write or truncate failed: the file may then hold bytes the hash has not
   * seen, so this partial must be closed and opened again (which re-hashes the file).
   */
  get faulted(): boolean {
    return this.fault;
  }

  /** Appends a chunk and adds it to the hash. */
  async write(chunk: Uint8Array): Promise<void> {
    this.assertUsable();
    this.fault = true;
    let written = 0;
    // A write may be short; loop so the file never holds fewer bytes than the hash saw.
    while (written < chunk.length) {
      const { bytesWritten } = await this.file.write(chunk, written, chunk.length - written);
      written += bytesWritten;
    }
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.fault = false;
  }

  /** Throws the partial's bytes away and starts over from byte 0. */
  async restart(): Promise<void> {
    this.assertUsable();
    this.fault = true;
    await this.file.truncate(0);
    this.hash = createHash('sha256');
    this.bytes = 0;
    this.fault = false;
  }

  /**
   * Verifies the bytes against the digest and moves the file into the store. On a
   * mismatch the partial is deleted (its bytes can never become the artifact) and a
   * `digest_mismatch` error is thrown. Returns the blob's path.
   */
  async commit(): Promise<string> {
    this.assertUsable();
    try {
      const actual = this.hash.copy().digest('hex');
      await this.syncAndClose();
      if (actual !== this.init.hex) {
        await rm(this.init.partialPath, { force: true });
        throw digestMismatchError(this.digest, actual, this.bytes);
      }
      await rename(this.init.partialPath, this.init.blobPath);
      await syncDirectory(dirname(this.init.blobPath));
      return this.init.blobPath;
    } finally {
      this.release();
    }
  }

  /**
   * Fsyncs and closes, keeping the partial for the next attempt; an empty one is deleted,
   * since it holds no progress (a 404 must not leave files behind). Safe to call twice.
   */
  async close(): Promise<void> {
    if (this.bytes === 0 && !this.closed) return this.discard();
    try {
      await this.syncAndClose();
    } finally {
      this.release();
    }
  }

  /** Closes and deletes the partial. Safe to call after `close` or a failed `commit`. */
  async discard(): Promise<void> {
    try {
      if (!this.closed) {
        // No fsync: these bytes are about to go, and a full disk may refuse to flush them.
        this.closed = true;
        await this.file.close().catch(() => undefined);
      }
      await rm(this.init.partialPath, { force: true });
    } finally {
      this.release();
    }
  }

  private assertUsable(): void {
    // Invariants, not user errors: the downloader never gets here in these states.
    if (this.closed) throw new Error(`partial download of ${this.digest} is already closed`);
    if (this.fault) throw new Error(`partial download of ${this.digest} failed a write; open it again`);
  }

  private async syncAndClose(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      // Before commit's rename, the bytes must be durable before their name is; for a kept
      // partial it saves the progress a power cut would otherwise cost.
      await this.file.sync();
    } finally {
      await this.file.close();
    }
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    this.init.release();
  }
}
