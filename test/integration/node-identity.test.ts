/**
 * Issue 14, findings 2 and 5, performed for real against a real server over TLS.
 *
 * Finding 2: a node must not speak as another node. The attacker holds one certificate of
 * the fleet (node A's, or a decommissioned node's, whose certificate is revoked). It opens
 * a TLS 1.2 connection with that certificate, then renegotiates presenting a self-signed
 * certificate that copies node B's serial (and name), and calls the agent API, renew
 * included. Also: the same forged certificate on a fresh connection, without renegotiation.
 *
 * Finding 5: agent authentication must not depend on how the URL is spelled. Encoded,
 * dotted, upper-case, doubled-slash and NUL-suffixed spellings of an agent route, sent
 * without a client certificate, never reach a handler.
 */
import { execFile } from 'node:child_process';
import { webcrypto, X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { loadIdentity, type NodeIdentity } from '@edgefleet/agent';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { x509 } from '../../packages/server/src/pki/x509.js';
import { eventually, startTestFleet, type TestFleet } from '../../test-support/fleet.js';

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SCRIPT = fileURLToPath(new URL('./support/renegotiate-as.py', import.meta.url));
const execFileAsync = promisify(execFile);

/** One step the renegotiating client reports: the handshake, a request's answer, or an error. */
interface Step {
  step: 'handshake' | 'request1' | 'renegotiate' | 'request2';
  ok?: boolean;
  error?: string;
  status?: number;
  body?: string;
}

/** The raw text of one HTTP/1.1 request with a JSON body, kept alive. */
function httpRequest(method: string, path: string, body: unknown): string {
  const text = JSON.stringify(body);
  return `${method} ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: keep-alive\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\n\r\n${text}`;
}

/** The node a status report's answer names, if the step is one. */
function nodeIdOf(step: Step | undefined): string | undefined {
  return step?.status === 200 ? (JSON.parse(step.body ?? '{}') as { nodeId?: string }).nodeId : undefined;
}

/** A self-signed certificate (and its key) that copies `victim`'s serial and subject. */
async function forgeCopyOf(victimPem: string): Promise<{ cert: string; key: string }> {
  const victim = new X509Certificate(victimPem);
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: victim.serialNumber.toLowerCase(),
    name: victim.subject.split('\n').join(', '),
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth])],
  });
  const der = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { cert: cert.toString('pem'), key: x509.PemConverter.encode(der, 'PRIVATE KEY') };
}

/** An answer read off a kept-alive connection. */
interface Answer {
  status: number;
  body: string;
}

/** One HTTP/1.1 exchange on an open TLS socket (kept alive); `undefined` when the connection died instead. */
function exchange(socket: TLSSocket, method: string, path: string, body?: unknown): Promise<Answer | undefined> {
  return new Promise((resolve) => {
    let buffered = Buffer.alloc(0);
    const done = (answer: Answer | undefined) => {
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onClose);
      resolve(answer);
    };
    const onClose = () => done(undefined);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buffered.subarray(0, end).toString('latin1');
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (buffered.length < end + 4 + length) return;
      done({ status: Number(head.split(' ')[1]), body: buffered.subarray(end + 4, end + 4 + length).toString('utf8') });
    };
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.once('error', onClose);
    const text = body === undefined ? '' : JSON.stringify(body);
    const headers = [`${method} ${path} HTTP/1.1`, 'host: 127.0.0.1', 'connection: keep-alive'];
    if (body !== undefined) headers.push('content-type: application/json', `content-length: ${Buffer.byteLength(text)}`);
    socket.write(`${headers.join('\r\n')}\r\n\r\n${text}`);
  });
}

/** Which node the server took the caller for (a status report answers with its id), or why not. */
async function whoAmI(socket: TLSSocket): Promise<string> {
  const answer = await exchange(socket, 'POST', '/v1/agent/status', {});
  if (answer === undefined) return 'connection closed';
  if (answer.status !== 200) return `refused ${answer.status}`;
  return (JSON.parse(answer.body) as { nodeId: string }).nodeId;
}

