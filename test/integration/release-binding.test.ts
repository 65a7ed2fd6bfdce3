import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Agent } from '@edgefleet/agent';
import { type DeploymentManifestInput, type Release, ReleaseSchema, type TrustedKey, type WorkloadStatus } from '@edgefleet/protocol';
import { endorseKey, releaseDigest, revokeKey, signedTime, signRelease } from '@edgefleet/protocol/node';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestFleet, type TestAgent, type TestFleet } from '../../test-support/fleet.js';
import { trustRootKey } from '../../test-support/release-keys.js';

const ROOT = join(import.meta.dirname, '..', '..');
const FAST = { desiredWaitSeconds: 2, reconcileIntervalMs: 200 };
const pem = (k: KeyObject): string => k.export({ format: 'pem', type: 'spki' }).toString();

/**
 * Issue 14, finding 7: a release signature is bound to the fleet (CA fingerprint), the
 * deployment and its signing time; keys expire and can be revoked. Each attack is made twice:
 * through the API (the server refuses it) and by a server that is taken over, which writes
 * the revision straight into its store so the node itself must refuse it. Before the fix a
 * replayed older release ran (the node downgraded, and `apply` took it too) and a release
 * signed for deployment "a" ran as deployment "b"; keys had neither expiry nor revocation.
 */
