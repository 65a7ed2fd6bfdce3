import { closeSync, fsyncSync, openSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Writes a file so a power cut leaves either the old or the new content, never an empty or
 * torn one: write a temp file, fsync it, rename it over the old one, fsync the folder (the
 * rename is only durable once the directory entry is). The one way edgefleet writes a
 * file that must survive a crash: identities, desired state, CA and admin token files.
 */
export function writeFileDurable(path: string, content: string | Uint8Array, mode = 0o644): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, content, { mode });
  const fd = openSync(tmp, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}
