import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { EdgefleetError } from '@edgefleet/protocol';
import { beforeEach, describe, expect, it } from 'vitest';
import { type ArtifactSource, downloadArtifact } from '../../src/artifacts/download.js';
import { LocalArtifactStore } from '../../src/artifacts/local-store.js';

describe('downloadArtifact with a source that throws, as EdgefleetClient does', () => {
  const blob = Buffer.from('a small model');
  const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
  let store: LocalArtifactStore;
  beforeEach(() => {
    const dir = mkdtempSync(join(tmpdir(), 'edgefleet-artifacts-'));
    store = new LocalArtifactStore(join(dir, 'artifacts'));
    return () => rmSync(dir, { recursive: true, force: true });
  });

  /** Throws the given errors in turn, then serves the blob. */
  function failingSource(errors: EdgefleetError[]): ArtifactSource & { calls: number } {
    const source = {
      calls: 0,
      open: async () => {
        const err = errors[source.calls];
        source.calls += 1;
        if (err !== undefined) throw err;
        return { status: 200, headers: { 'content-length': String(blob.length) }, body: Readable.from([blob]) };
      },
    };
    return source;
  }

  it('retries unreachable and 5xx errors', async () => {
    const source = failingSource([
      new EdgefleetError({ code: 'unreachable', status: 0, message: 'cannot reach', hint: '' }),
      new EdgefleetError({ code: 'internal', status: 503, message: 'busy', hint: '' }),
    ]);
    const result = await downloadArtifact({ source, digest, store, sleep: async () => {}, random: () => 0 });
    expect(result).toMatchObject({ attempts: 3, bytes: blob.length, resumedFrom: 0 });
    expect(source.calls).toBe(3);
  });

  it('passes a 403 or an untrusted server through at once', async () => {
    const refusals = [
      new EdgefleetError({ code: 'forbidden', status: 403, message: 'not yours', hint: 'ask an admin' }),
      new EdgefleetError({ code: 'server_untrusted', status: 0, message: 'bad certificate', hint: '' }),
    ];
    for (const err of refusals) {
      const source = failingSource([err]);
      await expect(downloadArtifact({ source, digest, store, sleep: async () => {} })).rejects.toBe(err);
      expect(source.calls).toBe(1);
    }
  });
});
