import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { type DesiredWorkload, type Release, ReleaseSchema, type TrustedKey } from '@edgefleet/protocol';
import { endorseKey, publicKeyId, rawPublicKey, revokeKey, signRelease } from '@edgefleet/protocol/node';
import { describe, expect, it } from 'vitest';
import { ReleaseHistory } from '../../src/sync/release-history.js';
import {
  endorsedKeys,
  firstUsePins,
  initialPins,
  type ParsedKey,
  type ReleaseVerification,
  type TrustContext,
  verifyReleases,
} from '../../src/sync/verify-release.js';

const FLEET = 'f'.repeat(64);
const NOW = Date.parse('2026-12-03T14:00:00.000Z');
const CTX: TrustContext = { fleet: FLEET, now: NOW };
const EXPIRES = '2027-12-03T14:00:00.000Z';
const T1 = '2026-12-01T00:00:00.000Z';
const T2 = '2026-12-02T00:00:00.000Z';

interface ReleaseKey {
  id: string;
  publicKey: KeyObject;
  privateKey: KeyObject;
}
function newKey(): ReleaseKey {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return { id: publicKeyId(publicKey), publicKey, privateKey };
}
const ROOT = newKey();
const LATER = newKey(); // endorsed by ROOT
const CHAINED = newKey(); // endorsed by LATER
const ROGUE = newKey(); // the server's own key: nobody endorsed it

function pem(k: ReleaseKey): string {
  return k.publicKey.export({ format: 'pem', type: 'spki' }).toString();
}
function root(k: ReleaseKey, expiresAt = EXPIRES): TrustedKey {
  const e = endorseKey(k.publicKey, k.privateKey, { fleet: FLEET, expiresAt });
  return { keyId: k.id, publicKey: pem(k), signedBy: null, signature: e.signature, expiresAt, revocation: null };
}
function endorsed(k: ReleaseKey, by: ReleaseKey, expiresAt = EXPIRES, fleet = FLEET): TrustedKey {
  const e = endorseKey(k.publicKey, by.privateKey, { fleet, expiresAt });
  return { keyId: k.id, publicKey: pem(k), signedBy: e.signedBy, signature: e.signature, expiresAt, revocation: null };
}

const UNSIGNED: Release = ReleaseSchema.parse({
  version: '1.0',
  model: { artifact: `sha256:${'a'.repeat(64)}`, format: 'onnx' },
  runtime: { kind: 'model-server', accelerator: 'none' },
});
function signed(by: ReleaseKey, release: Release = UNSIGNED, where: { fleet?: string; deployment?: string; signedAt?: string } = {}): Release {
  return { ...release, signature: signRelease(release, by.privateKey, { fleet: FLEET, deployment: 'detect', signedAt: T1, ...where }) };
}
function tampered(by: ReleaseKey): Release {
  const r = signed(by);
  return { ...r, version: '1.0-evil' };
}
function workload(release: Release): DesiredWorkload {
  return { deployment: 'detect', revision: 1, release, endpoint: null };
}
function pins(...keys: ReleaseKey[]): Map<string, ParsedKey> {
  return new Map(keys.map((k) => [k.id, { key: k.publicKey, record: root(k) }]));
}
function pinsOf(...records: [ReleaseKey, TrustedKey][]): Map<string, ParsedKey> {
  return new Map(records.map(([k, record]) => [k.id, { key: k.publicKey, record }]));
}
const NO_HISTORY = new ReleaseHistory();
function verify(
  desired: { workloads: DesiredWorkload[]; trustedKeys: TrustedKey[]; requireSigned?: boolean },
  pinned: Map<string, ParsedKey>,
  history: ReleaseHistory = NO_HISTORY,
  ctx: TrustContext = CTX,
): ReleaseVerification {
  return verifyReleases({ requireSigned: false, ...desired }, pinned, history, ctx);
}

interface Case {
  name: string;
  pinned: Map<string, ParsedKey>;
  trustedKeys: TrustedKey[];
  requireSigned?: boolean;
  release: Release;
  /** Expected verdict: 'accepted', or the refusal reason. */
  verdict: 'accepted' | 'unsigned' | 'untrusted-key' | 'signature-mismatch' | 'key-revoked' | 'key-expired';
  /** Expected ids pinned now. */
  pin?: string[];
  refusedKeys?: ReleaseVerification['refusedKeys'];
}

