import { createServer, type Server } from 'node:net';
import type { DegradedCondition } from '@edgefleet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestFleet, type TestAgent, type TestFleet } from '../../test-support/fleet.js';

/**
 * Issue 17: a real board has other programs on it. An agent whose local metrics port is
 * taken used to exit (and a systemd unit would crash-loop); now it enrolls and serves,
 * reports the conflict as a degraded condition in its facts, retries with backoff, and
 * serves /metrics once the port is free.
 */

function occupy(): Promise<{ server: Server; port: number }> {
  const server = createServer();
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port }));
  });
}

describe('agent: a taken metrics port degrades the node, never ends the agent', () => {
  let fleet: TestFleet;
  let node: TestAgent;
  let squatter: Server;
  let port: number;

  beforeAll(async () => {
    ({ server: squatter, port } = await occupy());
    fleet = await startTestFleet({ heartbeatIntervalMs: 500 });
    node = await fleet.startAgent('pi5-hailo8l', {
      token: await fleet.createToken({ site: 'warehouse-east' }),
      telemetry: { metricsListen: `127.0.0.1:${port}`, metricsRetry: { baseMs: 100, capMs: 400 } },
    });
  }, 60_000);

  afterAll(async () => {
    await fleet?.close();
    squatter?.close();
  });

  const degradedOf = async (): Promise<DegradedCondition[] | undefined> =>
    ((await fleet.admin.getNode(node.agent.state.nodeId as string)).facts as { degraded?: DegradedCondition[] }).degraded;

  it('enrolls, heartbeats and reports the port conflict in its facts', async () => {
    await eventually(() => node.agent.state.lastHeartbeatAt !== undefined, 20_000, 'enrolled');
    const degraded = await eventually(degradedOf, 10_000, 'degraded facts');
    expect(degraded).toEqual([{ component: 'metrics-endpoint', reason: 'port-in-use', message: expect.stringContaining(`127.0.0.1:${port}`) }]);
    expect(node.agent.telemetry.metricsUrl).toBeUndefined();
    // Still running after several retries against the taken port.
    const beat = node.agent.state.lastHeartbeatAt as number;
    await eventually(() => (node.agent.state.lastHeartbeatAt as number) > beat, 10_000, 'another heartbeat');
    expect(await Promise.race([node.done.then(() => 'ended'), new Promise((r) => setTimeout(() => r('running'), 300))])).toBe('running');
  }, 40_000);

  it('serves /metrics once the port is free, and the condition clears', async () => {
    await new Promise<void>((resolve) => squatter.close(() => resolve()));
    const url = await eventually(() => node.agent.telemetry.metricsUrl, 10_000, 'metrics endpoint');
    expect(url).toBe(`http://127.0.0.1:${port}/metrics`);
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('# TYPE');
    await eventually(async () => (await degradedOf()) === undefined, 10_000, 'degraded condition cleared');
  }, 30_000);
});
