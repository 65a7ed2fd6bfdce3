import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NodeWorkloadLine, RolloutStatus } from '@edgefleet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  containersOf,
  hailoFixture,
  type InferAnswer,
  infer,
  plus,
  type ReleaseKey,
  registryEntry,
  signedDeployment,
} from '../../test-support/container-fleet.js';
import { eventually, startTestFleet, type TestAgent, type TestFleet } from '../../test-support/fleet.js';
import { buildOipImage, cosignKeyPair, pushImage, startRegistry, type TestRegistry } from '../../test-support/oci/index.js';
import { type TestPodman, testPodman } from '../../test-support/oip-container-image.js';
import { freePortOn } from '../../test-support/ports.js';
import { trustRootKey } from '../../test-support/release-keys.js';

/**
 * Issue 16 at fleet level: a real server, three real agents, a real registry (Debian's
 * docker-registry: TLS, basic auth) known to the server through its registry entry, images
 * built by test-support/oci (an index with linux/amd64 and linux/arm64, y = x + c) and real
 * podman with runc. What the agent does on its own is proven elsewhere and not repeated here:
 * - the image store against the registry (index → platform, resumable and verified blobs,
 *   shared layers once, cosign checks, credentials never shown): image-pull.test.ts,
 *   image-pull-token.test.ts; podman importing its layout: image-pull-podman.test.ts;
 * - the container runtime (isolation flags as podman records them, the device node, A/B
 *   switch, a crashing candidate rejected, crash loop → fallback, leftovers, a node without
 *   an engine): container-runtime.test.ts;
 * - staged rollouts and their gates with process workloads: rollouts.test.ts; release
 *   signatures bound to fleet and deployment: release-binding.test.ts.
 * A power cut mid-pull is test/e2e/containers-power-cut.test.ts; the tag refused at apply is
 * containers-apply.test.ts.
 *
 * Clients at the site talk to each node on its inference address (`--inference-listen`: three
 * loopback addresses stand for three boards) at the port the Deployment declares (`spec.endpoint`).
 */

const FAST = { crashLoopThreshold: 3, primaryRetryDelayMs: () => 120_000, desiredWaitSeconds: 5, reconcileIntervalMs: 200, containerStatsIntervalMs: 1_000 };
/** Tolerant of a loaded machine: busybox answers one connection at a time. */
const HEALTH = { interval: '1s', window: '3s', failureThreshold: 4 };
const X = [1, 2.5, -4];
const NAME = 'detect';
/** What the fallback image adds: far from every primary's c, so an answer says who served it. */
const FALLBACK_C = 100;

