/**
 * Property tests (issue 14, fuzzing campaign) of the manifest reader, which takes files from
 * GitOps repositories and `edgefleet apply`: any text, YAML or JSON, gives manifests or throws
 * the documented `invalid_manifest` (400) naming the file and a line; a valid manifest
 * written as JSON or as YAML reads back to the same manifest; a long input ends in bounded time.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { EdgefleetError } from '../../src/errors.js';
import type { DeploymentManifestInput } from '../../src/manifest.js';
import { parseManifestFile } from '../../src/node/manifest-file.js';

function readOrError(text: string): unknown {
  try {
    return parseManifestFile(text, 'fleet/app.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(EdgefleetError);
    const e = err as EdgefleetError;
    expect(e.code).toBe('invalid_manifest');
    expect(e.status).toBe(400);
    expect(e.message).toMatch(/^fleet\/app\.yaml:\d+: ./s);
    expect(e.hint.length).toBeGreaterThan(0);
    return e;
  }
}

const dns = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/);
const digest = fc.stringMatching(/^[0-9a-f]{64}$/).map((h) => `sha256:${h}`);
const labelValue = fc.stringMatching(/^[a-z0-9]([a-z0-9._-]{0,10}[a-z0-9])?$/);
const manifest: fc.Arbitrary<DeploymentManifestInput> = fc.record({
  apiVersion: fc.constant('edgefleet.dev/v1' as const),
  kind: fc.constant('Deployment' as const),
  metadata: fc.record({ name: dns }, { requiredKeys: ['name'] }),
  spec: fc.record({
    selector: fc.oneof(fc.constant('site=a'), fc.record({ matchLabels: fc.dictionary(dns, labelValue, { maxKeys: 3 }) })),
    release: fc.record(
      {
        version: fc.string({ minLength: 1, maxLength: 20 }),
        model: fc.record({ artifact: digest, format: fc.constantFrom('onnx', 'hef', 'tflite', 'other' as const) }),
        env: fc.dictionary(fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,10}$/), fc.string({ maxLength: 20 }), { maxKeys: 3 }),
        annotations: fc.dictionary(fc.string({ minLength: 1, maxLength: 10 }), fc.string({ maxLength: 30 }), { maxKeys: 3 }),
      },
      { requiredKeys: ['version', 'model'] },
    ),
  }),
});

/** YAML-ish text: the format's own punctuation, so the parser gets deep before it fails. */
const yamlish = fc
  .array(
    fc.constantFrom(
      'apiVersion: edgefleet.dev/v1\n',
      'kind: Deployment\n',
      '---\n',
      '- ',
      ': ',
      '  ',
      '\n',
      '&a ',
      '*a',
      '<<: *a\n',
      '!!binary ',
      '{',
      '}',
      '[',
      ']',
      '"',
      "'",
      '#',
      '|',
      '>',
      '%YAML 1.2\n',
      'x',
      'spec:\n',
      '  release:\n',
      '\t',
      '? ',
      '\u0000',
      '\ufeff',
    ),
    { maxLength: 60 },
  )
  .map((parts) => parts.join(''));

describe('parseManifestFile (property tests)', () => {
  it('gives manifests or throws invalid_manifest with a file and line, on any text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 300 }), yamlish, fc.json({ maxDepth: 4 })), (text) => {
        readOrError(text);
      }),
      { numRuns: 300 },
    );
  });

  it('gives manifests or invalid_manifest for a valid manifest with one field broken', () => {
    fc.assert(
      fc.property(manifest, fc.array(fc.string({ maxLength: 8 }), { minLength: 1, maxLength: 4 }), fc.jsonValue({ maxDepth: 2 }), (m, path, value) => {
        const broken = structuredClone(m) as unknown as Record<string, unknown>;
        let at: Record<string, unknown> = broken;
        for (const key of path.slice(0, -1)) {
          const next = at[key];
          if (typeof next !== 'object' || next === null) break;
          at = next as Record<string, unknown>;
        }
        at[path.at(-1) as string] = value;
        readOrError(JSON.stringify(broken));
        readOrError(stringify(broken));
      }),
      { numRuns: 100 },
    );
  });

  it('reads a valid manifest written as JSON or as YAML back to the same manifest', () => {
    fc.assert(
      fc.property(manifest, (m) => {
        const [fromJson] = parseManifestFile(JSON.stringify(m), 'a.json');
        const [fromYaml] = parseManifestFile(stringify(m), 'a.yaml');
        expect(fromJson?.manifest).toEqual(fromYaml?.manifest);
        expect(fromJson?.manifest.metadata.name).toBe(m.metadata.name);
        expect(fromJson?.manifest.spec.release.model).toEqual(m.spec.release.model);
        // Reading what was read is a fixed point (defaults applied once).
        expect(parseManifestFile(JSON.stringify(fromJson?.manifest), 'b.json')[0]?.manifest).toEqual(fromJson?.manifest);
      }),
      { numRuns: 80 },
    );
  });

  it('answers long and nested inputs in bounded time', () => {
    for (const text of [
      `${'['.repeat(2_000)}${']'.repeat(2_000)}`,
      `a: &a [${'x,'.repeat(100)}]\n${Array.from({ length: 30 }, (_, i) => `b${i}: &b${i} [${`*${i === 0 ? 'a' : `b${i - 1}`},`.repeat(10)}]`).join('\n')}\n`,
      `${'- '.repeat(2_000)}x\n`,
      `k: ${'"'.repeat(50_000)}`,
      '---\n'.repeat(5_000),
      `${Array.from({ length: 5_000 }, (_, i) => `k${i}: v`).join('\n')}\n`,
    ]) {
      const started = performance.now();
      readOrError(text);
      expect(performance.now() - started).toBeLessThan(20_000);
    }
  });
});
