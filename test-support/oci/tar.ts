/**
 * A minimal ustar writer for test image layers: regular files, directories and symlinks,
 * owner root, a fixed mtime, so the same entries always make the same bytes (and digest).
 */

/** One entry of a layer. Paths are relative (`bin/busybox`); directories end without `/`. */
export type TarEntry =
  | { type: 'file'; path: string; content: Uint8Array | string; mode?: number }
  | { type: 'dir'; path: string; mode?: number }
  | { type: 'symlink'; path: string; target: string };

const BLOCK = 512;
/** 2024-01-01T00:00:00Z: any fixed time keeps layers reproducible. */
const MTIME = 1_704_067_200;

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

function header(path: string, typeflag: string, size: number, mode: number, linkname = ''): Buffer {
  if (Buffer.byteLength(path) > 100) throw new Error(`tar path ${path} is longer than 100 bytes (no long-name support here)`);
  const h = Buffer.alloc(BLOCK);
  h.write(path, 0, 'utf8');
  h.write(octal(mode, 8), 100);
  h.write(octal(0, 8), 108);
  h.write(octal(0, 8), 116);
  h.write(octal(size, 12), 124);
  h.write(octal(MTIME, 12), 136);
  h.write('        ', 148);
  h.write(typeflag, 156);
  h.write(linkname, 157);
  h.write('ustar\0', 257);
  h.write('00', 263);
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return h;
}

/** The tar archive of `entries`, in order, with the two zero blocks that end it. */
export function tarArchive(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    if (entry.type === 'dir') {
      parts.push(header(`${entry.path}/`, '5', 0, entry.mode ?? 0o755));
    } else if (entry.type === 'symlink') {
      parts.push(header(entry.path, '2', 0, 0o777, entry.target));
    } else {
      const content = typeof entry.content === 'string' ? Buffer.from(entry.content) : Buffer.from(entry.content);
      parts.push(header(entry.path, '0', content.length, entry.mode ?? 0o644), content);
      const pad = (BLOCK - (content.length % BLOCK)) % BLOCK;
      if (pad > 0) parts.push(Buffer.alloc(pad));
    }
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}
