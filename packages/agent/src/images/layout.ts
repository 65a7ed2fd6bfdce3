import { copyFileSync, existsSync, linkSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fsyncPath, writeFileDurable } from '@edgefleet/protocol/node';
import type { Descriptor } from './manifest.js';

/** One blob to place in a layout: its digest and where the store holds it. */
export interface LayoutBlob {
  digest: string;
  path: string;
}

/** The `oci-layout` marker file (OCI image layout spec). */
export const OCI_LAYOUT_FILE = `${JSON.stringify({ imageLayoutVersion: '1.0.0' })}\n`;

/**
 * The `index.json` of a layout holding one image: an index with the platform manifest's
 * descriptor (media type, digest, size, platform), so `podman pull oci:DIR` needs no name.
 */
export function layoutIndexJson(manifest: Pick<Descriptor, 'mediaType' | 'digest' | 'size' | 'platform'>): string {
  const entry = { mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.size, ...(manifest.platform ? { platform: manifest.platform } : {}) };
  return `${JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [entry] })}\n`;
}

/**
 * Writes an OCI image layout at `dir`: `oci-layout`, `index.json` naming `manifest`, and
 * `blobs/sha256/<hex>` for every blob, hard-linked from the store (copied only when the
 * layout is on another file system). Built beside `dir` and renamed into place, so a
 * reader (or a power cut) sees the old layout or the whole new one, never half: every
 * file and folder of the new layout is synced before the rename, and the parent folder
 * after it.
 */
export function writeImageLayout(dir: string, manifest: Pick<Descriptor, 'mediaType' | 'digest' | 'size' | 'platform'>, blobs: readonly LayoutBlob[]): void {
  const building = `${dir}.building`;
  rmSync(building, { recursive: true, force: true });
  const blobDir = join(building, 'blobs', 'sha256');
  mkdirSync(blobDir, { recursive: true, mode: 0o700 });
  for (const blob of blobs) {
    const target = join(blobDir, blob.digest.slice('sha256:'.length));
    if (existsSync(target)) continue;
    try {
      linkSync(blob.path, target);
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'EXDEV') throw err;
      copyFileSync(blob.path, target);
      fsyncPath(target);
    }
  }
  // The links' directory entries; a linked blob's content is the store's, synced there.
  fsyncPath(blobDir);
  fsyncPath(dirname(blobDir));
  // Each syncs its file and `building` itself. No hidden temp names needed: nothing reads
  // `building` before the rename.
  writeFileDurable(join(building, 'oci-layout'), OCI_LAYOUT_FILE, 0o600);
  writeFileDurable(join(building, 'index.json'), layoutIndexJson(manifest), 0o600);
  rmSync(dir, { recursive: true, force: true });
  renameSync(building, dir);
  fsyncPath(dirname(dir));
}
