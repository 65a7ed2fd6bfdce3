import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createReadStream, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type DeploymentManifestInput, type NodeWorkloadLine, ReleaseSchema } from '@edgefleet/protocol';
import { signRelease } from '@edgefleet/protocol/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestFleet, type TestAgent, type TestFleet } from '../../test-support/fleet.js';
import { trustRootKey } from '../../test-support/release-keys.js';

const ROOT = resolve(import.meta.dirname, '../..');
const STUB_RUNTIME = join(ROOT, 'examples/runtimes/oip-stub.mjs');
const EXPECTED = [-1.5078125, -1.72021484375, 1.166748046875]; // examples/models/README.md, input [1,2,3,4]
const FAST = { crashLoopThreshold: 3, primaryRetryDelayMs: () => 2_000, desiredWaitSeconds: 5, reconcileIntervalMs: 200 };

async function push(fleet: TestFleet, file: string): Promise<string> {
  return (await fleet.admin.pushArtifact(createReadStream(file), statSync(file).size)).digest;
}

/** Checks an inference answer against the expected numbers. */
function expectNumbers(out: number[]): void {
  expect(out).toHaveLength(EXPECTED.length);
  for (const [i, v] of out.entries()) expect(v).toBeCloseTo(EXPECTED[i] as number, 5);
}

