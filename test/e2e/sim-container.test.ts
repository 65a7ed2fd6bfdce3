import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { type DeploymentManifestInput, ReleaseSchema, type RolloutStatus } from '@edgefleet/protocol';
import { signRelease } from '@edgefleet/protocol/node';
import { MB, type Simulation, startSimulation } from '@edgefleet/sim';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestFleet, type TestFleet } from '../../test-support/fleet.js';
import { trustRootKey } from '../../test-support/release-keys.js';

/**
 * Container releases rehearsed on a simulated fleet against a real server (issue 16): every
 * simulated node reports podman and pulls images over its simulated link. The first image
 * moves 50 MB to each node, the next digest of the same repository only its changed 5 MB
 * layer; an image that crashes is rejected by every node that tried it and the rollout rolls
 * back; an image whose index lacks the nodes' platform is served by the release's fallback.
 */
const NODES = 8;
const REPO = 'registry.example:5000/team/count';
const IMG = (c: string): string => `${REPO}@sha256:${c.repeat(64)}`;
const GOOD1 = IMG('1');
const GOOD2 = IMG('2');
const CRASHING = IMG('3');
const AMD64_ONLY = IMG('4');

describe('edgefleet sim: container releases', () => {
  let fleet: TestFleet;
  let sim: Simulation;
  let key: KeyObject;

  const strategy = {
    steps: [
      { percent: 25, bake: '2s' },
      { percent: 100, bake: '0s' },
    ],
    maxUnavailablePerSite: '50%',
    gates: { minRequests: 20, p95LatencyRatio: 3, interval: '2s', warmup: { requests: 5, duration: '1s' }, maxAnalysisTime: '1m' },
    onFailure: 'rollback',
    progressDeadline: '1m',
  };
  const manifest = (version: string, image: string, more: Record<string, unknown> = {}, staged = true): DeploymentManifestInput => {
    const release = ReleaseSchema.parse({
      version,
      runtime: { kind: 'container', image, ports: [{ name: 'inference', containerPort: 8080 }] },
      health: { interval: '1s', window: '3s' },
      ...more,
    });
    return {
      apiVersion: 'edgefleet.dev/v1',
      kind: 'Deployment',
      metadata: { name: 'count' },
      spec: {
        selector: 'cpu.arch=arm64',
        release: { ...release, signature: signRelease(release, key, { fleet: fleet.server.caFingerprint, deployment: 'count' }) },
        ...(staged ? { rollout: strategy as never } : {}),
      },
    };
  };
  const lines = async () => (await fleet.admin.getDeployment('count')).status.nodes;
  const allServe = async (revision: number): Promise<boolean> => {
    const l = await lines();
    return l.length === NODES && l.every((x) => x.state === 'running' && x.revision === revision);
  };
  const rolloutEnd = (revision: number): Promise<RolloutStatus> =>
    eventually(
      async () => {
        const s = await fleet.admin.rolloutStatus('count');
        return s.revision === revision && ['Succeeded', 'RolledBack', 'Failed', 'Aborted'].includes(s.phase) && s;
      },
      90_000,
      `the rollout of revision ${revision} to end`,
    );

  beforeAll(async () => {
    fleet = await startTestFleet({ heartbeatIntervalMs: 1000, rolloutIntervalMs: 200 });
    const pair = generateKeyPairSync('ed25519');
    key = pair.privateKey;
    await trustRootKey(fleet.admin, fleet.server.caFingerprint, pair);
    sim = await startSimulation({
      server: fleet.server.url,
      token: await fleet.createToken({ uses: NODES }),
      nodes: NODES,
      sites: 2,
      hatMix: { hailo8l: 0.5, none: 0.5 },
      seed: 11,
      rps: 20,
      dataDir: join(fleet.dir, 'sim'),
      adminToken: fleet.adminToken,
      intervalMs: 1000,
      enrollConcurrency: 8,
      agent: { reconcileIntervalMs: 200, desiredWaitSeconds: 5, sampleIntervalMs: 2_000 },
      images: { images: { [CRASHING]: { crashProbability: 1 }, [AMD64_ONLY]: { platforms: ['linux/amd64'] } } },
    });
    await sim.whenStarted();
    expect(sim.summary().nodes).toMatchObject({ total: NODES, started: NODES, failed: 0 });
  }, 60_000);

  afterAll(async () => {
    await sim?.stop();
    await fleet?.close();
  });

  it('every node reports podman and pulls the whole image once; the next digest moves only its changed layer', async () => {
    const nodes = (await fleet.admin.listNodes()).items;
    expect(nodes).toHaveLength(NODES);
    for (const n of nodes) expect(n.facts.containerEngine).toMatchObject({ name: 'podman' });

    await fleet.admin.apply([manifest('1', GOOD1, {}, false)]);
    await eventually(() => allServe(1), 60_000, 'revision 1 on every node');
    const first = sim.summary().images[GOOD1];
    expect(first?.nodes).toBe(NODES);
    expect(first?.bytesPerNode).toBeGreaterThanOrEqual(50 * MB);
    expect(first?.bytesPerNode).toBeLessThan(50.1 * MB);

    await fleet.admin.apply([manifest('2', GOOD2)]);
    const done = await rolloutEnd(2);
    expect(done.phase, JSON.stringify(done)).toBe('Succeeded');
    await eventually(() => allServe(2), 30_000, 'revision 2 on every node');
    const second = sim.summary().images[GOOD2];
    expect(second?.nodes).toBe(NODES);
    expect(second?.bytesPerNode).toBeGreaterThanOrEqual(5 * MB);
    expect(second?.bytesPerNode).toBeLessThan(5.1 * MB);
  }, 150_000);

  it('a crashing image fails its health window on the nodes that try it, and the rollout rolls back', async () => {
    await fleet.admin.apply([manifest('3', CRASHING)]);
    const done = await rolloutEnd(3);
    expect(done.phase, JSON.stringify(done)).toBe('RolledBack');
    expect(done.step).toBe(1);
    await eventually(() => allServe(2), 60_000, 'every node back on revision 2');
    const ran = sim.ranRevision('count', 3);
    expect(ran.length).toBeGreaterThan(0);
    expect(ran.length).toBeLessThan(NODES);
  }, 150_000);

  it('an index without the nodes platform: every node reports platform-unavailable and serves the fallback image', async () => {
    await fleet.admin.apply([manifest('4', AMD64_ONLY, { fallback: { kind: 'container', image: GOOD2 } }, false)]);
    await eventually(
      async () => {
        const l = await lines();
        return l.length === NODES && l.every((x) => x.revision === 4 && x.reason === 'platform-unavailable' && x.state === 'degraded');
      },
      60_000,
      'revision 4 degraded to its fallback on every node',
    );
    // The primary's layers were never pulled; the fallback was already held.
    expect(sim.summary().images[AMD64_ONLY]?.bytesPerNode ?? 0).toBeLessThan(10_000);
  }, 90_000);
});
