import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { retryClassOf } from '@edgefleet/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { loadIdentity } from '../../src/identity/store.js';

describe('loadIdentity', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('is undefined on a node that has not enrolled', () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgefleet-identity-'));
    dirs.push(dir);
    expect(loadIdentity(dir)).toBeUndefined();
  });

  it('refuses an unreadable identity with startup_failed: terminal, so the agent stops and says how to re-enroll', () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgefleet-identity-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'identity.json'), '{"version":1,"certFile":"missing.crt"');
    let thrown: unknown;
    try {
      loadIdentity(dir);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toMatchObject({ code: 'startup_failed', status: 500, hint: expect.stringContaining('move') });
    expect(retryClassOf(thrown)).toBe('terminal');
  });
});
