import * as fs from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as git from 'isomorphic-git';
import http from 'isomorphic-git/http/node';
import { DEFAULT_MAX_CLONE_BYTES, sizeLimitedHttp } from './limits.js';

/** One manifest file at a commit; `file` is relative to the repository root (`fleet/app.yaml`). */
interface ManifestFileText {
  file: string;
  text: string;
}

/** Why a repository could not give us a commit's manifests: the first retries, the others wait for a new commit. */
type SourceReadReason = 'SourceUnavailable' | 'PathNotFound' | 'InvalidManifest';

/** A failure to read a source, with the condition reason it maps to. */
export class SourceReadError extends Error {
  constructor(
    readonly reason: SourceReadReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SourceReadError';
  }
}

/** Where a source's commits come from. Reads never touch a working tree. */
export interface SourceRepository {
  /** The commit at the head of `branch` (a remote is fetched first). */
  resolveHead(branch: string): Promise<string>;
  /**
   * Every `.yaml`, `.yml` and `.json` file under `path` ('.' for the root, or a single
   * file) at `commit`, recursively, sorted by path; names starting with '.' are skipped,
   * as `edgefleet apply -f DIR` skips them.
   */
  readManifestFiles(commit: string, path: string): Promise<ManifestFileText[]>;
}

/**
 * Opens the repository of a source; `cacheDir` is where a remote is cloned
 * (`DATA/sources/NAME`), `maxCloneBytes` how much one clone or fetch may receive.
 */
export type RepositoryOpener = (url: string, cacheDir: string, maxCloneBytes?: number) => SourceRepository;

const MANIFEST_FILE = /\.(ya?ml|json)$/;
/** A manifest file larger than this is refused (the apply API takes 1 MiB bodies too). */
const MAX_MANIFEST_FILE_BYTES = 1024 * 1024;

const errorCode = (err: unknown): string | undefined => (err as { code?: string } | null)?.code;

/** True for URLs the poller fetches over the network; everything else is a local path. */
export function isRemoteUrl(url: string): boolean {
  return /^https?:\/\//i.test(url);
}

/** The default opener: a local path (or `file://` URL) is read in place, http(s) is cloned. */
export const openRepository: RepositoryOpener = (url, cacheDir, maxCloneBytes = DEFAULT_MAX_CLONE_BYTES) =>
  isRemoteUrl(url) ? new RemoteRepository(url, cacheDir, maxCloneBytes) : new LocalRepository(url);

/** Finds the git dir of a local repository: `PATH/.git` of a working repository, or PATH itself when bare. */
async function localGitdir(path: string): Promise<string> {
  const isDir = async (p: string): Promise<boolean> => (await stat(p).catch(() => undefined))?.isDirectory() === true;
  const exists = async (p: string): Promise<boolean> => (await stat(p).catch(() => undefined)) !== undefined;
  if (!(await isDir(path))) throw new SourceReadError('SourceUnavailable', `cannot read ${path}: no such folder on the server`);
  if (await isDir(join(path, '.git'))) return join(path, '.git');
  if ((await exists(join(path, 'HEAD'))) && (await isDir(join(path, 'objects')))) return path;
  throw new SourceReadError('SourceUnavailable', `${path} is not a git repository (no .git folder, and not a bare repository)`);
}

/** Reads commits straight from a git dir with isomorphic-git: refs, trees and blobs, no checkout. */
class GitdirReader {
  /** isomorphic-git's pack cache, kept for the life of this reader (one pass). */
  private readonly cache = {};

  constructor(private readonly where: string) {}

  async resolve(gitdir: string, ref: string, what: string): Promise<string> {
    try {
      return await git.resolveRef({ fs, gitdir, ref });
    } catch (err) {
      if (errorCode(err) === 'NotFoundError') throw new SourceReadError('SourceUnavailable', `${what} not found in ${this.where}`, { cause: err });
      throw new SourceReadError('SourceUnavailable', `cannot read ${this.where}: ${(err as Error).message}`, { cause: err });
    }
  }

