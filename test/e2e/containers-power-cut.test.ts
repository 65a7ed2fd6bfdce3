import { createHash, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeHardwareFixture } from '@edgefleet/agent/fixtures';
import type { NodeWorkloadLine } from '@edgefleet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentProcess, type AgentProcessConfig, startAgentProcess } from '../../test-support/agent-process.js';
import { containersOf, type InferAnswer, infer, plus, type ReleaseKey, registryEntry, signedDeployment } from '../../test-support/container-fleet.js';
import { eventually, startTestFleet, type TestFleet } from '../../test-support/fleet.js';
import { buildOipImage, pushImage, startRegistry, startTcpProxy, type TcpProxy, type TestImage, type TestRegistry } from '../../test-support/oci/index.js';
import { type TestPodman, testPodman } from '../../test-support/oip-container-image.js';
import { trustRootKey } from '../../test-support/release-keys.js';

/**
 * Issue 16 at fleet level: a power cut (`kill -9` of the agent process) while a new
 * revision's image is being pulled. The node reaches the registry through a relay that
 * holds the download half-way through the large layer, so the kill lands inside it, and
 * holds it again after the restart until the old revision answers: the order of events
 * never depends on the machine's speed. What must hold: the
 * old revision serves before, after the restart and until the new one takes over (no
 * answer is ever another image's), every blob the store holds hashes to its name, and the
 * restarted agent resumes the layer from the bytes it kept instead of fetching it again.
 * (The image store's resume against a cut connection, without a kill, is image-pull.test.ts;
 * kills during model downloads and switches of process workloads are test/e2e/power-cut.test.ts.)
 */

const NAME = 'adder';
const X = [3, -1.5];
/** The second revision's extra layer: big enough that half of it is far more than the rest of the image. */
const BULK_MB = 6;

