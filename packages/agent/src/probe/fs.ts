import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Safe reads under the probe's hardware root. Every probe read goes through here so that
 * two invariants hold everywhere: a path is always `hwRoot` joined with a relative path
 * (tests and the simulator point `hwRoot` at a fixture folder), and a missing, unreadable
 * or malformed file yields null rather than an exception — a node with an odd kernel must
 * still enroll, just with fewer facts.
 */

/** sysfs and procfs files the probe reads are tiny; anything larger is not what we expect. */
const MAX_BYTES = 256 * 1024;

/** Reads a file's raw bytes, or null when it is missing, unreadable, a directory or oversized. */
export async function readBytes(hwRoot: string, rel: string): Promise<Buffer | null> {
  try {
    const bytes = await readFile(path.join(hwRoot, rel));
    return bytes.length > MAX_BYTES ? null : bytes;
  } catch {
    return null;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Reads a file as UTF-8 text, or null when it is missing or not valid UTF-8 (binary garbage). */
export async function readText(hwRoot: string, rel: string): Promise<string | null> {
  const bytes = await readBytes(hwRoot, rel);
  if (bytes === null) return null;
  try {
    return utf8.decode(bytes);
  } catch {
    return null;
  }
}

/** Control characters other than tab; a sane one-line value never holds them. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/;

/**
 * Cleans a one-line value read from sysfs, procfs or the device tree: drops the trailing
 * NUL bytes that terminate device-tree strings and surrounding whitespace, and returns
 * null when nothing is left or control characters remain (a malformed file is unknown,
 * never half-trusted).
 */
export function cleanLine(raw: string | null): string | null {
  if (raw === null) return null;
  const value = raw.replace(/\0+$/, '').trim();
  if (value === '' || CONTROL.test(value)) return null;
  return value;
}

/** Reads a one-line text value (a device-tree string, a sysfs attribute); see {@link cleanLine}. */
export async function readLine(hwRoot: string, rel: string): Promise<string | null> {
  return cleanLine(await readText(hwRoot, rel));
}

/** Lists a directory's entry names, sorted so every scan is deterministic; [] when it is missing. */
export async function listDir(hwRoot: string, rel: string): Promise<string[]> {
  try {
    const names = await readdir(path.join(hwRoot, rel));
    return names.sort();
  } catch {
    return [];
  }
}
