import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { startServer } from '../src/server.js';

describe('startServer', () => {
  const cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  it('refuses a port in use with startup_failed: a 5xx (the CLI exits 1), terminal, with a hint', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => new Promise((resolve) => taken.close(resolve)));
    const port = (taken.address() as { port: number }).port;
    const dataDir = mkdtempSync(join(tmpdir(), 'edgefleet-listen-'));
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));

    const started = startServer({ dataDir, listen: `127.0.0.1:${port}`, logger: pino({ level: 'silent' }) });
    await expect(started).rejects.toMatchObject({
      code: 'startup_failed',
      status: 500,
      retry: 'terminal',
      message: expect.stringContaining(`cannot listen on 127.0.0.1:${port}`),
      hint: expect.stringContaining('another process uses that port'),
    });
  });
});
