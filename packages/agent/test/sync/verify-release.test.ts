import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { type DesiredWorkload, type Release, ReleaseSchema, type TrustedKey } from '@edgefleet/protocol';
import { endorseKey, publicKeyId, signRelease } from '@edgefleet/protocol/node';
import { describe, expect, it } from 'vitest';
import { endorsedKeys, type ReleaseVerification, verifyReleases } from '../../src/sync/verify-release.js';

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
function root(k: ReleaseKey): TrustedKey {
  return { keyId: k.id, publicKey: pem(k), signedBy: null, signature: null };
}
function endorsed(k: ReleaseKey, by: ReleaseKey): TrustedKey {
  const e = endorseKey(k.publicKey, by.privateKey);
  return { keyId: k.id, publicKey: pem(k), signedBy: e.signedBy, signature: e.signature };
}

const UNSIGNED: Release = ReleaseSchema.parse({
  version: '1.0',
  model: { artifact: `sha256:${'a'.repeat(64)}`, format: 'onnx' },
  runtime: { kind: 'model-server', accelerator: 'none' },
});
function signed(by: ReleaseKey, release: Release = UNSIGNED): Release {
  return { ...release, signature: signRelease(release, by.privateKey) };
}
function tampered(by: ReleaseKey): Release {
  const r = signed(by);
  return { ...r, version: '1.0-evil' };
}
function workload(release: Release): DesiredWorkload {
  return { deployment: 'detect', revision: 1, release };
}
function pins(...keys: ReleaseKey[]): Map<string, KeyObject> {
  return new Map(keys.map((k) => [k.id, k.publicKey]));
}

interface Case {
  name: string;
  pinned: Map<string, KeyObject>;
  trustedKeys: TrustedKey[];
  requireSigned?: boolean;
  release: Release;
  /** Expected verdict: 'accepted', or the refusal reason. */
  verdict: 'accepted' | 'unsigned' | 'untrusted-key' | 'signature-mismatch';
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
    release: { ...signed(ROGUE), signature: { ...signRelease(UNSIGNED, ROGUE.privateKey), keyId: ROOT.id } },
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
];

describe('release verification', () => {
  it.each(cases)('$name', (c) => {
    const out = verifyReleases({ workloads: [workload(c.release)], trustedKeys: c.trustedKeys, requireSigned: c.requireSigned ?? false }, c.pinned);
    const verdict = out.releases[0];
    expect(verdict === undefined ? undefined : verdict.accepted ? 'accepted' : verdict.reason).toBe(c.verdict);
    expect(out.pin.map((k) => k.record.keyId)).toEqual(c.pin ?? []);
    expect(out.refusedKeys).toEqual(c.refusedKeys ?? []);
  });

  it('gives one verdict per workload, in order, with the messages operators see', () => {
    const out = verifyReleases(
      {
        workloads: [workload(signed(ROOT)), { ...workload(UNSIGNED), deployment: 'count', revision: 3 }, workload(tampered(ROOT))],
        trustedKeys: [],
        requireSigned: false,
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
    verifyReleases({ workloads: [], trustedKeys: [endorsed(LATER, ROOT)], requireSigned: false }, pinned);
    expect([...pinned.keys()]).toEqual([ROOT.id]);
  });

  it('endorsedKeys ignores keys already pinned', () => {
    expect(endorsedKeys(pins(ROOT, LATER), [root(ROOT), endorsed(LATER, ROOT)])).toEqual({ endorsed: [], refused: [] });
  });
});
