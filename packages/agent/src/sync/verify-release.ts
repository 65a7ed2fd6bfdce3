import type { KeyObject } from 'node:crypto';
import type { DesiredState, TrustedKey } from '@edgefleet/protocol';
import { endorsementValid, parsePublicKey, publicKeyId, releaseSignatureProblem } from '@edgefleet/protocol/node';

/**
 * The node's release trust policy, as pure functions of what the server sent and what the
 * node pinned (no disk, no clock): which offered keys to pin, and which releases may run.
 *
 * - A node that pins no key yet pins the root keys it is given (trust on first use).
 * - A later key is pinned only when a pinned key endorsed it (chains followed), so a server
 *   that is taken over can add no key of its own.
 * - Once a node pins any key it refuses unsigned releases, whatever the server's policy says;
 *   before that it follows the server's `requireSigned`.
 * - A signed release runs only when a trusted key's signature matches it; a release changed
 *   after signing is refused.
 */

/** A release key with its parsed public key. */
interface ParsedKey {
  record: TrustedKey;
  key: KeyObject;
}

/** Why an offered key is not pinned. */
type KeyRefusal =
  /** No signature, or signed by a key that is not pinned (not even through a chain). */
  | 'not-endorsed'
  /** Signed by a pinned key, but the endorsement does not verify. */
  | 'endorsement-invalid'
  /** The public key is not a PEM Ed25519 key. */
  | 'unreadable';

/** Why a release may not run. */
type ReleaseRefusal =
  /** Unsigned, while the node pins a key or the server requires signatures. */
  | 'unsigned'
  /** Signed by a key the node does not trust. */
  | 'untrusted-key'
  /** The signature does not match the release: it was changed after signing. */
  | 'signature-mismatch';

/** The verdict on one desired workload's release. */
type ReleaseVerdict =
  | {
      deployment: string;
      revision: number;
      accepted: true /** Key that signed it; undefined for an unsigned release the policy allows. */;
      signedBy: string | undefined;
    }
  | { deployment: string; revision: number; accepted: false; reason: ReleaseRefusal /** What to tell the operator. */; message: string };

/** What {@link verifyReleases} decided. */
export interface ReleaseVerification {
  /** Keys to pin now: the roots on first use, and every key a pinned key endorsed. */
  pin: ParsedKey[];
  /** Offered keys left unpinned, with why. */
  refusedKeys: { keyId: string; reason: KeyRefusal }[];
  /** One verdict per desired workload, in the desired state's order. */
  releases: ReleaseVerdict[];
}

/**
 * The offered keys a pinned key endorses, following chains (a key endorsed by a key endorsed
 * by a pinned key), and those refused. Keys already pinned are neither.
 */
export function endorsedKeys(
  pinned: ReadonlyMap<string, KeyObject>,
  offered: readonly TrustedKey[],
): { endorsed: ParsedKey[]; refused: { keyId: string; reason: KeyRefusal }[] } {
  const trusted = new Map(pinned);
  const endorsed: ParsedKey[] = [];
  const unreadable = new Set<string>();
  let pending = offered.filter((r) => !trusted.has(r.keyId));
  for (let added = true; added; ) {
    added = false;
    for (const r of pending) {
      const signer = r.signedBy === null ? undefined : trusted.get(r.signedBy);
      if (signer === undefined || r.signature === null) continue;
      const key = parseKey(r);
      if (key === undefined) {
        unreadable.add(r.keyId);
        continue;
      }
      // The id must be the key's own: under a borrowed id a key would block the real owner of that id.
      if (publicKeyId(key) !== r.keyId || !endorsementValid(key, signer, r.signature)) continue;
      trusted.set(r.keyId, key);
      endorsed.push({ record: r, key });
      added = true;
    }
    pending = pending.filter((r) => !trusted.has(r.keyId));
  }
  const refused = pending.map((r) => {
    const reason: KeyRefusal = unreadable.has(r.keyId)
      ? 'unreadable'
      : r.signedBy !== null && r.signature !== null && trusted.has(r.signedBy)
        ? 'endorsement-invalid'
        : 'not-endorsed';
    return { keyId: r.keyId, reason };
  });
  return { endorsed, refused };
}

/**
 * Decides which of the desired state's keys to pin and which of its releases may run, given
 * the keys the node pins so far. The caller pins `pin` and runs only accepted releases.
 */
export function verifyReleases(
  desired: Pick<DesiredState, 'workloads' | 'trustedKeys' | 'requireSigned'>,
  pinned: ReadonlyMap<string, KeyObject>,
): ReleaseVerification {
  const pin: ParsedKey[] = [];
  const refusedKeys: { keyId: string; reason: KeyRefusal }[] = [];
  // A node enrolled before the fleet had any release key trusted the server fully until now:
  // it pins the first root keys it is given, and from then on only keys those endorse.
  if (pinned.size === 0) {
    for (const r of desired.trustedKeys.filter((k) => k.signedBy === null)) {
      const key = parseKey(r);
      if (key === undefined) refusedKeys.push({ keyId: r.keyId, reason: 'unreadable' });
      else pin.push({ record: r, key });
    }
  }
  const afterFirstUse = new Map([...pinned, ...pin.map((k): [string, KeyObject] => [k.record.keyId, k.key])]);
  const offered = desired.trustedKeys.filter((r) => !refusedKeys.some((k) => k.keyId === r.keyId));
  const { endorsed, refused } = endorsedKeys(afterFirstUse, offered);
  pin.push(...endorsed);
  refusedKeys.push(...refused);
  const trusted = new Map([...afterFirstUse, ...endorsed.map((k): [string, KeyObject] => [k.record.keyId, k.key])]);
  const releases = desired.workloads.map(({ deployment, revision, release }): ReleaseVerdict => {
    const refuse = (reason: ReleaseRefusal, message: string): ReleaseVerdict => ({ deployment, revision, accepted: false, reason, message });
    const sig = release.signature;
    if (sig === undefined) {
      // Once a node pins any key it requires signatures, whatever the server says.
      if (trusted.size > 0 || desired.requireSigned) return refuse('unsigned', 'the release is not signed');
      return { deployment, revision, accepted: true, signedBy: undefined };
    }
    const problem = releaseSignatureProblem(release, trusted);
    if (problem === undefined) return { deployment, revision, accepted: true, signedBy: sig.keyId };
    return refuse(trusted.has(sig.keyId) ? 'signature-mismatch' : 'untrusted-key', problem);
  });
  return { pin, refusedKeys, releases };
}

/** The key's public key, or undefined when it is not a PEM Ed25519 key. */
function parseKey(record: TrustedKey): KeyObject | undefined {
  try {
    return parsePublicKey(record.publicKey);
  } catch {
    return undefined;
  }
}
