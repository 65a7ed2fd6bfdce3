import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileDurable } from '../../src/node/durable-file.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ef-durable-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('writeFileDurable', () => {
  it('replaces the file whole, with the mode asked for, and leaves no temp file', () => {
    const path = join(dir, 'identity.json');
    writeFileSync(path, 'old');
    writeFileDurable(path, 'new content', 0o600);
    expect(readFileSync(path, 'utf8')).toBe('new content');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['identity.json']);
  });

  it('names its temp file beside the target: a dot-file with hiddenTemp, so folder readers that skip dot-files never see it', () => {
    // A directory in the target's place makes the rename fail after the temp file is written
    // and synced, so the temp file's name can be seen.
    const plain = join(dir, 'plain');
    mkdirSync(join(plain, 'occupied'), { recursive: true });
    expect(() => writeFileDurable(plain, 'x')).toThrow();
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([`plain.tmp-${process.pid}`]);

    const hidden = join(dir, 'edgefleet');
    mkdirSync(join(hidden, 'occupied'), { recursive: true });
    expect(() => writeFileDurable(hidden, 'x', 0o644, { hiddenTemp: true })).toThrow();
    expect(readdirSync(dir).filter((f) => f.startsWith('.'))).toEqual([`.edgefleet.tmp-${process.pid}`]);
  });
});
