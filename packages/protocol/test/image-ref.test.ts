import { describe, expect, it } from 'vitest';
import { formatImageReference, ImageReferenceError, parseImageReference, registryHostOf } from '../src/image-ref.js';

const D = `sha256:${'ab'.repeat(32)}`;

describe('parseImageReference', () => {
  it.each([
    [`registry.example/team/detector@${D}`, { registry: 'registry.example', repository: 'team/detector', tag: null, digest: D }],
    [`127.0.0.1:5000/detector:1.2@${D}`, { registry: '127.0.0.1:5000', repository: 'detector', tag: '1.2', digest: D }],
    [`localhost/a/b/c@${D}`, { registry: 'localhost', repository: 'a/b/c', tag: null, digest: D }],
    [`ghcr.io/acme/edge_model-v2@${D}`, { registry: 'ghcr.io', repository: 'acme/edge_model-v2', tag: null, digest: D }],
  ])('reads %s', (text, expected) => {
    expect(parseImageReference(text)).toEqual(expected);
  });

  it.each([
    ['registry.example/team/detector:1.2', /not pinned by digest/, /registry\.example\/team\/detector@sha256:/],
    ['registry.example:5000/team/detector', /not pinned by digest/, /registry\.example:5000\/team\/detector@sha256/],
    [`team/detector@${D}`, /not a registry host/, /registry host/],
    [`detector@${D}`, /names no registry/, /registry host/],
    ['registry.example/team/detector@sha256:abc', /not "sha256:" followed by 64/, /sha256/],
    [`registry.example/Team/detector@${D}`, /malformed/, /lowercase/],
    [`registry.example/team/detector:bad tag@${D}`, /malformed/, /letters, digits/],
  ])('refuses %s with a reason and a hint', (text, message, hint) => {
    let err: unknown;
    try {
      parseImageReference(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ImageReferenceError);
    expect((err as ImageReferenceError).message).toMatch(message);
    expect((err as ImageReferenceError).hint).toMatch(hint);
  });

  it('writes the canonical form without the tag', () => {
    expect(formatImageReference(parseImageReference(`r.example:443/x:t@${D}`))).toBe(`r.example:443/x@${D}`);
    expect(registryHostOf('https://r.example:5000')).toBe('r.example:5000');
  });
});
