import { createReadStream, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { DeploymentManifestInput, RolloutStatus } from '@edgefleet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestFleet, type TestAgent, type TestFleet } from '../../test-support/fleet.js';

const ROOT = resolve(import.meta.dirname, '../..');
const STUB = join(ROOT, 'examples/models/mlp-4-8-3.stub.json');
const FAST = { crashLoopThreshold: 3, primaryRetryDelayMs: () => 2_000, desiredWaitSeconds: 5, reconcileIntervalMs: 100 };
const NODES = 10;

type Status = RolloutStatus;

/**
 * Every release's workload sleeps BASE_MS per inference, so the gates compare latencies made
 * of fixed sleeps plus what the loaded machine adds to both sides at the same minutes.
 */
const BASE_MS = 250;
/**
 * What the slow release adds to BASE_MS: twice as slow, judged with the gate a real user
 * sets (P95 ratio 1.5). It fails while the machine adds less than BASE_MS (250 ms) at the P95 to
 * both sides (then (2·BASE + x)/(BASE + x) > 1.5); a loaded two-core CI machine adds tens
 * of milliseconds. A good release passes because the gates leave warm-up out and judge
 * intervals, not two point estimates.
 */
const SLOW_MS = BASE_MS;
/** Clients give up on a request after this long: longer than the slow release takes. */
const CLIENT_TIMEOUT_MS = BASE_MS + SLOW_MS + 2_000;

describe('staged rollouts with SLO gates against the baseline', () => {
  let fleet: TestFleet;
  let agents: TestAgent[];
  let artifact: string;
  let stopTraffic = false;
  let traffic: Promise<void>;
  let endpoints: string[] = [];
  const sent: Record<string, number> = {};

  const release = (version: string, env: Record<string, string> = {}) => ({
    version,
    model: { artifact, format: 'other' },
    runtime: { kind: 'process', command: process.execPath, args: [join(ROOT, 'examples/runtimes/oip-stub.mjs')], accelerator: 'none' },
    // Health checks tolerate a loaded machine: a probe that misses a few beats while CI runs
    // other suites beside this one is not a crash, and a restart would fail the gates
    // (`maxRestarts` is 0), which is not what these tests are about.
    health: { interval: '500ms', failureThreshold: 6, window: '1s' },
    env: { EDGEFLEET_STUB_DELAY_MS: String(BASE_MS), ...env },
  });
  const strategy = {
    steps: [
      { percent: 10, bake: '1s' },
      { percent: 50, bake: '1s' },
      { percent: 100, bake: '0s' },
    ],
    cohortBy: ['geolocation.site'],
    maxUnavailablePerSite: 3,
    // Realistic thresholds; times shortened for a test: evaluations that count 2 s apart, a
    // warm-up of 20 requests or 3 s, and a verdict within 2 minutes of a bake.
    // One canary at step 1 (10 % of 10), as the cases below count: `minCanaryNodes` (default
    // 5) would make it 5, which a fleet this small can't spare for what they check.
    gates: {
      minCanaryNodes: 1,
      minRequests: 30,
      p95LatencyRatio: 1.5,
      maxErrorRate: 0.05,
      interval: '2s',
      warmup: { requests: 20, duration: '3s' },
      maxAnalysisTime: '2m',
    },
    offline: { deferAfter: '5s', minReachedPercent: 90 },
    onFailure: 'rollback',
    progressDeadline: '2m',
  };
  const manifest = (r: Record<string, unknown>, rollout?: Record<string, unknown>): DeploymentManifestInput => ({
    apiVersion: 'edgefleet.dev/v1',
    kind: 'Deployment',
    metadata: { name: 'detect' },
    spec: { selector: 'cpu.arch=arm64', release: r as never, ...(rollout === undefined ? {} : { rollout: rollout as never }) },
  });
  const status = async (): Promise<Status> => fleet.admin.rolloutStatus('detect');
  const heldRevisions = (a: TestAgent): number[] => {
    const path = join(a.dataDir, 'workloads.json');
    if (!existsSync(path)) return [];
    return Object.keys((JSON.parse(readFileSync(path, 'utf8')) as { known: Record<string, Record<string, unknown>> }).known.detect ?? {}).map(Number);
  };

  beforeAll(async () => {
    // One-second heartbeats: a node counts as offline after three missed ones, so an agent
    // whose event loop stalls for a second on a loaded machine is not deferred for it.
    fleet = await startTestFleet({ heartbeatIntervalMs: 1_000, rolloutIntervalMs: 200, requireSigned: false });
    artifact = (await fleet.admin.pushArtifact(createReadStream(STUB), statSync(STUB).size)).digest;
    const token = await fleet.createToken({ uses: NODES });
    agents = await Promise.all(
      Array.from({ length: NODES }, (_, i) => fleet.startAgent('pi5-hailo8l', { token, site: i % 2 === 0 ? 'site-a' : 'site-b', workloads: FAST })),
    );
    await eventually(() => agents.every((a) => a.agent.state.lastHeartbeatAt !== undefined), 20_000);
    // Revision 1 goes everywhere at once (no strategy yet): the baseline.
    await fleet.admin.apply([manifest(release('1'))]);
    const lines = await eventually(
      async () => {
        const l = (await fleet.admin.getDeployment('detect')).status.nodes;
        if (l.length === NODES && l.every((x) => x.state === 'running' && x.endpoint !== null)) return l;
        // Said on a timeout: where the nodes were (ten workloads starting on two loaded cores).
        throw new Error(`${l.length} of ${NODES} nodes listed: ${l.map((x) => `${x.state}${x.endpoint === null ? ' (no endpoint)' : ''}`).join(', ')}`);
      },
      // Ten agents starting ten workload processes: under a full CI run on two shared cores
      // this took more than 40 s once.
      120_000,
      'revision 1 everywhere',
    );
    endpoints = lines.map((l) => l.endpoint as string);
    // Inference traffic on every node, as clients at the sites would send it.
    // Eight clients (each request sleeps BASE_MS), each with a timeout, so one stuck request
    // never stalls the traffic.
    const client = async (offset: number): Promise<void> => {
      let i = offset;
      while (!stopTraffic) {
        const ep = endpoints[i++ % endpoints.length] as string;
        await fetch(`${ep}/v2/models/detect/infer`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] }),
          signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
        }).then(
          (r) => {
            sent[r.status] = (sent[r.status] ?? 0) + 1;
            return r.arrayBuffer();
          },
          (e: Error) => {
            const key = `${e.name}:${String((e as { cause?: { code?: string; message?: string } }).cause?.code ?? (e as { cause?: { message?: string } }).cause?.message)}`;
            sent[key] = (sent[key] ?? 0) + 1;
          },
        );
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    traffic = Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map((o) => client(o * 3))).then(() => undefined);
  }, 180_000);
  afterAll(async () => {
    stopTraffic = true;
    await traffic;
    await fleet?.close();
  });

  it('takes a good release 10% → 50% → 100% and succeeds', async () => {
    await fleet.admin.apply([manifest(release('2'), strategy)]);
    const seen = new Set<string>();
    const done = await eventually(
      async () => {
        const s = await status();
        seen.add(`${s.step}:${s.phase}`);
        return s.phase === 'Succeeded' && s;
      },
      180_000,
      'the good rollout to succeed',
    );
    expect(done).toMatchObject({ revision: 2, fromRevision: 1, steps: 3, nodes: { total: NODES, failed: 0 } });
    // A node whose heartbeat is late on a loaded machine counts as offline and is
    // deferred, by design (a rollout is never blocked by offline nodes); when it reports
    // again it is pending until it has switched. So the counts at `Succeeded` depend on the
    // machine's load; what must hold is that nothing failed or rolled back, and that every
    // node, deferred ones included, then runs revision 2.
    expect(done.nodes.rolledBack).toBe(0);
    await eventually(
      async () => {
        const d = await fleet.admin.getDeployment('detect');
        return d.status.nodes.length === NODES && d.status.nodes.every((n) => n.revision === 2 && n.state === 'running');
      },
      60_000,
      'every node to run revision 2, deferred ones included',
    );
    // It went through the steps, not straight to the end.
    expect([...seen].some((x) => x.startsWith('1:'))).toBe(true);
    const events = (await fleet.admin.events('detect')).map((e) => e.type);
    expect(events).toContain('StepStarted');
    expect(events.filter((t) => t === 'GatePassed').length).toBeGreaterThanOrEqual(2);
    expect(events).toContain('Succeeded');
  }, 240_000);

  it('stops a slower release at its first step and rolls it back; no node outside that step ever ran it', async () => {
    await fleet.admin.apply([manifest(release('3', { EDGEFLEET_STUB_DELAY_MS: String(BASE_MS + SLOW_MS) }), strategy)]);
    const done = await eventually(
      async () => {
        const s = await status();
        return s.revision === 3 && (s.phase === 'RolledBack' || s.phase === 'Succeeded') && s;
      },
      150_000,
      'the slow rollout to end',
    );
    expect(done.phase).toBe('RolledBack');
    expect(done.step).toBe(1);
    expect(done.gate).toMatchObject({ result: 'fail' });
    expect(done.gate?.reason).toBe('P95LatencyRatioExceeded');
    expect(done.gate?.measured.p95LatencyMs as number).toBeGreaterThan(BASE_MS + SLOW_MS);
    // The gate compared the canary with the baseline measured in the same minutes, and the
    // regression was established: the low end of the ratio's interval is over 1.5.
    const p95 = done.gate?.gates.find((g) => g.gate === 'p95LatencyRatio');
    expect(p95).toMatchObject({ verdict: 'failing' });
    expect(p95?.interval?.low as number).toBeGreaterThan(1.5);
    expect(p95?.consecutiveFailures as number).toBeGreaterThanOrEqual(2);
    const events = await fleet.admin.events('detect');
    const failed = events.find((e) => e.type === 'GateFailed');
    expect(String(failed?.message)).toMatch(/p95/i);
    expect(events.some((e) => e.type === 'RollbackStarted')).toBe(true);
    // Only the first step's node (10% of 10) was ever told to run revision 3.
    expect(agents.filter((a) => heldRevisions(a).includes(3)).length).toBe(1);
    // Every node serves revision 2 again.
    await eventually(
      async () => (await fleet.admin.getDeployment('detect')).status.nodes.every((l) => l.state === 'running' && l.revision === 2),
      90_000,
      'every node back on revision 2',
    );
  }, 240_000);

  it('rolls back a release whose workload crashes', async () => {
    const crashFile = join(fleet.dir, 'always-crash');
    writeFileSync(crashFile, 'the runtime exits 3 while this file exists');
    await fleet.admin.apply([manifest(release('4', { EDGEFLEET_STUB_CRASH_FILE: crashFile }), strategy)]);
    const done = await eventually(
      async () => {
        const s = await status();
        return s.revision === 4 && (s.phase === 'RolledBack' || s.phase === 'Succeeded') && s;
      },
      90_000,
      'the crashing rollout to end',
    );
    expect(done.phase).toBe('RolledBack');
    expect(done.step).toBe(1);
    const types = (await fleet.admin.events('detect')).filter((e) => e.revision === 4).map((e) => e.type);
    expect(types).toContain('RollbackStarted');
    expect(agents.filter((a) => heldRevisions(a).includes(4)).length).toBe(1);
  }, 120_000);

  it('defers a node that is offline, survives a server restart mid-rollout, and the node catches up', async () => {
    const away = agents[NODES - 1] as TestAgent;
    away.agent.stop();
    await away.done;
    await fleet.admin.apply([manifest(release('5'), strategy)]);
    await eventually(
      async () => {
        const s = await status();
        return s.revision === 5 && s.step >= 2 && s;
      },
      90_000,
      'the rollout to reach step 2',
    );
    // The control plane goes down and comes back: the rollout carries on from its stored state.
    await fleet.restartServer();
    const admin = fleet.client(fleet.adminToken);
    const done = await eventually(
      async () => {
        const s = await admin.rolloutStatus('detect');
        return s.revision === 5 && (s.phase === 'Succeeded' || s.phase === 'RolledBack') && s;
      },
      90_000,
      'the rollout to end after the restart',
    );
    expect(done.phase).toBe('Succeeded');
    expect(done.nodes.deferred).toBe(1);
    expect((await admin.events('detect')).filter((e) => e.revision === 5).map((e) => e.type)).toContain('NodesDeferred');
    // No event was lost or written twice across the restart: numbers run without gaps.
    const seqs = (await admin.events('detect', 10_000)).map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs.at(-1)).toBe(seqs.length - 1);
    // The node that was away comes back and gets the revision the rollout finished on.
    const back = await fleet.startAgent('pi5-hailo8l', { dataDir: away.dataDir, site: 'site-b', workloads: FAST });
    await eventually(
      async () => (await admin.getDeployment('detect')).status.nodes.find((l) => l.nodeId === away.agent.state.nodeId)?.revision === 5,
      60_000,
      'the returning node to catch up',
    );
    expect(back.agent.state.nodeId).toBe(away.agent.state.nodeId);
  }, 200_000);
});
