import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import { EdgefleetError } from '../errors.js';
import type { Release, Signature } from '../manifest.js';
import { keyEndorsementText, releaseDigestInput, releaseSignatureMessage } from '../release-rules.js';
import { sha256Hex } from './sha256.js';

/**
 * Signed releases. The digest of a release is the SHA-256 of the canonical JSON of every
 * field of `release` except `signature` (defaults applied, so `health` left out and
 * `health` written out with its defaults hash the same). The signature is Ed25519 over the
 * ASCII message `edgefleet.dev/release/v1\n<digest hex>`: the prefix keeps a release
 * signature from ever being valid for anything else.
 */
export function releaseDigest(release: Release): string {
  return sha256Hex(releaseDigestInput(release));
}

function message(digest: string): Buffer {
  return Buffer.from(releaseSignatureMessage(digest), 'ascii');
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
      status: 400,
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
      status: 400,
      message: `the ${what} is not a PEM public key`,
      hint: 'use the NAME.pub file written by "edgefleet keys generate"',
    });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new EdgefleetError({
      code: 'bad_request',
      status: 400,
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
      status: 400,
      message: 'the signing key is not a PEM private key',
      hint: 'use the NAME.key file written by "edgefleet keys generate"',
    });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new EdgefleetError({
      code: 'bad_request',
      status: 400,
      message: `the signing key is ${key.asymmetricKeyType ?? 'unknown'}, not Ed25519`,
      hint: 'make one with "edgefleet keys generate"',
    });
  }
  return key;
}

/** Signs a release; returns the signature to put in `release.signature`. */
export function signRelease(release: Release, privateKey: KeyObject): Signature {
  const publicKey = createPublicKey(privateKey);
  const value = sign(null, message(releaseDigest(release)), privateKey).toString('base64');
  return { algorithm: 'ed25519', keyId: publicKeyId(publicKey), value };
}

/** Why a release's signature does not verify against the trusted keys, or undefined when it does. */
export function releaseSignatureProblem(release: Release, trusted: ReadonlyMap<string, KeyObject>): string | undefined {
  const sig = release.signature;
  if (sig === undefined) return 'the release is not signed';
  const key = trusted.get(sig.keyId);
  if (key === undefined) return `the release is signed by key ${sig.keyId}, which is not trusted`;
  let ok = false;
  try {
    ok = verify(null, message(releaseDigest(release)), key, Buffer.from(sig.value, 'base64'));
  } catch {
    ok = false;
  }
  return ok ? undefined : `the signature by key ${sig.keyId} does not match the release (it was changed after signing)`;
}

/**
 * A release key added after enrollment must be endorsed by a key the node already pins:
 * Ed25519 over `edgefleet.dev/key/v1\n<new key id>\n<new key raw hex>`.
 */
export function keyEndorsementMessage(newKey: KeyObject): Buffer {
  return Buffer.from(keyEndorsementText(publicKeyId(newKey), rawPublicKey(newKey).toString('hex')), 'ascii');
}

export function endorseKey(newKey: KeyObject, signer: KeyObject): { signedBy: string; signature: string } {
  return { signedBy: publicKeyId(createPublicKey(signer)), signature: sign(null, keyEndorsementMessage(newKey), signer).toString('base64') };
}

export function endorsementValid(newKey: KeyObject, signer: KeyObject, signature: string): boolean {
  try {
    return verify(null, keyEndorsementMessage(newKey), signer, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}
