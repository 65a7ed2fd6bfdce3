import { webcrypto } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { labelsFromFacts, probeHardware } from '@edgefleet/agent';
import { writeHardwareFixture } from '@edgefleet/agent/fixtures';
import { EdgefleetError, type HardwareFacts } from '@edgefleet/protocol';
import { EdgefleetClient } from '@edgefleet/protocol/node';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { x509 } from '../../src/pki/x509.js';
import { type RunningServer, type ServerOptions, startServer } from '../../src/server.js';

describe('a server in an enrollment storm', () => {
  let dir = '';
  let server: RunningServer | undefined;
  const sockets: TLSSocket[] = [];
  const clients: EdgefleetClient[] = [];

  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
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

  /** An enrollment whose body never finishes arriving: it holds its slot (or queue place). */
  function stalledEnrollment(): void {
    const url = new URL((server as RunningServer).url);
    const socket = connect({ host: url.hostname, port: Number(url.port), rejectUnauthorized: false });
    socket.on('error', () => {});
    socket.write(`POST /v1/enroll HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n{"token":`);
    sockets.push(socket);
  }

  /** Sends a cheap malformed enrollment until the server refuses it (the stalled ones took every place). */
  async function refusal(anon: EdgefleetClient): Promise<EdgefleetError> {
    for (let attempt = 0; attempt < 200; attempt++) {
      const err = await anon.send('POST', '/v1/enroll', { nonsense: true }).catch((e: unknown) => e);
      if (err instanceof EdgefleetError && err.status === 429) return err;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error('the server never refused an enrollment');
  }

  it('answers 429 overloaded with Retry-After beyond the bound, keeps answering operators, and frees the slots of clients that left', async () => {
    const { anon, admin, token, facts } = await start({ enrollConcurrency: 1, enrollQueue: 1 });
    stalledEnrollment();
    stalledEnrollment();
    const err = await refusal(anon);
    expect(err.code).toBe('overloaded');
    expect(err.hint).toMatch(/retry by themselves/);
    expect(err.retryAfterMs).toBeGreaterThanOrEqual(1000);
    expect(err.retryAfterMs).toBeLessThanOrEqual(30_000);

    // Operators are never refused, however busy enrollment is.
    const answers = await Promise.all(Array.from({ length: 20 }, () => admin.listNodes()));
    expect(answers.every((a) => Array.isArray(a.items))).toBe(true);
    await expect(anon.serverInfo()).resolves.toBeDefined();

    // The stalled clients go away: their places come back and a real enrollment goes through.
    for (const s of sockets.splice(0)) s.destroy();
    let enrolled: Awaited<ReturnType<EdgefleetClient['enroll']>> | undefined;
    for (let attempt = 0; enrolled === undefined && attempt < 200; attempt++) {
      enrolled = await anon.enroll(await enrollBody(token, facts, 1)).catch((e: unknown) => {
        if (!(e instanceof EdgefleetError && e.status === 429)) throw e;
        return new Promise<undefined>((r) => setTimeout(() => r(undefined), 25));
      });
    }
    expect(enrolled?.nodeId).toMatch(/^node-/);
  });

  it('refuses none of the enrollments that fit in the bound and its queue', async () => {
    const { anon, token, facts } = await start({ enrollConcurrency: 2, enrollQueue: 6 });
    const bodies = await Promise.all(Array.from({ length: 8 }, (_, i) => enrollBody(token, facts, i)));
    const results = await Promise.allSettled(bodies.map((b) => anon.enroll(b)));
    expect(results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.message)).toEqual([]);
    expect(new Set(results.map((r) => (r.status === 'fulfilled' ? r.value.nodeId : ''))).size).toBe(8);
  });
});
