import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { COSIGN_SIGNATURE_ANNOTATION, checkSimpleSigning, cosignSignatureTag, loadCosignPublicKey, signatureLayers } from '../../src/images/cosign.js';

const digest = `sha256:${'ab'.repeat(32)}`;
const pair = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });
const payloadFor = (signed: string) =>
  Buffer.from(
    JSON.stringify({
      critical: { identity: { 'docker-reference': 'r/x' }, image: { 'docker-manifest-digest': signed }, type: 'cosign container image signature' },
      optional: null,
    }),
  );

describe('checkSimpleSigning', () => {
  const key = pair();
  const payload = payloadFor(digest);
  const signature = sign('sha256', payload, key.privateKey).toString('base64');

  it('holds for a payload naming the digest, signed by the key', () => {
    expect(checkSimpleSigning(payload, signature, key.publicKey, digest)).toBeUndefined();
  });
  it('fails for another key', () => {
    expect(checkSimpleSigning(payload, signature, pair().publicKey, digest)).toContain('does not verify');
  });
  it('fails for a payload changed after signing', () => {
    expect(checkSimpleSigning(payloadFor(`sha256:${'cd'.repeat(32)}`), signature, key.publicKey, digest)).toContain('does not verify');
  });
  it('fails for a valid signature of another digest', () => {
    const other = payloadFor(`sha256:${'cd'.repeat(32)}`);
    expect(checkSimpleSigning(other, sign('sha256', other, key.privateKey).toString('base64'), key.publicKey, digest)).toContain(
      `covers sha256:${'cd'.repeat(32)}`,
    );
  });
  it('fails for garbage signatures', () => {
    expect(checkSimpleSigning(payload, '!!!', key.publicKey, digest)).toContain('does not verify');
  });
});

describe('the cosign format', () => {
  it('names the signature tag after the digest', () => {
    expect(cosignSignatureTag(digest)).toBe(`sha256-${'ab'.repeat(32)}.sig`);
  });
  it('keeps only simple-signing layers that carry a signature', () => {
    const layer = { mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', digest, size: 1 };
    expect(
      signatureLayers([
        { ...layer, annotations: { [COSIGN_SIGNATURE_ANNOTATION]: 'c2ln' } },
        { ...layer, annotations: {} },
        { ...layer, mediaType: 'application/octet-stream', annotations: { [COSIGN_SIGNATURE_ANNOTATION]: 'c2ln' } },
      ]).map((l) => l.signature),
    ).toEqual(['c2ln']);
  });
  it('refuses a public key that is not PEM, saying what it should be', () => {
    expect(() => loadCosignPublicKey('not a key')).toThrow('cosign generate-key-pair');
  });
});