describe('container releases across a fleet', () => {
  let dir: string;
  let registry: TestRegistry;
  let podman: TestPodman;
  let fleet: TestFleet;
  let key: ReleaseKey;
  /** n1 and n2 hold a Hailo-8L, n3 no accelerator. */
  let nodes: { name: string; agent: TestAgent; hailo: boolean; address: string }[];
  /** The port the Deployment declares (`spec.endpoint`), served on each node's inference address. */
  let sitePort: number;
  const refs: Record<string, string> = {};
  const answers: { node: string; answer: InferAnswer; at: number }[] = [];
  let stopTraffic = false;
  let traffic: Promise<void> | undefined;

  const release = (version: string, image: string): Record<string, unknown> => ({
    version,
    runtime: {
      kind: 'container',
      image,
      env: { MODEL_NAME: NAME },
      accelerator: 'required',
      resources: { memory: '64Mi', cpu: '500m' },
    },
    fallback: { kind: 'container', image: refs.fallback, env: { MODEL_NAME: NAME }, resources: { memory: '64Mi' } },
    health: HEALTH,
  });
  /**
   * Three steps over three nodes; gates fed by the test's traffic, with a latency margin of
   * 5 s (busybox forks a shell per request: its latency is noise, not what is tested here)
   * and fallbacks allowed (n3 serves its fallback by design).
   */
  const strategy = {
    steps: [
      { percent: 33, bake: '2s' },
      { percent: 66, bake: '2s' },
      { percent: 100, bake: '0s' },
    ],
    cohortBy: ['geolocation.site'],
    maxUnavailablePerSite: 3,
    gates: {
      minRequests: 10,
      maxErrorRate: 0.2,
      maxFallbackRate: 1,
      minLatencyDeltaMs: 5_000,
      p95LatencyRatio: 3,
      interval: '2s',
      warmup: { requests: 2, duration: '1s' },
      maxAnalysisTime: '1m',
    },
    offline: { deferAfter: '30s', minReachedPercent: 90 },
    onFailure: 'rollback',
    progressDeadline: '5m',
  };

  const lines = async (deployment = NAME): Promise<NodeWorkloadLine[]> => (await fleet.admin.getDeployment(deployment)).status.nodes;
  const lineOf = async (node: { agent: TestAgent }, deployment = NAME): Promise<NodeWorkloadLine | undefined> =>
    (await lines(deployment)).find((l) => l.nodeId === node.agent.agent.state.nodeId);
  const heldRevisions = (a: TestAgent): number[] => {
    const path = join(a.dataDir, 'workloads.json');
    if (!existsSync(path)) return [];
    return Object.keys((JSON.parse(readFileSync(path, 'utf8')) as { known: Record<string, Record<string, unknown>> }).known[NAME] ?? {}).map(Number);
  };
  const exec = async (id: string, ...args: string[]): Promise<{ ok: boolean; out: string }> => {
    try {
      return { ok: true, out: await podman.run(['exec', id, '/bin/busybox', ...args]) };
    } catch (err) {
      return { ok: false, out: `${(err as { stderr?: string }).stderr ?? ''}${(err as Error).message}` };
    }
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edgefleet-containers-'));
    registry = await startRegistry();
    for (const [name, repository, opts] of [
      ['v1', 'team/adder', { c: 1 }],
      ['v2', 'team/adder', { c: 2 }],
      ['crash', 'team/adder', { c: 3, crash: true }],
      ['fallback', 'team/cpu-adder', { c: FALLBACK_C }],
    ] as const) {
      refs[name] = (await pushImage(registry, repository, buildOipImage(opts), { tag: name })).reference;
    }
    podman = testPodman(join(dir, 'engine'));
    fleet = await startTestFleet({ heartbeatIntervalMs: 1_000, rolloutIntervalMs: 200 });
    const pair = generateKeyPairSync('ed25519');
    await trustRootKey(fleet.admin, fleet.server.caFingerprint, pair);
    key = { fleet: fleet.server.caFingerprint, privateKey: pair.privateKey };
    // `edgefleet registry add test --server … --username … --password-file … --ca-file …`
    await fleet.admin.createRegistry(registryEntry(registry, 'test'));

    const token = await fleet.createToken({ uses: 3 });
    const engine = { globalArgs: podman.globalArgs, env: podman.env };
    nodes = [];
    // Each node's inference address (`--inference-listen`): three addresses of this machine's
    // loopback network stand for three boards on the site's network.
    const addresses = ['127.0.0.11', '127.0.0.12', '127.0.0.13'];
    sitePort = await freePortOn(addresses);
    for (const [i, name, hailo] of [
      [1, 'n1', true],
      [2, 'n2', true],
      [3, 'n3', false],
    ] as const) {
      const address = addresses[i - 1] as string;
      const serial = `00000000000000c${i}`;
      const hwRoot = join(dir, `hw-${name}`);
      if (hailo) await hailoFixture(hwRoot, serial);
      const agent = await fleet.startAgent(hailo ? 'pi5-hailo8l' : 'pi5-nohat', {
        token,
        serial,
        ...(hailo ? { hwRoot } : {}),
        site: 'site-a',
        labels: { node: name },
        workloads: FAST,
        containerEngine: engine,
        inferenceListen: address,
      });
      nodes.push({ name, agent, hailo, address });
    }
    await eventually(() => nodes.every((n) => n.agent.agent.state.lastHeartbeatAt !== undefined), 60_000, 'three agents enrolled');
  }, 180_000);

  afterAll(async () => {
    stopTraffic = true;
    await traffic;
    await fleet?.close();
    try {
      await podman?.run(['rm', '--all', '--force', '--time', '0']);
    } catch {
      // Nothing left to remove.
    }
    await registry?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a signed container release reaches three nodes: the Hailo nodes run it with /dev/hailo0, the third serves the fallback; each answers its numbers', async () => {
    await fleet.admin.apply([signedDeployment(NAME, 'cpu.arch=arm64', release('1.0.0', refs.v1 as string), key, { endpoint: { port: sitePort } })]);
    const reported = await eventually(
      async () => {
        const l = await lines();
        const of = (n: string) => l.find((x) => x.nodeId === nodes.find((m) => m.name === n)?.agent.agent.state.nodeId);
        const ok =
          l.length === 3 &&
          ['n1', 'n2'].every((n) => of(n)?.state === 'running' && of(n)?.revision === 1) &&
          of('n3')?.state === 'degraded' &&
          of('n3')?.reason === 'accelerator-unavailable';
        return ok && l;
      },
      180_000,
      'revision 1 on three nodes (n3 on its fallback)',
    );
    expect(reported.every((l) => l.endpoint !== null)).toBe(true);

    for (const n of nodes) {
      const line = (await lineOf(n)) as NodeWorkloadLine;
      // Each node serves on its inference address at the declared port, and says so.
      expect(line.endpoint).toBe(`http://${n.address}:${sitePort}`);
      // A client at the site gets the primary's numbers from a Hailo node, the fallback's from n3.
      expect(await infer(`http://${n.address}:${sitePort}`, NAME, X), n.name).toEqual({ ok: true, y: plus(X, n.hailo ? 1 : FALLBACK_C) });

      const running = (await containersOf(podman, n.agent.dataDir, NAME)).filter((c) => c.State === 'running');
      expect(running, `${n.name}: one container`).toHaveLength(1);
      const id = running[0]?.Id as string;
      // The device node is passed through exactly where the release asks for the accelerator
      // and the node has one; the CPU fallback gets none.
      expect(running[0]?.Labels['io.edgefleet.devices']).toBe(n.hailo ? '/dev/hailo0' : '');
      expect((await exec(id, 'ls', '/dev')).out.split(/\s+/).includes('hailo0'), `${n.name}: /dev/hailo0 inside`).toBe(n.hailo);
      // Not root, and the root filesystem refuses writes (the full flag set podman records is
      // checked in container-runtime.test.ts).
      expect((await exec(id, 'id', '-u')).out.trim()).not.toBe('0');
      const write = await exec(id, 'touch', '/oip/written');
      expect(write.ok).toBe(false);
      expect(write.out).toMatch(/read-only file system/i);
    }
  }, 240_000);

  it('rolls a new revision out through its steps while clients keep getting numbers', async () => {
    // Clients at the site keep asking every node at its inference address, across revisions.
    traffic = Promise.all(
      nodes.map(async (n) => {
        while (!stopTraffic) {
          answers.push({ node: n.name, answer: await infer(`http://${n.address}:${sitePort}`, NAME, X, 10_000), at: Date.now() });
          await new Promise((r) => setTimeout(r, 50));
        }
      }),
    ).then(() => undefined);

    await fleet.admin.apply([
      signedDeployment(NAME, 'cpu.arch=arm64', release('2.0.0', refs.v2 as string), key, { rollout: strategy, endpoint: { port: sitePort } }),
    ]);
    const seen = new Set<string>();
    const done = await eventually(
      async () => {
        const s: RolloutStatus = await fleet.admin.rolloutStatus(NAME);
        seen.add(`${s.step}:${s.phase}`);
        return s.revision === 2 && (s.phase === 'Succeeded' || s.phase === 'RolledBack') && s;
      },
      300_000,
      'the rollout of revision 2 to end',
    );
    expect(done.phase, JSON.stringify(done)).toBe('Succeeded');
    expect(done).toMatchObject({ fromRevision: 1, steps: 3 });
    expect([...seen].some((x) => x.startsWith('1:'))).toBe(true);
    expect((await fleet.admin.events(NAME)).filter((e) => e.revision === 2 && e.type === 'StepStarted').length).toBeGreaterThanOrEqual(2);

    for (const n of nodes) {
      const line = await eventually(async () => {
        const l = await lineOf(n);
        return l?.revision === 2 && (l.state === 'running' || l.state === 'degraded') && l;
      }, 120_000);
      expect(await infer(line.endpoint as string, NAME, X), n.name).toEqual({ ok: true, y: plus(X, n.hailo ? 2 : FALLBACK_C) });
    }
    // Every answer during the rollout was one revision's or the fallback's numbers, never others.
    const allowed = (node: string) => (node === 'n3' ? [plus(X, FALLBACK_C)] : [plus(X, 1), plus(X, 2)]);
    const wrong = answers.filter((a) => a.answer.ok && !allowed(a.node).some((y) => JSON.stringify(y) === JSON.stringify((a.answer as { y: number[] }).y)));
    expect(wrong).toEqual([]);
    expect(answers.filter((a) => a.answer.ok).length).toBeGreaterThan(30);
  }, 420_000);

  it('rolls back a revision whose image crashes; the nodes keep serving revision 2', async () => {
    const from = answers.length;
    await fleet.admin.apply([
      signedDeployment(NAME, 'cpu.arch=arm64', release('3.0.0', refs.crash as string), key, { rollout: strategy, endpoint: { port: sitePort } }),
    ]);
    const done = await eventually(
      async () => {
        const s = await fleet.admin.rolloutStatus(NAME);
        return s.revision === 3 && (s.phase === 'Succeeded' || s.phase === 'RolledBack') && s;
      },
      300_000,
      'the rollout of the crashing revision to end',
    );
    expect(done.phase, JSON.stringify(done)).toBe('RolledBack');
    expect((await fleet.admin.events(NAME)).filter((e) => e.revision === 3).map((e) => e.type)).toContain('RollbackStarted');
    // It stopped before the last step: at least one Hailo node never held revision 3.
    expect(nodes.filter((n) => n.hailo && !heldRevisions(n.agent).includes(3)).length).toBeGreaterThanOrEqual(1);
    for (const n of nodes) {
      const line = await eventually(
        async () => {
          const l = await lineOf(n);
          return l?.revision === 2 && (l.state === 'running' || l.state === 'degraded') && l;
        },
        120_000,
        `${n.name} back on revision 2`,
      );
      expect(await infer(line.endpoint as string, NAME, X), n.name).toEqual({ ok: true, y: plus(X, n.hailo ? 2 : FALLBACK_C) });
    }
    // The crashing image never answered anyone (it would have said x + 3).
    const crashed = answers.slice(from).filter((a) => a.answer.ok && JSON.stringify(a.answer.y) === JSON.stringify(plus(X, 3)));
    expect(crashed).toEqual([]);
    expect(answers.slice(from).filter((a) => a.answer.ok).length).toBeGreaterThan(10);
  }, 420_000);

  it('refuses a tampered blob (digest-mismatch) and an image without its cosign signature (image-signature-invalid), visibly in status', async () => {
    stopTraffic = true;
    await traffic;
    // The registry serves a layer whose bytes no longer match its digest: one byte flipped
    // in its storage, as a compromised or broken mirror would serve it.
    const tampered = buildOipImage({ c: 40 });
    const pushed = await pushImage(registry, 'team/tampered', tampered, { tag: 'v1' });
    const layer = tampered.platforms.find((p) => p.platform === 'linux/amd64')?.layerDigests.at(-1) as string;
    const stored = registry.blobDataPath(layer);
    const bytes = readFileSync(stored);
    bytes[bytes.length - 700] = (bytes[bytes.length - 700] as number) ^ 0xff;
    writeFileSync(stored, bytes);
    // The release pins a cosign key, and the image has no `sha256-<digest>.sig` beside it.
    const cosign = cosignKeyPair();
    const unsigned = await pushImage(registry, 'team/unsigned', buildOipImage({ c: 41 }), { tag: 'v1' });
    const plain = (version: string, image: string, extra: Record<string, unknown> = {}) => ({
      version,
      runtime: { kind: 'container', image, env: { MODEL_NAME: 'm' }, accelerator: 'none', resources: { memory: '64Mi' } },
      health: HEALTH,
      ...extra,
    });
    await fleet.admin.apply([
      signedDeployment('tampered', 'node=n1', plain('1.0.0', pushed.reference), key),
      signedDeployment('unsigned', 'node=n2', plain('1.0.0', unsigned.reference, { verify: { cosign: { publicKey: cosign.publicKeyPem } } }), key),
    ]);
    const n1 = nodes[0] as (typeof nodes)[number];
    const n2 = nodes[1] as (typeof nodes)[number];
    const t = await eventually(async () => (await lineOf(n1, 'tampered'))?.reason === 'digest-mismatch' && lineOf(n1, 'tampered'), 120_000, 'tampered refused');
    expect(t?.message).toContain(layer);
    expect(t?.state).not.toBe('running');
    const u = await eventually(
      async () => (await lineOf(n2, 'unsigned'))?.reason === 'image-signature-invalid' && lineOf(n2, 'unsigned'),
      120_000,
      'unsigned refused',
    );
    expect(u?.message).toMatch(/signature/i);
    expect(u?.state).not.toBe('running');
    // Neither image ever ran.
    expect(await containersOf(podman, n1.agent.dataDir, 'tampered')).toEqual([]);
    expect(await containersOf(podman, n2.agent.dataDir, 'unsigned')).toEqual([]);
    // The rest of the fleet's work is untouched.
    expect(await infer((await lineOf(n1))?.endpoint as string, NAME, X)).toEqual({ ok: true, y: plus(X, 2) });
  }, 240_000);
});
