import type { KeyObject } from 'node:crypto';
import type { TrustedKey } from '@edgefleet/protocol';
import { type EdgefleetClient, endorseKey, signedTime } from '@edgefleet/protocol/node';

/** A year from now, as an endorsement's signed expiry. */
export function aYearFromNow(): string {
  return signedTime(Date.now() + 365 * 86_400_000);
}

/** Makes a fleet trust `pair` as its first release key: the key signs its own expiry for the fleet. */
export function trustRootKey(
  client: EdgefleetClient,
  fleet: string,
  pair: { publicKey: KeyObject; privateKey: KeyObject },
  expiresAt = aYearFromNow(),
): Promise<TrustedKey> {
  return client.trustKey(pair.publicKey.export({ format: 'pem', type: 'spki' }).toString(), endorseKey(pair.publicKey, pair.privateKey, { fleet, expiresAt }));
}
