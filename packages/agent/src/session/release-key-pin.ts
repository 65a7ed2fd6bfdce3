import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { errors, type TrustedKey } from '@edgefleet/protocol';
import { parsePublicKey, publicKeyId, releaseKeyFingerprint, writeFileDurable } from '@edgefleet/protocol/node';
import { endorsedKeys } from '../sync/verify-release.js';

/**
 * Where a node's first release key comes from (issue 14, finding 8). A bootstrap token made
 * with `--release-key` names it (EF2 tokens): the node pins that key, and the keys it
 * endorses, from the enrollment answer, and refuses an answer without it; so a new node
 * needs no trust in the server for its release keys. A node without one pins the root keys
 * the server offers first (trust on first use), and says so in its facts.
 */
export type ReleaseKeyPinning = 'token' | 'first-use';

/** What the node pins from an enrollment answer, and what it leaves out. */
interface EnrollmentPins {
  pin: TrustedKey[];
  /** Offered keys not pinned: neither the token's key nor endorsed by it. */
  ignored: string[];
}

/**
 * The keys to pin from the enrollment answer's `offered` keys. Without a fingerprint from the
 * token, all of them (trust on first use, as before). With one, the offered key with that
 * fingerprint and the keys it endorses (chains followed); an answer that does not offer it
 * is refused (`server_untrusted`, not retried): a server, or whoever speaks for it, offering
 * another key is exactly what the pin is for.
 */
export function enrollmentPins(offered: readonly TrustedKey[], fingerprint: string | undefined): EnrollmentPins {
  if (fingerprint === undefined) return { pin: [...offered], ignored: [] };
  const named = offered.find((r) => {
    try {
      const key = parsePublicKey(r.publicKey);
      // The id must be the key's own, or the record would pin under a borrowed name.
      return releaseKeyFingerprint(key) === fingerprint && publicKeyId(key) === r.keyId;
    } catch {
      return false;
    }
  });
  if (named === undefined) {
    throw errors.serverUntrusted(
      `the enrollment answer does not offer the release key sha256:${fingerprint} that the bootstrap token names (it offers ${
        offered.length === 0 ? 'none' : offered.map((r) => r.keyId).join(', ')
      })`,
      'the server is not the one the token was made for, or it does not trust that key: check --server and "edgefleet keys list"; do not reuse this token',
    );
  }
  const root = { ...named, signedBy: null, signature: null };
  const { endorsed, refused } = endorsedKeys(new Map([[named.keyId, parsePublicKey(named.publicKey)]]), offered);
  return { pin: [root, ...endorsed.map((k) => k.record)], ignored: refused.map((r) => r.keyId) };
}

const FILE = 'release-key-pin.json';

/** Remembers that this node's release keys were pinned from its token. */
export function saveTokenPin(dataDir: string, fingerprint: string): void {
  writeFileDurable(join(dataDir, FILE), `${JSON.stringify({ pinning: 'token', fingerprint })}\n`, 0o600);
}

/** How this node pinned its first release key: from its token (on record), or on first use. */
export function releaseKeyPinning(dataDir: string): ReleaseKeyPinning {
  const path = join(dataDir, FILE);
  if (!existsSync(path)) return 'first-use';
  try {
    return (JSON.parse(readFileSync(path, 'utf8')) as { pinning?: unknown }).pinning === 'token' ? 'token' : 'first-use';
  } catch {
    return 'first-use';
  }
}
