/**
 * Issue 14, findings 3 and 9, performed for real against a real server over TLS with real
 * agents.
 *
 * Finding 3: a bootstrap token must not take over an existing node by reporting that node's
 * board serial (visible to viewers, world-readable in /proc/cpuinfo on a Pi). The attacker
 * enrolls a second agent with a token of its own whose hardware reports the victim's serial.
 *
 * Finding 9: a stolen copy of a node's key and certificate must stop working once the real
 * node has renewed and used its new certificate.
 */
import { loadIdentity, type NodeIdentity } from '@edgefleet/agent';
import { EdgefleetClient } from '@edgefleet/protocol/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestFleet, type TestFleet } from '../../test-support/fleet.js';

/** A client speaking with `id`'s key and certificate, as a thief holding a copy would. */
function clientAs(fleet: TestFleet, id: NodeIdentity): EdgefleetClient {
  return new EdgefleetClient({ server: fleet.server.url, ca: id.caPem, cert: id.certPem, key: id.keyPem });
}

/** Which node a status report with `id`'s certificate is taken for, or the refusal's code. */
async function whoIs(fleet: TestFleet, id: NodeIdentity): Promise<string> {
  const client = clientAs(fleet, id);
  try {
    return (await client.reportStatus({})).nodeId;
  } catch (err) {
    return `refused ${(err as { code?: string }).code ?? (err as Error).message}`;
  } finally {
    await client.close();
  }
}

describe('a foreign board serial gets a new node, never the victim’s (issue 14, finding 3)', () => {
  let fleet: TestFleet;
  beforeAll(async () => {
    fleet = await startTestFleet({ heartbeatIntervalMs: 60_000 });
  });
  afterAll(async () => {
    await fleet?.close();
  });

  it('keeps the victim’s id, name, labels and certificate when another token reports its serial', async () => {
    const serial = 'feedfacecafe0042';
    const victim = await fleet.startAgent('pi5-hailo8l', { token: await fleet.createToken(), serial, name: 'line-4-camera' });
    const victimId = await eventually(() => victim.agent.state.lastHeartbeatAt !== undefined && victim.agent.state.nodeId);
    await fleet.admin.labelNode(victimId, { set: { tier: 'gold' } });
    const victimIdentity = loadIdentity(victim.dataDir) as NodeIdentity;

    // The attacker: another token, another key, the victim's board serial.
    const attacker = await fleet.startAgent('pi5-hailo8l', { token: await fleet.createToken(), serial, name: 'line-4-camera' });
    const attackerId = await eventually(() => attacker.agent.state.lastHeartbeatAt !== undefined && attacker.agent.state.nodeId);

    expect(attackerId).not.toBe(victimId);
    const attackerNode = await fleet.admin.getNode(attackerId);
    expect(attackerNode.name).not.toBe('line-4-camera');
    expect(attackerNode.labels.tier).toBeUndefined();
    // The conflict is shown on the new node, naming the node that holds the serial.
    expect(attackerNode.operatorLabels['edgefleet.io/serial-conflict']).toBe(victimId);

    const victimNode = await fleet.admin.getNode(victimId);
    expect(victimNode.name).toBe('line-4-camera');
    expect(victimNode.labels.tier).toBe('gold');
    // The victim's certificate still names the victim; the attacker's names the attacker.
    expect(await whoIs(fleet, victimIdentity)).toBe(victimId);
    expect(await whoIs(fleet, loadIdentity(attacker.dataDir) as NodeIdentity)).toBe(attackerId);
  });
});

describe('a stolen certificate dies with the real node’s renewal (issue 14, finding 9)', () => {
  let fleet: TestFleet;
  /** How far the real node's clock is ahead: moving it makes its renewal fall due now. */
  let agentAhead = 0;
  beforeAll(async () => {
    // One-hour certificates, renewed at two thirds of their life by the agent's own clock.
    fleet = await startTestFleet({ heartbeatIntervalMs: 300, nodeCertLifetimeMs: 3_600_000 });
  });
  afterAll(async () => {
    await fleet?.close();
  });

  it('refuses the copy once the real node used its renewed certificate', async () => {
    const real = await fleet.startAgent('pi5-hailo8', { token: await fleet.createToken(), clock: () => Date.now() + agentAhead });
    const id = await eventually(() => real.agent.state.lastHeartbeatAt !== undefined && real.agent.state.nodeId);
    const stolen = loadIdentity(real.dataDir) as NodeIdentity;
    expect(await whoIs(fleet, stolen)).toBe(id);

    // The real node renews by itself and reports with its new certificate.
    agentAhead = 50 * 60_000;
    await eventually(
      () => real.agent.state.lastRenewalAt !== undefined && (real.agent.state.lastHeartbeatAt ?? 0) > real.agent.state.lastRenewalAt,
      10_000,
      'a heartbeat with the renewed certificate',
    );
    const renewed = loadIdentity(real.dataDir) as NodeIdentity;
    expect(renewed.certPem).not.toBe(stolen.certPem);
    // The copy, still within its validity, is refused: revoked when the new one was used.
    expect(Date.now()).toBeLessThan(stolen.notAfter);
    expect(await whoIs(fleet, stolen)).toBe('refused certificate_superseded');
    // Nor can it renew itself into a fresh certificate.
    const thief = clientAs(fleet, stolen);
    try {
      await expect(thief.renew(stolen.certPem)).rejects.toMatchObject({ status: 403 });
    } finally {
      await thief.close();
    }
    // The real node keeps working.
    expect(await whoIs(fleet, renewed)).toBe(id);
    expect(real.agent.state.lastError).toBeUndefined();
  });
});
