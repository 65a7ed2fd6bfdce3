import type { KeyObject } from 'node:crypto';
import { parsePublicKey, rawPublicKey } from './release-signature.js';
import { sha256Hex } from './sha256.js';

/**
 * The fingerprint a bootstrap token carries for the release key a new node must pin
 * (`edgefleet token create --release-key NAME.pub`): the full SHA-256 of the raw 32-byte
 * Ed25519 key, not the 16-digit key id (an id is a name, not a pin).
 */
export function releaseKeyFingerprint(key: KeyObject | string): string {
  return sha256Hex(rawPublicKey(typeof key === 'string' ? parsePublicKey(key, 'release key') : key));
}
