import type { KeyObject } from 'node:crypto';
import { type KeyRevocation, SIGNED_TIME, type TrustedKey } from '@edgefleet/protocol';
import { endorsementValid, parsePublicKey, publicKeyId, revocationValid } from '@edgefleet/protocol/node';
import type { ReleaseKeyRecord } from '../store/index.js';

/**
 * Trusted release keys. The server stores and hands out public keys only; it can never sign.
 * Every key carries a signed expiry: the first key (a root) signs its own, every later key
 * is endorsed by a live trusted key (one neither revoked nor expired). Agents check all of
 * it again against what they pinned; the server checks it so a mistake is refused at once.
 */
export function trustedKeyMap(records: readonly ReleaseKeyRecord[]): Map<string, KeyObject> {
  return new Map(records.map((r) => [r.keyId, parsePublicKey(r.publicKey)]));
}

export function toTrustedKey(r: ReleaseKeyRecord): TrustedKey {
  return { keyId: r.keyId, publicKey: r.publicKey, signedBy: r.signedBy, signature: r.signature, expiresAt: r.expiresAt, revocation: r.revocation };
}

/** Why a key may not vouch for anything new at `now` (revoked, expired), or undefined when it may. */
export function keyNotLive(r: Pick<ReleaseKeyRecord, 'keyId' | 'expiresAt' | 'revocation'>, now: number): string | undefined {
  if (r.revocation !== null) return `key ${r.keyId} was revoked at ${r.revocation.revokedAt}`;
  if (r.expiresAt !== null && Date.parse(r.expiresAt) <= now) return `key ${r.keyId} expired at ${r.expiresAt}`;
  return undefined;
}

/** What a trust request carries beside the public key. */
export interface Endorsement {
  signedBy?: string | undefined;
  signature?: string | undefined;
  expiresAt?: string | undefined;
}

/** Why a new key may not be added, or undefined when it may. */
export function endorsementProblem(newKey: KeyObject, e: Endorsement, existing: readonly ReleaseKeyRecord[], fleet: string, now: number): string | undefined {
  if (e.expiresAt === undefined || e.signature === undefined) {
    return 'the key has no signed expiry: keys are endorsed with their expiry (the first key by itself)';
  }
  if (!SIGNED_TIME.test(e.expiresAt)) return `expiresAt ${e.expiresAt} is not an ISO 8601 UTC time with milliseconds`;
  if (Date.parse(e.expiresAt) <= now) return `the key's expiry ${e.expiresAt} has passed`;
  const keyId = publicKeyId(newKey);
  const terms = { fleet, expiresAt: e.expiresAt };
  // The first key is a root: it signs its own expiry. One that claims another endorser would
  // be stored with a dangling signedBy, and agents pin roots only on first use.
  if (existing.length === 0) {
    if (e.signedBy !== undefined && e.signedBy !== keyId) {
      return `the endorsing key ${e.signedBy} is not trusted: the first key endorses itself (edgefleet keys trust NAME.pub --endorse-with NAME.key)`;
    }
    return endorsementValid(newKey, newKey, e.signature, terms) ? undefined : 'the self-endorsement does not verify (for this fleet and expiry)';
  }
  if (e.signedBy === undefined || e.signedBy === keyId) return 'a key added after the first must be endorsed by another trusted key';
  const signer = existing.find((k) => k.keyId === e.signedBy);
  if (signer === undefined) return `the endorsing key ${e.signedBy} is not trusted`;
  const dead = keyNotLive(signer, now);
  if (dead !== undefined) return `the endorsing key can't endorse: ${dead}`;
  return endorsementValid(newKey, parsePublicKey(signer.publicKey), e.signature, terms)
    ? undefined
    : `the endorsement by ${e.signedBy} does not verify (for this fleet and expiry)`;
}

/** Why a revocation of `target` may not be stored, or undefined when it may. */
export function revocationProblem(
  target: ReleaseKeyRecord,
  revocation: KeyRevocation,
  existing: readonly ReleaseKeyRecord[],
  fleet: string,
  now: number,
): string | undefined {
  if (revocation.signedBy === target.keyId) return 'a key can not revoke itself: sign the revocation with another trusted key';
  const signer = existing.find((k) => k.keyId === revocation.signedBy);
  if (signer === undefined) return `the revoking key ${revocation.signedBy} is not trusted`;
  // A live signer also means a live key remains after the revocation: the fleet can still sign.
  const dead = keyNotLive(signer, now);
  if (dead !== undefined) return `the revoking key can't sign revocations: ${dead}`;
  return revocationValid(target.keyId, revocation, parsePublicKey(signer.publicKey), fleet)
    ? undefined
    : `the revocation by ${revocation.signedBy} does not verify (for this fleet)`;
}
