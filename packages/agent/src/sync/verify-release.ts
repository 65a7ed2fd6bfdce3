import type { KeyObject } from 'node:crypto';
import { bindingOf, type DesiredState, type KeyRevocation, type TrustedKey } from '@edgefleet/protocol';
import { endorsementValid, parsePublicKey, publicKeyId, rawPublicKey, releaseSignatureProblem, revocationValid, sha256Hex } from '@edgefleet/protocol/node';

/**
 * The node's release trust policy, as pure functions of what the server sent, what the node
 * pinned and the releases it ran (no disk; the time is given): which offered keys to pin,
 * which pinned keys are now revoked, and which releases may run.
 *
 * - A node that pins no key yet pins the root keys it is given (trust on first use), or only
 *   the root its bootstrap token names when it names one ({@link TrustContext.expectedRoot}).
 * - A later key is pinned only when a pinned, live key endorsed it (chains followed) with an
 *   endorsement that signs its expiry and this fleet: a server that is taken over can add no
 *   key of its own.
 * - A revocation of a pinned key counts when another pinned key signed it for this fleet; it is
 *   kept for good (the server can't take it back). Every release by a revoked key is refused.
 * - A signed release runs only when a trusted key's signature matches it and names this fleet
 *   and the deployment it arrived as; a release changed after signing is refused.
 * - A key past its expiry introduces no new release; a release the node already accepted
 *   from it before keeps running (expiry is not an outage).
 * - A release signed earlier than the one this node accepted before its newest, for that
 *   deployment, is a downgrade (release-history.ts `floor`): refused unless the node accepted
 *   that very signature before (an operator's rollback to a revision the deployment ran here).
 * - (In short: a rollback goes back at most one step of this node's history, or to a release
 *   it ran.)
 *   downgrade, refused unless the node accepted that very signature before (an operator's
 *   rollback to a revision the deployment ran here).
 * - Once a node pins any key it refuses unsigned releases, whatever the server's policy says;
 *   before that it follows the server's `requireSigned`.
 */

/** What the policy reads of the node's release history (sync/release-history.ts). */
export interface ReleaseHistoryLike {
  /** Whether this node accepted the release with this signature value for the deployment before. */
  accepted(deployment: string, signatureValue: string): boolean;
  /** The oldest signing time a release of the deployment may have without having run here. */
  floor(deployment: string): string | undefined;
}

/** A pinned (or to be pinned) release key: its record as endorsed, and its parsed public key. */
export interface ParsedKey {
  record: TrustedKey;
  key: KeyObject;
}

/** What the policy needs beside the desired state and the pins. */
export interface TrustContext {
  /** The fleet CA fingerprint this node pinned at enrollment: the fleet id releases must name. */
  fleet: string;
  /** Now, ms since 1970 (key expiry). */
  now: number;
  /**
   * The one root key a node without pins may pin (from its bootstrap token, `token create
   * --release-key`): its key id (16 hex digits) or the SHA-256 of its raw 32 bytes (64);
   * undefined: any root offered at first use.
   */
  expectedRoot?: string | undefined;
}

/** Why an offered key is not pinned. */
type KeyRefusal =
  /** No signature, or signed by a key that is not pinned (not even through a chain). */
  | 'not-endorsed'
  /** Signed by a pinned key, but the endorsement does not verify (or names no expiry, or another fleet). */
  | 'endorsement-invalid'
  /** The endorsing key is revoked or past its expiry. */
  | 'endorser-not-live'
  /** The key comes with a revocation. */
  | 'revoked'
  /** A root other than the one the bootstrap token named. */
  | 'unexpected-root'
  /** The public key is not a PEM Ed25519 key. */
  | 'unreadable';

