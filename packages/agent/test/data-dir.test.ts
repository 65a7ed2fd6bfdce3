import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { secureDataDir } from '../src/data-dir.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const modeOf = (path: string): string => (statSync(path).mode & 0o777).toString(8);

describe('secureDataDir', () => {
  it('makes an existing world-readable data dir private: folders 0700, files 0600, executables 0700; leaves symlinks alone', () => {
    const root = mkdtempSync(join(tmpdir(), 'edgefleet-datadir-'));
    dirs.push(root);
    const data = join(root, 'agent');
    mkdirSync(join(data, 'artifacts', 'blobs'), { recursive: true });
    for (const d of [data, join(data, 'artifacts'), join(data, 'artifacts', 'blobs')]) chmodSync(d, 0o755);
    // As an older agent left them.
    writeFileSync(join(data, 'identity.json'), '{}', { mode: 0o644 });
    writeFileSync(join(data, 'node-1.key'), 'key', { mode: 0o644 });
    writeFileSync(join(data, 'release-keys.json'), '[]', { mode: 0o666 });
    writeFileSync(join(data, 'artifacts', 'blobs', 'model'), 'm', { mode: 0o644 });
    writeFileSync(join(data, 'run.sh'), '#!/bin/sh', { mode: 0o755 });
    const outside = join(root, 'outside.txt');
    writeFileSync(outside, 'not ours', { mode: 0o644 });
    symlinkSync(outside, join(data, 'link'));

    const { fixed } = secureDataDir(data);

    for (const d of [data, join(data, 'artifacts'), join(data, 'artifacts', 'blobs')]) expect(modeOf(d), d).toBe('700');
    for (const f of ['identity.json', 'node-1.key', 'release-keys.json', join('artifacts', 'blobs', 'model')]) expect(modeOf(join(data, f)), f).toBe('600');
    expect(modeOf(join(data, 'run.sh'))).toBe('700');
    expect(modeOf(outside)).toBe('644');
    expect(fixed.length).toBe(8);
    // A second start finds nothing to fix.
    expect(secureDataDir(data).fixed).toEqual([]);
  });

  it('creates a missing data dir 0700', () => {
    const root = mkdtempSync(join(tmpdir(), 'edgefleet-datadir-'));
    dirs.push(root);
    secureDataDir(join(root, 'a', 'b'));
    expect(modeOf(join(root, 'a', 'b'))).toBe('700');
  });

  it('says what is wrong and how to fix it when the dir cannot be made private', () => {
    const root = mkdtempSync(join(tmpdir(), 'edgefleet-datadir-'));
    dirs.push(root);
    writeFileSync(join(root, 'file'), 'x');
    // A data dir path that runs through a file: mkdir fails.
    expect(() => secureDataDir(join(root, 'file', 'agent'))).toThrow(
      expect.objectContaining({ code: 'startup_failed', hint: expect.stringContaining('owns') }),
    );
  });
});
