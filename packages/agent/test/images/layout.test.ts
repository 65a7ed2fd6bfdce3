import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { layoutIndexJson, writeImageLayout } from '../../src/images/layout.js';

const hex = (c: string) => c.repeat(64);
let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('layoutIndexJson', () => {
  it('is an OCI index naming the one platform manifest', () => {
    const manifest = {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: `sha256:${hex('a')}`,
      size: 7,
      platform: { os: 'linux', architecture: 'amd64' },
    };
    expect(JSON.parse(layoutIndexJson(manifest))).toEqual({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [manifest] });
  });
});

describe('writeImageLayout', () => {
  it('writes oci-layout, index.json and hard-linked blobs, replacing an older layout whole', () => {
    dir = mkdtempSync(join(tmpdir(), 'layout-'));
    const blobs = ['a', 'b'].map((c) => {
      const path = join(dir as string, `blob-${c}`);
      writeFileSync(path, c);
      return { digest: `sha256:${hex(c)}`, path };
    });
    const target = join(dir, 'layout');
    writeFileSync(join(dir, 'stale'), '');
    writeImageLayout(target, { mediaType: 'm', digest: `sha256:${hex('a')}`, size: 1 }, blobs.slice(0, 1));
    writeImageLayout(target, { mediaType: 'm', digest: `sha256:${hex('a')}`, size: 1 }, blobs);
    expect(readdirSync(target).sort()).toEqual(['blobs', 'index.json', 'oci-layout']);
    expect(JSON.parse(readFileSync(join(target, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    expect(readdirSync(join(target, 'blobs', 'sha256')).sort()).toEqual([hex('a'), hex('b')]);
    expect(statSync(join(target, 'blobs', 'sha256', hex('b'))).ino).toBe(statSync(blobs[1]?.path as string).ino);
    // Nothing half-built is left beside it.
    expect(readdirSync(dir).sort()).toEqual(['blob-a', 'blob-b', 'layout', 'stale']);
  });
});
