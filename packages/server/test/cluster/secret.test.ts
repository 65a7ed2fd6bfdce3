import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MIN_CLUSTER_SECRET_CHARS, readClusterSecret } from '../../src/cluster/secret.js';

describe('readClusterSecret', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'edgefleet-secret-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const file = (name: string, text: string, mode = 0o600): string => {
    const path = join(dir, name);
    writeFileSync(path, text, { mode });
    chmodSync(path, mode); // the umask may have narrowed it
    return path;
  };

  it('reads a good secret without its surrounding whitespace', () => {
    const text = 'x'.repeat(MIN_CLUSTER_SECRET_CHARS + 10);
    expect(readClusterSecret(file('ok', `${text}\n`)).toString()).toBe(text);
  });

  it.each([
    ['missing', () => join(dir, 'absent'), /does not exist/, /head -c 48 \/dev\/urandom/],
    [
      'a directory',
      () => {
        mkdirSync(join(dir, 'd'));
        return join(dir, 'd');
      },
      /not a regular file/,
      /umask 077/,
    ],
    ['empty', () => file('empty', '\n'), /is empty/, /umask 077/],
    ['too short', () => file('short', 'hunter2hunter2'), /holds 14 characters, fewer than the 32 required/, /urandom/],
    ['world-readable', () => file('world', 'y'.repeat(48), 0o644), /accessible to other users \(mode 0644\)/, /chmod 600/],
    ['group-readable', () => file('group', 'y'.repeat(48), 0o640), /mode 0640/, /chmod 600/],
  ])('refuses a secret file that is %s, saying what to do', (_what, make, message, hint) => {
    const path = make();
    let thrown: unknown;
    try {
      readClusterSecret(path);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toMatchObject({ code: 'config', field: 'cluster-secret-file', message: expect.stringMatching(message), hint: expect.stringMatching(hint) });
  });
});
