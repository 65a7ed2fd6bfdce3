import { generateKeyPairSync } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { loadIdentity } from '@edgefleet/agent';
import { type DeploymentManifestInput, EdgefleetError, ReleaseSchema } from '@edgefleet/protocol';
import { EdgefleetClient, encodeTelemetryBatch, signRelease } from '@edgefleet/protocol/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../test-support/cli.js';
import { eventually, startTestFleet, type TestAgent, type TestFleet } from '../../test-support/fleet.js';
import { type LokiReceiver, startLokiReceiver } from '../../test-support/loki-receiver.js';
import { startPrometheus, type ThrowawayPrometheus } from '../../test-support/prometheus.js';
import { trustRootKey } from '../../test-support/release-keys.js';

const ROOT = resolve(import.meta.dirname, '../..');
const STUB_RUNTIME = join(ROOT, 'examples/runtimes/oip-stub.mjs');
const FAST = { crashLoopThreshold: 3, primaryRetryDelayMs: () => 2_000, desiredWaitSeconds: 5, reconcileIntervalMs: 200 };
const JWT = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJjYW1lcmEtNyIsImlhdCI6MTcwMDAwMDAwMH0.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg';
const CHATTY = `served frame for alice.smith@example.com from 10.20.30.40 with Authorization: Bearer ${JWT}`;
const REQUESTS = 40;

/** Parses one sample value out of Prometheus text exposition. */
function sampleOf(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.split(' ').at(-1));
  }
  return undefined;
}

