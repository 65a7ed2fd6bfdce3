import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseImageReference } from '@edgefleet/protocol';
import { parseManifestFile } from '@edgefleet/protocol/node';
import { ImageCatalog, MB, parseImageTable } from '@edgefleet/sim';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';

/**
 * The README's "Container releases" section is documentation users copy: its YAML goes
 * through the same parsers as `edgefleet apply` and `edgefleet sim --images`, so a field
 * renamed in the schema fails here, not in a user's terminal.
 */
const README = readFileSync(join(import.meta.dirname, '../../../README.md'), 'utf8');

function section(title: string): string {
  const start = README.indexOf(`### ${title}\n`);
  if (start < 0) throw new Error(`README.md has no "### ${title}" section`);
  const end = README.slice(start + 4).search(/\n#{2,3} /);
  return end < 0 ? README.slice(start) : README.slice(start, start + 4 + end);
}

function blocks(text: string, lang: string): string[] {
  return [...text.matchAll(new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``, 'g'))].map((m) => m[1] as string);
}

describe('README: Container releases', () => {
  const text = section('Container releases');
  const [deployment, images] = blocks(text, 'yaml');

  it('shows a Deployment that `edgefleet apply` parses: a container release pinned by digest, cosign, endpoint and a fallback image', () => {
    expect(deployment).toBeDefined();
    const [m] = parseManifestFile(deployment as string, 'README.md');
    const spec = m?.manifest.spec;
    expect(spec?.release.runtime.kind).toBe('container');
    expect(parseImageReference(spec?.release.runtime.image as string).digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(spec?.endpoint).toEqual({ port: 8080 });
    expect(spec?.release.fallback).toMatchObject({ kind: 'container' });
    expect(spec?.release.model).toBeUndefined();
    // A real public key, as cosign.pub holds.
    expect(createPublicKey(spec?.release.verify?.cosign.publicKey as string).asymmetricKeyType).toBe('ec');
  });

  it('the same Deployment with a tag instead of a digest is refused with the hint to pin it', () => {
    const tagged = (deployment as string).replace(/detector@sha256:[0-9a-f]{64}/, 'detector:1.4');
    expect(() => parseManifestFile(tagged, 'README.md')).toThrow(/digest/);
  });

  it('shows an image table `edgefleet sim --images` accepts, matching the Deployment images', () => {
    const table = parseImageTable(parseYaml(images as string));
    const [m] = parseManifestFile(deployment as string, 'README.md');
    const catalog = new ImageCatalog(table);
    const primary = catalog.image(parseImageReference(m?.manifest.spec.release.runtime.image as string));
    expect(primary.layers.reduce((a, l) => a + l.bytes, 0)).toBe(52 * MB);
    expect(primary.crashProbability).toBe(1);
    const fallback = catalog.image(parseImageReference((m?.manifest.spec.release.fallback as { image: string }).image));
    expect(fallback.platforms).toEqual(['linux/amd64']);
  });

  it('uses the registry command with the documented flags', () => {
    expect(text).toMatch(/edgefleet registry add \w+ --server https:\/\/\S+ --username \S+ --password-file \S+ --ca-file ca\.pem/);
    expect(text).toMatch(/cosign sign --key cosign\.key/);
  });
});
