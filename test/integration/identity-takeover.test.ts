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
import { generateKeyPairSync, sign } from 'node:crypto';
import { loadIdentity, type NodeIdentity } from '@edgefleet/agent';
import { expiredRenewalMessage } from '@edgefleet/protocol';
import { EdgefleetClient, parseOneCertificate } from '@edgefleet/protocol/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newKeyAndCsr as newCsr } from '../../packages/agent/src/identity/csr.js';
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

describe('an expired certificate renews by proof of its key, within 30 days (issue 14, finding 4)', () => {
  const DAY = 86_400_000;
  let fleet: TestFleet;
  /** Where the server's clock is: in the past while a node enrolls, so its one-day certificate is expired now. */
  let serverOffset = 0;
  beforeAll(async () => {
    fleet = await startTestFleet({ heartbeatIntervalMs: 300, nodeCertLifetimeMs: DAY, clock: () => Date.now() + serverOffset });
  });
  afterAll(async () => {
    await fleet?.close();
  });

  /** Enrolls a node `daysAgo` days in the past (server and agent clocks alike) and stops it: its certificate expired a day later. */
  const enrolledDaysAgo = async (daysAgo: number) => {
    serverOffset = -daysAgo * DAY;
    const node = await fleet.startAgent('pi5-hailo8l', { token: await fleet.createToken(), clock: () => Date.now() - daysAgo * DAY });
    const id = await eventually(() => node.agent.state.nodeId);
    node.agent.stop();
    await node.done.catch(() => {});
    serverOffset = 0;
    const identity = loadIdentity(node.dataDir) as NodeIdentity;
    expect(identity.notAfter).toBeLessThan(Date.now());
    return { id, dataDir: node.dataDir, identity };
  };

  it('renews an expired certificate by itself and carries on as the same node', async () => {
    const { id, dataDir, identity: expired } = await enrolledDaysAgo(2);
    // TLS refuses the expired certificate: the agent API cannot renew it.
    expect(await whoIs(fleet, expired)).toBe('refused client_certificate_required');

    const again = await fleet.startAgent('pi5-hailo8l', { dataDir });
    await eventually(
      () => again.agent.state.lastRenewalAt !== undefined && (again.agent.state.lastHeartbeatAt ?? 0) > again.agent.state.lastRenewalAt,
      15_000,
      'a heartbeat after renewing the expired certificate',
    );
    expect(again.agent.state.nodeId).toBe(id);
    const renewed = loadIdentity(dataDir) as NodeIdentity;
    expect(renewed.notAfter).toBeGreaterThan(Date.now());
    expect(await whoIs(fleet, renewed)).toBe(id);
    const audit = await fleet.admin.request('audit', { query: { limit: 50 } });
    expect(audit.items.some((e) => e.action === 'node.renew' && e.target === id && e.details.proof === 'key-signature')).toBe(true);
    // Once the new certificate was used, the expired one can renew no more.
    const replay = new EdgefleetClient({ server: fleet.server.url, ca: fleet.ca });
    try {
      const caFingerprint = expired.caFingerprint;
      const csr = (await newCsr()).csrPem;
      const signature = sign(
        'sha256',
        Buffer.from(expiredRenewalMessage({ caFingerprint, certificateFingerprint: parseOneCertificate(expired.certPem).fingerprint, csr })),
        expired.keyPem,
      ).toString('base64');
      await expect(replay.request('renewExpired', { body: { certificate: expired.certPem, csr, signature } })).rejects.toMatchObject({
        code: 'certificate_superseded',
      });
    } finally {
      await replay.close();
    }
  });

  it('refuses a renewal whose signature is not by the certificate’s key', async () => {
    const { identity: expired } = await enrolledDaysAgo(2);
    const csr = (await newCsr()).csrPem;
    const message = expiredRenewalMessage({
      caFingerprint: expired.caFingerprint,
      certificateFingerprint: parseOneCertificate(expired.certPem).fingerprint,
      csr,
    });
    const otherKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const client = new EdgefleetClient({ server: fleet.server.url, ca: fleet.ca });
    try {
      // Someone who saw the (public) certificate but holds another key.
      await expect(
        client.request('renewExpired', {
          body: { certificate: expired.certPem, csr, signature: sign('sha256', Buffer.from(message), otherKey).toString('base64') },
        }),
      ).rejects.toMatchObject({ status: 401, code: 'unauthenticated' });
      // The key's signature over another CSR does not renew this one.
      const otherCsr = (await newCsr()).csrPem;
      await expect(
        client.request('renewExpired', {
          body: { certificate: expired.certPem, csr: otherCsr, signature: sign('sha256', Buffer.from(message), expired.keyPem).toString('base64') },
        }),
      ).rejects.toMatchObject({ status: 401, code: 'unauthenticated' });
    } finally {
      await client.close();
    }
  });

  it('refuses past the grace period and says to run nodes reenroll; the node keeps running meanwhile', async () => {
    const { id, dataDir, identity: expired } = await enrolledDaysAgo(40);
    // The server's answer to a correct proof of the key, 40 days after expiry.
    const { csrPem: csr } = await newCsr();
    const message = expiredRenewalMessage({
      caFingerprint: expired.caFingerprint,
      certificateFingerprint: parseOneCertificate(expired.certPem).fingerprint,
      csr,
    });
    const client = new EdgefleetClient({ server: fleet.server.url, ca: fleet.ca });
    try {
      await expect(
        client.request('renewExpired', {
          body: { certificate: expired.certPem, csr, signature: sign('sha256', Buffer.from(message), expired.keyPem).toString('base64') },
        }),
      ).rejects.toMatchObject({ code: 'certificate_expired', status: 401, hint: expect.stringContaining(`nodes reenroll ${id}`) });
    } finally {
      await client.close();
    }
    // The agent is refused the same way, and does not stop: a control plane that refuses an
    // enrolled node never switches off what it serves (only a decommission does); it keeps
    // asking at the backoff cap and says why.
    const again = await fleet.startAgent('pi5-hailo8l', { dataDir });
    let ended = false;
    const markEnded = (): void => {
      ended = true;
    };
    void again.done.then(markEnded, markEnded);
    await eventually(() => ended || again.agent.state.lastError?.includes('expired'), 20_000, 'the refusal seen by the agent');
    expect(ended).toBe(false);
    expect(again.agent.state.nodeId).toBe(id);
    again.agent.stop();
    await again.done.catch(() => {});
  });
});
