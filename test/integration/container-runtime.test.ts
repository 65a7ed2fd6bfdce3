import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderExposition } from '@edgefleet/agent';
import { type DeploymentManifestInput, ReleaseSchema, type WorkloadStatus } from '@edgefleet/protocol';
import { signRelease } from '@edgefleet/protocol/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentKeyOf, containersOf as containersIn, hailoFixture } from '../../test-support/container-fleet.js';
import { eventually, startTestFleet, type TestAgent, type TestFleet } from '../../test-support/fleet.js';
import { buildOipImage, FakeImageSource, type TestImage, type TestPodman, testPodman } from '../../test-support/oip-container-image.js';
import { trustRootKey } from '../../test-support/release-keys.js';

/**
 * Issue 16: container releases run by real podman (runc, a throwaway store), from the OCI
 * layout an image store hands the agent, behind the agent's proxy: isolation, the Hailo
 * device node passed through, A/B switch, rejection, crash loop → fallback, no orphans,
 * and a node without an engine. The image store is a stand-in (its own tests are the "oci"
 * helper's); everything from the layout on is real.
 */

const FAST = { crashLoopThreshold: 3, primaryRetryDelayMs: () => 120_000, desiredWaitSeconds: 5, reconcileIntervalMs: 200, containerStatsIntervalMs: 300 };
const HEALTH = { interval: '1s', window: '3s', failureThreshold: 2 };

/** A Deployment of `release` for nodes labelled `engine=<engine>`, signed with `key`. */
function manifest(name: string, engine: string, release: Record<string, unknown>, key: { fleet: string; privateKey: KeyObject }): DeploymentManifestInput {
  const parsed = ReleaseSchema.parse(release);
  const signed = { ...parsed, signature: signRelease(parsed, key.privateKey, { fleet: key.fleet, deployment: name }) };
  return { apiVersion: 'edgefleet.dev/v1', kind: 'Deployment', metadata: { name }, spec: { selector: `engine=${engine}`, release: signed } };
}

