import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { type DeploymentManifest, type DeploymentManifestInput, DeploymentManifestSchema, EdgefleetError, type Release } from '@edgefleet/protocol';
import { publicKeyId, releaseDigest, signRelease } from '@edgefleet/protocol/node';
import { describe, expect, it } from 'vitest';
import { type ApplyContext, planApply, prunedDeployments, selectorOf } from '../../src/deployments/plan-apply.js';
import type { DeploymentRecord } from '../../src/store/index.js';

const A = `sha256:${'a'.repeat(64)}`;
const B = `sha256:${'b'.repeat(64)}`;
const MISSING = `sha256:${'f'.repeat(64)}`;
const NOW = 1_700_000_000_000;
const EARLIER = NOW - 60_000;

function keyPair(): { privateKey: KeyObject; publicKey: KeyObject; id: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey, id: publicKeyId(publicKey) };
}
const trustedKey = keyPair();
const otherKey = keyPair();

/** A Deployment as parsed from YAML (defaults applied). */
function manifest(name: string, opts: { version?: string; selector?: unknown; release?: Record<string, unknown>; rollout?: unknown } = {}): DeploymentManifest {
  return DeploymentManifestSchema.parse({
    apiVersion: 'edgefleet.dev/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      selector: opts.selector ?? 'cpu.arch=arm64',
      release: { version: opts.version ?? '1.0.0', model: { artifact: A, format: 'onnx' }, ...opts.release },
      ...(opts.rollout === undefined ? {} : { rollout: opts.rollout }),
    },
  } as DeploymentManifestInput);
}

/** The fleet signatures name, and a fixed signing time (the downgrade cases choose their own). */
const FLEET = 'f'.repeat(64);
const SIGNED_AT = '2026-01-01T00:00:00.000Z';

function signed(m: DeploymentManifest, key = trustedKey.privateKey): DeploymentManifest {
  const { signature: _, ...release } = m.spec.release;
  return {
    ...m,
    spec: {
      ...m.spec,
      release: { ...release, signature: signRelease(release as Release, key, { fleet: FLEET, deployment: m.metadata.name, signedAt: SIGNED_AT }) },
    },
  };
}

/** The stored record of a deployment applied earlier from this manifest. */
function record(m: DeploymentManifest, over: Partial<DeploymentRecord> = {}): DeploymentRecord {
  return { name: m.metadata.name, spec: m.spec, generation: 3, revision: 2, source: null, createdAt: EARLIER - 1000, updatedAt: EARLIER, ...over };
}

function context(existing: Array<[DeploymentManifest, Partial<DeploymentRecord>?]> = [], over: Partial<ApplyContext> = {}): ApplyContext {
  return {
    current: new Map(existing.map(([m, o]) => [m.metadata.name, record(m, o)])),
    latestRelease: new Map(existing.map(([m]) => [m.metadata.name, m.spec.release])),
    artifactPresent: (d) => d === A || d === B,
    trustedKeys: new Map([[trustedKey.id, trustedKey.publicKey]]),
    keyNotLive: () => undefined,
    fleet: FLEET,
    signedRevisions: new Map(),
    requireSigned: false,
    now: NOW,
    source: null,
    commit: null,
    ...over,
  };
}

/** What a refused apply throws. */
function refusal(fn: () => unknown): EdgefleetError {
  try {
    fn();
  } catch (err) {
    if (err instanceof EdgefleetError) return err;
    throw err;
  }
  throw new Error('the apply was not refused');
}

