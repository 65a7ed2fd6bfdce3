/**
 * What a release signature covers, without any cryptography (so the browser and other
 * pure code can show or compare it): the digest input is the canonical JSON of every field
 * of `release` except `signature`; the signed message (v2) binds that digest to the fleet
 * (its CA fingerprint), the deployment name and the signing time, so a signature can't be
 * moved to another fleet or deployment, and a node can tell an older release from a newer
 * one. Key endorsements carry the key's expiry and fleet; revocations name the key, the
 * time and the fleet. Every message starts with its own prefix, so a signature made for one
 * kind of statement is never valid for another. Hashing, signing and verifying use
 * node:crypto and live in `@edgefleet/protocol/node` (release-signature.ts).
 */
import { canonicalJson } from './canonical.js';
import type { Release } from './manifest.js';

/** Where a signed release may run, and when it was signed (part of the signed message). */
export interface ReleaseBinding {
  /** SHA-256 (64 lowercase hex digits) of the fleet CA certificate's DER: the fleet id nodes pin at enrollment. */
  fleet: string;
  /** The deployment name (metadata.name). */
  deployment: string;
  /** ISO 8601 UTC time of signing, with milliseconds: orders the releases of one deployment. */
  signedAt: string;
}

/** A fleet id: the SHA-256 of the fleet CA's DER, 64 lowercase hex digits. */
export const FLEET_ID = /^[0-9a-f]{64}$/;
/** The one time format signed statements carry: `2026-12-03T14:00:00.000Z`. */
export const SIGNED_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** The text whose SHA-256 is a release's digest: its canonical JSON without `signature`. */
export function releaseDigestInput(release: Release): string {
  const { signature: _signature, ...signed } = release;
  return canonicalJson(signed);
}

/**
 * The ASCII message a release signature is made over (v2): the digest bound to fleet,
 * deployment and time. Each field is on its own line after a fixed label, and none can hold
 * a newline (fleet and time are checked by pattern, deployment names are DNS labels).
 */
export function releaseSignatureMessage(digestHex: string, binding: ReleaseBinding): string {
  return `edgefleet.dev/release/v2\nfleet ${binding.fleet}\ndeployment ${binding.deployment}\nsigned-at ${binding.signedAt}\ndigest ${digestHex}`;
}

/**
 * The ASCII message a key endorsement (v2) is made over: the new key, its expiry and the fleet.
 * A root key signs its own (that is how its expiry is signed); a later key is signed by a
 * trusted key.
 */
export function keyEndorsementText(fleet: string, keyId: string, rawKeyHex: string, expiresAt: string): string {
  return `edgefleet.dev/key/v2\nfleet ${fleet}\nkey ${keyId}\nraw ${rawKeyHex}\nexpires-at ${expiresAt}`;
}

/** The ASCII message a key revocation is made over, by another trusted key. */
export function keyRevocationText(fleet: string, keyId: string, revokedAt: string): string {
  return `edgefleet.dev/revoke/v1\nfleet ${fleet}\nkey ${keyId}\nrevoked-at ${revokedAt}`;
}

/** The release's binding from its signature, or undefined for a signature of the old (v1) format, which had none. */
export function bindingOf(release: Release): ReleaseBinding | undefined {
  const s = release.signature;
  if (s?.fleet === undefined || s.deployment === undefined || s.signedAt === undefined) return undefined;
  return { fleet: s.fleet, deployment: s.deployment, signedAt: s.signedAt };
}
