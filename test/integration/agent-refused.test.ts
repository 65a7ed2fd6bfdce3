/**
 * Issue 14, finding 4, the agent's side: a control plane that refuses a node must not take
 * down what the node serves. Before the fix, any 401/403 ended the agent and stopped its
 * workloads: a server restored from a backup that predates the node's certificate (or
 * anyone able to make the server refuse the node) switched inference off on the node.
 *
 * Now only an explicit decommission (the operator deleted the node, or revoked its
 * certificate: `certificate_revoked`) stops the node; any other refusal is retried at the
 * backoff cap while the workloads keep serving, as an unreachable server always was.
 */
import { createReadStream, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { DeploymentManifestInput, NodeWorkloadLine } from '@edgefleet/protocol';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestFleet, type TestAgent, type TestFleet } from '../../test-support/fleet.js';

const ROOT = resolve(import.meta.dirname, '../..');
const FAST = { crashLoopThreshold: 3, primaryRetryDelayMs: () => 2_000, desiredWaitSeconds: 5, reconcileIntervalMs: 200 };
const EXPECTED = [-1.5078125, -1.72021484375, 1.166748046875]; // examples/models/README.md, input [1,2,3,4]

/** Whether the endpoint answers an inference request with the expected numbers. */
async function serves(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/v2/models/cpu-model/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] }),
    });
    if (res.status !== 200) return false;
    const out = ((await res.json()) as { outputs: Array<{ data: number[] }> }).outputs[0]?.data ?? [];
    return out.length === EXPECTED.length && out.every((v, i) => Math.abs(v - (EXPECTED[i] as number)) < 1e-5);
  } catch {
    return false;
  }
}

describe('an agent its control plane refuses (issue 14, finding 4)', () => {
  let fleet: TestFleet;
  let refused: TestAgent;
  let decommissioned: TestAgent;
  const endpoints = new Map<string, string>();

  beforeAll(async () => {
    fleet = await startTestFleet({ heartbeatIntervalMs: 500, requireSigned: false });
    refused = await fleet.startAgent('pi5-nohat', { token: await fleet.createToken(), workloads: FAST });
    decommissioned = await fleet.startAgent('pi5-nohat', { token: await fleet.createToken(), workloads: FAST });
    await eventually(() => [refused, decommissioned].every((a) => a.agent.state.lastHeartbeatAt !== undefined), 20_000, 'both nodes enrolled');
    const model = join(ROOT, 'examples/models/mlp-4-8-3.onnx');
    const artifact = (await fleet.admin.pushArtifact(createReadStream(model), statSync(model).size)).digest;
    const manifest: DeploymentManifestInput = {
      apiVersion: 'edgefleet.dev/v1',
      kind: 'Deployment',
      metadata: { name: 'cpu-model' },
      spec: { selector: 'cpu.arch=arm64', release: { version: '1', model: { artifact, format: 'onnx' } } as never },
    };
    await fleet.admin.apply([manifest]);
    const lines = await eventually(
      async () => {
        const l: NodeWorkloadLine[] = (await fleet.admin.getDeployment('cpu-model')).status.nodes;
        return l.length === 2 && l.every((x) => x.state === 'running' && x.endpoint !== null) && l;
      },
      30_000,
      'both nodes serving',
    );
    for (const l of lines) endpoints.set(l.nodeId, l.endpoint as string);
  }, 90_000);

  afterAll(async () => {
    await fleet?.close();
  });

  const endpointOf = (a: TestAgent): string => endpoints.get(a.agent.state.nodeId as string) as string;

  it('keeps serving while the control plane is unreachable', async () => {
    await fleet.restartServer(async () => {
      await eventually(() => refused.agent.state.lastError?.includes('cannot reach'), 20_000, 'the outage seen by the agent');
      expect(await serves(endpointOf(refused))).toBe(true);
      expect(await serves(endpointOf(decommissioned))).toBe(true);
    });
    await eventually(() => refused.agent.state.lastError === undefined && decommissioned.agent.state.lastError === undefined, 30_000, 'both nodes back');
  });

  it('keeps serving when the server no longer knows its certificate (401), and says why', async () => {
    expect(await serves(endpointOf(refused))).toBe(true);
    // The server's database as restored from a backup taken before this node enrolled: it
    // has never heard of the node's certificate.
    const db = new Database(join(fleet.dir, 'server', 'fleet.db'));
    try {
      db.prepare('DELETE FROM certificates WHERE node_id = ?').run(refused.agent.state.nodeId);
    } finally {
      db.close();
    }
    let ended = false;
    const settle = () => {
      ended = true;
    };
    refused.done.then(settle, settle);
    // The next heartbeat is refused: the agent records the refusal and carries on (before
    // the fix, it ended at this very answer and stopped its workloads).
    await eventually(() => ended || refused.agent.state.lastError?.includes('not known to this fleet'), 20_000, 'the refusal seen by the agent');
    expect(ended).toBe(false);
    expect(refused.agent.state.lastError).toContain('not known to this fleet');
    expect(await serves(endpointOf(refused))).toBe(true);
    expect(refused.agent.workloadInstances().get('cpu-model')?.active).toBeDefined();
  });

  it('stops serving once the node is decommissioned (its certificate revoked)', async () => {
    expect(await serves(endpointOf(decommissioned))).toBe(true);
    await fleet.admin.deleteNode(decommissioned.agent.state.nodeId as string);
    await expect(decommissioned.done).rejects.toMatchObject({ code: 'certificate_revoked', status: 403 });
    expect(await serves(endpointOf(decommissioned))).toBe(false);
    // The refused node is still serving all along.
    expect(await serves(endpointOf(refused))).toBe(true);
  });
});