const cases: Case[] = [
  { name: 'signed by a pinned key', pinned: pins(ROOT), trustedKeys: [root(ROOT)], release: signed(ROOT), verdict: 'accepted' },
  {
    name: 'signed by a key a pinned key endorsed: the key is pinned, the release runs',
    pinned: pins(ROOT),
    trustedKeys: [root(ROOT), endorsed(LATER, ROOT)],
    release: signed(LATER),
    verdict: 'accepted',
    pin: [LATER.id],
  },
  {
    name: 'endorsements are followed through a chain',
    pinned: pins(ROOT),
    // Offered child first: the chain resolves whatever the order.
    trustedKeys: [endorsed(CHAINED, LATER), endorsed(LATER, ROOT)],
    release: signed(CHAINED),
    verdict: 'accepted',
    pin: [LATER.id, CHAINED.id],
  },
  {
    name: 'signed by a key nobody endorsed: refused, and the key is not pinned',
    pinned: pins(ROOT),
    trustedKeys: [root(ROOT), root(ROGUE)],
    release: signed(ROGUE),
    verdict: 'untrusted-key',
    refusedKeys: [{ keyId: ROGUE.id, reason: 'not-endorsed' }],
  },
  {
    name: 'a key whose endorsement does not verify is refused',
    pinned: pins(ROOT),
    trustedKeys: [{ ...endorsed(ROGUE, ROOT), signature: endorsed(LATER, ROOT).signature }],
    release: signed(ROGUE),
    verdict: 'untrusted-key',
    refusedKeys: [{ keyId: ROGUE.id, reason: 'endorsement-invalid' }],
  },
  {
    name: 'a key endorsed by an unpinned key is refused',
    pinned: pins(ROOT),
    trustedKeys: [endorsed(CHAINED, ROGUE)],
    release: signed(CHAINED),
    verdict: 'untrusted-key',
    refusedKeys: [{ keyId: CHAINED.id, reason: 'not-endorsed' }],
  },
  {
    name: 'unsigned, with a pinned key: refused even though the server does not require signatures',
    pinned: pins(ROOT),
    trustedKeys: [],
    requireSigned: false,
    release: UNSIGNED,
    verdict: 'unsigned',
  },
  { name: 'unsigned, no pinned key, server does not require signatures: runs', pinned: pins(), trustedKeys: [], release: UNSIGNED, verdict: 'accepted' },
  {
    name: 'unsigned, no pinned key, server requires signatures: refused',
    pinned: pins(),
    trustedKeys: [],
    requireSigned: true,
    release: UNSIGNED,
    verdict: 'unsigned',
  },
  {
    name: 'unsigned on first use of a key: the root is pinned, and from now on signatures are required',
    pinned: pins(),
    trustedKeys: [root(ROOT)],
    release: UNSIGNED,
    verdict: 'unsigned',
    pin: [ROOT.id],
  },
  {
    name: 'first use: the roots are pinned and their signature verifies',
    pinned: pins(),
    trustedKeys: [root(ROOT), endorsed(LATER, ROOT)],
    release: signed(LATER),
    verdict: 'accepted',
    pin: [ROOT.id, LATER.id],
  },
  {
    name: 'a root offered after the first use is not pinned',
    pinned: pins(ROOT),
    trustedKeys: [root(ROGUE)],
    release: signed(ROOT),
    verdict: 'accepted',
    refusedKeys: [{ keyId: ROGUE.id, reason: 'not-endorsed' }],
  },
  { name: 'tampered after signing: refused', pinned: pins(ROOT), trustedKeys: [], release: tampered(ROOT), verdict: 'signature-mismatch' },
  {
    name: 'signed, no pinned key: the signer is not trusted',
    pinned: pins(),
    trustedKeys: [],
    release: signed(ROGUE),
    verdict: 'untrusted-key',
  },
  {
    name: 'a signature claiming a pinned key id but made by another key: refused',
    pinned: pins(ROOT),
    trustedKeys: [],
    release: { ...signed(ROGUE), signature: { ...signRelease(UNSIGNED, ROGUE.privateKey, { fleet: FLEET, deployment: 'detect' }), keyId: ROOT.id } },
    verdict: 'signature-mismatch',
  },
  {
    name: 'an unreadable key offered is refused, not thrown',
    pinned: pins(ROOT),
    trustedKeys: [{ ...endorsed(LATER, ROOT), publicKey: 'not a key' }],
    release: signed(ROOT),
    verdict: 'accepted',
    refusedKeys: [{ keyId: LATER.id, reason: 'unreadable' }],
  },
  {
    name: 'an unreadable root on first use is refused, not thrown',
    pinned: pins(),
    trustedKeys: [{ ...root(ROOT), publicKey: 'not a key' }],
    release: UNSIGNED,
    verdict: 'accepted',
    refusedKeys: [{ keyId: ROOT.id, reason: 'unreadable' }],
  },
  {
    name: 'a key endorsed for another fleet is refused (an endorsement is not moved between fleets)',
    pinned: pins(ROOT),
    trustedKeys: [endorsed(LATER, ROOT, EXPIRES, 'e'.repeat(64))],
    release: signed(LATER),
    verdict: 'untrusted-key',
    refusedKeys: [{ keyId: LATER.id, reason: 'endorsement-invalid' }],
  },
  {
    name: 'a key endorsed without an expiry (old format) is not pinned',
    pinned: pins(ROOT),
    trustedKeys: [{ ...endorsed(LATER, ROOT), expiresAt: null }],
    release: signed(LATER),
    verdict: 'untrusted-key',
    refusedKeys: [{ keyId: LATER.id, reason: 'endorsement-invalid' }],
  },
  {
    name: 'a key endorsed by an expired pinned key is refused',
    pinned: pinsOf([ROOT, root(ROOT, '2026-12-01T00:00:00.000Z')]),
    trustedKeys: [endorsed(LATER, ROOT)],
    release: signed(LATER),
    verdict: 'untrusted-key',
    refusedKeys: [{ keyId: LATER.id, reason: 'endorser-not-live' }],
  },
  {
    name: 'a new release by a pinned key past its expiry is refused',
    pinned: pinsOf([ROOT, root(ROOT, '2026-12-02T00:00:00.000Z')]),
    trustedKeys: [],
    release: signed(ROOT),
    verdict: 'key-expired',
  },
  {
    name: 'a release signed for another fleet is refused',
    pinned: pins(ROOT),
    trustedKeys: [],
    release: signed(ROOT, UNSIGNED, { fleet: 'e'.repeat(64) }),
    verdict: 'signature-mismatch',
  },
  {
    name: 'a release signed for another deployment is refused',
    pinned: pins(ROOT),
    trustedKeys: [],
    release: signed(ROOT, UNSIGNED, { deployment: 'count' }),
    verdict: 'signature-mismatch',
  },
  {
    name: 'a release by a key revoked by another pinned key is refused, and the revocation kept',
    pinned: pins(ROOT, LATER),
    trustedKeys: [{ ...endorsed(LATER, ROOT), revocation: revokeKey(LATER.id, ROOT.privateKey, { fleet: FLEET }) }],
    release: signed(LATER),
    verdict: 'key-revoked',
  },
  {
    name: 'a revocation the key signed itself does not count',
    pinned: pins(ROOT, LATER),
    trustedKeys: [{ ...endorsed(LATER, ROOT), revocation: revokeKey(LATER.id, LATER.privateKey, { fleet: FLEET }) }],
    release: signed(LATER),
    verdict: 'accepted',
  },
  {
    name: 'a revocation by a key that is not pinned does not count',
    pinned: pins(ROOT, LATER),
    trustedKeys: [{ ...endorsed(LATER, ROOT), revocation: revokeKey(LATER.id, ROGUE.privateKey, { fleet: FLEET }) }],
    release: signed(LATER),
    verdict: 'accepted',
  },
  {
    name: 'a revocation signed for another fleet does not count',
    pinned: pins(ROOT, LATER),
    trustedKeys: [{ ...endorsed(LATER, ROOT), revocation: revokeKey(LATER.id, ROOT.privateKey, { fleet: 'e'.repeat(64) }) }],
    release: signed(LATER),
    verdict: 'accepted',
  },
  {
    name: 'a key offered with a revocation is not pinned',
    pinned: pins(ROOT),
    trustedKeys: [{ ...endorsed(LATER, ROOT), revocation: revokeKey(LATER.id, ROOT.privateKey, { fleet: FLEET }) }],
    release: signed(LATER),
    verdict: 'untrusted-key',
    refusedKeys: [{ keyId: LATER.id, reason: 'revoked' }],
  },
  {
    name: 'first use: a root whose self-signed expiry does not verify is refused',
    pinned: pins(),
    trustedKeys: [{ ...root(ROOT), expiresAt: '2099-01-01T00:00:00.000Z' }],
    release: UNSIGNED,
    verdict: 'accepted',
    refusedKeys: [{ keyId: ROOT.id, reason: 'endorsement-invalid' }],
  },
];