describe('a node speaks only as itself (issue 14, finding 2)', () => {
  let fleet: TestFleet;
  let port: number;
  /** A: the attacker's own node; B: the victim; R: a decommissioned node (its certificate revoked). */
  let a: NodeIdentity;
  let b: NodeIdentity;
  let r: NodeIdentity;
  const sockets: TLSSocket[] = [];

  /** A TLS 1.2 connection to the server presenting `cert`. */
  const open = (cert: { cert: string; key: string }): Promise<TLSSocket> =>
    new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, ca: fleet.ca, cert: cert.cert, key: cert.key, maxVersion: 'TLSv1.2', servername: 'localhost' });
      sockets.push(socket);
      socket.once('secureConnect', () => resolve(socket));
      socket.once('error', reject);
    });

  /**
   * The attack: a TLS 1.2 connection with `first`'s certificate, optionally a status report,
   * then a renegotiation presenting `second` on the same connection, then `then` (a status
   * report or a renewal). Neither Node's TLS client nor `openssl s_client` can switch
   * certificates when renegotiating, so support/renegotiate-as.py drives libssl directly.
   */
  const renegotiateAs = async (
    first: { cert: string; key: string },
    second: { cert: string; key: string },
    reportFirst: boolean,
    then: string,
  ): Promise<Step[]> => {
    const dir = mkdtempSync(join(fleet.dir, 'attack-'));
    const file = (name: string, text: string) => {
      writeFileSync(join(dir, name), text, { mode: 0o600 });
      return join(dir, name);
    };
    const args = [
      String(port),
      file('ca.crt', fleet.ca),
      file('first.crt', first.cert),
      file('first.key', first.key),
      file('second.crt', second.cert),
      file('second.key', second.key),
      reportFirst ? httpRequest('POST', '/v1/agent/status', {}) : '',
      then,
    ];
    const { stdout } = await execFileAsync('python3', [SCRIPT, ...args], { timeout: 20_000 });
    return stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Step);
  };

  beforeAll(async () => {
    fleet = await startTestFleet({ heartbeatIntervalMs: 60_000 });
    port = fleet.server.port;
    const ids: NodeIdentity[] = [];
    for (const preset of ['pi5-hailo8l', 'pi5-nohat', 'pi4-coral-usb'] as const) {
      const agent = await fleet.startAgent(preset, { token: await fleet.createToken() });
      await eventually(() => agent.agent.state.lastHeartbeatAt);
      agent.agent.stop();
      await agent.done;
      ids.push(loadIdentity(agent.dataDir) as NodeIdentity);
    }
    [a, b, r] = ids as [NodeIdentity, NodeIdentity, NodeIdentity];
    await fleet.admin.deleteNode(r.nodeId);
  }, 60_000);
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await fleet?.close();
  });

  const own = (id: NodeIdentity) => ({ cert: id.certPem, key: id.keyPem });

  it('refuses a self-signed certificate copying another node’s serial', async () => {
    const forged = await forgeCopyOf(b.certPem);
    let who: string;
    try {
      who = await whoAmI(await open(forged));
    } catch (err) {
      who = `handshake refused: ${(err as Error).message}`;
    }
    expect(who).not.toBe(b.nodeId);
    expect(who).toMatch(/^refused 40[13]|^connection closed|^handshake refused/);
  });

  it('a node’s own certificate names it (the attack below starts from here)', async () => {
    expect(await whoAmI(await open(own(a)))).toBe(a.nodeId);
    expect(await whoAmI(await open(own(r)))).toBe('refused 403');
  });

  it('accepts a certificate issued before fingerprints were recorded, and only its own bytes', async () => {
    // As after migration 0008 on an existing fleet: B's certificate has no fingerprint on record.
    const db = new Database(join(fleet.dir, 'server', 'fleet.db'));
    const serial = new X509Certificate(b.certPem).serialNumber.toLowerCase().replace(/^0+(?=.)/, '');
    const fingerprint = () => (db.prepare('SELECT fingerprint FROM certificates WHERE serial = ?').get(serial) as { fingerprint: string | null }).fingerprint;
    try {
      expect(fingerprint()).toMatch(/^[0-9a-f]{64}$/);
      db.prepare('UPDATE certificates SET fingerprint = NULL WHERE serial = ?').run(serial);
      expect(await whoAmI(await open(await forgeCopyOf(b.certPem)))).toMatch(/^refused 40[13]$/);
      expect(fingerprint()).toBeNull();
      expect(await whoAmI(await open(own(b)))).toBe(b.nodeId);
      expect(fingerprint()).toBe(new X509Certificate(b.certPem).fingerprint256.replaceAll(':', '').toLowerCase());
    } finally {
      db.close();
    }
  });

  /** Every starting point of the attack: with A's certificate, before or after a first request, and with R's revoked one. */
  const starts = [
    { name: 'a live node’s certificate, renegotiating before any request', from: () => a, firstRequest: false },
    { name: 'a live node’s certificate, renegotiating after a good request', from: () => a, firstRequest: true },
    { name: 'a revoked certificate', from: () => r, firstRequest: false },
  ];
  for (const start of starts) {
    it(`never reaches another node’s identity by renegotiating, from ${start.name}`, async () => {
      const forged = await forgeCopyOf(b.certPem);
      const steps = await renegotiateAs(own(start.from()), forged, start.firstRequest, httpRequest('POST', '/v1/agent/status', {}));
      expect(steps[0]).toEqual({ step: 'handshake', ok: true });
      if (start.firstRequest) expect(nodeIdOf(steps[1])).toBe(start.from().nodeId);
      const last = steps.at(-1) as Step;
      expect(nodeIdOf(last), JSON.stringify(steps)).not.toBe(b.nodeId);
      // The server refuses the renegotiation itself: the connection stays bound to the
      // certificate it verified first, whatever a client presents in a second handshake.
      expect(last, JSON.stringify(steps)).toMatchObject({ step: 'renegotiate', error: expect.stringMatching(/renegotiation|eof|reset|alert/i) });
    });
  }

  it('never issues a certificate for another node through a renegotiated connection', async () => {
    const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=attacker', keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } });
    const steps = await renegotiateAs(own(r), await forgeCopyOf(b.certPem), false, httpRequest('POST', '/v1/agent/renew', { csr: csr.toString('pem') }));
    const last = steps.at(-1) as Step;
    const issued = last.status === 200 ? new X509Certificate((JSON.parse(last.body ?? '{}') as { certificate: string }).certificate).subject : '';
    expect(issued, JSON.stringify(steps)).not.toContain(b.nodeId);
    expect(last.status ?? 0).not.toBe(200);
  });
});

