import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { failoverTransport } from '../../src/node/failover-transport.js';

/**
 * A replica behind a load balancer dies: the connections the client pooled to it are closed
 * under the next request sent on them ("other side closed"), while a new connection reaches
 * a live replica. Played here by a TLS server that destroys any pooled connection the moment
 * a request arrives on it, once it is told the replica "died", and serves new ones.
 */
describe('a pooled connection closed under a request', () => {
  let dir: string;
  let server: Server;
  let url: string;
  let ca: string;
  /** Connections opened before the "death": each is closed when its next request arrives. */
  let doomed = new Set<Socket>();
  const open = new Set<Socket>();
  let received: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edgefleet-failover-transport-'));
    const key = join(dir, 'server.key');
    const cert = join(dir, 'server.crt');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '2',
        '-subj',
        '/CN=replica',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'ignore' },
    );
    ca = readFileSync(cert, 'utf8');
    server = createServer({ key: readFileSync(key), cert: readFileSync(cert), keepAliveTimeout: 60_000 }, (req, res) => {
      received.push(`${req.method} ${req.url}`);
      if (doomed.has(req.socket)) {
        req.socket.destroy();
        return;
      }
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'text/plain' }).end('fine'));
    });
    server.on('secureConnection', (socket: Socket) => {
      open.add(socket);
      socket.on('close', () => open.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    doomed = new Set();
    received = [];
  });

  /** A client with one pooled connection to the server, then the replica behind it "dies". */
  async function clientWithDoomedConnection(): Promise<ReturnType<typeof failoverTransport>> {
    const transport = failoverTransport({ servers: [url], ca, keepAliveTimeoutMs: 60_000 });
    const warm = await transport.send({ method: 'GET', path: '/warm', headers: {} });
    expect(await warm.text()).toBe('fine');
    expect(open.size).toBe(1);
    doomed = new Set(open);
    received = [];
    return transport;
  }

  it('sends a GET once more on a new connection and gets the answer', async () => {
    const transport = await clientWithDoomedConnection();
    try {
      const res = await transport.send({ method: 'GET', path: '/v1/agent/desired', headers: {} });
      expect(res.status).toBe(200);
      expect(await res.text()).toBe('fine');
      // Closed under it once, then answered on the new connection.
      expect(received).toEqual(['GET /v1/agent/desired', 'GET /v1/agent/desired']);
    } finally {
      await transport.close();
    }
  });

  it('does not send a POST again: the first may have been carried out', async () => {
    const transport = await clientWithDoomedConnection();
    try {
      await expect(transport.send({ method: 'POST', path: '/v1/agent/status', headers: { 'content-type': 'application/json' }, body: '{}' })).rejects.toThrow(
        /other side closed|socket|closed/i,
      );
      expect(received).toEqual(['POST /v1/agent/status']);
    } finally {
      await transport.close();
    }
  });
});