async function infer(endpoint: string, model: string): Promise<number[]> {
  const res = await fetch(`${endpoint}/v2/models/${model}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] }),
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { model_name: string; outputs: Array<{ data: number[] }> };
  expect(body.model_name).toBe(model);
  return body.outputs[0]?.data ?? [];
}

function manifest(name: string, release: Record<string, unknown>, selector = 'cpu.arch=arm64'): DeploymentManifestInput {
  return { apiVersion: 'edgefleet.dev/v1', kind: 'Deployment', metadata: { name }, spec: { selector, release: release as never } };
}

/** The fleet the signatures name: set once the fleet is up. */
let FLEET = '';

function signed(m: DeploymentManifestInput, key: KeyObject): DeploymentManifestInput {
  const release = ReleaseSchema.parse(m.spec.release);
  return { ...m, spec: { ...m.spec, release: { ...release, signature: signRelease(release, key, { fleet: FLEET, deployment: m.metadata.name }) } } };
}

type NodeLine = NodeWorkloadLine;

describe('a signed deployment on three nodes: primary on the accelerator, CPU fallback elsewhere', () => {
  let fleet: TestFleet;
  let key: KeyObject;
  let hailo: TestAgent[];
  let plain: TestAgent;
  let release: Record<string, unknown>;

  beforeAll(async () => {
    fleet = await startTestFleet({ heartbeatIntervalMs: 500 });
    const pair = generateKeyPairSync('ed25519');
    key = pair.privateKey;
    FLEET = fleet.server.caFingerprint;
    await trustRootKey(fleet.admin, FLEET, pair);
    const primary = await push(fleet, join(ROOT, 'examples/models/mlp-4-8-3.stub.json'));
    const fallback = await push(fleet, join(ROOT, 'examples/models/mlp-4-8-3.onnx'));
    release = {
      version: '1.0.0',
      model: { artifact: primary, format: 'other' },
      fallback: { artifact: fallback, format: 'onnx' },
      runtime: { kind: 'process', command: process.execPath, args: [STUB_RUNTIME], accelerator: 'required' },
      health: { interval: '200ms', failureThreshold: 2, window: '1s' },
    };
    hailo = [
      await fleet.startAgent('pi5-hailo8l', { token: await fleet.createToken(), workloads: FAST }),
      await fleet.startAgent('pi5-hailo8', { token: await fleet.createToken(), workloads: FAST }),
    ];
    plain = await fleet.startAgent('pi5-nohat', { token: await fleet.createToken(), workloads: FAST });
    await eventually(() => [...hailo, plain].every((a) => a.agent.state.lastHeartbeatAt !== undefined));
  }, 60_000);
  afterAll(async () => {
    await fleet?.close();
  });

  const lines = async (name: string): Promise<NodeLine[]> => (await fleet.admin.getDeployment(name)).status.nodes;
  const lineOf = async (name: string, a: TestAgent): Promise<NodeLine | undefined> => (await lines(name)).find((l) => l.nodeId === a.agent.state.nodeId);

  it('refuses an unsigned release and one changed after signing', async () => {
    await expect(fleet.admin.apply([manifest('detect', release)])).rejects.toMatchObject({ status: 400, message: expect.stringContaining('not signed') });
    const tampered = signed(manifest('detect', release), key);
    (tampered.spec.release as { version: string }).version = '6.6.6';
    await expect(fleet.admin.apply([tampered])).rejects.toMatchObject({ status: 400, message: expect.stringContaining('changed after signing') });
    await expect(
      fleet.admin.apply([signed(manifest('detect', { ...release, model: { artifact: `sha256:${'e'.repeat(64)}`, format: 'other' } }), key)]),
    ).rejects.toMatchObject({
      message: expect.stringContaining(`sha256:${'e'.repeat(64)} is not on the server`),
    });
  });

  it('runs the primary on Hailo nodes and the fallback, degraded, on the node without one; all answer with the expected numbers', async () => {
    // Signed once: a signature names its signing time, so signing again makes a new revision.
    const once = signed(manifest('detect', release), key);
    const res = await fleet.admin.apply([once]);
    expect(res.results).toEqual([{ name: 'detect', result: 'created', revision: 1, generation: 1 }]);
    expect((await fleet.admin.apply([once])).results[0]?.result).toBe('unchanged');

    const all = await eventually(
      async () => {
        const l = await lines('detect');
        return l.length === 3 && l.every((x) => x.state === 'running' || x.state === 'degraded') && l;
      },
      30_000,
      'all three nodes serving',
    );
    for (const a of hailo) expect(all.find((l) => l.nodeId === a.agent.state.nodeId)).toMatchObject({ revision: 1, state: 'running', reason: null });
    expect(all.find((l) => l.nodeId === plain.agent.state.nodeId)).toMatchObject({ revision: 1, state: 'degraded', reason: 'accelerator-unavailable' });
    for (const l of all) {
      expectNumbers(await infer(l.endpoint as string, 'detect'));
    }
    const d = await fleet.admin.getDeployment('detect');
    expect(d.status.conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'AllNodesServing' });
  });

  it('moves a Hailo node whose primary keeps dying to the fallback, and back once the primary stays healthy', async () => {
    const node = hailo[0] as TestAgent;
    const endpoint = (await lineOf('detect', node))?.endpoint;
    // Kill the primary every time the agent brings it back, until the agent gives up on it.
    await eventually(
      async () => {
        const line = await lineOf('detect', node);
        if (line?.reason === 'primary-crashloop' && line.state === 'degraded' && line.endpoint !== null) return true;
        const active = node.agent.workloadInstances().get('detect')?.active;
        if (active?.model === 'primary' && active.pid !== undefined && active.health !== 'exited') process.kill(active.pid, 'SIGKILL');
        return false;
      },
      40_000,
      'the primary-crashloop fallback',
    );
    const degraded = (await lineOf('detect', node)) as NodeLine;
    expect(node.agent.workloadInstances().get('detect')?.active?.model).toBe('fallback');
    expectNumbers(await infer(degraded.endpoint as string, 'detect'));
    // Left alone, the primary is tried again and takes over once it has stayed healthy.
    const back = await eventually(
      async () => {
        const line = await lineOf('detect', node);
        return line?.state === 'running' && node.agent.workloadInstances().get('detect')?.active?.model === 'primary' && line;
      },
      30_000,
      'the primary back in charge',
    );
    expect(back.reason).toBeNull();
    // Clients kept one address throughout: the agent's proxy in front of whichever instance serves.
    expect(back.endpoint).toBe(endpoint);
    expect(degraded.endpoint).toBe(endpoint);
  });

  it('refuses a tampered artifact and keeps serving the old revision', async () => {
    const file = join(fleet.dir, 'bad-model.json');
    writeFileSync(file, readFileSync(join(ROOT, 'examples/models/mlp-4-8-3.stub.json'), 'utf8').replace('"layers"', '"layers" '));
    const digest = await push(fleet, file);
    // Corrupt the stored blob behind the server's back: the digest no longer matches.
    const blob = join(fleet.dir, 'server', 'artifacts', 'sha256', digest.slice(7));
    writeFileSync(blob, `${readFileSync(blob, 'utf8')} `);
    await fleet.admin.apply([signed(manifest('detect', { ...release, version: '1.0.1', model: { artifact: digest, format: 'other' } }), key)]);
    const line = await eventually(
      async () => {
        const l = await lineOf('detect', hailo[1] as TestAgent);
        return l?.revision === 2 && l.state === 'verification-failed' && l;
      },
      30_000,
      'verification-failed',
    );
    expect(line.reason).toBe('digest-mismatch');
    // Revision 1 still answers.
    const serving = (hailo[1] as TestAgent).agent.state.workloads.find((w) => w.deployment === 'detect');
    expect(serving).toMatchObject({ servingRevision: 1, active: 'primary' });
    expectNumbers(await infer(serving?.endpoint as string, 'detect'));
  });

  it('stops the workload on nodes a new selector excludes, and everywhere when deleted', async () => {
    await fleet.admin.apply([signed(manifest('detect', release, 'hardware.ai-hat=true'), key)]);
    await eventually(async () => (await lineOf('detect', plain)) === undefined, 20_000, 'the plain node to drop out');
    expect(plain.agent.workloadInstances().get('detect')?.active).toBeUndefined();
    await fleet.admin.deleteDeployment('detect');
    await eventually(() => hailo.every((a) => a.agent.workloadInstances().get('detect')?.active === undefined), 20_000, 'workloads stopped');
    await expect(fleet.admin.getDeployment('detect')).rejects.toMatchObject({ status: 404 });
  });
});

describe('a server that is taken over cannot make nodes run unsigned releases', () => {
  it('agents with a pinned key refuse an unsigned release the server accepted', async () => {
    const fleet = await startTestFleet({ heartbeatIntervalMs: 500, requireSigned: false });
    try {
      const pair = generateKeyPairSync('ed25519');
      FLEET = fleet.server.caFingerprint;
      await trustRootKey(fleet.admin, FLEET, pair);
      const a = await fleet.startAgent('pi5-nohat', { token: await fleet.createToken(), workloads: FAST });
      await eventually(() => a.agent.state.lastHeartbeatAt);
      const onnx = await push(fleet, join(ROOT, 'examples/models/mlp-4-8-3.onnx'));
      await fleet.admin.apply([manifest('cpu-model', { version: '1', model: { artifact: onnx, format: 'onnx' } })]);
      const line = await eventually(async () => {
        const l = (await fleet.admin.getDeployment('cpu-model')).status.nodes[0];
        return l?.state === 'verification-failed' && l;
      }, 20_000);
      expect(line.reason).toBe('signature-invalid');
      expect(a.agent.workloadInstances().get('cpu-model')?.active).toBeUndefined();
    } finally {
      await fleet.close();
    }
  });
});

describe('a node enrolled before the fleet had a release key', () => {
  it('pins the first key it is given and runs releases it signed', async () => {
    const fleet = await startTestFleet({ heartbeatIntervalMs: 500 });
    try {
      const a = await fleet.startAgent('pi5-nohat', { token: await fleet.createToken(), workloads: FAST });
      await eventually(() => a.agent.state.lastHeartbeatAt);
      const pair = generateKeyPairSync('ed25519');
      FLEET = fleet.server.caFingerprint;
      await trustRootKey(fleet.admin, FLEET, pair);
      const onnx = await push(fleet, join(ROOT, 'examples/models/mlp-4-8-3.onnx'));
      await fleet.admin.apply([signed(manifest('cpu-model', { version: '1', model: { artifact: onnx, format: 'onnx' } }), pair.privateKey)]);
      const line = await eventually(async () => {
        const l = (await fleet.admin.getDeployment('cpu-model')).status.nodes[0];
        return l?.state === 'running' && l;
      }, 30_000);
      expectNumbers(await infer(line.endpoint as string, 'cpu-model'));
    } finally {
      await fleet.close();
    }
  });
});
