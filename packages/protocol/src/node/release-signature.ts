import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import type { KeyRevocation } from '../desired.js';
import { EdgefleetError } from '../errors.js';
import type { Release, Signature } from '../manifest.js';
import {
  bindingOf,
  FLEET_ID,
  keyEndorsementText,
  keyRevocationText,
  type ReleaseBinding,
  releaseDigestInput,
  releaseSignatureMessage,
  SIGNED_TIME,
} from '../release-rules.js';
import { sha256Hex } from './sha256.js';

/**
 * Signed releases. The digest of a release is the SHA-256 of the canonical JSON of every
 * field of `release` except `signature` (defaults applied, so `health` left out and
 * `health` written out with its defaults hash the same). The signature is Ed25519 over the
 * ASCII message of release-rules.ts `releaseSignatureMessage`: the digest bound to the fleet
 * (CA fingerprint), the deployment name and the signing time.
 */
export function releaseDigest(release: Release): string {
  return sha256Hex(releaseDigestInput(release));
}

function message(digest: string, binding: ReleaseBinding): Buffer {
  return Buffer.from(releaseSignatureMessage(digest, binding), 'ascii');
}

/** A time as signed statements carry it: ISO 8601 UTC with milliseconds. */
export function signedTime(at: Date | number): string {
  return new Date(at).toISOString();
}

/** The key id: first 16 hex digits of the SHA-256 of the raw 32-byte public key. */
export function publicKeyId(publicKey: KeyObject): string {
  const raw = rawPublicKey(publicKey);
  return sha256Hex(raw).slice(0, 16);
}

/** The 32 raw bytes of an Ed25519 public key (the last 32 bytes of its SPKI DER). */
export function rawPublicKey(publicKey: KeyObject): Buffer {
  const der = publicKey.export({ format: 'der', type: 'spki' });
  return der.subarray(der.length - 32);
}

/** Parses a PEM Ed25519 public key, with a clear error otherwise. */
export function parsePublicKey(pem: string, what = 'public key'): KeyObject {
  // createPublicKey also takes a private key (and derives its public half): without this
  // check, "edgefleet keys trust release.key" sent the signing key itself to the server.
  if (isPrivateKey(pem)) {
    throw new EdgefleetError({
      code: 'bad_request',
      message: `the ${what} is a private key`,
      hint: 'give the NAME.pub file written by "edgefleet keys generate"; the NAME.key file never leaves your machine',
    });
  }
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    throw new EdgefleetError({
      code: 'bad_request',
      message: `the ${what} is not a PEM public key`,
      hint: 'use the NAME.pub file written by "edgefleet keys generate"',
    });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new EdgefleetError({
      code: 'bad_request',
      message: `the ${what} is ${key.asymmetricKeyType ?? 'unknown'}, not Ed25519`,
      hint: 'release keys are Ed25519: make one with "edgefleet keys generate"',
    });
  }
  return key;
}

function isPrivateKey(pem: string): boolean {
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) return true;
  try {
    createPrivateKey(pem);
    return true;
  } catch {
    return false;
  }
}

/** Parses a PEM Ed25519 private key. */
export function parsePrivateKey(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new EdgefleetError({
      code: 'bad_request',
      message: 'the signing key is not a PEM private key',
      hint: 'use the NAME.key file written by "edgefleet keys generate"',
    });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new EdgefleetError({
      code: 'bad_request',
      message: `the signing key is ${key.asymmetricKeyType ?? 'unknown'}, not Ed25519`,
      hint: 'make one with "edgefleet keys generate"',
    });
  }
  return key;
}

/** Signs a release for one deployment of one fleet; returns the signature to put in `release.signature`. */
export function signRelease(release: Release, privateKey: KeyObject, where: { fleet: string; deployment: string; signedAt?: string }): Signature {
  const publicKey = createPublicKey(privateKey);
  const binding: ReleaseBinding = { fleet: where.fleet, deployment: where.deployment, signedAt: where.signedAt ?? signedTime(Date.now()) };
  checkBinding(binding);
  const value = sign(null, message(releaseDigest(release), binding), privateKey).toString('base64');
  return { algorithm: 'ed25519', keyId: publicKeyId(publicKey), value, ...binding };
}

function checkBinding(b: ReleaseBinding): void {
  const bad = (what: string, hint: string) => new EdgefleetError({ code: 'bad_request', message: what, hint });
  if (!FLEET_ID.test(b.fleet))
    throw bad(
      `the fleet "${b.fleet}" is not a CA fingerprint`,
      'give the 64 hex digits "edgefleet server info" prints (caFingerprint), or sign while logged in to the fleet',
    );
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(b.deployment))
    throw bad(`the deployment name "${b.deployment}" is not a DNS label`, "use the manifest's metadata.name");
  if (!SIGNED_TIME.test(b.signedAt))
    throw bad(`the signing time "${b.signedAt}" is not an ISO 8601 UTC time with milliseconds`, 'leave it out: the time of signing is used');
}

