import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestFleet, type TestFleet } from '../../test-support/fleet.js';
import { createTestDatabase } from '../../test-support/pg-database.js';

/** The server over PostgreSQL, the store several replicas share. */
describe('a server on PostgreSQL', () => {
  let fleet: TestFleet;
  beforeAll(async () => {
    fleet = await startTestFleet({ db: await createTestDatabase(), heartbeatIntervalMs: 300 });
  });
  afterAll(async () => {
    await fleet?.close();
  });

  it('enrolls, races a one-use token, labels and decommissions', async () => {
    const token = await fleet.createToken({ uses: 1, site: 'plant-7' });
    const [a, b] = await Promise.all([fleet.startAgent('pi5-hailo8l', { token }), fleet.startAgent('pi5-nohat', { token })]);
    const loser = await Promise.race([
      a.done.then(
        () => undefined,
        () => a,
      ),
      b.done.then(
        () => undefined,
        () => b,
      ),
    ]);
    await expect(loser?.done).rejects.toMatchObject({ code: 'token_exhausted' });
    const winner = loser === a ? b : a;
    const id = await eventually(() => winner.agent.state.lastHeartbeatAt !== undefined && winner.agent.state.nodeId);
    const node = await fleet.admin.labelNode(id, { set: { line: 'l3' } });
    expect(node).toMatchObject({ site: 'plant-7', status: 'online', labels: { line: 'l3' } });
    await fleet.admin.deleteNode(id);
    await expect(winner.done).rejects.toMatchObject({ code: 'certificate_revoked', status: 403 });
  });

  it('keeps everything across a restart on the same database', async () => {
    const a = await fleet.startAgent('pi4-coral-usb', { token: await fleet.createToken() });
    const id = await eventually(() => a.agent.state.lastHeartbeatAt !== undefined && a.agent.state.nodeId);
    await fleet.restartServer();
    expect(fleet.server.adminTokenCreated).toBe(false);
    const seen = a.agent.state.lastHeartbeatAt ?? 0;
    await eventually(() => (a.agent.state.lastHeartbeatAt ?? 0) > seen, 10_000, 'a heartbeat after the restart');
    expect((await fleet.client(fleet.adminToken).getNode(id)).labels['ai.accelerator']).toBe('coral-usb');
  });
});
