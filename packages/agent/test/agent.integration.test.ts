import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatBootstrapToken, MAX_BACKOFF_MS } from '@edgefleet/protocol';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../src/agent.js';
import { writeHardwareFixture } from '../src/fixtures/index.js';

describe('an agent whose server is unreachable', () => {
  let dir: string;
  let closed: Server;
  let port: number;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edgefleet-agent-'));
    await writeHardwareFixture(join(dir, 'hw'), 'pi5-hailo8l');
    // A port that accepts and immediately drops connections: a server that is down.
    closed = createServer((s) => s.destroy());
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    port = (closed.address() as { port: number }).port;
  });
  afterAll(() => {
    closed.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps retrying with growing, capped backoff and never crashes', async () => {
    const delays: number[] = [];
    const agent = new Agent({
      server: `https://127.0.0.1:${port}`,
      token: formatBootstrapToken({ caFingerprint: 'a'.repeat(64), id: '0123456789ab', secret: 'S'.repeat(43) }),
      dataDir: join(dir, 'data'),
      hwRoot: join(dir, 'hw'),
      random: () => 0.999,
      log: pino({ level: 'silent' }),
      sleep: async (ms) => {
        delays.push(ms);
        if (delays.length >= 14) agent.stop();
      },
    });
    await agent.run(); // resolves on stop: no rejection for a transient failure
    expect(delays).toHaveLength(14);
    expect(delays.slice(0, 5)).toEqual([999, 1998, 3996, 7992, 15984]);
    expect(Math.max(...delays)).toBeLessThanOrEqual(MAX_BACKOFF_MS);
    expect(delays.at(-1)).toBeGreaterThan(MAX_BACKOFF_MS - 1_000);
    expect(agent.state.lastError).toMatch(/cannot reach|socket|closed/i);
  });

  it('says clearly when a fresh node has no token', async () => {
    const agent = new Agent({ server: `https://127.0.0.1:${port}`, dataDir: join(dir, 'fresh'), hwRoot: join(dir, 'hw'), log: pino({ level: 'silent' }) });
    await expect(agent.run()).rejects.toMatchObject({ code: 'config', hint: expect.stringContaining('--token') });
  });

  it('rejects a malformed token at once', async () => {
    const agent = new Agent({
      server: `https://127.0.0.1:${port}`,
      token: 'hello',
      dataDir: join(dir, 'fresh2'),
      hwRoot: join(dir, 'hw'),
      log: pino({ level: 'silent' }),
    });
    await expect(agent.run()).rejects.toMatchObject({ code: 'token_invalid' });
  });
});