describe('a power cut while a container image is pulled', () => {
  let dir: string;
  let registry: TestRegistry;
  let relay: TcpProxy;
  let podman: TestPodman;
  let fleet: TestFleet;
  let key: ReleaseKey;
  let config: AgentProcessConfig;
  let agent: AgentProcess | undefined;
  let v2: TestImage;
  let refV1: string;
  let refV2: string;
  const answers: { answer: InferAnswer; at: number }[] = [];
  let stopTraffic = false;
  let traffic: Promise<void> | undefined;
  let endpoint: string | undefined;

  const release = (version: string, image: string): Record<string, unknown> => ({
    version,
    runtime: { kind: 'container', image, env: { MODEL_NAME: NAME }, accelerator: 'none', resources: { memory: '64Mi' } },
    health: { interval: '1s', window: '3s', failureThreshold: 4 },
  });
  const line = async (): Promise<NodeWorkloadLine | undefined> => (await fleet.admin.getDeployment(NAME)).status.nodes[0];
  /** The layers are [runtime, bulk…, model] (test-support/oci/image.ts): the bulk one is second. */
  const bulkLayer = (): string => v2.platforms[0]?.layerDigests[1] as string;
  const imagesDir = (): string => join(config.dataDir, 'images', 'blobs');
  const partialSize = (digest: string): number => {
    const path = join(imagesDir(), 'partial', `${digest.slice(7)}.part`);
    return existsSync(path) ? statSync(path).size : 0;
  };
  const launch = (): AgentProcess => {
    agent = startAgentProcess(config);
    return agent;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edgefleet-containers-cut-'));
    registry = await startRegistry();
    relay = await startTcpProxy(registry.host);
    const v1 = buildOipImage({ c: 1, amd64Only: true });
    v2 = buildOipImage({ c: 2, amd64Only: true, bulkLayers: [{ mb: BULK_MB, seed: 'power-cut' }] });
    await pushImage(registry, 'team/adder', v1, { tag: 'v1' });
    await pushImage(registry, 'team/adder', v2, { tag: 'v2' });
    // The node knows the registry by the relay's address (its certificate names 127.0.0.1 too).
    refV1 = `${relay.host}/team/adder@${v1.digest}`;
    refV2 = `${relay.host}/team/adder@${v2.digest}`;
    podman = testPodman(join(dir, 'engine'));
    fleet = await startTestFleet({ heartbeatIntervalMs: 500 });
    const pair = generateKeyPairSync('ed25519');
    await trustRootKey(fleet.admin, fleet.server.caFingerprint, pair);
    key = { fleet: fleet.server.caFingerprint, privateKey: pair.privateKey };
    await fleet.admin.createRegistry(registryEntry(registry, 'test', `https://${relay.host}`));

    const hwRoot = join(dir, 'hw');
    await writeHardwareFixture(hwRoot, 'pi5-nohat', { serial: 'badc0ffee0000016' });
    config = {
      server: fleet.server.url,
      token: await fleet.createToken(),
      dataDir: join(dir, 'agent'),
      hwRoot,
      workloads: { crashLoopThreshold: 3, primaryRetryDelayMs: 120_000, desiredWaitSeconds: 2, reconcileIntervalMs: 200 },
      containerEngine: { globalArgs: podman.globalArgs, env: podman.env },
    };
    await launch().waitForLine((l) => l.msg === 'enrolled', { timeoutMs: 120_000 });
    delete config.token;
  }, 180_000);

  afterAll(async () => {
    stopTraffic = true;
    await traffic;
    await agent?.stop(20_000);
    try {
      await podman?.run(['rm', '--all', '--force', '--time', '0']);
    } catch {
      // Nothing left to remove.
    }
    await relay?.stop();
    await fleet?.close();
    await registry?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps serving the old revision through a kill -9 mid-pull, resumes the layer, then switches', async () => {
    await fleet.admin.apply([signedDeployment(NAME, 'cpu.arch=arm64', release('1', refV1), key)]);
    const first = await eventually(
      async () => {
        const l = await line();
        return l?.revision === 1 && l.state === 'running' && l.endpoint !== null && (await infer(l.endpoint, NAME, X)).ok && l;
      },
      120_000,
      'revision 1 serving',
    );
    endpoint = first.endpoint as string;
    expect(await infer(endpoint, NAME, X)).toEqual({ ok: true, y: plus(X, 1) });
    // A client keeps asking the node, at the endpoint the node last reported.
    traffic = (async () => {
      while (!stopTraffic) {
        answers.push({ answer: await infer(endpoint as string, NAME, X, 5_000), at: Date.now() });
        await sleep(100);
      }
    })();

    const layer = bulkLayer();
    const layerBytes = v2.blobs.get(layer)?.bytes.length as number;
    expect(layerBytes).toBeGreaterThan(BULK_MB * 1024 * 1024 * 0.9);
    // The relay holds the pull once half the layer's size has crossed it (the rest of the
    // image is a few KB); the power goes once a third of the layer is on disk.
    relay.resetCounters();
    relay.pauseAt(Math.floor(layerBytes / 2));
    await fleet.admin.apply([signedDeployment(NAME, 'cpu.arch=arm64', release('2', refV2), key)]);
    await eventually(() => relay.paused && partialSize(layer) > layerBytes / 3, 120_000, 'a third of the layer downloaded');
    const killedAt = Date.now();
    await (agent as AgentProcess).kill();
    const kept = partialSize(layer);
    expect(kept).toBeGreaterThan(layerBytes / 3);
    expect(kept).toBeLessThan(layerBytes);

    // Whatever the store holds as a blob hashes to its name; the layer is still only a partial.
    const blobDir = join(imagesDir(), 'sha256');
    for (const hex of readdirSync(blobDir)) {
      expect(
        createHash('sha256')
          .update(readFileSync(join(blobDir, hex)))
          .digest('hex'),
        `blob ${hex}`,
      ).toBe(hex);
    }
    expect(existsSync(join(blobDir, layer.slice(7)))).toBe(false);
    // The killed agent's revision-1 container still runs and still answers revision 1's numbers.
    const leftover = (await containersOf(podman, config.dataDir, NAME)).filter((c) => c.State === 'running');
    expect(leftover.map((c) => c.Labels['io.edgefleet.revision'])).toEqual(['1']);
    const port = (
      JSON.parse(await podman.run(['inspect', leftover[0]?.Id as string])) as { NetworkSettings: { Ports: Record<string, { HostPort: string }[]> } }[]
    )[0]?.NetworkSettings.Ports['8080/tcp']?.[0]?.HostPort;
    expect(await infer(`http://127.0.0.1:${port}`, NAME, X)).toEqual({ ok: true, y: plus(X, 1) });

    // Power back: the agent starts from what it has on disk and serves revision 1 again while
    // the relay still holds the pull; then the pull resumes and only what is left of the
    // layer crosses the link.
    relay.resetCounters();
    expect(relay.paused).toBe(true);
    const restarted = launch();
    const restartedAt = Date.now();
    const servingAgain = await eventually(
      async () => {
        const l = await line();
        if (l?.endpoint == null) return false;
        endpoint = l.endpoint;
        const a = await infer(l.endpoint, NAME, X, 5_000);
        return a.ok && a;
      },
      120_000,
      'the node answering again after the restart',
    );
    expect(servingAgain).toEqual({ ok: true, y: plus(X, 1) });
    // …while the layer is still on its way: the old revision serves, not nothing.
    expect(restarted.lines.some((l) => l.msg === 'image verified and imported' && l.manifest === v2.platforms[0]?.manifestDigest)).toBe(false);
    relay.resume();

    const imported = await restarted.waitForLine((l) => l.msg === 'image verified and imported' && l.manifest === v2.platforms[0]?.manifestDigest, {
      timeoutMs: 240_000,
    });
    expect(imported).toBeDefined();
    const moved = relay.bytesDown;
    console.info(`power cut: ${kept} of ${layerBytes} layer bytes kept at the kill; ${moved} bytes over the link after the restart`);
    // Only what was left of the layer crossed the link again (plus manifests, config and TLS).
    expect(moved).toBeLessThan(layerBytes - kept + 256 * 1024);

    const second = await eventually(
      async () => {
        const l = await line();
        return l?.revision === 2 && l.state === 'running' && l.endpoint !== null && l;
      },
      120_000,
      'revision 2 serving',
    );
    endpoint = second.endpoint as string;
    await eventually(
      async () => JSON.stringify(await infer(endpoint as string, NAME, X)) === JSON.stringify({ ok: true, y: plus(X, 2) }),
      30_000,
      'x + 2 answered',
    );
    stopTraffic = true;
    await traffic;

    // Every answer a client got was revision 1's until the switch, then revision 2's: never
    // anything else, and revision 1 answered both before the kill and after the restart.
    const got = answers.filter((a) => a.answer.ok).map((a) => ({ at: a.at, y: JSON.stringify((a.answer as { y: number[] }).y) }));
    const one = JSON.stringify(plus(X, 1));
    const two = JSON.stringify(plus(X, 2));
    expect(got.filter((a) => a.y !== one && a.y !== two)).toEqual([]);
    const firstTwo = got.find((a) => a.y === two)?.at ?? Number.POSITIVE_INFINITY;
    expect(got.filter((a) => a.y === one && a.at > firstTwo)).toEqual([]);
    expect(got.some((a) => a.y === one && a.at < killedAt)).toBe(true);
    expect(got.some((a) => a.y === one && a.at > restartedAt)).toBe(true);
  }, 600_000);
});
