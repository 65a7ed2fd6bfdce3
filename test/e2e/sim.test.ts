import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { type DeploymentManifestInput, ReleaseSchema, type RolloutStatus } from '@edgefleet/protocol';
import { signRelease } from '@edgefleet/protocol/node';
import { LATENCY_MULTIPLIER, type Simulation, type SimulationEvent, startSimulation } from '@edgefleet/sim';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestFleet, type TestFleet } from '../../test-support/fleet.js';
import { trustRootKey } from '../../test-support/release-keys.js';

/**
 * A small simulated fleet against a real server: a staged rollout of a good release goes
 * through while a site is cut off (its nodes deferred, not failed), and a slower release
 * (rehearsed through the simulator's latency annotation) is stopped at its first step and
 * rolled back, with no node outside that step ever having run it.
 */
const NODES = 20;
const FIRST_STEP_PERCENT = 10;
/** Canaries a step before the last moves at least (`gates.minCanaryNodes`), at most half the fleet. */
const MIN_CANARY_NODES = 5;
/** max(⌈10 % × 20⌉, min(5, 20 / 2)) = 5: the nodes the first step may move (the planner's step size). */
const FIRST_STEP_NODES = Math.max(Math.ceil((FIRST_STEP_PERCENT * NODES) / 100), Math.min(MIN_CANARY_NODES, Math.floor(NODES / 2)));

type Status = RolloutStatus;

