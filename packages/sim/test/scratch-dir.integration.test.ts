/**
 * A simulation's node folder (in /dev/shm, so in RAM) does not outlive its process: a bench
 * interrupted with Ctrl-C used to leave it behind, 19 of them and 5.5 GB here at one point.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { expect, it } from 'vitest';
import { temporaryScratchDir } from '../src/simulation.js';

it('removes the scratch folder when the process exits without stopping the simulation', () => {
  const child = spawnSync(process.execPath, ['--conditions=edgefleet:source', '--import', 'tsx', join(import.meta.dirname, 'support/exit-mid-run.ts')], {
    cwd: resolve(import.meta.dirname, '../../..'),
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(child.status).toBe(130);
  const path = child.stdout.trim();
  expect(path).toMatch(/edgefleet-sim-/);
  expect(existsSync(path)).toBe(false);
});

it('removes it at once on remove(), and leaves no exit hook behind (a long run makes many)', () => {
  const hooks = process.listenerCount('exit');
  const scratch = temporaryScratchDir();
  expect(existsSync(scratch.path)).toBe(true);
  expect(process.listenerCount('exit')).toBe(hooks + 1);
  scratch.remove();
  expect(existsSync(scratch.path)).toBe(false);
  expect(process.listenerCount('exit')).toBe(hooks);
});
