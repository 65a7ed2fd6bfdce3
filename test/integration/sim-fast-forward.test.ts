import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { type DeploymentManifestInput, ReleaseSchema, suggestGates } from '@edgefleet/protocol';
import { signRelease } from '@edgefleet/protocol/node';
import { catchUpSpeed, FastClock, type Simulation, startSimulation } from '@edgefleet/sim';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../test-support/cli.js';
import { eventually, startTestFleet, type TestFleet } from '../../test-support/fleet.js';
import { trustRootKey } from '../../test-support/release-keys.js';

/**
 * A small simulated fleet lives through a week in about two minutes: the server and the
 * agents share one fast clock, so every upload of the week goes through the real agents and
 * the real ingest, and the latency history it leaves is what a week of real nodes would.
 * Then `deployments latency` shows the week hour by hour and `slo suggest` proposes gates.
 */
const NODES = 4;
const WEEK_MS = 7 * 86_400_000;
/** Real time the week takes. */
const FAST_FORWARD_REAL_MS = 100_000;

describe('a simulated week: latency history and SLO suggestions', () => {
  let fleet: TestFleet;
  let sim: Simulation;
  let key: KeyObject;
  let artifact: string;
  // Two hours of margin: setup runs at ×60 (metered nodes first report after 15 simulated
  // minutes), some tens of real seconds, before the fast-forward.
  const clock = new FastClock(Date.now() - WEEK_MS - 2 * 3_600_000);

  const manifest = (): DeploymentManifestInput => {
    const release = ReleaseSchema.parse({
      version: '1',
      model: { artifact, format: 'hef' },
      runtime: { kind: 'process', command: 'detect-hailo', accelerator: 'required' },
      health: { interval: '1s', window: '3s' },
    });
    return {
      apiVersion: 'edgefleet.dev/v1',
      kind: 'Deployment',
      metadata: { name: 'detect' },
      spec: {
        selector: 'hardware.ai-hat=true',
        release: { ...release, signature: signRelease(release, key, { fleet: fleet.server.caFingerprint, deployment: 'detect' }) },
      },
    };
  };

  beforeAll(
    async () => {
      clock.setSpeed(60);
      // Certificates outlive the week (the TLS stack checks them against the wall clock).
      fleet = await startTestFleet({ clock: clock.now, heartbeatIntervalMs: 60_000, nodeCertLifetimeMs: 30 * 86_400_000 });
      const pair = generateKeyPairSync('ed25519');
      key = pair.privateKey;
      await trustRootKey(fleet.admin, fleet.server.caFingerprint, pair);
      const model = Buffer.from('a compiled detector stands in here');
      artifact = (await fleet.admin.pushArtifact(Readable.from(model), model.length)).digest;
      sim = await startSimulation({
        server: fleet.server.url,
        token: await fleet.createToken({ uses: NODES }),
        nodes: NODES,
        sites: 2,
        hatMix: { hailo8l: 0.5, hailo8: 0.5 },
        seed: 11,
        rps: 2,
        // Metered nodes upload every 15 minutes with their heartbeat folded in: few requests per simulated hour.
        profile: 'metered',
        clock,
        dailyCycle: true,
        dataDir: join(fleet.dir, 'sim'),
        intervalMs: 60_000,
        loadSeconds: 0.3,
        agent: { reconcileIntervalMs: 60_000, desiredWaitSeconds: 5, sampleIntervalMs: 60_000 },
      });
      await sim.whenStarted();
      // On a fast clock a node may outlive its start slot before its first report: wait for all.
      await eventually(() => sim.summary().nodes.started === NODES, 60_000, `every node to report (${JSON.stringify(sim.summary().nodes)})`);
      expect(sim.summary().nodes.failed).toBe(0);
      await fleet.admin.apply([manifest()]);
      let lines: unknown[] = [];
      await eventually(
        async () => {
          const nodes = (await fleet.admin.getDeployment('detect')).status.nodes;
          lines = nodes;
          return nodes.length === NODES && nodes.every((l) => l.state === 'running');
        },
        60_000,
        'revision 1 on every node',
      ).catch((err: Error) => {
        throw new Error(`${err.message}: ${JSON.stringify(lines)}; ${JSON.stringify(sim.summary())}`);
      });
      // The week: fast until the clock has caught up with the wall clock, then real time.
      clock.setSpeed(catchUpSpeed(clock.behind(), FAST_FORWARD_REAL_MS));
      await eventually(() => clock.behind() < 60_000, FAST_FORWARD_REAL_MS * 3, 'the clock to catch up with the wall clock');
      clock.setSpeed(1);
      // The last uploads of the week arrive.
      await new Promise((r) => setTimeout(r, 2_000));
    },
    FAST_FORWARD_REAL_MS * 3 + 90_000,
  );

  afterAll(async () => {
    await sim?.stop();
    await fleet?.close();
  });

  it('keeps the week hour by hour, per site, with the daily cycle in it', async () => {
    const history = await fleet.admin.deploymentLatency('detect', { since: '7d', bySite: true });
    const hours = new Set(history.hours.map((h) => h.hour));
    // 168 hours in the window; the first and last may be partial or missing.
    expect(hours.size, `hours: ${[...hours].join(', ')}`).toBeGreaterThanOrEqual(160);
    expect(new Set(history.hours.map((h) => h.site))).toEqual(new Set(['site-01', 'site-02']));
    expect(history.revisions).toHaveLength(1);
    // The daily cycle: the busiest hour of the fleet has far more requests than the quietest.
    const perHour = new Map<string, number>();
    for (const h of history.hours) perHour.set(h.hour, (perHour.get(h.hour) ?? 0) + h.requests);
    const counts = [...perHour.values()].sort((a, b) => a - b);
    expect((counts.at(-10) as number) / (counts[10] as number)).toBeGreaterThan(3);
    // Hailo latencies: P50 of a few ms to a few tens of ms.
    for (const h of history.hours) expect(h.p50Ms).toBeGreaterThan(3);
  });

  it('shows it in the CLI and suggests gates from it', async () => {
    const conn = ['--server', fleet.server.url, '--token', fleet.adminToken, '--ca', fleet.server.caCertPath];
    const table = await runCli('deployments', 'latency', 'detect', '--since', '7d', ...conn);
    expect(table.code, table.err).toBe(0);
    expect(table.out.split('\n').filter((l) => /^\d{4}-\d\d-\d\d \d\d:00 /.test(l)).length).toBeGreaterThanOrEqual(160);
    const bad = await runCli('deployments', 'latency', 'detect', '--since', 'a week', ...conn);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/invalid --since "a week"/);

    const suggestion = suggestGates(await fleet.admin.deploymentLatency('detect', { since: '7d', bySite: true }));
    if (!suggestion.ok) throw new Error(suggestion.missing.join('; '));
    expect(suggestion.evidence.hours).toBeGreaterThanOrEqual(160);
    expect(suggestion.gates.p95LatencyRatio).toBeGreaterThanOrEqual(1.2);
    expect(suggestion.gates.p95LatencyRatio).toBeLessThan(2);
    const text = await runCli('slo', 'suggest', 'detect', '--window', '7d', ...conn);
    expect(text.code, text.err).toBe(0);
    expect(text.out).toContain(`gates:\n  minRequests: ${suggestion.gates.minRequests}\n`);
    expect(text.out).toMatch(/p95LatencyRatio: [\d.]+\n {4}From one hour to the next/);
  });
});
