import { generateKeyPairSync } from 'node:crypto';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { EnrollRequest, TrustedKey } from '@edgefleet/protocol';
import { EdgefleetClient, publicKeyId } from '@edgefleet/protocol/node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type CertificateAuthority, createCertificateAuthority, issueServerCertificate } from '../../packages/server/src/pki/ca.js';
import { eventually, startTestFleet, type TestAgent, type TestFleet } from '../../test-support/fleet.js';

/**
 * Finding 1 of the trust hardening (docs/SECURITY.md, "First boot: pinning the fleet CA"):
 * a man in the middle at first boot. The agent is given a genuine bootstrap token (its CA
 * fingerprint is the real fleet CA's) but its --server leads to the attacker, who serves
 * real TLS with a certificate from the attacker's own CA and answers `GET /v1/ca` with the
 * real fleet CA followed by the attacker's CA. An agent that hashes the first certificate
 * and trusts the whole text sends the attacker its token; the attacker relays it to the
 * real server, so the node enrolls for real while trusting the attacker's CA and pinning
 * the attacker's release key. Pinning exactly one certificate stops it before the token
 * leaves the node.
 */
describe('a man in the middle at first boot', () => {
  let fleet: TestFleet;
  let attackerCa: CertificateAuthority;
  let attacker: Server | undefined;
  /** What reached the attacker's `/v1/enroll`. */
  let stolen: EnrollRequest[];

  // The attacker's release key, slipped into the relayed enrollment answer.
  const attackerKey = generateKeyPairSync('ed25519');
  const attackerTrustedKey: TrustedKey = {
    keyId: publicKeyId(attackerKey.publicKey),
    publicKey: attackerKey.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    signedBy: null,
    signature: null,
    expiresAt: null,
    revocation: null,
  };

  beforeAll(async () => {
    fleet = await startTestFleet({ heartbeatIntervalMs: 60_000 });
    attackerCa = await createCertificateAuthority(new Date());
  });
  afterEach(async () => {
    attacker?.closeAllConnections();
    await new Promise((ok) => (attacker === undefined ? ok(undefined) : attacker.close(ok)));
    attacker = undefined;
  });
  afterAll(async () => {
    await fleet?.close();
  });

  /** Starts the attacker's HTTPS server; `/v1/ca` answers `caText`, `/v1/enroll` steals and relays. */
  async function startAttacker(caText: string): Promise<string> {
    stolen = [];
    const tls = await issueServerCertificate(attackerCa, { dns: ['localhost'], ips: ['127.0.0.1'] }, new Date());
    const relay = new EdgefleetClient({ server: fleet.server.url, ca: fleet.ca });
    attacker = createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void (async () => {
          if (req.method === 'GET' && req.url === '/v1/ca') {
            res.setHeader('content-type', 'application/x-pem-file');
            res.end(caText);
          } else if (req.method === 'POST' && req.url === '/v1/enroll') {
            const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as EnrollRequest;
            stolen.push(body);
            // The real server enrolls the node; the answer names the attacker's CA text and key.
            const real = await relay.enroll(body);
            res.setHeader('content-type', 'application/json');
            res.end(JSON.stringify({ ...real, caCertificate: caText, trustedKeys: [attackerTrustedKey] }));
          } else {
            res.statusCode = 404;
            res.setHeader('content-type', 'application/json');
            res.end(JSON.stringify({ error: { code: 'not_found', message: 'no such route' } }));
          }
        })().catch((err: unknown) => {
          res.statusCode = 502;
          res.end(String(err));
        });
      });
    });
    attacker.on('close', () => void relay.close());
    await new Promise<void>((ok) => attacker?.listen(0, '127.0.0.1', ok));
    return `https://127.0.0.1:${(attacker.address() as AddressInfo).port}`;
  }

  /** Runs a fresh agent against `server` until it stops or has enrolled; returns how it ended. */
  async function firstBoot(server: string): Promise<{ agent: TestAgent; outcome: unknown }> {
    const agent = await fleet.startAgent('pi5-hailo8l', { server, token: await fleet.createToken() });
    const outcome = await Promise.race([
      agent.done.then(
        () => 'stopped',
        (err: unknown) => err,
      ),
      eventually(() => existsSync(join(agent.dataDir, 'identity.json')) && 'enrolled', 20_000, 'the agent to stop or enroll'),
    ]);
    agent.agent.stop();
    await agent.done.catch(() => {});
    return { agent, outcome };
  }

  it('never receives the token when it serves the real fleet CA followed by its own', async () => {
    const server = await startAttacker(`${fleet.ca.trim()}\n${attackerCa.certPem}`);
    const { agent, outcome } = await firstBoot(server);

    expect(stolen.map((r) => r.token)).toEqual([]);
    expect(outcome).toMatchObject({ code: 'server_untrusted', message: expect.stringMatching(/2 certificates|exactly one/) });
    expect(existsSync(join(agent.dataDir, 'identity.json'))).toBe(false);
    expect(existsSync(join(agent.dataDir, 'release-keys.json'))).toBe(false);
  });

  it('never receives the token when it serves only the real fleet CA (its TLS certificate does not chain to it)', async () => {
    const server = await startAttacker(fleet.ca);
    const { agent, outcome } = await firstBoot(server);

    expect(stolen).toEqual([]);
    expect(outcome).toMatchObject({ code: 'server_untrusted' });
    expect(existsSync(join(agent.dataDir, 'identity.json'))).toBe(false);
  });
});

/**
 * After enrollment the pin lives on disk: `ca.crt` and the CA fingerprint in identity.json.
 * Someone who can write `ca.crt` (a backup restored over it, a tampering step before the
 * attack above) must not get a second trusted CA into the agent's TLS.
 */
describe('an enrolled agent whose ca.crt was tampered with', () => {
  let fleet: TestFleet;
  beforeAll(async () => {
    fleet = await startTestFleet({ heartbeatIntervalMs: 300 });
  });
  afterAll(async () => {
    await fleet?.close();
  });

  it('refuses to start when a second certificate was appended to ca.crt', async () => {
    const first = await fleet.startAgent('pi5-hailo8l', { token: await fleet.createToken() });
    await eventually(() => first.agent.state.lastHeartbeatAt);
    first.agent.stop();
    await first.done;

    const attackerCa = await createCertificateAuthority(new Date());
    appendFileSync(join(first.dataDir, 'ca.crt'), attackerCa.certPem);

    const again = await fleet.startAgent('pi5-hailo8l', { dataDir: first.dataDir, hwRoot: first.hwRoot });
    const err = await again.done.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'server_untrusted', hint: expect.stringMatching(/re-enroll|new bootstrap token/) });
    // The file is left as found, for whoever investigates.
    expect(readFileSync(join(first.dataDir, 'ca.crt'), 'utf8')).toContain(attackerCa.certPem.trim());
  });
});
