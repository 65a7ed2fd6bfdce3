/**
 * What a release signature covers, without any cryptography (so the browser and other
 * pure code can show or compare it): the digest input is the canonical JSON of every field
 * of `release` except `signature`; the signed message is `edgefleet.dev/release/v1\n<digest hex>`
 * (the prefix keeps a release signature from being valid for anything else); a key is
 * endorsed over `edgefleet.dev/key/v1\n<key id>\n<raw key hex>`. Hashing, signing and
 * verifying use node:crypto and live in `@edgefleet/protocol/node` (release-signature.ts).
 */
import { canonicalJson } from './canonical.js';
import type { Release } from './manifest.js';

/** The text whose SHA-256 is a release's digest: its canonical JSON without `signature`. */
export function releaseDigestInput(release: Release): string {
  const { signature: _signature, ...signed } = release;
  return canonicalJson(signed);
}

/** The ASCII message a release signature is made over, from the release digest (hex). */
export function releaseSignatureMessage(digestHex: string): string {
  return `edgefleet.dev/release/v1\n${digestHex}`;
}

/** The ASCII message a key endorsement is made over, from the new key's id and raw bytes (hex). */
export function keyEndorsementText(keyId: string, rawKeyHex: string): string {
  return `edgefleet.dev/key/v1\n${keyId}\n${rawKeyHex}`;
}