describe('planApply: outcomes', () => {
  it('creates a new deployment with generation 1 and revision 1', () => {
    const m = manifest('detect');
    const { writes, results } = planApply([m], context([], { source: 'fleet-repo', commit: 'abc123' }));
    expect(results).toEqual([{ name: 'detect', result: 'created', revision: 1, generation: 1 }]);
    expect(writes).toEqual([
      {
        deployment: { name: 'detect', spec: m.spec, generation: 1, revision: 1, source: 'fleet-repo', createdAt: NOW, updatedAt: NOW },
        newRevision: {
          deployment: 'detect',
          revision: 1,
          release: m.spec.release,
          releaseDigest: releaseDigest(m.spec.release),
          commit: 'abc123',
          createdAt: NOW,
        },
      },
    ]);
  });

  it('leaves an identical spec unchanged, with no write', () => {
    const m = manifest('detect');
    expect(planApply([m], context([[m]]))).toEqual({ writes: [], results: [{ name: 'detect', result: 'unchanged', revision: 2, generation: 3 }] });
  });

  it('leaves a spec unchanged whatever its key order', () => {
    const m = manifest('detect');
    const reordered: DeploymentManifest = { ...m, spec: { release: { ...m.spec.release }, selector: m.spec.selector } };
    expect(planApply([reordered], context([[m]])).results[0]?.result).toBe('unchanged');
  });

  it('bumps only the generation when the spec changes but the release does not', () => {
    const before = manifest('detect');
    const after = manifest('detect', { selector: 'cpu.arch=amd64' });
    const { writes, results } = planApply([after], context([[before]]));
    expect(results).toEqual([{ name: 'detect', result: 'configured', revision: 2, generation: 4 }]);
    expect(writes[0]?.newRevision).toBeUndefined();
    expect(writes[0]?.deployment).toMatchObject({ generation: 4, revision: 2, createdAt: EARLIER - 1000, updatedAt: NOW });
  });

  it('bumps the generation when only the rollout changes', () => {
    const before = manifest('detect');
    const after = manifest('detect', { rollout: { steps: [{ percent: 50 }] } });
    expect(planApply([after], context([[before]])).results[0]).toEqual({ name: 'detect', result: 'configured', revision: 2, generation: 4 });
  });

  it('adds a revision with the next number when the release changes', () => {
    const before = manifest('detect');
    const after = manifest('detect', { version: '1.1.0' });
    const { writes, results } = planApply([after], context([[before]], { commit: 'def' }));
    expect(results).toEqual([{ name: 'detect', result: 'configured', revision: 3, generation: 4 }]);
    expect(writes[0]?.newRevision).toEqual({
      deployment: 'detect',
      revision: 3,
      release: after.spec.release,
      releaseDigest: releaseDigest(after.spec.release),
      commit: 'def',
      createdAt: NOW,
    });
  });

  it('adds a new revision when the release goes back to an older one (how a git revert rolls back)', () => {
    const v1 = manifest('detect', { version: '1' });
    const v2 = manifest('detect', { version: '2' });
    // revision 1 was v1, revision 2 (the latest) is v2; applying v1 again is revision 3
    const ctx = context([[v2, { revision: 2 }]]);
    const { writes, results } = planApply([v1], ctx);
    expect(results[0]).toMatchObject({ result: 'configured', revision: 3 });
    expect(writes[0]?.newRevision?.release.version).toBe('1');
  });

  it('adds a new revision when only the signature changes', () => {
    const plain = manifest('detect');
    const sig = signed(plain);
    const { writes, results } = planApply([sig], context([[plain]]));
    expect(results[0]).toMatchObject({ result: 'configured', revision: 3, generation: 4 });
    expect(writes[0]?.newRevision?.release.signature?.keyId).toBe(trustedKey.id);
    // the digest is the same: only the signature differs
    expect(writes[0]?.newRevision?.releaseDigest).toBe(releaseDigest(plain.spec.release));
  });

  it('adds a revision when the stored deployment has no latest revision to compare with', () => {
    const m = manifest('detect');
    const ctx = context([[m, { spec: manifest('detect', { selector: 'a=b' }).spec }]]);
    const { results } = planApply([m], { ...ctx, latestRelease: new Map() });
    expect(results[0]).toMatchObject({ result: 'configured', revision: 3 });
  });

  it('plans several manifests in one apply, each on its own', () => {
    const a = manifest('a');
    const b = manifest('b');
    const c = manifest('c');
    const { writes, results } = planApply([a, manifest('b', { version: '9' }), c], context([[a], [b]]));
    expect(results.map((r) => [r.name, r.result, r.revision])).toEqual([
      ['a', 'unchanged', 2],
      ['b', 'configured', 3],
      ['c', 'created', 1],
    ]);
    expect(writes.map((w) => w.deployment.name)).toEqual(['b', 'c']);
  });

  it('plans nothing for an empty set (pruning is the caller’s, from the same-source inventory)', () => {
    const a = manifest('a');
    expect(planApply([], context([[a, { source: 'repo' }]], { source: 'repo' }))).toEqual({ writes: [], results: [] });
  });

  it('lets a source re-apply what it owns', () => {
    const a = manifest('a');
    const { results } = planApply([manifest('a', { version: '2' })], context([[a, { source: 'repo' }]], { source: 'repo' }));
    expect(results[0]?.result).toBe('configured');
  });
});

