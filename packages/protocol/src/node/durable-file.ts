import { closeSync, fsyncSync, openSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** Options of {@link writeFileDurable}. */
export interface DurableWriteOptions {
  /**
   * Name the temp file `.<name>.tmp-<pid>` (a dot-file) instead of `<name>.tmp-<pid>`, for
   * folders whose reader takes every file not starting with a dot (Node Feature Discovery's
   * features.d) and would otherwise read a half-written temp file as one of its own.
   */
  hiddenTemp?: boolean;
}

/**
 * Writes a file so a power cut leaves either the old or the new content, never an empty or
 * torn one: write a temp file, fsync it, rename it over the old one, fsync the folder (the
 * rename is only durable once the directory entry is). The one way edgefleet writes a
 * file that must survive a crash: identities, desired state, CA and admin token files, NFD
 * feature files.
 */
export function writeFileDurable(path: string, content: string | Uint8Array, mode = 0o644, opts: DurableWriteOptions = {}): void {
  const tmp = opts.hiddenTemp === true ? join(dirname(path), `.${basename(path)}.tmp-${process.pid}`) : `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, content, { mode });
  const fd = openSync(tmp, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  fsyncPath(dirname(path));
}

/**
 * Fsyncs a folder (or a file) by its path. After creating, renaming or removing an entry
 * in a folder, the change is only durable once the folder itself is synced: call this on
 * the folder that holds the entry (for a rename, the folder it was renamed into).
 */
export function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