describe('agent routes authenticate by route, not by URL text (issue 14, finding 5)', () => {
  let fleet: TestFleet;
  beforeAll(async () => {
    fleet = await startTestFleet();
  });
  afterAll(async () => {
    await fleet?.close();
  });

  const spellings = ['/v1/%61gent/status', '/v1/agent/../agent/status', '/V1/agent/status', '//v1/agent/status', '/v1/agent/status%00', '/v1/agent/status/%00'];
  for (const path of spellings) {
    it(`never runs a handler for ${path} without a client certificate`, async () => {
      // POST: the status route's method (a GET of an unknown path is the dashboard's page fallback, no agent handler).
      for (const method of ['POST']) {
        const socket = await new Promise<TLSSocket>((resolve, reject) => {
          const s = connect({ host: '127.0.0.1', port: fleet.server.port, ca: fleet.ca, servername: 'localhost' });
          s.once('secureConnect', () => resolve(s));
          s.once('error', reject);
        });
        try {
          const answer = await exchange(socket, method, path, {});
          // 400 is Node refusing a malformed request line before any route: no handler ran either.
          expect([400, 401, 404], `${method} ${path}: ${answer?.status} ${answer?.body}`).toContain(answer?.status);
        } finally {
          socket.destroy();
        }
      }
    });
  }
});
