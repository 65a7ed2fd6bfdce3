import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '@edgefleet/agent';
import { writeHardwareFixture } from '@edgefleet/agent/fixtures';
import { EdgefleetClient } from '@edgefleet/protocol/node';
import { type RunningServer, startServer } from '@edgefleet/server';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../test-support/fleet.js';
import { createTestDatabase } from '../../test-support/pg-database.js';

/**
 * An agent given several server URLs (issue 18): two replicas on one PostgreSQL sharing the
 * CA and TLS material; stopping the one it uses moves it to the other with the same
 * identity, and the node is never shown offline. A URL whose server presents another CA is
 * refused, never trusted, and receives nothing but the one unauthenticated CA fetch.
 */

/** A TLS server with a CA of its own, recording every request it receives and its body. */
async function startImpostor(dir: string): Promise<{ url: string; seen: Array<{ method: string; path: string; body: string }>; close(): Promise<void> }> {
  const key = join(dir, 'impostor.key');
  const cert = join(dir, 'impostor.crt');
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
      '/CN=edgefleet fleet CA',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  const seen: Array<{ method: string; path: string; body: string }> = [];
  const server: Server = createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      seen.push({ method: req.method ?? '', path: req.url ?? '', body });
      if (req.url === '/v1/ca') res.end(readFileSync(cert));
      else res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('an agent with two server URLs', () => {
  let dir: string;
  let db: string;
  let first: RunningServer;
  let second: RunningServer;
  let ca: string;
  let adminToken: string;
  const heartbeatIntervalMs = 2_000;
  const stopped: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edgefleet-failover-'));
    db = await createTestDatabase();
    const logger = pino({ level: 'silent' });
    first = await startServer({ dataDir: join(dir, 'server-1'), db, listen: '127.0.0.1:0', heartbeatIntervalMs, logger });
    // The second replica shares the first one's CA and TLS material (a copied data dir).
    cpSync(join(dir, 'server-1'), join(dir, 'server-2'), { recursive: true });
    second = await startServer({ dataDir: join(dir, 'server-2'), db, listen: '127.0.0.1:0', heartbeatIntervalMs, logger });
    ca = readFileSync(first.caCertPath, 'utf8');
    adminToken = readFileSync(first.adminTokenFile, 'utf8').trim();
  });

  afterAll(async () => {
    for (const stop of stopped.reverse()) await stop().catch(() => {});
    await second?.close();
    await first?.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  async function startAgent(servers: string[], random: number, token: string): Promise<{ agent: Agent; done: Promise<void>; dataDir: string }> {
    const n = stopped.length;
    const hwRoot = join(dir, `hw-${n}`);
    const dataDir = join(dir, `agent-${n}`);
    await writeHardwareFixture(hwRoot, 'pi5-hailo8l', { serial: `${n + 1}`.padStart(16, 'b') });
    const agent = new Agent({ server: servers, token, dataDir, hwRoot, random: () => random, log: pino({ level: 'silent' }) });
    const done = agent.run();
    done.catch(() => {});
    stopped.push(async () => {
      agent.stop();
      await done.catch(() => {});
    });
    return { agent, done, dataDir };
  }

  it('keeps heartbeating through the second when the first stops, without enrolling again or going offline', async () => {
    const admin = new EdgefleetClient({ server: second.url, ca, token: adminToken });
    stopped.push(() => admin.close());
    const token = (await admin.createBootstrapToken({})).token;
    // random 0: the first URL is the agent's first choice.
    const { agent, dataDir } = await startAgent([first.url, second.url], 0, token);
    const nodeId = await eventually(() => agent.state.lastHeartbeatAt !== undefined && agent.state.nodeId, 60_000, 'the first heartbeat');
    const identity = readFileSync(join(dataDir, 'identity.json'), 'utf8');

    await first.close();
    const after = Date.now();
    // Watch the node's status on the surviving replica the whole time.
    const statuses = new Set<string>();
    const beats: number[] = [];
    await eventually(
      async () => {
        statuses.add((await admin.getNode(nodeId)).status);
        const beat = agent.state.lastHeartbeatAt ?? 0;
        if (beat > after && !beats.includes(beat)) beats.push(beat);
        return beats.length >= 4;
      },
      120_000,
      'four heartbeats after the first server stopped',
    ).catch((err: Error) => {
      throw new Error(`${err.message} (heartbeats ${beats.length}, statuses ${[...statuses]}, last error ${agent.state.lastError})`);
    });
    expect(statuses).toEqual(new Set(['online']));
    expect(agent.state.nodeId).toBe(nodeId);
    expect(readFileSync(join(dataDir, 'identity.json'), 'utf8')).toBe(identity);
    expect((await admin.listNodes()).items.map((n) => n.id)).toEqual([nodeId]);
  }, 240_000);

  it('refuses a URL whose server presents another CA: it never gets a request, and enrollment stops there', async () => {
    const impostor = await startImpostor(dir);
    stopped.push(() => impostor.close());
    // A client pinned to the fleet CA, the impostor asked first: refused, not skipped quietly.
    const pinned = new EdgefleetClient({ server: [impostor.url, second.url], ca, token: adminToken, random: () => 0 });
    stopped.push(() => pinned.close());
    await expect(pinned.listNodes()).rejects.toMatchObject({ code: 'server_untrusted' });
    // Asked second, after the first cannot be reached: refused too.
    const closedPort = `https://127.0.0.1:${first.port}`;
    const afterFailover = new EdgefleetClient({ server: [closedPort, impostor.url], ca, token: adminToken, random: () => 0 });
    stopped.push(() => afterFailover.close());
    await expect(afterFailover.serverInfo()).rejects.toMatchObject({ code: 'server_untrusted' });
    expect(impostor.seen).toEqual([]);

    // Enrollment: the CA fetch (unauthenticated, checked by hash) is all the impostor sees;
    // the token and the CSR never leave for it, and the agent stops with the pin's error.
    const admin = new EdgefleetClient({ server: second.url, ca, token: adminToken });
    stopped.push(() => admin.close());
    const token = (await admin.createBootstrapToken({})).token;
    const { done } = await startAgent([impostor.url, second.url], 0, token);
    await expect(done).rejects.toMatchObject({ code: 'server_untrusted' });
    expect(impostor.seen.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /v1/ca']);
    expect(JSON.stringify(impostor.seen)).not.toContain(token);
  }, 120_000);
});