/** Why a release may not run. */
type ReleaseRefusal =
  /** Unsigned, while the node pins a key or the server requires signatures. */
  | 'unsigned'
  /** Signed by a key the node does not trust. */
  | 'untrusted-key'
  /** The signature does not match the release, or names another fleet or deployment, or is of the old format. */
  | 'signature-mismatch'
  /** Signed by a key that was revoked. */
  | 'key-revoked'
  /** Signed by a key past its expiry, and not a release this node accepted before. */
  | 'key-expired'
  /** Signed earlier than the history's floor for the deployment, and never accepted here. */
  | 'downgrade';

/** The verdict on one desired workload's release. */
type ReleaseVerdict =
  | {
      deployment: string;
      revision: number;
      accepted: true;
      /** Key that signed it; undefined for an unsigned release the policy allows. */
      signedBy: string | undefined;
    }
  | { deployment: string; revision: number; accepted: false; reason: ReleaseRefusal /** What to tell the operator. */; message: string };

/** What {@link verifyReleases} decided. */
export interface ReleaseVerification {
  /** Keys to pin now: the roots on first use, and every key a pinned key endorsed. */
  pin: ParsedKey[];
  /** Pinned (or just pinned) keys whose revocation verified: keep it with the pin. */
  revoke: { keyId: string; revocation: KeyRevocation }[];
  /** Offered keys left unpinned, with why. */
  refusedKeys: { keyId: string; reason: KeyRefusal }[];
  /** One verdict per desired workload, in the desired state's order. */
  releases: ReleaseVerdict[];
}

/** Whether a key may vouch for something new now: not revoked, not past its expiry. */
function live(record: TrustedKey, now: number): boolean {
  return record.revocation === null && (record.expiresAt === null || Date.parse(record.expiresAt) > now);
}

/**
 * The keys to pin at first use, for a node that pins none yet: the offered roots (each with a
 * valid self-endorsement of its expiry, or of the old format without one), or only the root
 * the bootstrap token names. This is the one place that decides what a new node trusts.
 */
export function firstUsePins(offered: readonly TrustedKey[], ctx: TrustContext): { pin: ParsedKey[]; refused: { keyId: string; reason: KeyRefusal }[] } {
  const pin: ParsedKey[] = [];
  const refused: { keyId: string; reason: KeyRefusal }[] = [];
  for (const r of offered.filter((k) => k.signedBy === null)) {
    const key = parseKey(r);
    if (key === undefined || publicKeyId(key) !== r.keyId) refused.push({ keyId: r.keyId, reason: 'unreadable' });
    else if (ctx.expectedRoot !== undefined && !isKey(key, ctx.expectedRoot)) refused.push({ keyId: r.keyId, reason: 'unexpected-root' });
    else if (r.revocation !== null) refused.push({ keyId: r.keyId, reason: 'revoked' });
    else if (!rootSignatureValid(r, key, ctx.fleet)) refused.push({ keyId: r.keyId, reason: 'endorsement-invalid' });
    else pin.push({ record: r, key });
  }
  return { pin, refused };
}

/** An empty history, for enrollment (no release accepted yet). */
const NO_HISTORY: ReleaseHistoryLike = { accepted: () => false, floor: () => undefined };

/**
 * Every key a node pins at enrollment: the roots {@link firstUsePins} picks, the keys they
 * endorse (chains followed), with the revocations those keys signed. Enrollment calls this,
 * the desired-state sync calls {@link verifyReleases}, which uses the same rules.
 */
export function initialPins(offered: readonly TrustedKey[], ctx: TrustContext): ParsedKey[] {
  const verification = verifyReleases({ workloads: [], trustedKeys: [...offered], requireSigned: false }, new Map(), NO_HISTORY, ctx);
  return withRevocations(verification.pin, verification.revoke);
}

/** The keys with the verified revocations applied to their records. */
export function withRevocations(keys: readonly ParsedKey[], revoke: readonly { keyId: string; revocation: KeyRevocation }[]): ParsedKey[] {
  return keys.map((k) => {
    const r = revoke.find((x) => x.keyId === k.record.keyId);
    return r === undefined ? k : { ...k, record: { ...k.record, revocation: r.revocation } };
  });
}