describe('a release signature is bound to its fleet, deployment and time; keys expire and are revoked', () => {
  let fleet: TestFleet;
  let node: TestAgent;
  let FLEET: string;
  let artifact: string;
  const root = generateKeyPairSync('ed25519');
  const later = generateKeyPairSync('ed25519');

  const release = (version: string): Release =>
    ReleaseSchema.parse({ version, model: { artifact, format: 'onnx' }, health: { interval: '200ms', failureThreshold: 2, window: '1s' } });
  const sign = (r: Release, key: KeyObject, deployment: string, over: { fleet?: string; signedAt?: string } = {}): Release => ({
    ...r,
    signature: signRelease(r, key, { fleet: over.fleet ?? FLEET, deployment, ...(over.signedAt === undefined ? {} : { signedAt: over.signedAt }) }),
  });
  const manifest = (name: string, r: Release): DeploymentManifestInput => ({
    apiVersion: 'edgefleet.dev/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: { selector: 'team=a', release: r as never },
  });
  /** A server that is taken over: the revision goes straight into its store, past every check of `apply`. */
  const smuggle = async (name: string, r: Release): Promise<number> => {
    const store = fleet.server.store;
    const d = await store.getDeployment(name);
    if (d === undefined) throw new Error(`no deployment ${name}`);
    const revision = d.revision + 1;
    await store.writeDeployments(
      [
        {
          deployment: { ...d, revision, generation: d.generation + 1, spec: { ...d.spec, release: r } },
          newRevision: { deployment: name, revision, release: r, releaseDigest: releaseDigest(r), commit: null, createdAt: Date.now() },
        },
      ],
      [],
    );
    return revision;
  };
  const workload = (agent: TestAgent | { agent: Agent }, name: string): WorkloadStatus | undefined =>
    agent.agent.state.workloads.find((w) => w.deployment === name);
  const running = (name: string, revision: number) =>
    eventually(
      () => {
        const w = workload(node, name);
        return w?.state === 'running' && w.servingRevision === revision && w;
      },
      40_000,
      `${name} serving revision ${revision}`,
    );
  const refused = (name: string, revision: number, why: RegExp) =>
    eventually(
      () => {
        const w = workload(node, name);
        return w?.revision === revision && w.state === 'verification-failed' && why.test(w.message ?? '') && w;
      },
      20_000,
      `${name} revision ${revision} refused (${why})`,
    );

  beforeAll(async () => {
    fleet = await startTestFleet({ heartbeatIntervalMs: 500 });
    FLEET = fleet.server.caFingerprint;
    await trustRootKey(fleet.admin, FLEET, root);
    await fleet.admin.trustKey(
      pem(later.publicKey),
      endorseKey(later.publicKey, root.privateKey, { fleet: FLEET, expiresAt: signedTime(Date.now() + 86_400_000) }),
    );
    const model = join(ROOT, 'examples/models/mlp-4-8-3.onnx');
    artifact = (await fleet.admin.pushArtifact(createReadStream(model), statSync(model).size)).digest;
    node = await fleet.startAgent('pi5-hailo8l', { token: await fleet.createToken({ labels: { team: 'a' } }), workloads: FAST });
    await eventually(() => node.agent.state.nodeId !== undefined, 20_000, 'node enrolled');
  }, 60_000);
  afterAll(async () => {
    await fleet?.close();
  });

  // Signed an hour ago and never deployed: the old release an attacker replays.
  let old: Release;
  let current: Release;

  it('refuses a replayed older release: at apply, and on the node from a server that is taken over (downgrade)', async () => {
    old = sign(release('1.0.0'), root.privateKey, 'a', { signedAt: signedTime(Date.now() - 3_600_000) });
    current = sign(release('2.0.0'), root.privateKey, 'a');
    await fleet.admin.apply([manifest('a', current)]);
    await running('a', 1);

    await expect(fleet.admin.apply([manifest('a', old)])).rejects.toThrow(/before the newest release this deployment ran.*downgrade/);
    const smuggled = await smuggle('a', old);
    await refused('a', smuggled, /before the release this node ran before its newest one for "a".*never ran here: a downgrade/);
    // The node keeps serving what it ran.
    expect(workload(node, 'a')?.servingRevision).toBe(1);
  }, 90_000);

  it('lets an operator roll back to a release the deployment ran', async () => {
    const newer = sign(release('3.0.0'), root.privateKey, 'a');
    const r3 = (await fleet.admin.apply([manifest('a', newer)])).results[0]?.revision as number;
    await running('a', r3);
    // The git revert: the exact signed release of revision 1, applied again.
    const back = (await fleet.admin.apply([manifest('a', current)])).results[0]?.revision as number;
    expect(back).toBe(r3 + 1);
    await running('a', back);
  }, 90_000);

  it('refuses a release signed for deployment "a" applied as deployment "b"', async () => {
    await fleet.admin.apply([manifest('b', sign(release('1.0.0'), root.privateKey, 'b'))]);
    await running('b', 1);
    const forA = sign(release('9.0.0'), root.privateKey, 'a');
    await expect(fleet.admin.apply([manifest('b', forA)])).rejects.toThrow(/signed for deployment "a", not "b"/);
    const smuggled = await smuggle('b', forA);
    await refused('b', smuggled, /signed for deployment "a", not "b"/);
  }, 90_000);

  it('refuses a release signed for another fleet', async () => {
    const lab = 'e'.repeat(64);
    const forLab = sign(release('9.1.0'), root.privateKey, 'b', { fleet: lab });
    await expect(fleet.admin.apply([manifest('b', forLab)])).rejects.toThrow(/signed for another fleet/);
    const smuggled = await smuggle('b', forLab);
    await refused('b', smuggled, new RegExp(`signed for another fleet \\(CA sha256:${lab}\\)`));
  }, 60_000);

  it('refuses a new release by a key past its expiry', async () => {
    const short = generateKeyPairSync('ed25519');
    const expiresAt = Date.now() + 3_000;
    await fleet.admin.trustKey(pem(short.publicKey), endorseKey(short.publicKey, root.privateKey, { fleet: FLEET, expiresAt: signedTime(expiresAt) }));
    await fleet.admin.apply([manifest('c', sign(release('1.0.0'), root.privateKey, 'c'))]);
    await running('c', 1);
    const byShort = sign(release('2.0.0'), short.privateKey, 'c');
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt - Date.now() + 100)));
    await expect(fleet.admin.apply([manifest('c', byShort)])).rejects.toThrow(/expired at/);
    const smuggled = await smuggle('c', byShort);
    await refused('c', smuggled, /expired at/);
  }, 60_000);

  it('revokes a key on every node: its releases are refused, the running one is not started again', async () => {
    const first = sign(release('1.0.0'), later.privateKey, 'd');
    await fleet.admin.apply([manifest('d', first)]);
    await running('d', 1);
    const laterId = first.signature?.keyId as string;

    // A key can't revoke itself, and the revocation is checked.
    await expect(fleet.admin.revokeKey(laterId, revokeKey(laterId, later.privateKey, { fleet: FLEET }))).rejects.toMatchObject({ status: 403 });
    const { key, stillSigned } = await fleet.admin.revokeKey(laterId, revokeKey(laterId, root.privateKey, { fleet: FLEET }));
    expect(key.revocation?.signedBy).not.toBe(laterId);
    expect(stillSigned).toEqual(['d']);

    // The node learns it with its desired state, keeps it, and refuses the key's release.
    await refused('d', 1, /revoked at/);
    const pinned = JSON.parse(readFileSync(join(node.dataDir, 'release-keys.json'), 'utf8')) as TrustedKey[];
    expect(pinned.find((k) => k.keyId === laterId)?.revocation).toEqual(key.revocation);
    await expect(fleet.admin.apply([manifest('d', sign(release('1.0.1'), later.privateKey, 'd'))])).rejects.toThrow(/revoked/);
    // The instance that was running keeps serving (a revocation alone stops no workload) ...
    expect(workload(node, 'd')?.servingRevision).toBe(1);

    // ... until the next activation: after a restart the node starts only what it may run.
    node.agent.stop();
    await node.done;
    const again = new Agent({
      server: fleet.server.url,
      dataDir: node.dataDir,
      hwRoot: node.hwRoot,
      random: () => 0.5,
      log: pino({ level: 'silent' }),
      workloads: FAST,
    });
    const done = again.run();
    try {
      await eventually(() => workload({ agent: again }, 'a')?.state === 'running', 40_000, 'the restarted node serves deployment a');
      const d = await eventually(() => {
        const w = workload({ agent: again }, 'd');
        return w?.state === 'verification-failed' && w;
      }, 20_000);
      expect(d.servingRevision).toBeNull();
      expect(again.workloadInstances().get('d')?.active).toBeUndefined();
    } finally {
      again.stop();
      await done;
    }
  }, 120_000);
});
