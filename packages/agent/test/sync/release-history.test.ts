import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ReleaseHistory } from '../../src/sync/release-history.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'release-history-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const at = (day: number): string => `2026-12-${String(day).padStart(2, '0')}T00:00:00.000Z`;
const entry = (deployment: string, day: number) => ({ deployment, signedAt: at(day), value: `sig-${deployment}-${day}`, keyId: 'k' });

describe('ReleaseHistory', () => {
  it('puts the floor at the release accepted before the newest (the newest when alone), per deployment', () => {
    const h = new ReleaseHistory();
    expect(h.floor('a')).toBeUndefined();
    h.record([entry('a', 2), entry('b', 5)]);
    expect(h.floor('a')).toBe(at(2));
    h.record([entry('a', 4), entry('a', 1)]);
    expect(h.floor('a')).toBe(at(2));
    expect(h.floor('b')).toBe(at(5));
    expect(h.accepted('a', 'sig-a-1')).toBe(true);
    expect(h.accepted('b', 'sig-a-1')).toBe(false);
  });

  it('keeps its floor across a restart (a power cut does not lower it), in a file only the agent reads', () => {
    new ReleaseHistory(dir).record([entry('a', 3)]);
    const again = new ReleaseHistory(dir);
    expect(again.floor('a')).toBe(at(3));
    expect(again.accepted('a', 'sig-a-3')).toBe(true);
    expect(statSync(join(dir, 'release-history.json')).mode & 0o777).toBe(0o600);
  });

  it('keeps the newest twenty per deployment: the oldest go first, the floor stays', () => {
    const h = new ReleaseHistory();
    h.record(Array.from({ length: 25 }, (_, i) => entry('a', i + 1)));
    expect(h.accepted('a', 'sig-a-1')).toBe(false);
    expect(h.accepted('a', 'sig-a-6')).toBe(true);
    expect(h.floor('a')).toBe(at(24));
  });

  it('refuses to start from a file it cannot read, rather than dropping the floor', () => {
    const file = join(dir, 'release-history.json');
    for (const text of ['', '{"version":2}', 'null']) {
      writeFileSync(file, text);
      expect(() => new ReleaseHistory(dir)).toThrow(/the release history in .* cannot be read .*restore it from a backup, or delete it/);
      expect(readFileSync(file, 'utf8')).toBe(text);
    }
  });
});