describe('telemetry: node metrics and logs to the server, Prometheus and Loki; local alerts', () => {
  let prometheus: ThrowawayPrometheus;
  let loki: LokiReceiver;
  let fleet: TestFleet;
  let node: TestAgent;
  let diskFull = false;

  beforeAll(async () => {
    prometheus = await startPrometheus();
    loki = await startLokiReceiver();
    fleet = await startTestFleet({ heartbeatIntervalMs: 1_000, forward: { remoteWrite: [prometheus.remoteWriteUrl], loki: [loki.url] } });
    const pair = generateKeyPairSync('ed25519');
    await trustRootKey(fleet.admin, fleet.server.caFingerprint, pair);
    const file = join(ROOT, 'examples/models/mlp-4-8-3.stub.json');
    const model = (await fleet.admin.pushArtifact(createReadStream(file), statSync(file).size)).digest;
    const release = ReleaseSchema.parse({
      version: '1.0.0',
      model: { artifact: model, format: 'other' },
      runtime: { kind: 'process', command: process.execPath, args: [STUB_RUNTIME], accelerator: 'required' },
      env: { EDGEFLEET_STUB_LOG_LINE: CHATTY, EDGEFLEET_STUB_DELAY_MS: '5' },
      health: { interval: '200ms', failureThreshold: 2, window: '1s' },
    });
    const manifest: DeploymentManifestInput = {
      apiVersion: 'edgefleet.dev/v1',
      kind: 'Deployment',
      metadata: { name: 'detect' },
      spec: {
        selector: 'hardware.ai-hat=true',
        release: { ...release, signature: signRelease(release, pair.privateKey, { fleet: fleet.server.caFingerprint, deployment: 'detect' }) } as never,
      },
    };
    node = await fleet.startAgent('pi5-hailo8l', {
      token: await fleet.createToken({ site: 'warehouse-east' }),
      workloads: FAST,
      telemetry: {
        metricsListen: '127.0.0.1:0',
        sampleIntervalMs: 200,
        diskUsage: async () => (diskFull ? { totalBytes: 100e9, freeBytes: 4e9 } : { totalBytes: 100e9, freeBytes: 60e9 }),
      },
    });
    await eventually(() => node.agent.state.lastHeartbeatAt !== undefined, 20_000, 'enrolled');
    await fleet.admin.apply([manifest]);
  }, 90_000);

  afterAll(async () => {
    await fleet?.close();
    await loki?.stop();
    await prometheus?.stop();
  });

  it('counts inference on the local /metrics endpoint and in Prometheus, with the server-stamped labels', async () => {
    const status = await eventually(
      async () => {
        const d = await fleet.admin.getDeployment('detect');
        const line = d.status.nodes[0];
        return line?.state === 'running' && line.endpoint !== null && line;
      },
      40_000,
      'the workload serving',
    );
    for (let i = 0; i < REQUESTS; i++) {
      const res = await fetch(`${status.endpoint}/v2/models/detect/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] }),
      });
      expect(res.status).toBe(200);
    }
    const local = node.agent.telemetry.metricsUrl as string;
    const labels = { deployment: 'detect', revision: '1' };
    const text = await eventually(async () => {
      const t = await (await fetch(local)).text();
      return sampleOf(t, 'edgefleet_inference_requests_total', { ...labels, outcome: 'ok' }) === REQUESTS && t;
    });
    expect(sampleOf(text, 'edgefleet_inference_request_duration_seconds_count', labels)).toBe(REQUESTS);
    expect(sampleOf(text, 'edgefleet_node_temperature_celsius', {})).toBeGreaterThan(20);
    const localSum = sampleOf(text, 'edgefleet_inference_request_duration_seconds_sum', labels) as number;

    const name = (await fleet.admin.getNode(node.agent.state.nodeId as string)).name;
    const selector = `{node="${name}",site="warehouse-east",deployment="detect",revision="1"}`;
    const remote = await eventually(
      async () => {
        const r = await prometheus.query(`edgefleet_inference_requests_total${selector.replace('}', ',outcome="ok"}')}`);
        return r.length === 1 && r[0]?.value === REQUESTS && r;
      },
      30_000,
      'the request counter in Prometheus',
    );
    expect(remote[0]?.metric).toMatchObject({ node: name, site: 'warehouse-east', deployment: 'detect', revision: '1', outcome: 'ok' });
    const count = await prometheus.query(`edgefleet_inference_request_duration_seconds_count${selector}`);
    expect(count[0]?.value).toBe(REQUESTS);
    // The sum is exact on both sides (the node sends it with each interval).
    const sum = await prometheus.query(`edgefleet_inference_request_duration_seconds_sum${selector}`);
    expect(sum[0]?.value).toBeCloseTo(localSum, 6);
    // The P95 Prometheus computes from the forwarded buckets agrees with the node's own
    // classic histogram (same boundaries; a value within 2% under a boundary may land one
    // bucket up after the 1%-sketch, so the P95 may sit one bucket higher: up to the next
    // boundary, never lower than the node's own bucket).
    const p95 = await prometheus.query(`histogram_quantile(0.95, sum by (le) (edgefleet_inference_request_duration_seconds_bucket${selector}))`);
    const localBuckets = text
      .split('\n')
      .filter((l) => l.startsWith('edgefleet_inference_request_duration_seconds_bucket{') && l.includes('deployment="detect"'))
      .map((l) => ({ le: Number((/le="([^"]+)"/.exec(l) as RegExpExecArray)[1]), count: Number(l.split(' ').at(-1)) }));
    const rank = 0.95 * REQUESTS;
    const i = localBuckets.findIndex((b) => b.count >= rank);
    const lower = i === 0 ? 0 : (localBuckets[i - 1]?.le as number);
    const upper = (localBuckets[i + 1] ?? localBuckets[i])?.le as number;
    expect(p95[0]?.value).toBeGreaterThanOrEqual(lower * 0.98);
    expect(p95[0]?.value).toBeLessThanOrEqual(upper);
    // Node gauges arrive too, as last/min/max.
    const temperature = await prometheus.query(`edgefleet_node_temperature_celsius{node="${name}"}`);
    expect(temperature[0]?.value).toBeGreaterThan(20);
    expect((await prometheus.query(`edgefleet_node_temperature_celsius_max{node="${name}"}`)).length).toBe(1);
  }, 90_000);

  it('shows the workload lines with `edgefleet logs`, scrubbed on the node, and forwards them to Loki', async () => {
    const name = (await fleet.admin.getNode(node.agent.state.nodeId as string)).name;
    const out = await eventually(
      async () => {
        const r = await runCli(
          'logs',
          name,
          '--workload',
          'detect',
          '--server',
          fleet.server.url,
          '--token',
          fleet.adminToken,
          '--ca',
          join(fleet.dir, 'server/ca.crt'),
        );
        return r.code === 0 && r.out.includes('served frame for') && r.out;
      },
      30_000,
      'workload lines on the server',
    );
    // The token goes whichever way the rules meet it first: as a bearer token or as a JWT.
    expect(out).toMatch(/served frame for \[email\] from \[ipv4\] with Authorization: Bearer \[(bearer|jwt)\]/);
    expect(out).not.toContain('alice.smith@example.com');
    expect(out).not.toContain('10.20.30.40');
    expect(out).not.toContain(JWT.slice(0, 20));
    expect(out).toMatch(/detect\[r1\] stdout/);
    const json = await runCli(
      'logs',
      name,
      '--workload',
      'detect',
      '-o',
      'json',
      '--server',
      fleet.server.url,
      '--token',
      fleet.adminToken,
      '--ca',
      join(fleet.dir, 'server/ca.crt'),
    );
    const first = JSON.parse(json.out.split('\n')[0] as string);
    expect(first).toMatchObject({ node: name, source: 'detect', revision: 1, stream: 'stdout' });
    const pushed = await eventually(() => loki.accepted.filter((e) => e.line.includes('served frame for')), 20_000, 'lines in Loki');
    expect(pushed[0]?.labels).toMatchObject({ node: name, site: 'warehouse-east', source: 'detect', stream: 'stdout' });
    expect(pushed.every((e) => !e.line.includes('example.com'))).toBe(true);
    // The agent's own lines come along too.
    const agentLines = await runCli(
      'logs',
      name,
      '--workload',
      'agent',
      '--server',
      fleet.server.url,
      '--token',
      fleet.adminToken,
      '--ca',
      join(fleet.dir, 'server/ca.crt'),
    );
    expect(agentLines.out).toContain('workload started');
  }, 60_000);

  it('raises DiskAlmostFull on the node while the server is down, and the server learns of it on return', async () => {
    await fleet.restartServer(async () => {
      diskFull = true;
      await eventually(() => node.agent.telemetry.conditions.find((c) => c.name === 'DiskAlmostFull'), 10_000, 'the local alert');
      expect(node.agent.telemetry.conditions.find((c) => c.name === 'DiskAlmostFull')?.message).toContain('96');
    });
    const cli = ['--server', fleet.server.url, '--token', fleet.adminToken, '--ca', join(fleet.dir, 'server/ca.crt')];
    const alerts = await eventually(
      async () => {
        const r = await runCli('alerts', '-o', 'json', ...cli);
        const items = JSON.parse(r.out).items as Array<{ name: string; state: string; severity: string; site: string }>;
        return items.find((a) => a.name === 'DiskAlmostFull');
      },
      30_000,
      'the alert on the server',
    );
    expect(alerts).toMatchObject({ state: 'firing', severity: 'critical', site: 'warehouse-east' });
    const table = await runCli('alerts', ...cli);
    expect(table.out).toMatch(/DiskAlmostFull\s+critical\s+firing/);
    diskFull = false;
    await eventually(
      async () => {
        const r = await runCli('alerts', '-o', 'json', ...cli);
        return !(JSON.parse(r.out).items as Array<{ name: string }>).some((a) => a.name === 'DiskAlmostFull');
      },
      30_000,
      'the alert resolved',
    );
    const all = JSON.parse((await runCli('alerts', '--all', '-o', 'json', ...cli)).out).items as Array<{ name: string; state: string }>;
    expect(all.find((a) => a.name === 'DiskAlmostFull')?.state).toBe('resolved');
  }, 90_000);

  describe('bad uploads', () => {
    let client: EdgefleetClient;
    /** Uploads a batch through the typed client; a refusal comes back as its status and error. */
    const post = async (body: Uint8Array): Promise<{ status: number; body: { error?: { code: string; message: string } } }> => {
      try {
        await client.uploadTelemetry(body);
        return { status: 200, body: {} };
      } catch (err) {
        if (!(err instanceof EdgefleetError)) throw err;
        return { status: err.status, body: { error: { code: err.code, message: err.message } } };
      }
    };
    beforeAll(() => {
      const identity = loadIdentity(node.dataDir);
      if (identity === undefined) throw new Error('no identity');
      client = new EdgefleetClient({ server: fleet.server.url, ca: identity.caPem, cert: identity.certPem, key: identity.keyPem });
    });
    afterAll(async () => {
      await client?.close();
    });
    const batch = (labels: Record<string, string>) =>
      encodeTelemetryBatch({
        stream: 'forger',
        seq: 1,
        resolutionMs: 15_000,
        series: [{ kind: 'gauge', name: 'edgefleet_node_temperature_celsius', labels, points: [{ t: Date.now(), min: 1, max: 1, last: 1 }] }],
      });

    it("refuses series that claim another node's or site's labels", async () => {
      const other = await post(batch({ node: 'someone-else' }));
      expect(other.status).toBe(403);
      expect(other.body.error?.message).toContain('claims node "someone-else"');
      const site = await post(batch({ site: 'elsewhere' }));
      expect(site.status).toBe(403);
      expect(site.body.error?.message).toContain('claims site "elsewhere"');
    });

    it('drops series for a deployment the node does not run, and says so', async () => {
      const res = await client.uploadTelemetry(batch({ deployment: 'not-mine', revision: '1' }));
      expect(res?.rejected).toEqual([
        { series: expect.stringContaining('not-mine'), reason: expect.stringContaining('no record of this node running not-mine') },
      ]);
    });

    it('answers a deflate bomb with 413 and garbage with a 400 that names the problem', async () => {
      const bomb = Buffer.concat([Buffer.from('EFT'), Buffer.from([1, 1]), deflateRawSync(Buffer.alloc(64 * 1024 * 1024))]);
      expect(bomb.length).toBeLessThan(1024 * 1024);
      const big = await post(bomb);
      expect(big.status).toBe(413);
      const junk = await post(Buffer.from('EFT\u0001\u0000garbage'));
      expect(junk.status).toBe(400);
      expect(junk.body.error?.message).toMatch(/telemetry batch: .+/);
      const notOurs = await post(Buffer.from('hello'));
      expect(notOurs.status).toBe(400);
    });
  });
});
