import { closeSync, fsyncSync, openSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Writes a file so a power cut leaves either the old or the new content, never an empty or
 * torn file: write a temp file, fsync it, rename it over the old one, fsync the directory.
 */
export function writeDurably(path: string, content: string, mode = 0o644): void {
  const tmp = `${path}.tmp`;
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
