/**
 * Issue 15, item 1: warm-up is measurable from real nodes. A real agent serves revision 1,
 * switches to revision 2, and its workload stats (heartbeat path) carry when the instance
 * serving each revision began serving and how many requests it had answered before each
 * interval. Then a node that lies about its instances, as a compromised canary hiding its
 * samples from the gates would, is refused with a 400 on both paths stats take (heartbeat
 * and telemetry batch), and nothing of its report is stored.
 */
import { createReadStream, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadIdentity } from '@edgefleet/agent';
import { type DeploymentManifestInput, EdgefleetError, type WorkloadStats } from '@edgefleet/protocol';
import { EdgefleetClient, encodeTelemetryBatch } from '@edgefleet/protocol/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestFleet, type TestAgent, type TestFleet } from '../../test-support/fleet.js';

const ROOT = resolve(import.meta.dirname, '../..');
const STUB = join(ROOT, 'examples/models/mlp-4-8-3.stub.json');
const FAST = { crashLoopThreshold: 3, primaryRetryDelayMs: () => 2_000, desiredWaitSeconds: 5, reconcileIntervalMs: 100 };

describe('warm-up fields from a real agent', () => {
  let fleet: TestFleet;
  let node: TestAgent;
  let artifact: string;

  const manifest = (version: string): DeploymentManifestInput => ({
    apiVersion: 'edgefleet.dev/v1',
    kind: 'Deployment',
    metadata: { name: 'detect' },
    spec: {
      selector: 'cpu.arch=arm64',
      release: {
        version,
        model: { artifact, format: 'other' },
        runtime: { kind: 'process', command: process.execPath, args: [join(ROOT, 'examples/runtimes/oip-stub.mjs')], accelerator: 'none' },
        health: { interval: '500ms', failureThreshold: 6, window: '1s' },
      } as never,
    },
  });

  /** The node's endpoint once it runs `revision`. */
  const runningRevision = (revision: number): Promise<string> =>
    eventually(
      async () => {
        const [line] = (await fleet.admin.getDeployment('detect')).status.nodes;
        return line?.revision === revision && line.state === 'running' && line.endpoint !== null && line.endpoint;
      },
      40_000,
      `revision ${revision} running`,
    );

  const infer = async (endpoint: string, n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      const r = await fetch(`${endpoint}/v2/models/detect/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] }),
      });
      expect(r.status).toBe(200);
      await r.arrayBuffer();
    }
  };

  /** The stored samples of `revision`, oldest first. */
  const samples = async (revision: number): Promise<WorkloadStats[]> =>
    (await fleet.server.store.listWorkloadStats('detect', 0)).filter((s) => s.revision === revision).sort((a, b) => a.intervalStart - b.intervalStart);

  const requestsIn = async (revision: number): Promise<number> => (await samples(revision)).reduce((sum, s) => sum + s.requests, 0);

  beforeAll(async () => {
    fleet = await startTestFleet({ heartbeatIntervalMs: 500, requireSigned: false });
    artifact = (await fleet.admin.pushArtifact(createReadStream(STUB), statSync(STUB).size)).digest;
    node = await fleet.startAgent('pi5-hailo8l', { token: await fleet.createToken(), workloads: FAST });
    await eventually(() => node.agent.state.lastHeartbeatAt !== undefined, 20_000, 'the first heartbeat');
  }, 60_000);
  afterAll(async () => {
    await fleet?.close();
  });

  it('reports the instance of each revision after a switch, and the requests it answered before each interval', async () => {
    await fleet.admin.apply([manifest('1')]);
    const first = await runningRevision(1);
    await infer(first, 5);
    await eventually(async () => (await requestsIn(1)) === 5, 15_000, 'revision 1 stats');

    const switchedAt = Date.now();
    await fleet.admin.apply([manifest('2')]);
    const endpoint = await runningRevision(2);
    // Three bursts, each in its own heartbeat interval: several samples of one instance.
    let sent = 0;
    for (const n of [4, 3, 5]) {
      await infer(endpoint, n);
      sent += n;
      await eventually(async () => (await requestsIn(2)) === sent, 15_000, `revision 2 stats after ${sent} requests`);
    }

    const [one] = await samples(1);
    const two = await samples(2);
    expect(one?.instanceStartedAt).toBeLessThan(switchedAt);
    // One instance: each report is re-anchored by its own offset (its delivery delay), so the
    // instance's start moves by milliseconds between reports, no more.
    const starts = two.map((s) => s.instanceStartedAt as number);
    expect(Math.max(...starts) - Math.min(...starts)).toBeLessThan(1_000);
    let before = 0;
    for (const s of two) {
      // A new instance, started after the switch, never after its interval's start.
      expect(s.instanceStartedAt).toBeGreaterThanOrEqual(switchedAt);
      expect(s.instanceStartedAt).toBeLessThanOrEqual(s.intervalStart);
      // Each interval knows what that instance had answered before it.
      expect(s.instanceRequestsBefore).toBe(before);
      before += s.requests;
    }
  }, 120_000);

  describe('a node that lies about its instances', () => {
    let client: EdgefleetClient;
    beforeAll(() => {
      const identity = loadIdentity(node.dataDir);
      if (identity === undefined) throw new Error('no identity');
      client = new EdgefleetClient({ server: fleet.server.url, ca: identity.caPem, cert: identity.certPem, key: identity.keyPem });
    });
    afterAll(async () => {
      await client?.close();
    });

    const refusal = async (call: Promise<unknown>): Promise<EdgefleetError> => {
      try {
        await call;
      } catch (err) {
        if (err instanceof EdgefleetError) return err;
        throw err;
      }
      throw new Error('the server took it');
    };
    const lie = (over: Partial<WorkloadStats>): WorkloadStats => {
      const now = Date.now();
      return {
        deployment: 'detect',
        revision: 99,
        intervalStart: now - 15_000,
        intervalEnd: now,
        requests: 500,
        errors: 0,
        restarts: 0,
        fallback: false,
        latency: { v: 1, offset: 100, counts: [500] },
        ...over,
      };
    };

    it('refuses a heartbeat whose instance started after its interval (every sample warm-up forever) with a 400, storing nothing', async () => {
      const now = Date.now();
      const err = await refusal(client.reportStatus({ stats: [lie({ instanceStartedAt: now + 365 * 86_400_000, instanceRequestsBefore: 0 })] }));
      expect(err).toMatchObject({ status: 400, code: 'bad_request', field: 'stats.0.instanceStartedAt' });
      expect(err.message).toContain("is after the interval's end");
      expect(await samples(99)).toEqual([]);
    });

    it('refuses negative and fractional counts before intervals with a 400', async () => {
      const negative = await refusal(client.reportStatus({ stats: [lie({ instanceStartedAt: 0, instanceRequestsBefore: -1_000 })] }));
      expect(negative).toMatchObject({ status: 400, code: 'bad_request' });
      expect(negative.message).toContain('instanceRequestsBefore');
      const fraction = await refusal(client.reportStatus({ stats: [lie({ instanceStartedAt: 0.5 })] }));
      expect(fraction).toMatchObject({ status: 400 });
      expect(await samples(99)).toEqual([]);
    });

    it('refuses a telemetry batch whose instance gauge starts after its interval with a 400', async () => {
      const t = Math.ceil(Date.now() / 15_000) * 15_000;
      const future = t / 1000 + 86_400;
      const body = encodeTelemetryBatch({
        stream: 'liar',
        seq: 1,
        resolutionMs: 15_000,
        series: [
          {
            kind: 'gauge',
            name: 'edgefleet_workload_instance_start_timestamp_seconds',
            labels: { deployment: 'detect', revision: '2' },
            points: [{ t, min: future, max: future, last: future }],
          },
        ],
      });
      const err = await refusal(client.uploadTelemetry(body));
      expect(err).toMatchObject({ status: 400, code: 'bad_request' });
      expect(err.message).toContain('after the end of the interval');
    });
  });
});
