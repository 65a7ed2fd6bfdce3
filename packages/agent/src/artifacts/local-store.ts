import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { errors } from '@edgefleet/protocol';
import { artifactDigestHex } from './digest.js';
import { type OpenPartialFile, openPartialForAppend, PartialArtifact, syncDirectory } from './partial.js';

/** Options for a {@link LocalArtifactStore}. */
export interface LocalArtifactStoreOptions {
  /** Opens a partial file for appending; a seam for tests (a write that fails with ENOSPC). */
  openWrite?: OpenPartialFile;
}

const BLOB_NAME = /^[0-9a-f]{64}$/;
const PARTIAL_NAME = /^([0-9a-f]{64})\.part$/;

/**
 * The node's content-addressed artifact store, `AGENTDATA/artifacts`:
 *
 *     sha256/<hex>          complete blobs, each verified against its name before it arrived
 *     partial/<hex>.part    downloads in progress, resumed from their size
 *
 * Every path is built from a validated digest, never from a name anyone chose. A blob only
 * enters `sha256/` through {@link PartialArtifact.commit} (verify, fsync, rename, fsync the
 * directory), so whatever is there is complete and correct, even after a power cut.
 *
 * One process owns a store. Within it, a partial is written by one download at a time,
 * and `remove`/`gc` leave a partial alone while a download has it open.
 */
export class LocalArtifactStore {
  /** The store's directory. */
  readonly root: string;
  private readonly blobDir: string;
  private readonly partialDir: string;
  private readonly openWrite: OpenPartialFile;
  /** Hex digests whose partial a download has open. */
  private readonly writing = new Set<string>();

  constructor(root: string, opts: LocalArtifactStoreOptions = {}) {
    this.root = root;
    this.blobDir = join(root, 'sha256');
    this.partialDir = join(root, 'partial');
    this.openWrite = opts.openWrite ?? openPartialForAppend;
  }

  /** True when the complete, verified artifact is here. */
  has(digest: string): boolean {
    return isFile(this.blobPath(artifactDigestHex(digest)));
  }

  /** The blob's path; throws `not_found` when the artifact is not (yet) here. */
  pathOf(digest: string): string {
    const path = this.blobPath(artifactDigestHex(digest));
    if (!isFile(path)) {
      throw errors.notFound(`artifact ${digest} is not in the local store at ${this.root}`, 'download it first');
    }
    return path;
  }

  /** Size in bytes of the complete artifact; throws `not_found` when it is not here. */
  sizeOf(digest: string): number {
    return statSync(this.pathOf(digest)).size;
  }

  /** Bytes already downloaded into the partial file, 0 when there is none. */
  partialSize(digest: string): number {
    // Validate outside the try: a bad digest must throw, not read as "no partial".
    const path = this.partialPath(artifactDigestHex(digest));
    try {
      return statSync(path).size;
    } catch {
      return 0;
    }
  }

  /** Digests of the complete artifacts, sorted. */
  list(): string[] {
    return names(this.blobDir)
      .filter((name) => BLOB_NAME.test(name) && isFile(join(this.blobDir, name)))
      .map((hex) => `sha256:${hex}`)
      .sort();
  }

  /** Digests that have a partial download, sorted. */
  listPartials(): string[] {
    return names(this.partialDir)
      .flatMap((name) => {
        const hex = PARTIAL_NAME.exec(name)?.[1];
        return hex === undefined ? [] : [`sha256:${hex}`];
      })
      .sort();
  }

  /**
   * Deletes the artifact and its partial (unless a download is writing that partial right
   * now). Returns true when anything was deleted.
   */
  remove(digest: string): boolean {
    const hex = artifactDigestHex(digest);
    let removed = removeFile(this.blobPath(hex));
    if (!this.writing.has(hex)) removed = removeFile(this.partialPath(hex)) || removed;
    return removed;
  }

  /**
   * Deletes every complete artifact and partial whose digest is not in `keep`, and returns
   * those digests (each once, sorted). Partials a download has open are left alone. Files
   * whose names are not digests are not ours to judge and stay.
   */
  gc(keep: ReadonlySet<string>): string[] {
    for (const digest of keep) artifactDigestHex(digest);
    const candidates = new Set([...this.list(), ...this.listPartials()]);
    return [...candidates].filter((digest) => !keep.has(digest) && this.remove(digest)).sort();
  }

  /**
   * Opens the digest's partial download for writing, hashing what a previous run left in
   * it. Throws `conflict` when a download already has it open.
   */
  async openPartial(digest: string): Promise<PartialArtifact> {
    const hex = artifactDigestHex(digest);
    if (this.writing.has(hex)) {
      throw errors.conflict(`artifact ${digest} is already being downloaded`, 'wait for the running download to finish');
    }
    // Claimed before the first await: two downloads starting in one tick must not both append.
    this.writing.add(hex);
    try {
      await this.ensureDirectories();
      return await PartialArtifact.open({
        digest,
        hex,
        partialPath: this.partialPath(hex),
        blobPath: this.blobPath(hex),
        openWrite: this.openWrite,
        release: () => this.writing.delete(hex),
      });
    } catch (err) {
      this.writing.delete(hex);
      throw err;
    }
  }

  /** Deletes a partial download that no one has open. */
  discardPartial(digest: string): void {
    const hex = artifactDigestHex(digest);
    if (!this.writing.has(hex)) removeFile(this.partialPath(hex));
  }

  private blobPath(hex: string): string {
    return join(this.blobDir, hex);
  }

  private partialPath(hex: string): string {
    return join(this.partialDir, `${hex}.part`);
  }

  private async ensureDirectories(): Promise<void> {
    const createdBlobs = mkdirSync(this.blobDir, { recursive: true, mode: 0o700 }) !== undefined;
    const createdPartials = mkdirSync(this.partialDir, { recursive: true, mode: 0o700 }) !== undefined;
    // A blob renamed into a directory whose own entry was lost in a power cut would be lost too.
    if (createdBlobs || createdPartials) await syncDirectory(this.root);
  }
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function names(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function removeFile(path: string): boolean {
  if (!isFile(path)) return false;
  rmSync(path, { force: true });
  return true;
}
