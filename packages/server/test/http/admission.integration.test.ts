import { webcrypto } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labelsFromFacts, probeHardware } from '@edgefleet/agent';
import { writeHardwareFixture } from '@edgefleet/agent/fixtures';
import type { HardwareFacts } from '@edgefleet/protocol';
import { EdgefleetClient } from '@edgefleet/protocol/node';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { x509 } from '../../src/pki/x509.js';
import { type RunningServer, type ServerOptions, startServer } from '../../src/server.js';

/**
 * Refusals beyond the bound are unit-tested (admission.test.ts, with handlers held open); a
 * client that stalls its body holds no slot at all (test/integration/slow-sockets.test.ts).
 */
describe('a server in an enrollment storm', () => {
  let dir = '';
  let server: RunningServer | undefined;
  const clients: EdgefleetClient[] = [];

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await server?.close();
    server = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(admission: ServerOptions['admission']): Promise<{ anon: EdgefleetClient; admin: EdgefleetClient; token: string; facts: HardwareFacts }> {
    dir = mkdtempSync(join(tmpdir(), 'edgefleet-admission-'));
    server = await startServer({ dataDir: join(dir, 'server'), listen: '127.0.0.1:0', logger: pino({ level: 'silent' }), admission });
    const ca = readFileSync(server.caCertPath, 'utf8');
    const admin = new EdgefleetClient({ server: server.url, ca, token: readFileSync(server.adminTokenFile, 'utf8').trim() });
    const anon = new EdgefleetClient({ server: server.url, ca });
    clients.push(admin, anon);
    const { token } = await admin.createBootstrapToken({ uses: 100, ttlSeconds: 600 });
    await writeHardwareFixture(join(dir, 'hw'), 'pi5-hailo8l');
    const facts = await probeHardware(join(dir, 'hw'), { agentVersion: 'test' });
    return { anon, admin, token, facts };
  }

  async function csr(): Promise<string> {
    const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair;
    const req = await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=test', keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } });
    return req.toString('pem');
  }

  const enrollBody = async (token: string, facts: HardwareFacts, i: number) => ({
    token,
    csr: await csr(),
    facts: { ...facts, board: { ...facts.board, serial: i.toString(16).padStart(16, '0') } },
    labels: labelsFromFacts(facts, {}),
  });

  it('refuses none of the enrollments that fit in the bound and its queue', async () => {
    const { anon, token, facts } = await start({ enrollConcurrency: 2, enrollQueue: 6 });
    const bodies = await Promise.all(Array.from({ length: 8 }, (_, i) => enrollBody(token, facts, i)));
    const results = await Promise.allSettled(bodies.map((b) => anon.enroll(b)));
    expect(results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.message)).toEqual([]);
    expect(new Set(results.map((r) => (r.status === 'fulfilled' ? r.value.nodeId : ''))).size).toBe(8);
  });
});
