import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { loadIdentity, type NodeIdentity } from '@edgefleet/agent';
import { EdgefleetError } from '@edgefleet/protocol';
import { EdgefleetClient } from '@edgefleet/protocol/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestFleet, type TestFleet } from '../../test-support/fleet.js';

/**
 * The API client builds its TLS context (CA, certificate, key) once and uses it for every
 * connection it opens. These check what that must not change: each client is seen as its
 * own node on every new connection, a client is still refused by a server its CA does not
 * vouch for, bad PEMs fail the request rather than the constructor, and an agent that
 * renewed goes on reporting with the new certificate once the old one has expired.
 */
describe('the API client over mTLS', () => {
  let fleet: TestFleet;
  const identities: NodeIdentity[] = [];
  const clients: EdgefleetClient[] = [];
  // Idle connections close at once: every request below opens a new TLS connection.
  const clientOf = (id: NodeIdentity, ca = id.caPem): EdgefleetClient => {
    const c = new EdgefleetClient({ server: fleet.server.url, ca, cert: id.certPem, key: id.keyPem, keepAliveTimeoutMs: 1 });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    fleet = await startTestFleet({ heartbeatIntervalMs: 60_000 });
    for (const preset of ['pi5-hailo8l', 'pi5-nohat'] as const) {
      const a = await fleet.startAgent(preset, { token: await fleet.createToken() });
      await eventually(() => a.agent.state.lastHeartbeatAt);
      a.agent.stop();
      await a.done;
      identities.push(loadIdentity(a.dataDir) as NodeIdentity);
    }
  });
  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await fleet?.close();
  });

  it('presents its own certificate on every new connection, next to another client in the same process', async () => {
    const [a, b] = identities as [NodeIdentity, NodeIdentity];
    const ca = clientOf(a);
    const cb = clientOf(b);
    for (let round = 0; round < 3; round++) {
      const [ra, rb] = await Promise.all([ca.reportStatus({}), cb.reportStatus({})]);
      expect(ra.nodeId).toBe(a.nodeId);
      expect(rb.nodeId).toBe(b.nodeId);
      await new Promise((r) => setTimeout(r, 20));
    }
  });

  it('still refuses a server its CA does not vouch for', async () => {
    const a = identities[0] as NodeIdentity;
    // The node's own certificate is no CA: the server's certificate does not chain to it.
    const err = await clientOf(a, a.certPem)
      .reportStatus({})
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(EdgefleetError);
    expect((err as EdgefleetError).code).toBe('server_untrusted');
  });

  it('resumes its TLS session on the next connection, also after a garbage collection', async () => {
    // A bare HTTPS server with the fleet's certificate tells resumed handshakes from full ones.
    const dir = join(fleet.dir, 'server');
    const resumed: boolean[] = [];
    const server = createServer({ cert: readFileSync(join(dir, 'server.crt')), key: readFileSync(join(dir, 'server.key')) }, (_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end('{}');
    });
    server.on('secureConnection', (socket) => resumed.push(socket.isSessionReused()));
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    try {
      const client = new EdgefleetClient({ server: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, ca: fleet.ca, keepAliveTimeoutMs: 1 });
      clients.push(client);
      for (let i = 0; i < 3; i++) {
        await client.send('GET', '/v1/info');
        // Between two heartbeats a busy agent process collects its garbage many times.
        await new Promise((r) => setTimeout(r, 20));
        gc();
      }
      expect(resumed).toEqual([false, true, true]);
    } finally {
      server.closeAllConnections();
      await new Promise((ok) => server.close(ok));
    }
  });

  it('sends the next request on the same connection, however long the last one was held', async () => {
    // A long poll outlasts the idle timeout; the next one goes out as soon as it returns.
    const dir = join(fleet.dir, 'server');
    let connections = 0;
    const server = createServer({ cert: readFileSync(join(dir, 'server.crt')), key: readFileSync(join(dir, 'server.key')) }, (_req, res) => {
      setTimeout(() => {
        res.setHeader('content-type', 'application/json');
        res.end('{}');
      }, 300);
    });
    server.on('secureConnection', () => connections++);
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    try {
      const client = new EdgefleetClient({ server: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, ca: fleet.ca, keepAliveTimeoutMs: 100 });
      clients.push(client);
      for (let i = 0; i < 4; i++) await client.send('GET', '/v1/agent/desired');
      expect(connections).toBe(1);
    } finally {
      server.closeAllConnections();
      await new Promise((ok) => server.close(ok));
    }
  });

  it('fails the request, not the constructor, when a PEM cannot be used', async () => {
    const a = identities[0] as NodeIdentity;
    const client = new EdgefleetClient({ server: fleet.server.url, ca: a.caPem, cert: a.certPem, key: 'not a key' });
    clients.push(client);
    await expect(client.reportStatus({})).rejects.toBeInstanceOf(EdgefleetError);
  });
});

describe('an agent renewing its certificate', () => {
  let fleet: TestFleet;
  beforeAll(async () => {
    fleet = await startTestFleet({ heartbeatIntervalMs: 300, nodeCertLifetimeMs: 3_000 });
  });
  afterAll(async () => {
    await fleet?.close();
  });

  it('reports with the renewed certificate after the old one expired', async () => {
    const a = await fleet.startAgent('pi5-hailo8l', { token: await fleet.createToken() });
    await eventually(() => a.agent.state.lastRenewalAt, 10_000, 'a renewal');
    // The certificate held before this renewal was two thirds through its life: one more
    // lifetime on, it has expired, and only a renewed certificate is accepted.
    const pastOldExpiry = (a.agent.state.lastRenewalAt as number) + 3_000;
    await eventually(() => Date.now() > pastOldExpiry, 10_000, 'the old certificate to expire');
    const since = Date.now();
    await eventually(() => (a.agent.state.lastHeartbeatAt ?? 0) > since && a.agent.state.consecutiveFailures === 0, 10_000, 'a heartbeat after it');
    // Still its own node, never refused: run() has not ended.
    const done = await Promise.race([
      a.done.then(
        () => 'ended',
        () => 'failed',
      ),
      Promise.resolve('running'),
    ]);
    expect(done).toBe('running');
  });
});
