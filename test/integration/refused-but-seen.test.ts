/**
 * Issue 18: the server's own overload must not list a working node offline. In a release to
 * 7,500 nodes the server answered thousands of agent requests with 429; nodes whose
 * heartbeats were refused for 90 s were listed offline, and the rollout left 1,210 of them
 * out as unreachable (docs/BENCHMARKS.md). A refused request still proves its node alive:
 * the node was authenticated before the refusal, so the server now moves its lastSeen.
 *
 * Performed for real over TLS with two enrolled nodes' identities and a small budget of agent
 * upload bytes: node A holds most of the budget with an upload whose body it never finishes;
 * node B's upload is refused at the door with 429, before its body is read. B's lastSeen must
 * move to the time of the refusal (it stayed at B's last heartbeat before). No check depends
 * on the machine's speed: the test waits for the refusal, then for the write.
 */
import { connect, type TLSSocket } from 'node:tls';
import { TELEMETRY_CONTENT_TYPE } from '@edgefleet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadIdentity, type NodeIdentity } from '../../packages/agent/src/identity/store.js';
import { eventually, startTestFleet, type TestFleet } from '../../test-support/fleet.js';

describe('a node whose upload the server refuses for overload (issue 18)', () => {
  let fleet: TestFleet;
  const sockets: TLSSocket[] = [];

  beforeAll(async () => {
    // 1,000 bytes of agent bodies in all: one held 900-byte upload fills it.
    fleet = await startTestFleet({ admission: { agentBodyBytes: 1_000 } });
  }, 60_000);

  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await fleet?.close();
  });

  /** Opens a TLS connection as the node and writes `text`; the answer accumulates in `received()`. */
  async function speakAs(identity: NodeIdentity, text: string): Promise<{ received: () => string }> {
    const socket = connect({
      host: '127.0.0.1',
      port: fleet.server.port,
      ca: identity.caPem,
      cert: identity.certPem,
      key: identity.keyPem,
      servername: 'localhost',
    });
    sockets.push(socket);
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
    });
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));
    socket.write(text);
    return { received: () => received };
  }

  const upload = (length: number, body: string): string =>
    `POST /v1/agent/telemetry HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: ${TELEMETRY_CONTENT_TYPE}\r\ncontent-length: ${length}\r\n\r\n${body}`;

  async function enrolledNode(): Promise<{ id: string; identity: NodeIdentity }> {
    const a = await fleet.startAgent('pi5-nohat', { token: await fleet.createToken() });
    await eventually(() => a.agent.state.lastHeartbeatAt, 20_000, 'the node enrolled and reported');
    // The test speaks as the node from here on.
    a.agent.stop();
    await a.done.catch(() => {});
    const identity = loadIdentity(a.dataDir);
    if (identity === undefined) throw new Error('the node has no identity');
    return { id: identity.nodeId, identity };
  }

  it('counts the node as seen at the refusal, so overload never lists it offline', async () => {
    const a = await enrolledNode();
    const b = await enrolledNode();
    const lastSeen = async (id: string): Promise<number> => Date.parse((await fleet.admin.getNode(id)).lastSeen ?? '');
    const before = Date.now();
    expect(await lastSeen(b.id)).toBeLessThan(before);

    // A holds 900 of the 1,000 bytes: headers and one byte of a 900-byte body.
    await speakAs(a.identity, upload(900, '{'));
    // B's 200-byte upload does not fit: 429 at the door, its body never read. (Sent again
    // until A's reservation is in place: the two connections race to the server.)
    const refusal = await eventually(
      async () => {
        const answer = await speakAs(b.identity, upload(200, 'x'.repeat(200)));
        const text = await eventually(() => (answer.received().includes('\r\n\r\n') ? answer.received() : undefined), 10_000, "the answer to B's upload");
        return /^HTTP\/1\.1 429 /.test(text) && text;
      },
      20_000,
      "B's upload refused for the budget",
    );
    expect(refusal.toLowerCase()).toContain('retry-after:');
    expect(refusal).toContain('overloaded');

    // B was authenticated before the refusal: it is alive, and listed so.
    await eventually(async () => (await lastSeen(b.id)) >= before, 10_000, "B's lastSeen moved to the refusal");
    expect((await fleet.admin.getNode(b.id)).status).toBe('online');
  });
});
