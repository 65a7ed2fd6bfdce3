/**
 * A SQLite store closes completely when nothing else keeps the process alive, as in
 * `edgefleet server` after SIGTERM: the child (support/stop-alone.ts) opens the store with its
 * checkpointer worker (its migrations write), closes it and then says `closed`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, expect, it } from 'vitest';

let dir = '';
afterEach(() => rmSync(dir, { recursive: true, force: true }));

it('closes the store and removes the WAL before the process ends', () => {
  dir = mkdtempSync(join(tmpdir(), 'edgefleet-checkpointer-'));
  const path = join(dir, 'fleet.db');
  // With the checkpointer worker unreferenced, its exit was never waited for: the process
  // ended inside close() (code 13 here, an unsettled top-level await; 0 under the CLI) before
  // the store closed its connection, and the WAL was left behind.
  const child = spawnSync(process.execPath, ['--conditions=edgefleet:source', '--import', 'tsx', join(import.meta.dirname, 'support/stop-alone.ts'), path], {
    cwd: resolve(import.meta.dirname, '../../../..'),
    encoding: 'utf8',
    timeout: 120_000,
  });
  expect(child.stderr).toBe('');
  expect(child.stdout).toBe('closed\n');
  expect(child.status).toBe(0);
  expect(statSync(path).size).toBeGreaterThan(0);
  // The last connection closed: SQLite checkpointed the log into the database and removed it.
  expect(existsSync(`${path}-wal`)).toBe(false);
});
