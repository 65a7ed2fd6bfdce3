import type { KeyObject } from 'node:crypto';
import type { TrustedKey } from '@edgefleet/protocol';
import { endorsementValid, parsePublicKey } from '@edgefleet/protocol/node';
import type { ReleaseKeyRecord } from '../store/index.js';

/**
 * Trusted release keys. The server stores and hands out public keys only; it can never sign.
 * The first key is trusted as given (by an admin); every later key must carry an
 * endorsement by a key already trusted, which agents check again against what they pinned.
 */
export function trustedKeyMap(records: readonly ReleaseKeyRecord[]): Map<string, KeyObject> {
  return new Map(records.map((r) => [r.keyId, parsePublicKey(r.publicKey)]));
}

export function toTrustedKey(r: ReleaseKeyRecord): TrustedKey {
  return { keyId: r.keyId, publicKey: r.publicKey, signedBy: r.signedBy, signature: r.signature };
}

/** Why a new key may not be added, or undefined when it may. */
export function endorsementProblem(
  newKey: KeyObject,
  signedBy: string | undefined,
  signature: string | undefined,
  trusted: ReadonlyMap<string, KeyObject>,
): string | undefined {
  // The first key is a root; one that claims an endorser would be stored with a dangling
  // signedBy, and agents that pin roots on first use (signedBy null) would never pin it.
  if (trusted.size === 0)
    return signedBy === undefined && signature === undefined
      ? undefined
      : `the endorsing key ${signedBy ?? '(none)'} is not trusted: the first key is trusted without an endorsement`;
  if (signedBy === undefined || signature === undefined) return 'a key added after the first must be endorsed by a trusted key';
  const signer = trusted.get(signedBy);
  if (signer === undefined) return `the endorsing key ${signedBy} is not trusted`;
  return endorsementValid(newKey, signer, signature) ? undefined : `the endorsement by ${signedBy} does not verify`;
}