/** Whether `expected` names `key`: its key id, or the SHA-256 of its raw bytes. */
function isKey(key: KeyObject, expected: string): boolean {
  const want = expected.toLowerCase().replace(/^sha256:/, '');
  return want === publicKeyId(key) || want === sha256Hex(rawPublicKey(key));
}

/** A root's expiry is signed by the root itself; a root of the old format has neither. */
function rootSignatureValid(r: TrustedKey, key: KeyObject, fleet: string): boolean {
  if (r.expiresAt === null) return r.signature === null;
  return r.signature !== null && endorsementValid(key, key, r.signature, { fleet, expiresAt: r.expiresAt });
}

/**
 * The offered keys a pinned, live key endorses, following chains (a key endorsed by a key
 * endorsed by a pinned key), and those refused. Keys already pinned are neither.
 */
export function endorsedKeys(
  pinned: ReadonlyMap<string, ParsedKey>,
  offered: readonly TrustedKey[],
  ctx: TrustContext,
): { endorsed: ParsedKey[]; refused: { keyId: string; reason: KeyRefusal }[] } {
  const trusted = new Map(pinned);
  const endorsed: ParsedKey[] = [];
  const unreadable = new Set<string>();
  let pending = offered.filter((r) => !trusted.has(r.keyId));
  for (let added = true; added; ) {
    added = false;
    for (const r of pending) {
      const signer = r.signedBy === null ? undefined : trusted.get(r.signedBy);
      if (signer === undefined || r.signature === null || r.expiresAt === null || r.revocation !== null || !live(signer.record, ctx.now)) continue;
      const key = parseKey(r);
      if (key === undefined) {
        unreadable.add(r.keyId);
        continue;
      }
      // The id must be the key's own: under a borrowed id a key would block the real owner of that id.
      if (publicKeyId(key) !== r.keyId || !endorsementValid(key, signer.key, r.signature, { fleet: ctx.fleet, expiresAt: r.expiresAt })) continue;
      const parsed = { record: r, key };
      trusted.set(r.keyId, parsed);
      endorsed.push(parsed);
      added = true;
    }
    pending = pending.filter((r) => !trusted.has(r.keyId));
  }
  const refused = pending.map((r) => {
    const signer = r.signedBy === null ? undefined : trusted.get(r.signedBy);
    const reason: KeyRefusal = unreadable.has(r.keyId)
      ? 'unreadable'
      : r.revocation !== null
        ? 'revoked'
        : signer === undefined || r.signature === null
          ? 'not-endorsed'
          : live(signer.record, ctx.now)
            ? 'endorsement-invalid'
            : 'endorser-not-live';
    return { keyId: r.keyId, reason };
  });
  return { endorsed, refused };
}

/**
 * The revocations offered for keys in `trusted` that another key of `trusted` signed for
 * this fleet, for keys not already revoked.
 */
export function verifiedRevocations(
  trusted: ReadonlyMap<string, ParsedKey>,
  offered: readonly TrustedKey[],
  fleet: string,
): { keyId: string; revocation: KeyRevocation }[] {
  const out: { keyId: string; revocation: KeyRevocation }[] = [];
  for (const r of offered) {
    const target = trusted.get(r.keyId);
    if (r.revocation === null || target === undefined || target.record.revocation !== null) continue;
    const signer = trusted.get(r.revocation.signedBy);
    // Any other pinned key may revoke, even one that is itself expired or revoked: a
    // revocation only takes trust away, so the worst a stolen key can do with it is a denial.
    if (signer !== undefined && revocationValid(r.keyId, r.revocation, signer.key, fleet)) out.push({ keyId: r.keyId, revocation: r.revocation });
  }
  return out;
}

