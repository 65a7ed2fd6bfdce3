import { describe, expect, it } from 'vitest';
import { MediaTypes, parseManifest } from '../../src/images/manifest.js';

const d = (n: string) => ({ mediaType: 'application/octet-stream', digest: `sha256:${n.repeat(64)}`, size: 1 });
const bytes = (v: unknown) => Buffer.from(JSON.stringify(v));

describe('parseManifest', () => {
  it('reads an OCI index and a Docker manifest list as indexes', () => {
    expect(parseManifest(bytes({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [d('a')] })).kind).toBe('index');
    expect(parseManifest(bytes({ schemaVersion: 2, mediaType: MediaTypes.dockerManifestList, manifests: [d('a')] })).kind).toBe('index');
  });
  it('reads OCI and Docker schema 2 manifests', () => {
    expect(parseManifest(bytes({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: d('a'), layers: [d('b')] })).kind).toBe('manifest');
    expect(parseManifest(bytes({ schemaVersion: 2, mediaType: MediaTypes.dockerManifest, config: d('a'), layers: [] })).kind).toBe('manifest');
  });
  it('falls back to Content-Type, then to the shape, when the document names no media type', () => {
    expect(parseManifest(bytes({ schemaVersion: 2, manifests: [] }), `${MediaTypes.ociIndex}; charset=utf-8`).kind).toBe('index');
    expect(parseManifest(bytes({ schemaVersion: 2, manifests: [] })).kind).toBe('index');
    expect(parseManifest(bytes({ schemaVersion: 2, config: d('a'), layers: [] })).kind).toBe('manifest');
  });
  it.each([
    ['not JSON', Buffer.from('{'), 'not JSON'],
    ['schema 1', bytes({ schemaVersion: 1, mediaType: 'application/vnd.docker.distribution.manifest.v1+prettyjws' }), 'not supported'],
    ['a bad digest', bytes({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: { ...d('a'), digest: 'sha256:../x' }, layers: [] }), 'malformed'],
    ['a negative size', bytes({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [{ ...d('a'), size: -1 }] }), 'malformed'],
  ])('refuses %s', (_name, input, message) => {
    expect(() => parseManifest(input)).toThrow(message);
  });
});
