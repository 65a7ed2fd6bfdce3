import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { endorseKey, publicKeyId, revokeKey } from '@edgefleet/protocol/node';
import { describe, expect, it } from 'vitest';
import { endorsementProblem, keyNotLive, revocationProblem, toTrustedKey, trustedKeyMap } from '../../src/deployments/keys.js';
import type { ReleaseKeyRecord } from '../../src/store/index.js';

function keyPair(): { privateKey: KeyObject; publicKey: KeyObject; id: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey, id: publicKeyId(publicKey) };
}
const FLEET = 'f'.repeat(64);
const NOW = Date.parse('2026-12-03T14:00:00.000Z');
const TERMS = { fleet: FLEET, expiresAt: '2027-12-03T14:00:00.000Z' };
const root = keyPair();
const second = keyPair();
const stranger = keyPair();

function record(k: { publicKey: KeyObject; id: string }, over: Partial<ReleaseKeyRecord> = {}): ReleaseKeyRecord {
  return {
    keyId: k.id,
    publicKey: k.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    signedBy: null,
    signature: null,
    expiresAt: TERMS.expiresAt,
    revocation: null,
    createdAt: 1,
    ...over,
  };
}
const trusted = [record(root)];

describe('endorsementProblem', () => {
  it('trusts a first key that signs its own expiry for this fleet', () => {
    expect(endorsementProblem(root.publicKey, endorseKey(root.publicKey, root.privateKey, TERMS), [], FLEET, NOW)).toBeUndefined();
  });

  it('refuses a first key without a signed expiry', () => {
    expect(endorsementProblem(root.publicKey, {}, [], FLEET, NOW)).toMatch(/no signed expiry/);
  });

  it('refuses a first key whose self-endorsement is for another fleet, or another expiry', () => {
    const e = endorseKey(root.publicKey, root.privateKey, { ...TERMS, fleet: 'e'.repeat(64) });
    expect(endorsementProblem(root.publicKey, e, [], FLEET, NOW)).toMatch(/does not verify/);
    const f = endorseKey(root.publicKey, root.privateKey, TERMS);
    expect(endorsementProblem(root.publicKey, { ...f, expiresAt: '2099-01-01T00:00:00.000Z' }, [], FLEET, NOW)).toMatch(/does not verify/);
  });

  it('refuses an expiry in the past or in another format', () => {
    const past = endorseKey(root.publicKey, root.privateKey, { ...TERMS, expiresAt: '2026-12-01T00:00:00.000Z' });
    expect(endorsementProblem(root.publicKey, past, [], FLEET, NOW)).toMatch(/has passed/);
    expect(endorsementProblem(root.publicKey, { signature: 'x', expiresAt: '2027-01-01' }, [], FLEET, NOW)).toMatch(/ISO 8601/);
  });

  it('refuses a first key that claims another endorser (it would be stored with a dangling signedBy)', () => {
    const e = endorseKey(root.publicKey, stranger.privateKey, TERMS);
    expect(endorsementProblem(root.publicKey, e, [], FLEET, NOW)).toMatch(
      new RegExp(`endorsing key ${stranger.id} is not trusted: the first key endorses itself`),
    );
  });

  it('accepts a later key endorsed by a live trusted key', () => {
    expect(endorsementProblem(second.publicKey, endorseKey(second.publicKey, root.privateKey, TERMS), trusted, FLEET, NOW)).toBeUndefined();
  });

  it('refuses a later key without an endorsement, or endorsing itself', () => {
    expect(endorsementProblem(second.publicKey, {}, trusted, FLEET, NOW)).toMatch(/no signed expiry/);
    expect(endorsementProblem(second.publicKey, endorseKey(second.publicKey, second.privateKey, TERMS), trusted, FLEET, NOW)).toMatch(
      /endorsed by another trusted key/,
    );
  });

  it('refuses an endorsement by a key the server does not trust, or made by another than it names', () => {
    const e = endorseKey(second.publicKey, stranger.privateKey, TERMS);
    expect(endorsementProblem(second.publicKey, e, trusted, FLEET, NOW)).toBe(`the endorsing key ${stranger.id} is not trusted`);
    expect(endorsementProblem(second.publicKey, { ...e, signedBy: root.id }, trusted, FLEET, NOW)).toMatch(/does not verify/);
  });

  it('refuses an endorsement by a revoked or expired key', () => {
    const e = endorseKey(second.publicKey, root.privateKey, TERMS);
    const revoked = [record(root, { revocation: { revokedAt: '2026-12-02T00:00:00.000Z', signedBy: stranger.id, signature: 'x' } })];
    expect(endorsementProblem(second.publicKey, e, revoked, FLEET, NOW)).toMatch(/can't endorse: key .* was revoked/);
    const expired = [record(root, { expiresAt: '2026-12-02T00:00:00.000Z' })];
    expect(endorsementProblem(second.publicKey, e, expired, FLEET, NOW)).toMatch(/can't endorse: key .* expired/);
  });

  it('follows a chain one link at a time: a key endorsed by an endorsed key', () => {
    const third = keyPair();
    const e = endorseKey(third.publicKey, second.privateKey, TERMS);
    expect(endorsementProblem(third.publicKey, e, [...trusted, record(second, { signedBy: root.id })], FLEET, NOW)).toBeUndefined();
    expect(endorsementProblem(third.publicKey, e, trusted, FLEET, NOW)).toMatch(/not trusted/);
  });
});

describe('revocationProblem', () => {
  const both = [record(root), record(second, { signedBy: root.id })];
  it('accepts a revocation another live key signed for this fleet', () => {
    expect(revocationProblem(record(second), revokeKey(second.id, root.privateKey, { fleet: FLEET }), both, FLEET, NOW)).toBeUndefined();
  });

  it('refuses a key revoking itself, a stranger, another fleet, or a revoker that is not live', () => {
    expect(revocationProblem(record(second), revokeKey(second.id, second.privateKey, { fleet: FLEET }), both, FLEET, NOW)).toMatch(/can not revoke itself/);
    expect(revocationProblem(record(second), revokeKey(second.id, stranger.privateKey, { fleet: FLEET }), both, FLEET, NOW)).toMatch(/not trusted/);
    expect(revocationProblem(record(second), revokeKey(second.id, root.privateKey, { fleet: 'e'.repeat(64) }), both, FLEET, NOW)).toMatch(/does not verify/);
    const expiredRoot = [record(root, { expiresAt: '2026-01-01T00:00:00.000Z' }), record(second)];
    expect(revocationProblem(record(second), revokeKey(second.id, root.privateKey, { fleet: FLEET }), expiredRoot, FLEET, NOW)).toMatch(
      /can't sign revocations/,
    );
  });
});

describe('keyNotLive', () => {
  it('says why a key may sign nothing new', () => {
    expect(keyNotLive(record(root), NOW)).toBeUndefined();
    expect(keyNotLive(record(root, { expiresAt: null }), NOW)).toBeUndefined();
    expect(keyNotLive(record(root, { expiresAt: '2026-12-03T14:00:00.000Z' }), NOW)).toBe(`key ${root.id} expired at 2026-12-03T14:00:00.000Z`);
  });
});

describe('trustedKeyMap + toTrustedKey', () => {
  it('maps stored records to keys by id, and hands out the public fields only', () => {
    const r = record(root);
    const map = trustedKeyMap([r]);
    expect(publicKeyId(map.get(root.id) as KeyObject)).toBe(root.id);
    expect(toTrustedKey(r)).toEqual({ keyId: root.id, publicKey: r.publicKey, signedBy: null, signature: null, expiresAt: TERMS.expiresAt, revocation: null });
  });
});
