/**
 * Issue 14, finding 4, performed for real against a real server over TLS: a few slow
 * connections must not lock the fleet out.
 *
 * The attacker opens 100 TLS connections from one address (127.0.0.2, another loopback
 * address than the real nodes' 127.0.0.1) and stalls them: half send the headers of an
 * enrollment with `content-length: 100000` and one byte of body, half never finish their
 * headers. Before the fix, each stalled enrollment held an admission slot while the server
 * waited for its body, with no timeout, so real enrollments and renewals got 429 for as long
 * as the sockets stayed open (20 minutes of keep-alive, or forever).
 *
 * Now: a real enrollment and a real renewal succeed at their first try while the sockets are
 * held; the address gets at most its cap of unauthenticated connections (the rest a clear
 * 429 and a close); and with short timeouts the server closes every slow socket itself. No
 * check depends on how fast the machine is: the first part's timeouts are far longer than
 * the test, the second part waits for closes the server makes.
 */
import { connect as connectTcp } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';
import { EdgefleetClient } from '@edgefleet/protocol/node';
import type { ServerOptions } from '@edgefleet/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newKeyAndCsr } from '../../packages/agent/src/identity/csr.js';
import { loadIdentity } from '../../packages/agent/src/identity/store.js';
import { eventually, startTestFleet, type TestFleet } from '../../test-support/fleet.js';

const ATTACKER = '127.0.0.2';
const SLOW_SOCKETS = 100;
/** A gate small enough that a handful of held slots would fill it (the attack needed 40 with the defaults). */
const SMALL_GATES: ServerOptions['admission'] = { enrollConcurrency: 2, enrollQueue: 2 };

/** One slow connection and what the server did to it. */
interface SlowSocket {
  socket: TLSSocket;
  kind: 'body' | 'dribble' | 'headers' | 'idle';
  /** What the server sent (a 429 for connections over the cap, a 408 on a header timeout). */
  received: string;
  closed: boolean;
}

/**
 * Opens one TLS connection from the attacker's address and stalls it: `body` sends an
 * enrollment's headers with a 100000-byte content length and one byte of body, `dribble`
 * the same and then one more byte every 100 ms (so that no idle clock ever fires), `headers`
 * half of the headers, `idle` nothing after a finished request. Resolves once the bytes are
 * written (or the server closed the connection at once).
 */
function openSlowSocket(port: number, kind: SlowSocket['kind']): Promise<SlowSocket> {
  return new Promise((resolve) => {
    const tcp = connectTcp({ host: '127.0.0.1', port, localAddress: ATTACKER });
    const socket = connect({ socket: tcp, servername: 'localhost', rejectUnauthorized: false });
    const slow: SlowSocket = { socket, kind, received: '', closed: false };
    let dribbling: NodeJS.Timeout | undefined;
    socket.on('data', (chunk: Buffer) => {
      slow.received += chunk.toString('latin1');
    });
    socket.on('close', () => {
      slow.closed = true;
      clearInterval(dribbling);
      resolve(slow);
    });
    socket.on('error', () => {}); // a reset by the server is one way of closing
    socket.once('secureConnect', () => {
      const text =
        kind === 'body' || kind === 'dribble'
          ? 'POST /v1/enroll HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{'
          : kind === 'headers'
            ? 'POST /v1/enroll HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-'
            : 'GET /v1/ca HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n';
      socket.write(text, () => resolve(slow));
      if (kind === 'dribble') dribbling = setInterval(() => socket.write(' '), 100);
    });
  });
}

/** 100 slow sockets from the attacker's address, half stalled in the body, half in the headers. */
async function openSlowSockets(port: number, kinds: SlowSocket['kind'][] = ['body', 'headers']): Promise<SlowSocket[]> {
  const opened: Promise<SlowSocket>[] = [];
  for (let i = 0; i < SLOW_SOCKETS; i++) opened.push(openSlowSocket(port, kinds[i % kinds.length] as SlowSocket['kind']));
  return Promise.all(opened);
}

/** A fresh node's enrollment request with a serial of its own. */
async function enrollRequest(fleet: TestFleet, facts: Awaited<ReturnType<TestFleet['startAgent']>>, serial: string) {
  const { facts: observed, labels } = await facts.agent.observe();
  const { csrPem } = await newKeyAndCsr();
  return { token: await fleet.createToken(), csr: csrPem, facts: { ...observed, serial }, labels };
}