describe('release verification', () => {
  it.each(cases)('$name', (c) => {
    const out = verify({ workloads: [workload(c.release)], trustedKeys: c.trustedKeys, requireSigned: c.requireSigned ?? false }, c.pinned);
    const verdict = out.releases[0];
    expect(verdict === undefined ? undefined : verdict.accepted ? 'accepted' : verdict.reason).toBe(c.verdict);
    expect(out.pin.map((k) => k.record.keyId)).toEqual(c.pin ?? []);
    expect(out.refusedKeys).toEqual(c.refusedKeys ?? []);
  });

  it('gives one verdict per workload, in order, with the messages operators see', () => {
    const out = verify(
      {
        workloads: [workload(signed(ROOT)), { ...workload(UNSIGNED), deployment: 'count', revision: 3 }, workload(tampered(ROOT))],
        trustedKeys: [],
      },
      pins(ROOT),
    );
    expect(out.releases).toEqual([
      { deployment: 'detect', revision: 1, accepted: true, signedBy: ROOT.id },
      { deployment: 'count', revision: 3, accepted: false, reason: 'unsigned', message: 'the release is not signed' },
      {
        deployment: 'detect',
        revision: 1,
        accepted: false,
        reason: 'signature-mismatch',
        message: `the signature by key ${ROOT.id} does not match the release (it was changed after signing)`,
      },
    ]);
  });

  it('leaves the pinned keys as they are (the caller pins)', () => {
    const pinned = pins(ROOT);
    verify({ workloads: [], trustedKeys: [endorsed(LATER, ROOT)] }, pinned);
    expect([...pinned.keys()]).toEqual([ROOT.id]);
  });

  it('endorsedKeys ignores keys already pinned', () => {
    expect(endorsedKeys(pins(ROOT, LATER), [root(ROOT), endorsed(LATER, ROOT)], CTX)).toEqual({ endorsed: [], refused: [] });
  });
});

