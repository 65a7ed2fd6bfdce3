/**
 * `edgefleet nodes reenroll` and `edgefleet nodes revoke-cert` against a real server and a
 * real agent (issue 14, findings 3 and 9).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadIdentity, type NodeIdentity } from '@edgefleet/agent';
import { EdgefleetClient } from '@edgefleet/protocol/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli as run } from '../../../../test-support/cli.js';
import { eventually, startTestFleet, type TestFleet } from '../../../../test-support/fleet.js';

describe('edgefleet nodes reenroll and revoke-cert', () => {
  let fleet: TestFleet;
  let work: string;
  const configHome = process.env.XDG_CONFIG_HOME;
  beforeAll(async () => {
    fleet = await startTestFleet({ heartbeatIntervalMs: 300 });
    work = mkdtempSync(join(tmpdir(), 'edgefleet-cli-nodes-'));
    process.env.XDG_CONFIG_HOME = work;
  });
  afterAll(async () => {
    if (configHome === undefined) delete process.env.XDG_CONFIG_HOME;
    else process.env.XDG_CONFIG_HOME = configHome;
    await fleet?.close();
    rmSync(work, { recursive: true, force: true });
  });

  const conn = (token = fleet.adminToken): string[] => ['--server', fleet.server.url, '--token', token, '--ca', join(fleet.dir, 'server', 'ca.crt')];

  /** What the server says to a status report with `id`'s certificate: the node id, or the refusal's code. */
  const whoIs = async (id: NodeIdentity): Promise<string> => {
    const client = new EdgefleetClient({ server: fleet.server.url, ca: id.caPem, cert: id.certPem, key: id.keyPem });
    try {
      return (await client.reportStatus({})).nodeId;
    } catch (err) {
      return `refused ${(err as { code?: string }).code}`;
    } finally {
      await client.close();
    }
  };

  it('revokes one certificate of a node, audited; the node is refused from then on', async () => {
    const a = await fleet.startAgent('pi5-nohat', { token: await fleet.createToken() });
    const id = await eventually(() => a.agent.state.lastHeartbeatAt !== undefined && a.agent.state.nodeId);
    a.agent.stop();
    await a.done;
    const identity = loadIdentity(a.dataDir) as NodeIdentity;
    const serial = (await fleet.admin.getNode(id)).certificate.serial;

    const viewer = (await fleet.admin.createApiToken({ role: 'viewer' })).token;
    const denied = await run('nodes', 'revoke-cert', id, serial, ...conn(viewer));
    expect(denied.code).not.toBe(0);
    expect(denied.err).toContain('operator');

    const unknown = await run('nodes', 'revoke-cert', id, 'abc123', ...conn());
    expect(unknown.code).not.toBe(0);
    expect(unknown.err).toContain('has no certificate with serial abc123');
    const bad = await run('nodes', 'revoke-cert', id, 'not-a-serial', ...conn());
    expect(bad.code).not.toBe(0);
    expect(bad.err).toContain('hex');

    // Serials may be typed in upper case with colons, as openssl prints them.
    const typed = serial.toUpperCase().replace(/(..)(?=.)/g, '$1:');
    const revoked = await run('nodes', 'revoke-cert', id, typed, ...conn());
    expect(revoked).toMatchObject({ code: 0 });
    expect(revoked.out).toContain('revoked');
    expect(await whoIs(identity)).toBe('refused certificate_revoked');
    const again = await run('nodes', 'revoke-cert', id, serial, ...conn());
    expect(again.err).toContain('already revoked');
    const audit = await fleet.admin.request('audit', { query: { limit: 50 } });
    expect(audit.items.some((e) => e.action === 'node.certificate.revoke' && e.target === id && e.details.serial === serial)).toBe(true);
    const listed = await run('nodes', 'certs', id, ...conn(viewer));
    expect(listed.code).toBe(0);
    expect(listed.out).toContain('SERIAL');
    expect(listed.out).toContain(`(operator)`);
    const json = JSON.parse((await run('nodes', 'certs', id, '-o', 'json', ...conn())).out) as { items: Array<Record<string, unknown>> };
    expect(json.items).toEqual([
      expect.objectContaining({ serial, firstUsedAt: expect.any(String), revokedAt: expect.any(String), revokedReason: 'operator' }),
    ]);
  });

  it('prints a one-use token that enrolls the same node again and revokes its old certificate', async () => {
    const first = await fleet.startAgent('pi5-hailo8l', { token: await fleet.createToken(), serial: 'c0ffee0000000042' });
    const id = await eventually(() => first.agent.state.lastHeartbeatAt !== undefined && first.agent.state.nodeId);
    await fleet.admin.labelNode(id, { set: { tier: 'gold' } });
    first.agent.stop();
    await first.done;
    const old = loadIdentity(first.dataDir) as NodeIdentity;

    const printed = await run('nodes', 'reenroll', id, '--ttl', '1h', ...conn());
    expect(printed.code).toBe(0);
    const token = printed.out.trim();
    expect(token).toMatch(/^EF1[0-9a-f]{64}::/);
    expect(printed.err).toContain(`re-enrolls node/`);

    const second = await fleet.startAgent('pi5-hailo8l', { token, serial: 'c0ffee0000000042' });
    expect(await eventually(() => second.agent.state.lastHeartbeatAt !== undefined && second.agent.state.nodeId)).toBe(id);
    expect((await fleet.admin.getNode(id)).labels.tier).toBe('gold');
    expect(await whoIs(old)).toBe('refused certificate_revoked');
    const certs = (await fleet.admin.request('listNodeCertificates', { params: { ref: id } })).items;
    expect(certs.map((c) => c.revokedReason)).toEqual([null, 'reenrolled']);
    // One use only.
    const third = await fleet.startAgent('pi5-hailo8l', { token, serial: 'c0ffee0000000042' });
    await expect(third.done).rejects.toMatchObject({ code: 'token_exhausted' });

    const missing = await run('nodes', 'reenroll', 'no-such-node', ...conn());
    expect(missing.code).not.toBe(0);
    expect(missing.err).toContain('not found');
  });
});
