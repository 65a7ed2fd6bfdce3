import { createReadStream, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { loadIdentity } from '@edgefleet/agent';
import { type DeploymentManifestInput, ErrorBodySchema } from '@edgefleet/protocol';
import { Agent as Dispatcher, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestFleet, type TestAgent, type TestFleet } from '../../test-support/fleet.js';

const ROOT = join(import.meta.dirname, '..', '..');

function manifest(release: Record<string, unknown>): DeploymentManifestInput {
  return { apiVersion: 'edgefleet.dev/v1', kind: 'Deployment', metadata: { name: 'scoped' }, spec: { selector: 'team=a', release: release as never } };
}

/**
 * Issue 14, finding 6: a node fetches only the artifacts its desired state names (or that it
 * runs or holds). The attack: node B, enrolled but not selected, downloads node A's model
 * with its own client certificate. Before the fix it got 200.
 */
describe('artifact download is scoped to what a node is meant to run', () => {
  let fleet: TestFleet;
  let a: TestAgent;
  let b: TestAgent;
  let x: string;
  let y: string;
  const dispatchers: Dispatcher[] = [];

  /** A raw GET or HEAD of `digest` with the agent's own client certificate. */
  const asNode = (agent: TestAgent, method: 'GET' | 'HEAD', digest: string, headers: Record<string, string> = {}) => {
    const identity = loadIdentity(agent.dataDir);
    if (identity === undefined) throw new Error('the agent has no identity yet');
    const dispatcher = new Dispatcher({ connect: { ca: fleet.ca, cert: identity.certPem, key: identity.keyPem } });
    dispatchers.push(dispatcher);
    return request(`${fleet.server.url}/v1/artifacts/${digest}`, { method, headers, dispatcher });
  };

  beforeAll(async () => {
    fleet = await startTestFleet({ heartbeatIntervalMs: 500, requireSigned: false });
    const model = join(ROOT, 'examples/models/mlp-4-8-3.onnx');
    x = (await fleet.admin.pushArtifact(createReadStream(model), statSync(model).size)).digest;
    y = (await fleet.admin.pushArtifact(Readable.from([Buffer.from('not a model at all')]))).digest;
    a = await fleet.startAgent('pi5-hailo8l', { token: await fleet.createToken({ labels: { team: 'a' } }) });
    b = await fleet.startAgent('pi5-hailo8l', { token: await fleet.createToken({ labels: { team: 'b' } }) });
    await eventually(() => a.agent.state.nodeId !== undefined && b.agent.state.nodeId !== undefined, 20_000, 'both nodes enrolled');
    await fleet.admin.apply([manifest({ version: '1', model: { artifact: x, format: 'onnx' } })]);
    await eventually(
      async () => (await fleet.admin.getDeployment('scoped')).status.nodes.some((l) => l.nodeId === a.agent.state.nodeId && l.state === 'running'),
      40_000,
      'node A running revision 1',
    );
  }, 90_000);
  afterAll(async () => {
    for (const d of dispatchers) await d.close();
    await fleet?.close();
  });

  it('refuses a node that no deployment points at the artifact: 403 forbidden, with a hint', async () => {
    for (const digest of [x, y]) {
      const get = await asNode(b, 'GET', digest);
      expect(get.statusCode).toBe(403);
      const body = ErrorBodySchema.parse(await get.body.json());
      expect(body.error).toMatchObject({ code: 'forbidden', message: expect.stringContaining(digest), hint: expect.stringContaining('deployment') });
      const head = await asNode(b, 'HEAD', digest);
      expect(head.statusCode).toBe(403);
      await head.body.dump();
    }
  });

  it('serves the selected node (whole and ranged) and an operator', async () => {
    const whole = await asNode(a, 'GET', x);
    expect(whole.statusCode).toBe(200);
    expect(Number(whole.headers['content-length'])).toBe(statSync(join(ROOT, 'examples/models/mlp-4-8-3.onnx')).size);
    await whole.body.dump();
    const ranged = await asNode(a, 'GET', x, { range: 'bytes=10-19' });
    expect(ranged.statusCode).toBe(206);
    expect((await ranged.body.arrayBuffer()).byteLength).toBe(10);
    expect((await asNode(a, 'HEAD', x)).statusCode).toBe(200);
    // Y is named by no deployment yet: A may not have it either.
    const early = await asNode(a, 'GET', y);
    expect(early.statusCode).toBe(403);
    await early.body.dump();

    const viewer = fleet.client((await fleet.admin.createApiToken({ role: 'viewer' })).token);
    const opened = await viewer.openArtifact(x);
    expect(opened.status).toBe(200);
    // Read it to the end: the artifact is small.
    for await (const _ of opened.body) {
      // drain
    }
  });

  it('still serves the revision a node runs or holds after its deployment moved on', async () => {
    await fleet.admin.apply([manifest({ version: '2', model: { artifact: y, format: 'onnx' } })]);
    // Revision 2 (Y) cannot start, so A keeps serving revision 1 (X), which its desired state no longer names.
    await eventually(
      async () => {
        const line = (await fleet.admin.getDeployment('scoped')).status.nodes.find((l) => l.nodeId === a.agent.state.nodeId);
        const w = a.agent.state.workloads.find((s) => s.deployment === 'scoped');
        return (
          line?.revision === 2 &&
          w !== undefined &&
          (w.servingRevision === 1 || w.heldRevisions.includes(1)) &&
          !['pending', 'downloading', 'starting'].includes(line.state)
        );
      },
      40_000,
      'node A on revision 2, still serving or holding revision 1',
    );
    const held = await asNode(a, 'GET', x);
    expect(held.statusCode).toBe(200);
    await held.body.dump();
    const current = await asNode(a, 'HEAD', y);
    expect(current.statusCode).toBe(200);
    // B is still not selected: nothing changed for it.
    const other = await asNode(b, 'GET', x);
    expect(other.statusCode).toBe(403);
    await other.body.dump();
  });
  it('does not let a node widen its access by reporting revisions of a deployment it is not given', async () => {
    b.agent.stop();
    await b.done;
    const forged = {
      workloads: [
        {
          deployment: 'scoped',
          revision: 1,
          state: 'running',
          reason: null,
          message: null,
          endpoint: null,
          active: 'primary',
          servingRevision: 1,
          heldRevisions: [1, 2],
        },
      ],
    };
    const identity = loadIdentity(b.dataDir);
    if (identity === undefined) throw new Error('node B has no identity');
    const dispatcher = new Dispatcher({ connect: { ca: fleet.ca, cert: identity.certPem, key: identity.keyPem } });
    dispatchers.push(dispatcher);
    const reported = await request(`${fleet.server.url}/v1/agent/status`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(forged),
      dispatcher,
    });
    expect(reported.statusCode).toBe(200);
    await reported.body.dump();
    for (const digest of [x, y]) {
      const res = await asNode(b, 'GET', digest);
      expect(res.statusCode).toBe(403);
      await res.body.dump();
    }
  });
});