describe('downgrade and rollback (issue 14, finding 7)', () => {
  const older = signed(ROOT, { ...UNSIGNED, version: '1.0' }, { signedAt: T1 });
  const newer = signed(ROOT, { ...UNSIGNED, version: '2.0' }, { signedAt: T2 });
  const history = (): ReleaseHistory => {
    const h = new ReleaseHistory();
    h.record([{ deployment: 'detect', signedAt: T2, value: newer.signature?.value as string, keyId: ROOT.id }]);
    return h;
  };

  it('refuses a release signed before the only one accepted for that deployment', () => {
    const out = verify({ workloads: [workload(older)], trustedKeys: [] }, pins(ROOT), history());
    expect(out.releases[0]).toMatchObject({ accepted: false, reason: 'downgrade', message: expect.stringContaining('sign it again') });
  });

  it('accepts an older release this node accepted before (an operator rollback), even after its key expired', () => {
    const h = history();
    h.record([{ deployment: 'detect', signedAt: T1, value: older.signature?.value as string, keyId: ROOT.id }]);
    expect(verify({ workloads: [workload(older)], trustedKeys: [] }, pins(ROOT), h).releases[0]).toMatchObject({ accepted: true });
    const expired = pinsOf([ROOT, root(ROOT, '2026-12-02T12:00:00.000Z')]);
    expect(verify({ workloads: [workload(older)], trustedKeys: [] }, expired, h).releases[0]).toMatchObject({ accepted: true });
  });

  it("lets a rollback go back one step of this node's history: to a release signed after its previous one (a skipped revision)", () => {
    // The node went from revision 1 (T1) straight to a bad revision 3 (day 3): the rollout
    // rolls it back to revision 2 (T2), which the deployment ran while this node was away.
    const h = new ReleaseHistory();
    const bad = signed(ROOT, { ...UNSIGNED, version: '3.0' }, { signedAt: '2026-12-03T00:00:00.000Z' });
    h.record([
      { deployment: 'detect', signedAt: T1, value: older.signature?.value as string, keyId: ROOT.id },
      { deployment: 'detect', signedAt: '2026-12-03T00:00:00.000Z', value: bad.signature?.value as string, keyId: ROOT.id },
    ]);
    expect(verify({ workloads: [workload(newer)], trustedKeys: [] }, pins(ROOT), h).releases[0]).toMatchObject({ accepted: true });
    // Anything signed before its previous release is still a downgrade.
    const ancient = signed(ROOT, { ...UNSIGNED, version: '0.1' }, { signedAt: '2026-11-01T00:00:00.000Z' });
    expect(verify({ workloads: [workload(ancient)], trustedKeys: [] }, pins(ROOT), h).releases[0]).toMatchObject({ accepted: false, reason: 'downgrade' });
  });

  it('keeps floors per deployment: an old signing time is fine for another deployment', () => {
    const count = signed(ROOT, UNSIGNED, { deployment: 'count', signedAt: T1 });
    expect(
      verify({ workloads: [{ deployment: 'count', revision: 1, release: count, endpoint: null }], trustedKeys: [] }, pins(ROOT), history()).releases[0],
    ).toMatchObject({
      accepted: true,
    });
  });

  it('accepts the same or a newer signing time', () => {
    expect(verify({ workloads: [workload(newer)], trustedKeys: [] }, pins(ROOT), history()).releases[0]).toMatchObject({ accepted: true });
    const newest = signed(ROOT, { ...UNSIGNED, version: '3.0' }, { signedAt: '2026-12-03T00:00:00.000Z' });
    expect(verify({ workloads: [workload(newest)], trustedKeys: [] }, pins(ROOT), history()).releases[0]).toMatchObject({ accepted: true });
  });

  it('refuses a revoked key even for a release this node accepted before', () => {
    const h = history();
    const revoked = pinsOf([ROOT, root(ROOT)], [LATER, { ...endorsed(LATER, ROOT), revocation: revokeKey(LATER.id, ROOT.privateKey, { fleet: FLEET }) }]);
    const byLater = signed(LATER, UNSIGNED, { signedAt: T2 });
    h.record([{ deployment: 'detect', signedAt: T2, value: byLater.signature?.value as string, keyId: LATER.id }]);
    expect(verify({ workloads: [workload(byLater)], trustedKeys: [] }, revoked, h).releases[0]).toMatchObject({ accepted: false, reason: 'key-revoked' });
  });
});

