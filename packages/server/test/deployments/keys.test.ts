import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { endorseKey, publicKeyId } from '@edgefleet/protocol/node';
import { describe, expect, it } from 'vitest';
import { endorsementProblem, toTrustedKey, trustedKeyMap } from '../../src/deployments/keys.js';
import type { ReleaseKeyRecord } from '../../src/store/index.js';

function keyPair(): { privateKey: KeyObject; publicKey: KeyObject; id: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey, id: publicKeyId(publicKey) };
}
const root = keyPair();
const second = keyPair();
const stranger = keyPair();
const trusted = new Map([[root.id, root.publicKey]]);

describe('endorsementProblem', () => {
  it('trusts the first key as given', () => {
    expect(endorsementProblem(root.publicKey, undefined, undefined, new Map())).toBeUndefined();
  });

  it('refuses a first key that claims an endorser (it would be stored with a dangling signedBy)', () => {
    const e = endorseKey(root.publicKey, stranger.privateKey);
    expect(endorsementProblem(root.publicKey, e.signedBy, e.signature, new Map())).toBe(
      `the endorsing key ${stranger.id} is not trusted: the first key is trusted without an endorsement`,
    );
  });

  it('accepts a later key endorsed by a trusted key', () => {
    const e = endorseKey(second.publicKey, root.privateKey);
    expect(endorsementProblem(second.publicKey, e.signedBy, e.signature, trusted)).toBeUndefined();
  });

  it('refuses a later key without an endorsement', () => {
    expect(endorsementProblem(second.publicKey, undefined, undefined, trusted)).toBe('a key added after the first must be endorsed by a trusted key');
    expect(endorsementProblem(second.publicKey, root.id, undefined, trusted)).toMatch(/must be endorsed/);
  });

  it('refuses an endorsement by a key the server does not trust', () => {
    const e = endorseKey(second.publicKey, stranger.privateKey);
    expect(endorsementProblem(second.publicKey, e.signedBy, e.signature, trusted)).toBe(`the endorsing key ${stranger.id} is not trusted`);
  });

  it('refuses an endorsement that names a trusted key but was made by another', () => {
    const e = endorseKey(second.publicKey, stranger.privateKey);
    expect(endorsementProblem(second.publicKey, root.id, e.signature, trusted)).toBe(`the endorsement by ${root.id} does not verify`);
  });

  it('refuses an endorsement of another key, or a malformed one', () => {
    const e = endorseKey(stranger.publicKey, root.privateKey);
    expect(endorsementProblem(second.publicKey, root.id, e.signature, trusted)).toMatch(/does not verify/);
    expect(endorsementProblem(second.publicKey, root.id, '!!!', trusted)).toMatch(/does not verify/);
  });

  it('follows a chain one link at a time: a key endorsed by an endorsed key', () => {
    const third = keyPair();
    const withSecond = new Map([...trusted, [second.id, second.publicKey]]);
    const e = endorseKey(third.publicKey, second.privateKey);
    expect(endorsementProblem(third.publicKey, e.signedBy, e.signature, withSecond)).toBeUndefined();
    expect(endorsementProblem(third.publicKey, e.signedBy, e.signature, trusted)).toMatch(/not trusted/);
  });
});

describe('trustedKeyMap + toTrustedKey', () => {
  it('maps stored records to keys by id, and hands out the public fields only', () => {
    const record: ReleaseKeyRecord = {
      keyId: root.id,
      publicKey: root.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
      signedBy: null,
      signature: null,
      createdAt: 1,
    };
    const map = trustedKeyMap([record]);
    expect(publicKeyId(map.get(root.id) as KeyObject)).toBe(root.id);
    expect(toTrustedKey(record)).toEqual({ keyId: root.id, publicKey: record.publicKey, signedBy: null, signature: null });
  });
});