  async files(gitdir: string, commit: string, path: string): Promise<ManifestFileText[]> {
    const out: ManifestFileText[] = [];
    const readFile = async (oid: string, file: string): Promise<void> => {
      const { blob } = await git.readBlob({ fs, gitdir, oid, cache: this.cache });
      if (blob.byteLength > MAX_MANIFEST_FILE_BYTES) {
        throw new SourceReadError('InvalidManifest', `${file}: the file is larger than 1 MiB; split it into several manifests files`);
      }
      out.push({ file, text: new TextDecoder().decode(blob) });
    };
    const walk = async (treeOid: string, prefix: string): Promise<void> => {
      const { tree } = await git.readTree({ fs, gitdir, oid: treeOid, cache: this.cache });
      for (const entry of tree) {
        if (entry.path.startsWith('.')) continue;
        const file = prefix === '' ? entry.path : `${prefix}/${entry.path}`;
        if (entry.type === 'tree') await walk(entry.oid, file);
        // Plain and executable files only: symlinks (120000) and submodules are not followed.
        else if (entry.type === 'blob' && entry.mode !== '120000' && MANIFEST_FILE.test(entry.path)) await readFile(entry.oid, file);
      }
    };
    try {
      if (path === '.') {
        await walk(commit, '');
      } else {
        try {
          const { oid } = await git.readTree({ fs, gitdir, oid: commit, filepath: path, cache: this.cache });
          await walk(oid, path);
        } catch (err) {
          if (errorCode(err) !== 'ObjectTypeError') throw err;
          // The path names one file.
          const { oid } = await git.readBlob({ fs, gitdir, oid: commit, filepath: path, cache: this.cache });
          await readFile(oid, path);
        }
      }
    } catch (err) {
      if (err instanceof SourceReadError) throw err;
      if (errorCode(err) === 'NotFoundError' && path !== '.') {
        throw new SourceReadError('PathNotFound', `path ${path}/ does not exist at commit ${commit}`, { cause: err });
      }
      throw new SourceReadError('SourceUnavailable', `cannot read commit ${commit} of ${this.where}: ${(err as Error).message}`, { cause: err });
    }
    return out.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  }
}

/** A repository on the server's disk: a working repository (read through its `.git`) or a bare one. */
class LocalRepository implements SourceRepository {
  private readonly path: string;
  private readonly reader: GitdirReader;

  constructor(url: string) {
    this.path = url.startsWith('file://') ? fileURLToPath(url) : url;
    this.reader = new GitdirReader(this.path);
  }

  async resolveHead(branch: string): Promise<string> {
    return this.reader.resolve(await localGitdir(this.path), `refs/heads/${branch}`, `branch ${branch}`);
  }

  async readManifestFiles(commit: string, path: string): Promise<ManifestFileText[]> {
    return this.reader.files(await localGitdir(this.path), commit, path);
  }
}

/**
 * A repository over http(s): cloned once into `cacheDir` (no checkout, one branch,
 * depth 1), fetched before every head lookup, then read like a local one. This sandbox has
 * no network, so fetching is not exercised by the tests; the local reading it shares is, and
 * the first clone's sync-and-rename with a locally built clone (repository.fsync.test.ts).
 * Credentials may be given in the URL (`https://user:token@host/…`); the API never shows them.
 */
export class RemoteRepository implements SourceRepository {
  private readonly reader: GitdirReader;

  constructor(
    private readonly url: string,
    private readonly dir: string,
    private readonly maxCloneBytes: number = DEFAULT_MAX_CLONE_BYTES,
  ) {
    this.reader = new GitdirReader(redactUrl(url));
  }

  private get gitdir(): string {
    return join(this.dir, '.git');
  }

  async resolveHead(branch: string): Promise<string> {
    // A fresh byte budget for each clone or fetch: a repository over it fails the sync.
    const limited = sizeLimitedHttp(http, this.maxCloneBytes);
    const tmp = `${this.dir}.tmp-${process.pid}`;
    try {
      if ((await stat(this.gitdir).catch(() => undefined)) === undefined) {
        // Clone beside the final place and rename, so an interrupted clone never leaves a
        // half-written repository that every later fetch would trip on.
        await rm(tmp, { recursive: true, force: true });
        await mkdir(dirname(this.dir), { recursive: true });
        await git.clone({ fs, http: limited, dir: tmp, url: this.url, ref: branch, singleBranch: true, noCheckout: true, noTags: true, depth: 1 });
        // isomorphic-git never syncs: sync the clone, then the rename, or a power cut could
        // keep the renamed folder with empty files in it.
        await syncTree(tmp);
        await rename(tmp, this.dir);
        await syncPath(dirname(this.dir));
      } else {
        await git.fetch({ fs, http: limited, gitdir: this.gitdir, url: this.url, ref: branch, singleBranch: true, tags: false, depth: 1 });
      }
    } catch (err) {
      // What an oversized clone wrote so far goes, so it never counts against the disk.
      await rm(tmp, { recursive: true, force: true });
      throw new SourceReadError('SourceUnavailable', redactUrl(`cannot fetch ${this.url}: ${(err as Error).message}`), { cause: err });
    }
    return this.reader.resolve(this.gitdir, `refs/remotes/origin/${branch}`, `branch ${branch}`);
  }

  readManifestFiles(commit: string, path: string): Promise<ManifestFileText[]> {
    return this.reader.files(this.gitdir, commit, path);
  }
}

/** Fsyncs a file or folder by path, without blocking the event loop. */
async function syncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Fsyncs every file and folder under `dir`, and `dir` itself. */
async function syncTree(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await syncTree(path);
    else if (entry.isFile()) await syncPath(path);
  }
  await syncPath(dir);
}

/** Text with the user name and password of every http(s) URL in it replaced by `***`, for views, logs and messages. */
export function redactUrl(text: string): string {
  return text.replace(/(https?:\/\/)[^/@\s]*@/gi, '$1***@');
}