describe('first use and enrollment pins', () => {
  it('pins only the root the bootstrap token names, when it names one', () => {
    const out = firstUsePins([root(ROOT), root(ROGUE)], { ...CTX, expectedRoot: ROOT.id });
    expect(out.pin.map((k) => k.record.keyId)).toEqual([ROOT.id]);
    expect(out.refused).toEqual([{ keyId: ROGUE.id, reason: 'unexpected-root' }]);
  });

  it('takes the expected root as a key id or as the SHA-256 of its raw bytes', () => {
    const raw = createHash('sha256').update(rawPublicKey(ROOT.publicKey)).digest('hex');
    for (const expectedRoot of [raw, `sha256:${raw}`, ROOT.id]) {
      expect(firstUsePins([root(ROGUE), root(ROOT)], { ...CTX, expectedRoot }).pin.map((k) => k.record.keyId)).toEqual([ROOT.id]);
    }
  });

  it('pins the roots of the old format (no expiry), which never expire', () => {
    const old: TrustedKey = { ...root(ROOT), signature: null, expiresAt: null };
    expect(firstUsePins([old], CTX).pin.map((k) => k.record.keyId)).toEqual([ROOT.id]);
  });

  it('at enrollment pins the roots and the keys they endorse, with the revocations they signed', () => {
    const revokedLater = { ...endorsed(LATER, ROOT), revocation: revokeKey(LATER.id, ROOT.privateKey, { fleet: FLEET }) };
    const pinned = initialPins([root(ROOT), endorsed(CHAINED, ROOT), revokedLater, endorsed(ROGUE, ROGUE)], CTX);
    expect(pinned.map((k) => k.record.keyId).sort()).toEqual([ROOT.id, CHAINED.id].sort());
  });
});
