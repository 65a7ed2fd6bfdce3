import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../test-support/cli.js';
import { startTestFleet, type TestFleet } from '../../test-support/fleet.js';

/** `edgefleet keys trust|revoke|list` and `release sign` against a real server (issue 14, finding 7). */
describe('edgefleet keys and release sign', () => {
  let fleet: TestFleet;
  let dir: string;
  let conn: string[];
  const cli = (...args: string[]) => runCli(...args, ...conn);
  const keyId = (out: string): string => /key ([0-9a-f]{16})/.exec(out)?.[1] ?? '';

  beforeAll(async () => {
    fleet = await startTestFleet();
    dir = mkdtempSync(join(tmpdir(), 'edgefleet-cli-keys-'));
    conn = ['--server', fleet.server.url, '--token', fleet.adminToken, '--ca', join(fleet.dir, 'server/ca.crt')];
  }, 30_000);
  afterAll(async () => {
    await fleet?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('trusts a first key that signs its own expiry, endorses a second, revokes it, and signs for this fleet', async () => {
    const first = await cli('keys', 'generate', '--out', join(dir, 'first'));
    const second = await cli('keys', 'generate', '--out', join(dir, 'second'));
    const firstId = keyId(first.out);
    const secondId = keyId(second.out);

    const trusted = await cli('keys', 'trust', join(dir, 'first.pub'), '--endorse-with', join(dir, 'first.key'), '--expires', '30d');
    expect(trusted).toMatchObject({ code: 0, out: expect.stringMatching(new RegExp(`key ${firstId} trusted, expires 20\\d\\d-`)) });
    // A second key endorsed by itself is refused: it needs a trusted key.
    const self = await cli('keys', 'trust', join(dir, 'second.pub'), '--endorse-with', join(dir, 'second.key'));
    expect(self.code).not.toBe(0);
    expect(self.err).toMatch(/endorsed by another trusted key/);
    expect((await cli('keys', 'trust', join(dir, 'second.pub'), '--endorse-with', join(dir, 'first.key'))).out).toMatch(`endorsed by ${firstId}`);

    const revoked = await cli('keys', 'revoke', secondId, '--with', join(dir, 'first.key'));
    expect(revoked).toMatchObject({ code: 0, out: expect.stringContaining(`key ${secondId} revoked at`) });
    const list = await cli('keys', 'list');
    expect(list.out).toMatch(/KEY ID\s+ENDORSED BY\s+EXPIRES\s+REVOKED/);
    expect(list.out).toMatch(new RegExp(`${secondId}\\s+${firstId}\\s+\\S+\\s+\\S+ by ${firstId}`));

    // release sign asks the logged-in server for its fleet id; apply takes what it signed.
    const digest = (await fleet.admin.pushArtifact(Readable.from([Buffer.from('a model')]))).digest;
    const file = join(dir, 'detect.yaml');
    writeFileSync(
      file,
      `apiVersion: edgefleet.dev/v1\nkind: Deployment\nmetadata:\n  name: detect\nspec:\n  selector: cpu.arch=arm64\n  release:\n    version: "1"\n    model: {artifact: "${digest}", format: other}\n`,
    );
    const signed = await cli('release', 'sign', '-f', file, '--key', join(dir, 'first.key'));
    expect(signed.code).toBe(0);
    expect(readFileSync(file, 'utf8')).toContain(`fleet: ${fleet.server.caFingerprint}`);
    expect(await cli('apply', '-f', file)).toMatchObject({ code: 0, out: expect.stringContaining('deployment/detect created') });
    // Signed by the revoked key: refused.
    await cli('release', 'sign', '-f', file, '--key', join(dir, 'second.key'));
    expect((await cli('apply', '-f', file)).err).toMatch(/revoked/);
  }, 30_000);
});