describe('edgefleet sim: a rollout rehearsed on a simulated fleet', () => {
  let fleet: TestFleet;
  let sim: Simulation;
  let key: KeyObject;
  let artifact: string;
  const events: SimulationEvent[] = [];

  const strategy = {
    steps: [
      { percent: FIRST_STEP_PERCENT, bake: '2s' },
      { percent: 50, bake: '2s' },
      { percent: 100, bake: '0s' },
    ],
    // Default cohorts (site × accelerator): canaries are compared with baselines of their kind.
    maxUnavailablePerSite: '50%',
    // 100 requests, not fewer: a P95 over ~30 requests is their second-largest, and one
    // tail request (1 % take 3–5×) then failed a good release at 2.2 × its baseline.
    // Evaluations that count 2 s apart and a short warm-up: the defaults (30 s each) are for
    // fleets, and this rollout has 30 s; a verdict that never comes fails within 1 minute.
    gates: {
      minRequests: 100,
      p95LatencyRatio: 2,
      maxErrorRate: 0.05,
      interval: '2s',
      warmup: { requests: 20, duration: '2s' },
      maxAnalysisTime: '1m',
      minCanaryNodes: MIN_CANARY_NODES,
    },
    offline: { deferAfter: '2s', minReachedPercent: 90 },
    onFailure: 'rollback',
    progressDeadline: '1m',
  };
  const manifest = (version: string, annotations?: Record<string, string>): DeploymentManifestInput => {
    const release = ReleaseSchema.parse({
      version,
      model: { artifact, format: 'hef' },
      runtime: { kind: 'process', command: 'detect-hailo', accelerator: 'required' },
      health: { interval: '1s', window: '3s' },
      ...(annotations === undefined ? {} : { annotations }),
    });
    return {
      apiVersion: 'edgefleet.dev/v1',
      kind: 'Deployment',
      metadata: { name: 'detect' },
      spec: {
        selector: 'hardware.ai-hat=true',
        release: { ...release, signature: signRelease(release, key, { fleet: fleet.server.caFingerprint, deployment: 'detect' }) },
        ...(version === '1' ? {} : { rollout: strategy as never }),
      },
    };
  };
  const status = async (): Promise<Status> => fleet.admin.rolloutStatus('detect');
  const allServe = async (revision: number): Promise<boolean> => {
    const lines = (await fleet.admin.getDeployment('detect')).status.nodes;
    return lines.length === NODES && lines.every((l) => l.state === 'running' && l.revision === revision);
  };

  beforeAll(async () => {
    fleet = await startTestFleet({ heartbeatIntervalMs: 1000, rolloutIntervalMs: 200 });
    const pair = generateKeyPairSync('ed25519');
    key = pair.privateKey;
    await trustRootKey(fleet.admin, fleet.server.caFingerprint, pair);
    const model = Buffer.from('a compiled detector stands in here');
    artifact = (await fleet.admin.pushArtifact(Readable.from(model), model.length)).digest;
    sim = await startSimulation({
      server: fleet.server.url,
      token: await fleet.createToken({ uses: NODES }),
      nodes: NODES,
      sites: 3,
      hatMix: { hailo8l: 0.7, hailo8: 0.3 },
      seed: 7,
      rps: 20,
      dataDir: join(fleet.dir, 'sim'),
      adminToken: fleet.adminToken,
      intervalMs: 1000,
      loadSeconds: 0.3,
      enrollConcurrency: 10,
      agent: { reconcileIntervalMs: 200, desiredWaitSeconds: 5, sampleIntervalMs: 5_000 },
    });
    sim.onEvent((e) => events.push(e));
    await sim.whenStarted();
    expect(sim.summary().nodes).toMatchObject({ total: NODES, started: NODES, failed: 0 });
    // Each node labels itself by the hardware it was given: cohorts (site × accelerator) hold like nodes.
    await eventually(
      async () => {
        const byName = new Map((await fleet.admin.listNodes()).items.map((n) => [n.name, n.labels]));
        const wrong = sim.nodes.filter((n) => byName.get(n.plan.name)?.['ai.accelerator'] !== n.plan.kind);
        if (wrong.length > 0)
          throw new Error(
            `labels differ from the hardware on ${wrong.map((n) => `${n.plan.name} (${n.plan.kind}: ${JSON.stringify(byName.get(n.plan.name))})`).join(', ')}`,
          );
        return true;
      },
      10_000,
      'every node labelled with its accelerator',
    );
    // Revision 1 goes everywhere at once (no strategy): the baseline.
    await fleet.admin.apply([manifest('1')]);
    await eventually(() => allServe(1), 20_000, 'revision 1 on every node');
  }, 60_000);

  afterAll(async () => {
    await sim?.stop();
    await fleet?.close();
  });

  it('rolls a good release out while a site is cut off: its nodes are deferred and the rollout succeeds', async () => {
    await fleet.admin.apply([manifest('2')]);
    sim.setSiteOutage('site-03', true);
    const done = await eventually(
      async () => {
        const s = await status();
        return s.revision === 2 && ['Succeeded', 'RolledBack', 'Failed', 'Aborted'].includes(s.phase) && s;
      },
      30_000,
      'the rollout of revision 2 to end',
    );
    // On failure, say why: the gate's figures or the nodes that failed, from the status.
    expect(done.phase, JSON.stringify(done)).toBe('Succeeded');
    expect(done.nodes.deferred).toBeGreaterThan(0);
    expect(events.some((e) => e.type === 'site-outage' && e.site === 'site-03' && e.on)).toBe(true);
    expect(sim.summary().nodes.offline).toBe(sim.nodes.filter((n) => n.plan.site === 'site-03').length);
    // The site comes back; its nodes catch up with their own backoff (checked at the end).
    sim.setSiteOutage('site-03', false);
    expect(sim.summary().nodes.offline).toBe(0);
    // Simulated nodes report which instance served each sample (the agent's own collector),
    // so the gates can leave warm-up out: revision 2's instances began serving after revision 1's.
    const samples = await fleet.server.store.listWorkloadStats('detect', 0);
    const two = samples.filter((x) => x.revision === 2 && x.requests > 0);
    expect(two.length).toBeGreaterThan(0);
    for (const x of two) {
      expect(x.instanceStartedAt).toBeLessThanOrEqual(x.intervalStart);
      expect(x.instanceRequestsBefore).toBeGreaterThanOrEqual(0);
    }
    const oldestOne = Math.min(...samples.filter((x) => x.revision === 1).map((x) => x.instanceStartedAt as number));
    expect(Math.min(...two.map((x) => x.instanceStartedAt as number))).toBeGreaterThan(oldestOne);
  }, 60_000);

  it('stops a release rehearsed as 3× slower at its first step and rolls it back; no node outside that step ever ran it', async () => {
    await fleet.admin.apply([manifest('3', { [LATENCY_MULTIPLIER]: '3' })]);
    const done = await eventually(
      async () => {
        const s = await status();
        return s.revision === 3 && ['Succeeded', 'RolledBack', 'Failed', 'Aborted'].includes(s.phase) && s;
      },
      30_000,
      'the rollout of revision 3 to end',
    );
    expect(done.phase).toBe('RolledBack');
    expect(done.step).toBe(1);
    expect(done.gate?.result).toBe('fail');
    const ratio = (done.gate?.measured.p95LatencyMs as number) / (done.gate?.measured.baselineP95LatencyMs as number);
    expect(ratio).toBeGreaterThan(2);
    // Blast radius: only the first step's nodes ever started revision 3.
    // A first-step node that looks unreachable for deferAfter (2 s here; a loaded machine
    // can delay a heartbeat that long) is deferred and replaced, so the replacements count too.
    const deferred = (await fleet.admin.events('detect'))
      .filter((e) => e.revision === 3 && e.type === 'NodesDeferred')
      .reduce((n, e) => n + ((e.nodeIds as string[] | undefined)?.length ?? 0), 0);
    const ran = sim.ranRevision('detect', 3);
    expect(ran.length).toBeGreaterThan(0);
    expect(ran.length).toBeLessThanOrEqual(FIRST_STEP_NODES + deferred);
    // The summary (the command's final JSON line) says the same.
    expect(sim.summary().everRan.detect?.['3']).toBe(ran.length);
    // Every node serves revision 2: the canaries went back, and site-03's deferred nodes caught up.
    // They come back on their own full-jitter backoff, which grew while the site was dark: after
    // a 30 s outage on a loaded machine (five or six failed heartbeats) the next try can be a
    // minute away, so wait well past that rather than for a fixed slice of it.
    await eventually(() => allServe(2), 150_000, 'every node on revision 2');
    expect(sim.ranRevision('detect', 2).length).toBe(NODES);
    await eventually(() => sim.summary().revisions.detect?.['2'] === NODES, 10_000, 'the summary to show revision 2 everywhere');
    // The simulation saw it too, through the operator API.
    await eventually(() => sim.summary().rollouts.detect?.phase === 'RolledBack', 10_000, 'the summary to show the rollback');
  }, 240_000);
});