async function infer(endpoint: string, deployment: string, x: number): Promise<number> {
  const res = await fetch(`${endpoint}/v2/models/${deployment}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: [{ name: 'x', shape: [1], datatype: 'INT64', data: [x] }] }),
  });
  if (!res.ok) throw new Error(`inference answered ${res.status}`);
  const body = (await res.json()) as { outputs: { data: number[] }[] };
  return body.outputs[0]?.data[0] as number;
}

describe('container workloads run by podman', () => {
  let dir: string;
  let fleet: TestFleet;
  let podman: TestPodman;
  let images: FakeImageSource;
  let key: { fleet: string; privateKey: KeyObject };
  let node: TestAgent;
  let hwRoot: string;
  let serve: TestImage;
  let serveRef: string;
  let crashRef: string;
  let revision = 0;

  /** Podman's view of the containers of the agent with data dir `dataDir`. */
  const containersOf = (dataDir: string, deployment?: string) => containersIn(podman, dataDir, deployment);
  const status = (agent: TestAgent, deployment: string): WorkloadStatus | undefined => agent.agent.state.workloads.find((w) => w.deployment === deployment);
  const container = (image: string, env: Record<string, string>, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    version: `1.0.${++revision}`,
    runtime: { kind: 'container', image, env, accelerator: 'required', resources: { memory: '64Mi', cpu: '500m' }, ...extra },
    health: HEALTH,
  });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edgefleet-podman-'));
    serve = buildOipImage(dir, 'serve', ['/bin/serve']);
    const crash = buildOipImage(dir, 'crash', ['/bin/sh', '-c', 'echo "model failed to load" >&2; exit 3']);
    serveRef = `registry.test:5000/edgefleet/oip:v1@${serve.manifestDigest}`;
    crashRef = `registry.test:5000/edgefleet/crash@${crash.manifestDigest}`;
    images = new FakeImageSource(
      new Map([
        [`registry.test:5000/edgefleet/oip@${serve.manifestDigest}`, serve],
        [crashRef, crash],
      ]),
    );
    podman = testPodman(join(dir, 'engine'));
    fleet = await startTestFleet({ heartbeatIntervalMs: 500 });
    const pair = generateKeyPairSync('ed25519');
    await trustRootKey(fleet.admin, fleet.server.caFingerprint, pair);
    key = { fleet: fleet.server.caFingerprint, privateKey: pair.privateKey };
    // A Pi with a Hailo-8L whose device node is a harmless stand-in: the fixture's plain file
    // replaced by a character device with /dev/null's numbers (1:3), at /dev/hailo0 under --hw-root.
    hwRoot = join(dir, 'hw-hailo');
    await hailoFixture(hwRoot, '00000000000000a1');
    node = await fleet.startAgent('pi5-hailo8l', {
      hwRoot,
      token: await fleet.createToken(),
      labels: { engine: 'podman' },
      workloads: FAST,
      images,
      containerEngine: { globalArgs: podman.globalArgs, env: podman.env },
    });
  }, 120_000);

  afterAll(async () => {
    await fleet?.close();
    try {
      await podman?.run(['rm', '--all', '--force', '--time', '0']);
    } catch {
      // Nothing left, or no podman: the test said so already.
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports podman and its OCI runtime in the node facts', async () => {
    const facts = await eventually(
      async () => {
        const f = (await node.agent.observe()).facts;
        return f.containerEngine !== undefined && f;
      },
      30_000,
      'engine detected',
    );
    expect(facts.containerEngine).toMatchObject({ name: 'podman', ociRuntime: 'runc' });
    expect(facts.containerEngine?.version).toMatch(/^\d+\.\d+/);
  });

  it('serves y = x + c through the proxy, isolated, with the Hailo device node passed through', async () => {
    await fleet.admin.apply([manifest('detect', 'podman', container(serveRef, { ADD: '1' }), key)]);
    const s = await eventually(() => status(node, 'detect')?.state === 'running' && status(node, 'detect'), 60_000, 'detect running');
    const endpoint = s.endpoint as string;
    expect(await infer(endpoint, 'detect', 41)).toBe(42);
    expect(await infer(endpoint, 'detect', -5)).toBe(-4);

    // The image reports who it runs as and what it may write.
    const id = (await (await fetch(`${endpoint}/id`)).json()) as { uid: number; root: string; tmp: string; devices: string };
    expect(id.uid).toBe(65534);
    expect(id.root).toBe('refused');
    expect(id.tmp).toBe('written');
    expect(id.devices.split(' ')).toContain('hailo0');

    // The image came from the store by digest, and the engine runs exactly it.
    expect(images.requests[0]?.reference.digest).toBe(serve.manifestDigest);
    expect(images.requests[0]?.access).toBeUndefined();
    const [c] = await containersOf(node.dataDir, 'detect');
    expect(c?.Labels['io.edgefleet.devices']).toBe('/dev/hailo0');
    const [inspect] = JSON.parse(await podman.run(['inspect', c?.Id as string])) as {
      Image: string;
      Config: { User: string };
      HostConfig: {
        Memory: number;
        NanoCpus: number;
        ReadonlyRootfs: boolean;
        Privileged: boolean;
        CapDrop: string[];
        CapAdd: string[];
        Devices: { PathInContainer: string }[];
        SecurityOpt: string[];
        PortBindings: Record<string, { HostIp: string }[]>;
      };
    }[];
    expect(inspect?.Image).toBe(serve.configDigest.slice(7));
    expect(inspect?.Config.User).toBe('65534:65534');
    expect(inspect?.HostConfig).toMatchObject({ Memory: 64 * 1024 * 1024, NanoCpus: 500_000_000, ReadonlyRootfs: true, Privileged: false });
    expect(inspect?.HostConfig.CapAdd ?? []).toEqual([]);
    expect(inspect?.HostConfig.CapDrop.length).toBeGreaterThan(5);
    expect(inspect?.HostConfig.SecurityOpt).toContain('no-new-privileges');
    expect(inspect?.HostConfig.Devices.map((d) => d.PathInContainer)).toEqual(['/dev/hailo0']);
    expect(inspect?.HostConfig.PortBindings['8080/tcp']?.[0]?.HostIp).toBe('127.0.0.1');

    // CPU and memory per workload under cAdvisor's names, and the device it holds, as metrics.
    const series = `{deployment="detect",revision="${s.revision}"}`;
    const text = await eventually(
      () => {
        const t = renderExposition(node.agent.telemetry.metrics.registry);
        return t.includes(`container_memory_working_set_bytes${series}`) && t;
      },
      20_000,
      'container metrics',
    );
    const value = (name: string): number => Number(new RegExp(`^${name}\\{[^}]*deployment="detect"[^}]*\\} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(value('container_memory_working_set_bytes')).toBeGreaterThan(0);
    expect(value('container_spec_memory_limit_bytes')).toBe(64 * 1024 * 1024);
    expect(value('container_cpu_usage_seconds_total')).toBeGreaterThanOrEqual(0);
    expect(text).toContain(`edgefleet_container_device_held{deployment="detect",revision="${s.revision}",device="/dev/hailo0"} 1`);
  }, 90_000);

  it('passes no device to a release that does not ask for the accelerator', async () => {
    await fleet.admin.apply([manifest('plain', 'podman', container(serveRef, { ADD: '7' }, { accelerator: 'none' }), key)]);
    const s = await eventually(() => status(node, 'plain')?.state === 'running' && status(node, 'plain'), 60_000, 'plain running');
    expect(await infer(s.endpoint as string, 'plain', 1)).toBe(8);
    const id = (await (await fetch(`${s.endpoint}/id`)).json()) as { devices: string };
    expect(id.devices.split(' ')).not.toContain('hailo0');
    expect((await containersOf(node.dataDir, 'plain'))[0]?.Labels['io.edgefleet.devices']).toBe('');
    await fleet.admin.deleteDeployment('plain');
    await eventually(async () => (await containersOf(node.dataDir, 'plain')).length === 0, 30_000, 'plain removed');
  }, 90_000);

  it('switches a new revision in after its health window, and removes the old container', async () => {
    const before = status(node, 'detect') as WorkloadStatus;
    await fleet.admin.apply([manifest('detect', 'podman', container(serveRef, { ADD: '2' }), key)]);
    const s = await eventually(
      () => {
        const w = status(node, 'detect');
        return w !== undefined && w.revision > before.revision && w.servingRevision === w.revision && w.state === 'running' && w;
      },
      60_000,
      'revision 2 serving',
    );
    expect(await infer(s.endpoint as string, 'detect', 41)).toBe(43);
    // The proxy's port stays; the old revision's container is gone.
    expect(s.endpoint).toBe(before.endpoint);
    await eventually(async () => (await containersOf(node.dataDir, 'detect')).length === 1, 20_000, 'one container left');
    expect((await containersOf(node.dataDir, 'detect'))[0]?.Labels['io.edgefleet.revision']).toBe(String(s.revision));
  }, 90_000);

  it('rejects a crashing image while the running revision keeps serving', async () => {
    const before = status(node, 'detect') as WorkloadStatus;
    await fleet.admin.apply([manifest('detect', 'podman', container(crashRef, {}), key)]);
    const answers: number[] = [];
    const s = await eventually(
      async () => {
        answers.push(await infer(before.endpoint as string, 'detect', 41));
        const w = status(node, 'detect');
        return w !== undefined && w.revision > before.revision && w.state === 'failed' && w;
      },
      60_000,
      'crashing revision given up on',
    );
    expect(s.servingRevision).toBe(before.servingRevision);
    expect(s.message).toMatch(/revision .* keeps serving/);
    expect(new Set(answers)).toEqual(new Set([43]));
    expect(await infer(s.endpoint as string, 'detect', 0)).toBe(2);
  }, 90_000);

  it('falls back to the fallback image after a crash loop (primary-crashloop)', async () => {
    const release = {
      ...container(crashRef, {}),
      fallback: { kind: 'container', image: serveRef, env: { ADD: '100' }, resources: { memory: '32Mi' } },
    };
    await fleet.admin.apply([manifest('loop', 'podman', release, key)]);
    const s = await eventually(
      () => status(node, 'loop')?.reason === 'primary-crashloop' && status(node, 'loop')?.active === 'fallback' && status(node, 'loop'),
      60_000,
      'fallback serving',
    );
    expect(s.state).toBe('degraded');
    expect(await infer(s.endpoint as string, 'loop', 5)).toBe(105);
    // The CPU fallback gets no accelerator device, even though the primary asks for it.
    const id = (await (await fetch(`${s.endpoint}/id`)).json()) as { devices: string };
    expect(id.devices.split(' ')).not.toContain('hailo0');
  }, 90_000);

  it('leaves no container behind when the agent stops, and removes those a killed agent left', async () => {
    expect((await containersOf(node.dataDir)).length).toBeGreaterThan(0);
    node.agent.stop();
    await node.done;
    expect(await containersOf(node.dataDir)).toEqual([]);

    // A killed agent's container (same labels, still running) is removed by the next start.
    const agentKey = agentKeyOf(node.dataDir);
    await podman.run([
      'run',
      '-d',
      '--name',
      'edgefleet-detect-r9-primary-deadbeef',
      '--label',
      `io.edgefleet.agent=${agentKey}`,
      '--ulimit',
      'nofile=1024:1024',
      '--ulimit',
      'nproc=1024:1024',
      '--user',
      '65534',
      serve.configDigest.slice(7),
      'sleep',
      '600',
    ]);
    // …and another agent's container on the same host is left alone.
    await podman.run([
      'run',
      '-d',
      '--name',
      'someone-else',
      '--label',
      'io.edgefleet.agent=0000000000000000',
      '--ulimit',
      'nofile=1024:1024',
      '--ulimit',
      'nproc=1024:1024',
      '--user',
      '65534',
      serve.configDigest.slice(7),
      'sleep',
      '600',
    ]);
    expect((await containersOf(node.dataDir)).map((c) => c.Names[0])).toEqual(['edgefleet-detect-r9-primary-deadbeef']);
    node = await fleet.startAgent('pi5-hailo8l', {
      hwRoot,
      dataDir: node.dataDir,
      labels: { engine: 'podman' },
      workloads: FAST,
      images,
      containerEngine: { globalArgs: podman.globalArgs, env: podman.env },
    });
    await eventually(
      async () => !(await containersOf(node.dataDir)).some((c) => c.Names[0] === 'edgefleet-detect-r9-primary-deadbeef'),
      30_000,
      'leftover removed',
    );
    // The given-up revision is tried once more after a restart (its failures live in memory),
    // then the node switches back: what serves is one of the good revisions, never the crash.
    const s = await eventually(
      () => {
        const w = status(node, 'detect');
        return w !== undefined && w.state === 'failed' && w.servingRevision !== null && w.servingRevision < w.revision && w;
      },
      60_000,
      'serving again',
    );
    expect([2, 3]).toContain(await infer(s.endpoint as string, 'detect', 1));
    expect((await podman.run(['ps', '--filter', 'name=someone-else', '--format', '{{.Names}}'])).trim()).toBe('someone-else');
    await podman.run(['rm', '--force', '--time', '0', 'someone-else']);
  }, 120_000);

  it('reports runtime-unavailable on a node without an engine, and serves a process fallback there', async () => {
    const bare = await fleet.startAgent('pi5-nohat', {
      token: await fleet.createToken(),
      labels: { engine: 'none' },
      workloads: FAST,
      images,
      containerEngine: { command: join(dir, 'no-such-podman') },
    });
    expect((await bare.agent.observe()).facts.containerEngine).toBeNull();
    await fleet.admin.apply([manifest('nopod', 'none', container(serveRef, {}, { accelerator: 'none' }), key)]);
    const s = await eventually(() => status(bare, 'nopod')?.reason === 'runtime-unavailable' && status(bare, 'nopod'), 60_000, 'runtime-unavailable');
    expect(s.state).toBe('failed');
    expect(s.message).toMatch(/no container engine/);

    // With a process fallback (a release without a model), the node serves it.
    const fallback = {
      ...container(serveRef, {}, { accelerator: 'none' }),
      fallback: {
        kind: 'process',
        command: process.execPath,
        args: ['-e', "require('node:http').createServer((q, r) => r.end('{}')).listen(Number(process.env.EDGEFLEET_PORT), '127.0.0.1')"],
      },
    };
    await fleet.admin.apply([manifest('nopod', 'none', fallback, key)]);
    const f = await eventually(
      () => status(bare, 'nopod')?.active === 'fallback' && status(bare, 'nopod')?.reason === 'runtime-unavailable' && status(bare, 'nopod'),
      60_000,
      'process fallback serving',
    );
    expect(f.state).toBe('degraded');
    expect(images.requests.every((r) => r.reference.repository !== 'nopod')).toBe(true);
  }, 120_000);
});