/**
 * Decides which of the desired state's keys to pin, which pinned keys are revoked, and which
 * of its releases may run, given the keys the node pins and the releases it accepted before.
 * The caller pins `pin`, keeps `revoke`, runs only accepted releases and records them in its
 * history.
 */
export function verifyReleases(
  desired: Pick<DesiredState, 'workloads' | 'trustedKeys' | 'requireSigned'>,
  pinned: ReadonlyMap<string, ParsedKey>,
  history: ReleaseHistoryLike,
  ctx: TrustContext,
): ReleaseVerification {
  const pin: ParsedKey[] = [];
  const refusedKeys: { keyId: string; reason: KeyRefusal }[] = [];
  // A node enrolled before the fleet had any release key trusted the server fully until now:
  // it pins the first root keys it is given, and from then on only keys those endorse.
  if (pinned.size === 0) {
    const first = firstUsePins(desired.trustedKeys, ctx);
    pin.push(...first.pin);
    refusedKeys.push(...first.refused);
  }
  const afterFirstUse = new Map([...pinned, ...pin.map((k): [string, ParsedKey] => [k.record.keyId, k])]);
  const offered = desired.trustedKeys.filter((r) => !refusedKeys.some((k) => k.keyId === r.keyId));
  const { endorsed, refused } = endorsedKeys(afterFirstUse, offered, ctx);
  pin.push(...endorsed);
  refusedKeys.push(...refused);
  const all = new Map([...afterFirstUse, ...endorsed.map((k): [string, ParsedKey] => [k.record.keyId, k])]);
  const revoke = verifiedRevocations(all, desired.trustedKeys, ctx.fleet);
  for (const { keyId, revocation } of revoke) {
    const k = all.get(keyId);
    if (k !== undefined) all.set(keyId, { ...k, record: { ...k.record, revocation } });
  }
  const keys = new Map([...all].map(([id, k]): [string, KeyObject] => [id, k.key]));
  const releases = desired.workloads.map(({ deployment, revision, release }): ReleaseVerdict => {
    const refuse = (reason: ReleaseRefusal, message: string): ReleaseVerdict => ({ deployment, revision, accepted: false, reason, message });
    const sig = release.signature;
    if (sig === undefined) {
      // Once a node pins any key it requires signatures, whatever the server says.
      if (all.size > 0 || desired.requireSigned) return refuse('unsigned', 'the release is not signed');
      return { deployment, revision, accepted: true, signedBy: undefined };
    }
    const signer = all.get(sig.keyId);
    if (signer?.record.revocation != null) {
      return refuse('key-revoked', `the release is signed by key ${sig.keyId}, which was revoked at ${signer.record.revocation.revokedAt}`);
    }
    const problem = releaseSignatureProblem(release, keys, { fleet: ctx.fleet, deployment });
    if (problem !== undefined) return refuse(signer === undefined ? 'untrusted-key' : 'signature-mismatch', problem);
    const signedAt = bindingOf(release)?.signedAt ?? '';
    const ranHere = history.accepted(deployment, sig.value);
    if (!ranHere && signer !== undefined && !live(signer.record, ctx.now)) {
      return refuse('key-expired', `the release is signed by key ${sig.keyId}, which expired at ${signer.record.expiresAt}: sign it with a live key`);
    }
    const floor = history.floor(deployment);
    if (!ranHere && floor !== undefined && signedAt < floor) {
      return refuse(
        'downgrade',
        `the release was signed at ${signedAt}, before the release this node ran before its newest one for "${deployment}" (signed at ${floor}), and never ran here: a downgrade; to roll back that far, sign it again`,
      );
    }
    return { deployment, revision, accepted: true, signedBy: sig.keyId };
  });
  return { pin, revoke, refusedKeys, releases };
}

/** The key's public key, or undefined when it is not a PEM Ed25519 key. */
function parseKey(record: TrustedKey): KeyObject | undefined {
  try {
    return parsePublicKey(record.publicKey);
  } catch {
    return undefined;
  }
}
