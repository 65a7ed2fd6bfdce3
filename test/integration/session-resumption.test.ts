/**
 * A node's TLS session resumes on any replica of its fleet: the session tickets of every
 * replica are made with the same keys (http/session-tickets.ts), so a connection that must be
 * new costs a resumed handshake wherever the load balancer sends it, and the node is still
 * known by its certificate there. A server of another fleet cannot read the ticket.
 */
import { once } from 'node:events';
import { request } from 'node:https';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { type RunningServer, startServer } from '@edgefleet/server';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enrolledIdentity, startTestFleet, type TestFleet } from '../../test-support/fleet.js';
import { createTestDatabase } from '../../test-support/pg-database.js';
import { type ServerProcess, startServerProcess } from '../../test-support/server-process.js';

/** A TLS connection to `url` as the node, offering `session` to resume; resolves once it is secure. */
async function connectAsNode(url: string, identity: { cert: string; key: string; ca: string }, session?: Buffer, verify = true): Promise<TLSSocket> {
  const { hostname, port } = new URL(url);
  const socket = connect({
    host: hostname,
    port: Number(port),
    servername: 'localhost',
    ...identity,
    rejectUnauthorized: verify,
    ...(session ? { session } : {}),
  });
  await once(socket, 'secureConnect');
  return socket;
}

/** A full handshake with `url`, and the session ticket it gave (TLS 1.3 sends it after the handshake). */
async function sessionFrom(url: string, identity: { cert: string; key: string; ca: string }): Promise<Buffer> {
  const { hostname, port } = new URL(url);
  const socket = connect({ host: hostname, port: Number(port), servername: 'localhost', ...identity });
  const [ticket] = (await once(socket, 'session')) as [Buffer];
  expect(socket.isSessionReused()).toBe(false);
  socket.destroy();
  return ticket;
}

/** GET `path` over this very connection; the status and body. */
async function getOver(socket: TLSSocket, url: string, path: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  const req = request({ host: hostname, port, path, method: 'GET', createConnection: () => socket, headers: { connection: 'close' } });
  req.end();
  const [res] = (await once(req, 'response')) as [import('node:http').IncomingMessage];
  let body = '';
  for await (const chunk of res) body += chunk;
  return { status: res.statusCode ?? 0, body };
}

describe('TLS sessions across the replicas of a fleet', () => {
  let fleet: TestFleet;
  let other: RunningServer;
  let replica: ServerProcess;
  let stranger: TestFleet;
  let identity: { cert: string; key: string; ca: string };

  beforeAll(async () => {
    const db = await createTestDatabase();
    fleet = await startTestFleet({ db, requireSigned: false });
    // A second replica: the same data dir (the fleet's CA) and database, a process state of its own.
    other = await startServer({ dataDir: join(fleet.dir, 'server'), listen: '127.0.0.1:0', db, requireSigned: false, logger: pino({ level: 'silent' }) });
    // A replica in a process of its own, started with other arguments (Node's default session
    // context is made from the command line).
    replica = await startServerProcess(
      ['--data', join(fleet.dir, 'server'), '--listen', '127.0.0.1:0', '--db', db, '--no-require-signed'],
      join(fleet.dir, 'replica.log'),
    );
    // A server of another fleet: its own CA.
    stranger = await startTestFleet({});
    const kept = await enrolledIdentity(fleet);
    identity = { cert: kept.certPem, key: kept.keyPem, ca: fleet.ca };
  }, 60_000);
  afterAll(async () => {
    await replica?.stop();
    await other?.close();
    await fleet?.close();
    await stranger?.close();
  });

  it('resumes a session made with one replica on another, where the node is still itself', async () => {
    const session = await sessionFrom(fleet.server.url, identity);
    const resumed = await connectAsNode(other.url, identity, session);
    expect(resumed.isSessionReused()).toBe(true);
    // The resumed session carries the node's certificate: the node's own desired state answers
    // (a connection without it gets 401 there).
    const answer = await getOver(resumed, other.url, '/v1/agent/desired');
    expect(answer.status, answer.body).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ version: expect.any(String), requireSigned: false });
  });

  it('resumes it on a replica in another process, started with other arguments', async () => {
    const session = await sessionFrom(fleet.server.url, identity);
    const resumed = await connectAsNode(replica.url, identity, session);
    expect(resumed.isSessionReused()).toBe(true);
    const answer = await getOver(resumed, replica.url, '/v1/agent/desired');
    expect(answer.status, answer.body).toBe(200);
  });

  it("is not resumed by another fleet's server, which cannot read the ticket", async () => {
    const session = await sessionFrom(fleet.server.url, identity);
    // Not verifying the other fleet's certificate: what is checked is that its server makes a full handshake.
    const elsewhere = await connectAsNode(stranger.server.url, identity, session, false);
    expect(elsewhere.isSessionReused()).toBe(false);
    elsewhere.destroy();
  });
});
