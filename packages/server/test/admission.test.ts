import { webcrypto } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { labelsFromFacts, probeHardware, writeHardwareFixture } from '@edgefleet/agent';
import { EdgefleetError, type HardwareFacts } from '@edgefleet/protocol';
import { EdgefleetClient } from '@edgefleet/protocol/node';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { AdmissionGate, admissionClassOf } from '../src/http/admission.js';
import { x509 } from '../src/pki/x509.js';
import { type RunningServer, type ServerOptions, startServer } from '../src/server.js';

describe('which requests are bounded', () => {
  it.each([
    ['POST', '/v1/enroll', 'enrollment'],
    ['POST', '/v1/agent/renew', 'enrollment'],
    ['POST', '/v1/agent/status', 'agent'],
    ['POST', '/v1/agent/telemetry?x=1', 'agent'],
    ['POST', '/v1/agent/logs', 'agent'],
    // Long polls and downloads hold a request open cheaply; operators must always get in.
    ['GET', '/v1/agent/desired?wait=30', undefined],
    ['GET', '/v1/artifacts/sha256:ab', undefined],
    ['GET', '/v1/nodes', undefined],
    ['POST', '/v1/apply', undefined],
    ['GET', '/v1/ca', undefined],
  ])('%s %s → %s', (method, url, cls) => {
    expect(admissionClassOf(method, url)).toBe(cls);
  });
});

describe('an admission gate', () => {
  it('admits up to its bound, queues up to its queue, and refuses the rest', () => {
    const gate = new AdmissionGate(2, 1, 10, () => 0);
    expect(gate.enter()).toMatchObject({ admitted: true });
    expect(gate.enter()).toMatchObject({ admitted: true });
    const queued = gate.enter();
    expect(queued.admitted && queued.wait).toBeInstanceOf(Promise);
    expect(gate.enter()).toMatchObject({ admitted: false, retryAfterSeconds: 1 });
    expect(gate.load).toEqual({ inFlight: 2, queued: 1 });
  });

  it('hands a freed slot to the longest-waiting request, skipping those whose client left', async () => {
    const gate = new AdmissionGate(1, 3, 10, () => 0);
    gate.enter();
    const order: string[] = [];
    const a = gate.enter();
    const b = gate.enter();
    const c = gate.enter();
    for (const [name, x] of [
      ['a', a],
      ['b', b],
      ['c', c],
    ] as const)
      if (x.admitted) void x.wait?.then(() => order.push(name));
    expect(a.cancel()).toBe(false); // a's client went away while waiting
    gate.leave(5);
    gate.leave(5);
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['a', 'b', 'c']); // a ends (it finds its client gone), then b and c get the slots
    expect(gate.load).toEqual({ inFlight: 1, queued: 0 });
    gate.leave(5);
    expect(gate.load).toEqual({ inFlight: 0, queued: 0 });
  });

  it('tells each refused request to come back later than the one before, up to 30 s', () => {
    // One request at a time taking a second each: the refused are spread a second apart.
    const gate = new AdmissionGate(1, 0, 1000, () => 0);
    gate.enter();
    const waits = Array.from({ length: 40 }, () => {
      const a = gate.enter();
      return a.admitted ? 0 : a.retryAfterSeconds;
    });
    expect(waits.slice(0, 4)).toEqual([2, 3, 4, 5]);
    expect(waits.at(-1)).toBe(30);
    expect(Math.max(...waits)).toBe(30);
  });

  it('refuses nonsense bounds with a clear message', () => {
    expect(() => new AdmissionGate(0, 1, 10)).toThrow(/concurrency must be a whole number ≥ 1/);
    expect(() => new AdmissionGate(1, -1, 10)).toThrow(/queue must be a whole number ≥ 0/);
  });
});

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
