import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { errors, type TrustedKey } from '@edgefleet/protocol';
import { releaseKeyFingerprint, writeFileDurable } from '@edgefleet/protocol/node';
import { initialPins, type ParsedKey, type TrustContext } from '../sync/verify-release.js';

/**
 * Where a node's first release key comes from (issue 14, finding 8). A bootstrap token made
 * with `--release-key` names it (EF2 tokens): the node pins that key, and the keys it
 * endorses, from the enrollment answer, and refuses an answer without it; so a new node
 * needs no trust in the server for its release keys. A node without one pins the root keys
 * the server offers first (trust on first use), and says so in its facts.
 */
export type ReleaseKeyPinning = 'token' | 'first-use';

/**
 * The keys to pin from the enrollment answer's `offered` keys, by the one rule for what a new
 * node trusts (sync/verify-release.ts `initialPins`: roots with a valid self-signed expiry,
 * not revoked, and the keys they endorse). With a fingerprint from the token, the only root
 * it may pin is the fleet's root release key with that fingerprint; an answer that does not
 * offer it (or offers it revoked, expired or mis-signed) is refused (`server_untrusted`, not
 * retried): a server, or whoever speaks for it, offering another key is exactly what the
 * pin is for. Nothing is saved before this returns.
 */
export function enrollmentPins(offered: readonly TrustedKey[], ctx: TrustContext, fingerprint: string | undefined): ParsedKey[] {
  if (fingerprint === undefined) return initialPins(offered, ctx);
  const pins = initialPins(offered, { ...ctx, expectedRoot: fingerprint });
  const named = pins.find((k) => k.record.signedBy === null && releaseKeyFingerprint(k.key) === fingerprint);
  if (named === undefined) {
    throw errors.serverUntrusted(
      `the enrollment answer does not offer the release key sha256:${fingerprint} that the bootstrap token names as the fleet's root release key (it offers ${
        offered.length === 0 ? 'none' : offered.map((r) => r.keyId).join(', ')
      }), or offers it revoked, expired or without a valid self-endorsement`,
      'the server is not the one the token was made for, or it does not trust that key: check --server and "edgefleet keys list"; do not reuse this token',
    );
  }
  return pins;
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