/** Where a node or server expects a release to run: its own fleet, the deployment it arrived as. */
export interface ReleaseTarget {
  fleet: string;
  deployment: string;
}

/**
 * Why a release's signature does not verify against the trusted keys for `target`, or
 * undefined when it does. A signature of the old format (no fleet, deployment, time) is
 * refused: it could be moved anywhere.
 */
export function releaseSignatureProblem(release: Release, trusted: ReadonlyMap<string, KeyObject>, target: ReleaseTarget): string | undefined {
  const sig = release.signature;
  if (sig === undefined) return 'the release is not signed';
  const binding = bindingOf(release);
  if (binding === undefined)
    return 'the release is signed in the old format, which names no fleet, deployment or time: sign it again with "edgefleet release sign"';
  if (binding.fleet !== target.fleet) return `the release is signed for another fleet (CA sha256:${binding.fleet}), not this one (sha256:${target.fleet})`;
  if (binding.deployment !== target.deployment) return `the release is signed for deployment "${binding.deployment}", not "${target.deployment}"`;
  const key = trusted.get(sig.keyId);
  if (key === undefined) return `the release is signed by key ${sig.keyId}, which is not trusted`;
  let ok = false;
  try {
    ok = SIGNED_TIME.test(binding.signedAt) && verify(null, message(releaseDigest(release), binding), key, Buffer.from(sig.value, 'base64'));
  } catch {
    ok = false;
  }
  return ok ? undefined : `the signature by key ${sig.keyId} does not match the release (it was changed after signing)`;
}

/** What a key endorsement signs beside the key: the fleet and the key's expiry. */
export interface EndorsementTerms {
  fleet: string;
  /** ISO 8601 UTC with milliseconds ({@link signedTime}). */
  expiresAt: string;
}

/**
 * A key endorsement: Ed25519 over release-rules.ts `keyEndorsementText` (fleet, key id, raw
 * key, expiry). A root key endorses itself, which signs its expiry; a later key is endorsed
 * by a key the node already pins.
 */
export function keyEndorsementMessage(newKey: KeyObject, terms: EndorsementTerms): Buffer {
  return Buffer.from(keyEndorsementText(terms.fleet, publicKeyId(newKey), rawPublicKey(newKey).toString('hex'), terms.expiresAt), 'ascii');
}

/** Endorses `newKey` with `signer` (which may be `newKey`'s own private key, for a root). */
export function endorseKey(newKey: KeyObject, signer: KeyObject, terms: EndorsementTerms): { signedBy: string; signature: string; expiresAt: string } {
  if (!SIGNED_TIME.test(terms.expiresAt)) throw new TypeError(`expiresAt ${terms.expiresAt} is not an ISO 8601 UTC time with milliseconds`);
  return {
    signedBy: publicKeyId(createPublicKey(signer)),
    signature: sign(null, keyEndorsementMessage(newKey, terms), signer).toString('base64'),
    expiresAt: terms.expiresAt,
  };
}

/** Whether `signature` is `signer`'s endorsement of `newKey` on these terms. */
export function endorsementValid(newKey: KeyObject, signer: KeyObject, signature: string, terms: EndorsementTerms): boolean {
  if (!SIGNED_TIME.test(terms.expiresAt)) return false;
  try {
    return verify(null, keyEndorsementMessage(newKey, terms), signer, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}

/** A revocation of key `keyId` signed by `signer` (another trusted key). */
export function revokeKey(keyId: string, signer: KeyObject, where: { fleet: string; revokedAt?: string }): KeyRevocation {
  const revokedAt = where.revokedAt ?? signedTime(Date.now());
  const signedBy = publicKeyId(createPublicKey(signer));
  const signature = sign(null, Buffer.from(keyRevocationText(where.fleet, keyId, revokedAt), 'ascii'), signer).toString('base64');
  return { revokedAt, signedBy, signature };
}

/** Whether `revocation` of `keyId` verifies with `signer` for `fleet`; a key never revokes itself. */
export function revocationValid(keyId: string, revocation: KeyRevocation, signer: KeyObject, fleet: string): boolean {
  if (revocation.signedBy === keyId || !SIGNED_TIME.test(revocation.revokedAt)) return false;
  try {
    return verify(null, Buffer.from(keyRevocationText(fleet, keyId, revocation.revokedAt), 'ascii'), signer, Buffer.from(revocation.signature, 'base64'));
  } catch {
    return false;
  }
}
