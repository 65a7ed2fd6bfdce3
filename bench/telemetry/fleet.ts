/**
 * The real pieces the telemetry benchmark runs against: a server in this process (temp data
 * dir, silent logger, unsigned releases allowed) with an in-process receiver of the stamped
 * series it accepts, nodes enrolled by a real `Agent` on fixture hardware, and a Deployment
 * `detect` whose selector matches them, so the server attributes their workload series.
 */
import { createReadStream, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Agent, labelsFromFacts, loadIdentity, type NodeIdentity, probeHardware } from '@edgefleet/agent';
import { writeHardwareFixture } from '@edgefleet/agent/fixtures';
import { EDGEFLEET_VERSION, type HardwareFacts, type Labels, sleep, type TelemetryProfileName, type TelemetrySeries } from '@edgefleet/protocol';
import { EdgefleetClient } from '@edgefleet/protocol/node';
import { type RunningServer, startServer } from '@edgefleet/server';
import { pino } from 'pino';

const ROOT = resolve(import.meta.dirname, '../..');
/** The site every benchmark node is in (from its bootstrap token and its `--site`). */
export const SITE = 'quarry';
/** The deployment whose inference traffic the nodes serve. */
export const DEPLOYMENT = 'detect';

/** A node enrolled for the benchmark: its identity and what its agent would report. */
export interface BenchNode {
  name: string;
  nodeId: string;
  identity: NodeIdentity;
  facts: HardwareFacts;
  labels: Labels;
}

export interface BenchFleet {
  server: RunningServer;
  /** PEM of the fleet CA; the server's own certificate and key (reused by the remote_write sink). */
  tls: { ca: string; cert: string; key: string };
  admin: EdgefleetClient;
  /** Enrolls one node (a real agent on a `pi5-hailo8l` fixture); `metered` sets the operator label. */
  enroll(serial: string, profile: TelemetryProfileName): Promise<BenchNode>;
  /** Applies Deployment `detect` (revision 1, unsigned) selecting every node with an AI HAT. */
  applyDeployment(): Promise<void>;
  /** Takes the stamped series the server accepted from node `name` since the last call. */
  takeArrived(name: string): TelemetrySeries[];
  close(): Promise<void>;
}

/** Starts the server (heartbeat interval 60 s: the `lan` profile uploads every 60 s). */
export async function startBenchFleet(): Promise<BenchFleet> {
  const dir = mkdtempSync(join(tmpdir(), 'edgefleet-bench-telemetry-'));
  const arrived = new Map<string, TelemetrySeries[]>();
  const silent = pino({ level: 'silent' });
  const server = await startServer({
    dataDir: join(dir, 'server'),
    listen: '127.0.0.1:0',
    logger: silent,
    heartbeatIntervalMs: 60_000,
    requireSigned: false,
    forwarding: {
      metrics(series) {
        for (const s of series) {
          const node = s.labels.node ?? '';
          const list = arrived.get(node);
          if (list === undefined) arrived.set(node, [s]);
          else list.push(s);
        }
      },
      logs() {},
    },
  });
  const ca = readFileSync(server.caCertPath, 'utf8');
  const tls = { ca, cert: readFileSync(join(dir, 'server/server.crt'), 'utf8'), key: readFileSync(join(dir, 'server/server.key'), 'utf8') };
  const admin = new EdgefleetClient({ server: server.url, token: readFileSync(server.adminTokenFile, 'utf8').trim(), ca });

  return {
    server,
    tls,
    admin,
    async enroll(serial, profile) {
      const hwRoot = join(dir, `hw-${serial}`);
      const dataDir = join(dir, `agent-${serial}`);
      await writeHardwareFixture(hwRoot, 'pi5-hailo8l', { serial });
      const { token } = await admin.createBootstrapToken({ site: SITE });
      const agent = new Agent({
        server: server.url,
        token,
        dataDir,
        hwRoot,
        site: SITE,
        random: () => 0.5,
        log: silent,
        telemetry: { metricsListen: false, memoryQueues: true },
      });
      const done = agent.run();
      // Enrolled and reported once: the server knows its labels, so the selector matches.
      const until = Date.now() + 120_000; // generous: the machine may be loaded
      while (agent.state.lastHeartbeatAt === undefined) {
        if (Date.now() > until) throw new Error(`node ${serial} did not enroll within 120 s: ${agent.state.lastError ?? 'no error reported'}`);
        await sleep(20);
      }
      agent.stop();
      await done;
      const identity = loadIdentity(dataDir);
      if (identity === undefined) throw new Error(`node ${serial} enrolled but left no identity in ${dataDir}`);
      if (profile === 'metered') await admin.labelNode(identity.nodeId, { set: { 'telemetry.profile': 'metered' } });
      // What the agent's observe() reports: the probe's facts and the labels made from them.
      const facts = await probeHardware(hwRoot, { agentVersion: EDGEFLEET_VERSION });
      const labels = labelsFromFacts(facts, { site: SITE });
      arrived.delete(identity.name);
      return { name: identity.name, nodeId: identity.nodeId, identity, facts, labels };
    },
    async applyDeployment() {
      const model = join(ROOT, 'examples/models/mlp-4-8-3.onnx');
      const artifact = (await admin.pushArtifact(createReadStream(model), statSync(model).size)).digest;
      await admin.apply([
        {
          apiVersion: 'edgefleet.dev/v1',
          kind: 'Deployment',
          metadata: { name: DEPLOYMENT },
          spec: {
            selector: 'hardware.ai-hat=true',
            release: { version: '1.0.0', model: { artifact, format: 'onnx' }, runtime: { kind: 'model-server' } } as never,
          },
        },
      ]);
    },
    takeArrived(name) {
      const list = arrived.get(name) ?? [];
      arrived.delete(name);
      return list;
    },
    async close() {
      await admin.close();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