describe('planApply: signatures', () => {
  it('accepts an unsigned release when signatures are not required', () => {
    expect(planApply([manifest('a')], context()).results[0]?.result).toBe('created');
  });

  it('refuses an unsigned release when signatures are required', () => {
    const err = refusal(() => planApply([manifest('a')], context([], { requireSigned: true })));
    expect(err.message).toBe('deployment/a: the release is not signed, and this server requires signed releases');
    expect(err).toMatchObject({ code: 'invalid_manifest', status: 400, field: 'spec.release.signature' });
  });

  it('accepts a release signed by a trusted key when signatures are required', () => {
    expect(planApply([signed(manifest('a'))], context([], { requireSigned: true })).results[0]?.result).toBe('created');
  });

  it('refuses a signature by a key the server does not trust, even when signatures are not required', () => {
    const err = refusal(() => planApply([signed(manifest('a'), otherKey.privateKey)], context()));
    expect(err.message).toBe(`deployment/a: the release is signed by key ${otherKey.id}, which is not trusted`);
    expect(err.field).toBe('spec.release.signature');
  });

  it('refuses a release changed after signing', () => {
    const s = signed(manifest('a'));
    const tampered = { ...s, spec: { ...s.spec, release: { ...s.spec.release, version: '6.6.6' } } };
    expect(refusal(() => planApply([tampered], context())).message).toMatch(/^deployment\/a: the signature by key \w+ does not match the release/);
  });

  it('refuses a signed release, unchanged since the last apply, once its key is no longer trusted', () => {
    const s = signed(manifest('a'));
    expect(() => planApply([s], context([[s]], { trustedKeys: new Map() }))).toThrow(/not trusted/);
  });

  it('refuses a release signed for another deployment or another fleet (issue 14, finding 7)', () => {
    const forA = signed(manifest('a'));
    const asB = { ...forA, metadata: { ...forA.metadata, name: 'b' } };
    expect(refusal(() => planApply([asB], context())).message).toBe('deployment/b: the release is signed for deployment "a", not "b"');
    expect(refusal(() => planApply([forA], context([], { fleet: 'e'.repeat(64) }))).message).toMatch(/signed for another fleet/);
  });

  it('refuses a release by a revoked key, and a new one by an expired key', () => {
    const s = signed(manifest('a'));
    const revoked = context([], { keyNotLive: () => ({ revoked: true, message: 'key k was revoked at t' }) });
    expect(refusal(() => planApply([s], revoked)).message).toBe("deployment/a: the release can't be trusted: key k was revoked at t");
    const expired = context([], { keyNotLive: () => ({ revoked: false, message: 'key k expired at t' }) });
    expect(refusal(() => planApply([s], expired)).message).toMatch(/expired at t/);
  });

  it('lets an expired key bring back a release the deployment ran, but never a revoked one', () => {
    const s = signed(manifest('a'));
    const ran = new Map([['a', [{ signedAt: SIGNED_AT, value: s.spec.release.signature?.value as string }]]]);
    const old = manifest('a', { version: '0.9' });
    const expired = context([[old]], { signedRevisions: ran, keyNotLive: () => ({ revoked: false, message: 'key k expired at t' }) });
    expect(planApply([s], expired).results[0]?.result).toBe('configured');
    const revoked = context([[old]], { signedRevisions: ran, keyNotLive: () => ({ revoked: true, message: 'key k was revoked at t' }) });
    expect(() => planApply([s], revoked)).toThrow(/revoked/);
  });

  it('refuses a replayed older release, but takes one the deployment ran (a git revert)', () => {
    const s = signed(manifest('a'));
    const newer = new Map([['a', [{ signedAt: '2026-06-01T00:00:00.000Z', value: 'newer' }]]]);
    const old = manifest('a', { version: '0.9' });
    const err = refusal(() => planApply([s], context([[old]], { signedRevisions: newer })));
    expect(err.message).toMatch(/signed at 2026-01-01T00:00:00.000Z, before the newest release this deployment ran .*downgrade/);
    expect(err.hint).toMatch(/sign it again/);
    const withIt = new Map([['a', [...(newer.get('a') ?? []), { signedAt: SIGNED_AT, value: s.spec.release.signature?.value as string }]]]);
    expect(planApply([s], context([[old]], { signedRevisions: withIt })).results[0]?.result).toBe('configured');
  });
});

