import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../test-support/cli.js';
import { startTestFleet, type TestFleet } from '../../test-support/fleet.js';
import { buildOipImage, pushImage, registryRequest, startRegistry, type TestRegistry } from '../../test-support/oci/index.js';

/**
 * Issue 16, fleet level: `edgefleet apply` of a container release whose image is named by a
 * tag alone is refused, with the hint to pin the digest, and nothing is created. The tag is
 * real (pushed to a real registry, where it resolves), so the refusal is about the tag, not
 * about an image that doesn't exist; the same manifest pinned by digest is accepted.
 * (The parser's cases are unit tests: packages/protocol/test/image-ref.test.ts.)
 */
describe('edgefleet apply of a container release', () => {
  let fleet: TestFleet;
  let registry: TestRegistry;
  let dir: string;
  let conn: string[];
  let digest: string;

  const manifestFile = (name: string, image: string): string => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(
      file,
      [
        'apiVersion: edgefleet.dev/v1',
        'kind: Deployment',
        'metadata:',
        `  name: ${name}`,
        'spec:',
        '  selector: cpu.arch=arm64',
        '  release:',
        '    version: "1.0.0"',
        '    runtime:',
        '      kind: container',
        `      image: ${image}`,
        '',
      ].join('\n'),
    );
    return file;
  };

  beforeAll(async () => {
    registry = await startRegistry();
    // Unsigned releases allowed: this file is about the image reference, not signatures.
    fleet = await startTestFleet({ requireSigned: false });
    dir = mkdtempSync(join(tmpdir(), 'edgefleet-containers-apply-'));
    conn = ['--server', fleet.server.url, '--token', fleet.adminToken, '--ca', join(fleet.dir, 'server/ca.crt')];
    digest = (await pushImage(registry, 'team/adder', buildOipImage({ c: 1 }), { tag: 'v1' })).digest;
  }, 60_000);
  afterAll(async () => {
    await fleet?.close();
    await registry?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses an image named by a tag, with the hint to pin the digest, and creates nothing', async () => {
    // The tag exists in the registry and names the image we pushed.
    const tagged = await registryRequest(registry, 'HEAD', '/v2/team/adder/manifests/v1', undefined, {
      accept: 'application/vnd.oci.image.index.v1+json',
    });
    expect(tagged.headers['docker-content-digest']).toBe(digest);

    const refused = await runCli('apply', '-f', manifestFile('tagged', `${registry.host}/team/adder:v1`), ...conn);
    expect(refused.code).not.toBe(0);
    expect(refused.err).toContain(`image "${registry.host}/team/adder:v1" is not pinned by digest`);
    expect(refused.err).toContain(`pin the digest, e.g. "${registry.host}/team/adder@sha256:…"`);
    expect((await fleet.admin.listDeployments()).items.map((d) => d.metadata.name)).not.toContain('tagged');

    // No tag at all is refused the same way.
    const bare = await runCli('apply', '-f', manifestFile('bare', `${registry.host}/team/adder`), ...conn);
    expect(bare.code).not.toBe(0);
    expect(bare.err).toContain('is not pinned by digest');

    // The same release pinned by digest (with or without the tag beside it) goes through.
    const pinned = await runCli('apply', '-f', manifestFile('pinned', `${registry.host}/team/adder:v1@${digest}`), ...conn);
    expect(pinned).toMatchObject({ code: 0, out: expect.stringContaining('deployment/pinned created') });
    expect((await fleet.admin.getDeployment('pinned')).spec.release.runtime?.image).toBe(`${registry.host}/team/adder:v1@${digest}`);
  }, 60_000);
});