describe('100 slow sockets held open (issue 14, finding 4)', () => {
  let fleet: TestFleet;
  let slow: SlowSocket[] = [];
  const clients: EdgefleetClient[] = [];

  beforeAll(async () => {
    // Timeouts far longer than the test: the sockets are still open when the real work is done.
    fleet = await startTestFleet({
      admission: SMALL_GATES,
      connections: { headersTimeoutMs: 600_000, bodyTimeoutMs: 600_000, idleTimeoutMs: 600_000, unauthenticatedPerAddress: 50 },
    });
  }, 60_000);

  afterAll(async () => {
    for (const s of slow) s.socket.destroy();
    await Promise.allSettled(clients.map((c) => c.close()));
    await fleet?.close();
  });

  it('lets a real enrollment and a real renewal through at their first try while the sockets are held', async () => {
    // A node enrolled before the attack, to renew during it; it stops so that only this test renews.
    const existing = await fleet.startAgent('pi5-nohat', { token: await fleet.createToken() });
    await eventually(() => existing.agent.state.lastHeartbeatAt, 20_000, 'the existing node enrolled');
    existing.agent.stop();
    await existing.done;
    const identity = loadIdentity(existing.dataDir);
    if (identity === undefined) throw new Error('the existing node has no identity');

    slow = await openSlowSockets(fleet.server.port);

    // A new node enrolls: one request, no retry, so a 429 fails the test.
    const newcomer = new EdgefleetClient({ server: fleet.server.url, ca: fleet.ca });
    clients.push(newcomer);
    const enrolled = await newcomer.enroll(await enrollRequest(fleet, existing, 'b'.repeat(16)));
    expect(enrolled.nodeId).toMatch(/.+/);

    // The existing node renews its certificate: one request, no retry.
    const node = new EdgefleetClient({ server: fleet.server.url, ca: identity.caPem, cert: identity.certPem, key: identity.keyPem });
    clients.push(node);
    const renewed = await node.renew((await newKeyAndCsr()).csrPem);
    expect(renewed.certificate).toContain('BEGIN CERTIFICATE');

    // The sockets under the cap were held open all along; the rest were refused at once, clearly.
    const held = slow.filter((s) => !s.closed);
    const refused = slow.filter((s) => s.closed);
    expect(held).toHaveLength(50);
    expect(refused).toHaveLength(50);
    for (const s of refused) expect(s.received).toMatch(/^HTTP\/1\.1 429 [^\r]*\r\n(?:[^\r]+\r\n)*retry-after: \d+\r\n/i);
    expect(refused[0]?.received).toContain('unauthenticated connections');
  });
});

describe('slow sockets against short timeouts (issue 14, finding 4)', () => {
  let fleet: TestFleet;
  let slow: SlowSocket[] = [];
  const clients: EdgefleetClient[] = [];
  const sockets: TLSSocket[] = [];

  beforeAll(async () => {
    fleet = await startTestFleet({
      admission: SMALL_GATES,
      connections: { headersTimeoutMs: 1_000, bodyTimeoutMs: 1_000, idleTimeoutMs: 1_000, keepAliveTimeoutMs: 1_000, unauthenticatedPerAddress: 200 },
    });
  }, 60_000);

  afterAll(async () => {
    for (const s of [...slow.map((x) => x.socket), ...sockets]) s.destroy();
    await Promise.allSettled(clients.map((c) => c.close()));
    await fleet?.close();
  });

  it('closes every slow socket itself: stalled and dribbled bodies, unfinished headers, idle keep-alive', async () => {
    slow = await openSlowSockets(fleet.server.port, ['body', 'dribble', 'headers', 'idle']);
    // Nothing here closes a socket: only the server's clocks can. A dribbled body sends a
    // byte every 100 ms, so only the body clock closes it.
    await eventually(() => slow.every((s) => s.closed), 60_000, 'the server to close every slow socket');
    // Unfinished headers get Node's 408; a finished request got its answer before the idle close.
    for (const s of slow.filter((x) => x.kind === 'headers')) expect(s.received).toMatch(/^(?:HTTP\/1\.1 408|$)/);
    for (const s of slow.filter((x) => x.kind === 'idle')) expect(s.received).toMatch(/^HTTP\/1\.1 200 /);
    await eventually(() => /closed \d+ slow connections/.test(fleet.serverLog()), 10_000, 'the slow connections logged');
  });

  it('keeps the long clocks for nodes only: a 3 s long poll over a 1 s idle clock, and a long keep-alive', async () => {
    const a = await fleet.startAgent('pi5-nohat', { token: await fleet.createToken() });
    await eventually(() => a.agent.state.lastHeartbeatAt, 20_000, 'a node enrolled after the attack');
    // The test speaks as the node from here on: the agent stops, or its own long poll would
    // replace the test's (a node holds one long poll at a time).
    a.agent.stop();
    await a.done.catch(() => {});
    const identity = loadIdentity(a.dataDir);
    if (identity === undefined) throw new Error('the node has no identity');
    const node = new EdgefleetClient({ server: fleet.server.url, ca: identity.caPem, cert: identity.certPem, key: identity.keyPem });
    clients.push(node);
    const current = await node.desired(undefined, 0);
    // The server waits 3 s with no byte on the wire: longer than the idle clock, answered 304.
    await expect(node.desired(current?.version, 3)).resolves.toBeUndefined();

    // A node's answer says how long its connection is kept, and the server keeps it that long.
    const socket = connect({ host: '127.0.0.1', port: fleet.server.port, ca: identity.caPem, cert: identity.certPem, key: identity.keyPem });
    sockets.push(socket);
    let text = '';
    let closed = false;
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
    });
    socket.on('close', () => {
      closed = true;
    });
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));
    socket.write('GET /v1/agent/desired HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n');
    await eventually(() => text.includes('\r\n\r\n'), 10_000, 'the answer to the node');
    expect(text).toMatch(/^HTTP\/1\.1 200 /);
    expect(text.toLowerCase()).toContain('keep-alive: timeout=1200\r\n');
    // Past the keep-alive of everyone else (1 s, and Node's 1 s of slack), it is still open.
    await new Promise((r) => setTimeout(r, 3_000));
    expect(closed).toBe(false);
  });
});