describe('planApply: refusals', () => {
  it('refuses a model artifact the server does not have, naming it', () => {
    const err = refusal(() => planApply([manifest('a', { release: { model: { artifact: MISSING, format: 'onnx' } } })], context()));
    expect(err.message).toBe(`deployment/a: artifact ${MISSING} is not on the server`);
    expect(err.field).toBe('spec.release.model.artifact');
    expect(err.hint).toMatch(/edgefleet artifact push/);
  });

  it('refuses a fallback artifact the server does not have, naming it', () => {
    const err = refusal(() => planApply([manifest('a', { release: { fallback: { artifact: MISSING, format: 'onnx' } } })], context()));
    expect(err.message).toBe(`deployment/a: artifact ${MISSING} is not on the server`);
    expect(err.field).toBe('spec.release.fallback.artifact');
  });

  it('refuses a deployment applied by hand when a source applies it', () => {
    const a = manifest('a');
    const err = refusal(() => planApply([a], context([[a, { source: null }]], { source: 'repo' })));
    expect(err.message).toBe('deployment/a: is managed by edgefleet apply');
    expect(err.field).toBe('metadata.name');
  });

  it('refuses a deployment owned by a source when applied by hand or by another source, even unchanged', () => {
    const a = manifest('a');
    expect(refusal(() => planApply([a], context([[a, { source: 'repo' }]]))).message).toBe('deployment/a: is managed by GitOps source repo');
    expect(refusal(() => planApply([a], context([[a, { source: 'repo' }]], { source: 'other' }))).message).toBe(
      'deployment/a: is managed by GitOps source repo',
    );
  });

  it('refuses a name that appears twice in one apply', () => {
    const err = refusal(() => planApply([manifest('a'), manifest('a', { version: '2' })], context()));
    expect(err.message).toBe('deployment/a: appears twice in one apply');
  });

  it('refuses a bad selector string', () => {
    expect(() => planApply([manifest('a', { selector: 'cpu.arch in (' })], context())).toThrow(EdgefleetError);
  });

  it('refuses In/NotIn requirements without values', () => {
    const err = refusal(() => planApply([manifest('a', { selector: { matchExpressions: [{ key: 'gpu', operator: 'In' }] } })], context()));
    expect(err).toMatchObject({ code: 'invalid_selector', field: 'spec.selector', message: 'matchExpressions: gpu In needs at least one value' });
  });

  it('refuses a cohortBy label no node has, but not before any node has labels', () => {
    const m = manifest('a', { rollout: { cohortBy: ['geolocation.site', 'rack'] } });
    const err = refusal(() => planApply([m], context([], { fleetLabelKeys: new Set(['geolocation.site', 'cpu.arch']) })));
    expect(err.message).toBe('deployment/a: rollout.cohortBy names label(s) no node has: rack');
    expect(err.field).toBe('spec.rollout.cohortBy');
    expect(planApply([m], context([], { fleetLabelKeys: new Set() })).results[0]?.result).toBe('created');
  });

  it('is all or nothing: one refused manifest refuses the whole set', () => {
    const good = manifest('good', { version: '2' });
    const bad = manifest('bad', { release: { model: { artifact: MISSING, format: 'onnx' } } });
    for (const order of [
      [good, bad],
      [bad, good],
    ]) {
      expect(() => planApply(order, context([[manifest('good')]]))).toThrow(/deployment\/bad: artifact/);
    }
  });
});

describe('selectorOf', () => {
  it('reads both spellings into the same requirements', () => {
    expect(selectorOf('cpu.arch=arm64')).toEqual(selectorOf({ matchLabels: { 'cpu.arch': 'arm64' } }));
  });

  it('refuses an invalid matchLabels label', () => {
    expect(() => selectorOf({ matchLabels: { 'bad key!': 'x' } })).toThrow(EdgefleetError);
  });
});

describe('prunedDeployments', () => {
  const mine = (name: string): DeploymentRecord => record(manifest(name), { source: 'repo' });
  const theirs = (name: string): DeploymentRecord => record(manifest(name), { source: 'other' });
  const byHand = (name: string): DeploymentRecord => record(manifest(name), { source: null });

  it('prunes what the same source applied and no longer names', () => {
    expect(prunedDeployments([mine('a'), mine('b'), mine('c')], [manifest('b')], 'repo')).toEqual(['a', 'c']);
  });

  it('never prunes another source’s deployments or hand-applied ones', () => {
    expect(prunedDeployments([mine('a'), theirs('b'), byHand('c')], [], 'repo')).toEqual(['a']);
  });

  it('prunes nothing when the set still names everything', () => {
    expect(prunedDeployments([mine('a'), mine('b')], [manifest('a'), manifest('b')], 'repo')).toEqual([]);
  });

  it('prunes every deployment of a source that is deleted (an empty set)', () => {
    expect(prunedDeployments([mine('a'), theirs('b'), mine('c')], [], 'repo')).toEqual(['a', 'c']);
  });

  it('for edgefleet apply (no source) would prune hand-applied ones only', () => {
    expect(prunedDeployments([mine('a'), byHand('b'), byHand('c')], [manifest('c')], null)).toEqual(['b']);
  });
});
