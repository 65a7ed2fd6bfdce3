import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { EdgefleetClient } from '@edgefleet/protocol/node';
import { type RunningServer, startServer } from '@edgefleet/server';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * All connections together are capped (issue 18): clients that pile up connections — an
 * open-loop load, a reconnect storm — must not take every file descriptor of the server,
 * which then fails to open its own files ("EMFILE: too many open files"). Past the cap a new
 * connection is closed before TLS; the ones held keep working, and room comes back as they close.
 */
describe('the cap on connections held at once', () => {
  const CAP = 4;
  let dir: string;
  let server: RunningServer;
  let ca: string;
  const held: TLSSocket[] = [];
  const lines: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edgefleet-max-connections-'));
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    server = await startServer({ dataDir: join(dir, 'server'), listen: '127.0.0.1:0', logger, connections: { maxConnections: CAP } });
    ca = readFileSync(server.caCertPath, 'utf8');
  });

  afterAll(async () => {
    for (const s of held) s.destroy();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A TLS connection to the server: resolves with the socket once the handshake is done, rejects if it is closed first. */
  function tlsConnection(): Promise<TLSSocket> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: server.port, ca, servername: 'localhost' });
      socket.once('secureConnect', () => resolve(socket));
      socket.once('error', reject);
      socket.once('close', () => reject(new Error('closed before the TLS handshake finished')));
    });
  }

  it('closes a connection past the cap before TLS, and logs it', async () => {
    for (let i = 0; i < CAP; i++) held.push(await tlsConnection());
    await expect(tlsConnection()).rejects.toThrow(/closed before the TLS handshake|ECONNRESET|socket disconnected/);
    expect(lines.some((l) => /closed 1 new connections: the server holds its maximum of 4/.test(String(l.msg)))).toBe(true);
  });

  it('serves again once a held connection closes', async () => {
    const one = held.pop() as TLSSocket;
    await new Promise<void>((resolve) => {
      one.once('close', () => resolve());
      one.destroy();
    });
    // The server sees the close a moment after the client does.
    const client = new EdgefleetClient({ server: server.url, ca, token: readFileSync(server.adminTokenFile, 'utf8').trim() });
    try {
      let tokens: unknown[] | undefined;
      for (let attempt = 0; tokens === undefined && attempt < 50; attempt++) {
        tokens = await client.listApiTokens().catch(async () => {
          await new Promise((r) => setTimeout(r, 100));
          return undefined;
        });
      }
      expect(tokens).toHaveLength(1);
    } finally {
      await client.close();
    }
  });
});
