import { describe, expect, it } from 'vitest';
import { EdgefleetError } from '../../src/errors.js';
import { parseManifestFile, validateManifest } from '../../src/node/manifest-file.js';

const A = `sha256:${'a'.repeat(64)}`;

/** One Deployment; line 1 is apiVersion. */
function doc(name = 'detect', extraRelease = ''): string {
  return `apiVersion: edgefleet.dev/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  selector: cpu.arch=arm64
  release:
    version: "1.0.0"
    model:
      artifact: ${A}
      format: onnx
${extraRelease}`;
}

/** The error a parse throws, so its message, field and code can be checked together. */
function refusal(text: string, file = 'fleet/app.yaml'): EdgefleetError {
  try {
    parseManifestFile(text, file);
  } catch (err) {
    if (err instanceof EdgefleetError) return err;
    throw new Error(`not an EdgefleetError: ${String(err)}`);
  }
  throw new Error('the file was accepted');
}

describe('parseManifestFile: valid files', () => {
  it('parses one manifest and says where it starts', () => {
    const [m, ...rest] = parseManifestFile(doc(), 'fleet/app.yaml');
    expect(rest).toEqual([]);
    expect(m?.file).toBe('fleet/app.yaml');
    expect(m?.line).toBe(1);
    expect(m?.manifest.metadata.name).toBe('detect');
    expect(m?.manifest.spec.release.health.window).toBe('30s');
  });

  it('parses several --- separated manifests with the line of each', () => {
    const text = `# a comment\n${doc('a')}---\n${doc('b')}---\n# only a comment\n---\n${doc('c')}`;
    const out = parseManifestFile(text, 'f.yaml');
    expect(out.map((m) => [m.manifest.metadata.name, m.line])).toEqual([
      ['a', 2],
      ['b', 14],
      ['c', 28],
    ]);
  });

  it('returns both manifests of a file that names one deployment twice (the apply planner refuses the pair)', () => {
    expect(parseManifestFile(`${doc('a')}---\n${doc('a')}`, 'f.yaml').map((m) => m.manifest.metadata.name)).toEqual(['a', 'a']);
  });

  it.each([
    ['an empty file', ''],
    ['only comments', '# nothing here\n'],
    ['only separators', '---\n---\n'],
    ['only whitespace', '\n\n   \n'],
  ])('gives no manifests for %s', (_what, text) => {
    expect(parseManifestFile(text, 'f.yaml')).toEqual([]);
  });

  it('reads JSON, since JSON is YAML', () => {
    const json = JSON.stringify({
      apiVersion: 'edgefleet.dev/v1',
      kind: 'Deployment',
      metadata: { name: 'j' },
      spec: { selector: { matchLabels: { 'cpu.arch': 'arm64' } }, release: { version: '1', model: { artifact: A, format: 'onnx' } } },
    });
    expect(parseManifestFile(json, 'f.json')[0]?.manifest.spec.selector).toEqual({ matchLabels: { 'cpu.arch': 'arm64' } });
  });

  it('reads the selector forms, runtime kinds, fallback, health and rollout', () => {
    const text = `apiVersion: edgefleet.dev/v1
kind: Deployment
metadata: { name: full, labels: { team: vision } }
spec:
  selector:
    matchLabels: { cpu.arch: arm64 }
    matchExpressions:
      - { key: ai.accelerator, operator: In, values: [hailo8l, hailo8] }
      - { key: gpu, operator: DoesNotExist }
  release:
    version: 2.0.0
    model: { artifact: ${A}, format: hef }
    fallback: { artifact: ${A}, format: onnx }
    runtime: { kind: process, command: node, args: [serve.mjs], accelerator: preferred, port: 8500 }
    health: { path: /ready, interval: 2s, failureThreshold: 2, window: 20s }
  rollout:
    steps: [{ percent: 25, bake: 1m }, { percent: 100 }]
    maxUnavailablePerSite: 25%
`;
    const m = parseManifestFile(text, 'f.yaml')[0]?.manifest;
    expect(m?.spec.release.version).toBe('2.0.0');
    expect(m?.spec.release.runtime).toMatchObject({ kind: 'process', command: 'node', accelerator: 'preferred', port: 8500 });
    expect(m?.spec.rollout?.steps).toEqual([
      { percent: 25, bake: '1m' },
      { percent: 100, bake: '0s' },
    ]);
    expect(m?.spec.rollout?.maxUnavailablePerSite).toBe('25%');
  });

  it('reads YAML 1.2: a date-like or number-like version must be quoted to stay text, yes/no are strings', () => {
    expect(parseManifestFile(doc().replace('"1.0.0"', '2024-01-02'), 'f.yaml')[0]?.manifest.spec.release.version).toBe('2024-01-02');
    expect(refusal(doc().replace('"1.0.0"', '1.0')).message).toMatch(/^fleet\/app\.yaml:8: spec\.release\.version: .*expected string/);
    expect(parseManifestFile(doc().replace('"1.0.0"', 'yes'), 'f.yaml')[0]?.manifest.spec.release.version).toBe('yes');
  });

  it('reads a file with a byte order mark and CRLF line ends', () => {
    expect(parseManifestFile(`\ufeff${doc().replaceAll('\n', '\r\n')}`, 'f.yaml')[0]?.manifest.metadata.name).toBe('detect');
  });

  it('expands a few aliases', () => {
    const text = `${doc('a').replace('    model:', '    model: &m')}---\n${doc('b').replace(/ {4}model:\n.*\n.*\n/, '    model: *m\n')}`;
    // aliases do not cross documents: the second document's alias is an error, at its document's line
    expect(refusal(text).message).toMatch(/^fleet\/app\.yaml:13: YAML error: Unresolved alias/);
    const same = `${doc('a').replace('    model:', '    model: &m')}    fallback: *m\n`;
    expect(parseManifestFile(same, 'f.yaml')[0]?.manifest.spec.release.fallback).toEqual({ artifact: A, format: 'onnx' });
  });
});

describe('parseManifestFile: refusals name the file, the line and the field', () => {
  const cases: Array<[string, string, string, string | undefined]> = [
    // what, text, message, field
    ['a wrong apiVersion', doc().replace('edgefleet.dev/v1', 'apps/v1'), 'fleet/app.yaml:1: apiVersion "apps/v1" is not supported', 'apiVersion'],
    ['a missing apiVersion', doc().replace('apiVersion: edgefleet.dev/v1\n', ''), 'fleet/app.yaml:1: apiVersion null is not supported', 'apiVersion'],
    ['a wrong kind', doc().replace('kind: Deployment', 'kind: Pod'), 'fleet/app.yaml:2: kind "Pod" is not supported', 'kind'],
    [
      'a bad name',
      doc('Detect_1'),
      'fleet/app.yaml:4: metadata.name: must be lowercase letters, digits and "-", starting and ending with a letter or digit',
      'metadata.name',
    ],
    [
      'a bad digest',
      doc().replace(A, 'sha256:abc'),
      'fleet/app.yaml:10: spec.release.model.artifact: must be "sha256:" followed by 64 lowercase hex digits',
      'spec.release.model.artifact',
    ],
    [
      'a wrong type',
      doc('detect', '    health: { failureThreshold: "3" }\n'),
      'fleet/app.yaml:12: spec.release.health.failureThreshold: Invalid input: expected number, received string',
      'spec.release.health.failureThreshold',
    ],
    [
      'a missing field',
      doc().replace(/ {4}model:\n.*\n.*\n/, ''),
      'fleet/app.yaml:8: spec.release.model: the model-server runtime needs a model (or use kind: process or container)',
      'spec.release.model',
    ],
    ['an unknown top-level field', `${doc()}status: {}\n`, 'fleet/app.yaml:12: status: Unrecognized key: "status"', 'status'],
    ['an unknown release field', doc('detect', '    image: nginx\n'), 'fleet/app.yaml:12: spec.release.image: Unrecognized key: "image"', 'spec.release.image'],
    [
      'an unknown rollout field',
      `${doc()}  rollout:\n    steps: [{ percent: 10 }]\n    stepz: []\n`,
      'fleet/app.yaml:14: spec.rollout.stepz: unknown field "stepz"',
      'spec.rollout.stepz',
    ],
    [
      'an invalid label',
      doc().replace('  name: detect', '  name: detect\n  labels: { "bad key!": x }'),
      'fleet/app.yaml:5: metadata.labels.bad key!: invalid label "bad key!=x": ',
      'metadata.labels.bad key!',
    ],
  ];
  it.each(cases)('refuses %s', (_what, text, message, field) => {
    const err = refusal(text);
    expect(err.code).toBe('invalid_manifest');
    expect(err.status).toBe(400);
    expect(err.message.slice(0, message.length)).toBe(message);
    expect(err.field).toBe(field);
    expect(err.hint).not.toBe('');
  });

  it('counts lines from the top of the file in a later document', () => {
    const err = refusal(`${doc('a')}---\n${doc('b').replace(A, 'sha256:abc')}`);
    expect(err.message).toMatch(/^fleet\/app\.yaml:22: spec\.release\.model\.artifact: /);
  });

  it.each([
    ['a flow sequence left open', `${doc()}    args: [a, b\n`, 13],
    ['a tab as indentation', doc().replace('  name: detect', '\tname: detect'), 4],
    ['a duplicate key', `${doc()}spec: {}\n`, 12],
  ])('names the file and line of a YAML error: %s', (_what, text, line) => {
    const err = refusal(text);
    expect(err.message).toMatch(new RegExp(`^fleet/app\\.yaml:${line}: YAML syntax error: `));
    expect(err.code).toBe('invalid_manifest');
  });

  it('names the file and document line of an alias to no anchor (a raw ReferenceError before)', () => {
    expect(refusal(`# x\n${doc()}    fallback: *nowhere\n`).message).toMatch(/^fleet\/app\.yaml:2: YAML error: Unresolved alias/);
  });

  it.each([
    ['at the top', `${doc()}spec: {}\n`, 12, 'spec'],
    ['in a nested mapping', doc('detect', '    annotations:\n      a: x\n      b: y\n      a: z\n'), 15, 'a'],
    ['in a flow mapping', doc('detect', '    env: { A: "1", B: "2", A: "3" }\n'), 12, 'A'],
    ['in a mapping inside a list', `${doc()}  rollout:\n    steps:\n      - { percent: 10, percent: 20 }\n`, 14, 'percent'],
    ['as a number and as a string (one property name in JSON)', doc('detect', '    annotations:\n      1: x\n      "1": y\n'), 14, '1'],
    ['as true and as "true"', doc('detect', '    annotations: { true: x, "true": y }\n'), 12, 'true'],
  ])('refuses a key written twice %s, naming it and its line', (_what, text, line, key) => {
    expect(refusal(text).message).toBe(`fleet/app.yaml:${line}: YAML syntax error: Map keys must be unique (${JSON.stringify(key)} is written twice)`);
  });

  it('allows the same key in different mappings', () => {
    const text = doc('detect', `    fallback:\n      artifact: ${A}\n      format: onnx\n`);
    expect(parseManifestFile(text, 'f.yaml')[0]?.manifest.spec.release.fallback).toMatchObject({ format: 'onnx' });
  });

  it('reads a mapping of 5,000 keys (the duplicate check is one pass, not every pair)', () => {
    const many = Array.from({ length: 5_000 }, (_, i) => `      k${i}: v`).join('\n');
    const m = parseManifestFile(doc('detect', `    annotations:\n${many}\n`), 'f.yaml')[0]?.manifest;
    expect(Object.keys(m?.spec.release.annotations ?? {})).toHaveLength(5_000);
    expect(refusal(doc('detect', `    annotations:\n${many}\n      k4999: again\n`)).message).toMatch(/"k4999" is written twice/);
  });

  it.each([
    ['a scalar', 'hello'],
    ['a list', '- a\n- b\n'],
    ['a number', '42'],
  ])('refuses %s where a manifest should be', (_what, text) => {
    expect(refusal(text).message).toBe('fleet/app.yaml:1: a manifest must be a mapping with apiVersion, kind, metadata and spec');
  });

  it('refuses the whole file when one document of it is bad', () => {
    expect(() => parseManifestFile(`${doc('a')}---\n${doc('B')}`, 'f.yaml')).toThrow(/^f\.yaml:16: metadata\.name: /);
  });
});

describe('parseManifestFile: hostile input', () => {
  it('refuses an alias bomb (billion laughs) with a manifest error, not a raw ReferenceError', () => {
    const levels = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 9; i++) {
      const prev = String.fromCharCode(96 + i);
      const cur = String.fromCharCode(97 + i);
      levels.push(`${cur}: &${cur} [${Array(10).fill(`*${prev}`).join(',')}]`);
    }
    const err = refusal(`${levels.join('\n')}\n`);
    expect(err.message).toMatch(/^fleet\/app\.yaml:1: YAML error: .*alias/i);
  });

  it.each([
    ['flow sequences', `a: ${'['.repeat(5000)}${']'.repeat(5000)}`],
    ['flow mappings', `a: ${'{a: '.repeat(5000)}1${'}'.repeat(5000)}`],
    ['block mappings', Array.from({ length: 2000 }, (_, i) => `${' '.repeat(i)}k:`).join('\n')],
  ])('refuses deeply nested %s with a manifest error naming the file, whatever the stack size', (_what, text) => {
    // Where the parser runs out of stack depends on the thread's stack size: it is then a
    // YAML error; with a larger stack it parses and the schema refuses it. Never a crash.
    const err = refusal(text);
    expect(err.message).toMatch(/^fleet\/app\.yaml:\d+: /);
  });

  it('takes an unknown tag as the plain value it tags (no code runs)', () => {
    const m = parseManifestFile(doc().replace('"1.0.0"', '!!js/function "x"'), 'f.yaml')[0]?.manifest;
    expect(m?.spec.release.version).toBe('x');
  });

  it('drops a __proto__ key without touching any prototype', () => {
    const m = parseManifestFile(doc('detect', '    annotations: { __proto__: { polluted: "yes" }, a: b }\n'), 'f.yaml')[0]?.manifest;
    expect(m?.spec.release.annotations).toEqual({ a: 'b' });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('does not treat << as a merge key (YAML 1.2): the merged fields are missing, and named', () => {
    const text = doc().replace('metadata:\n  name: detect', 'base: &m { name: detect }\nmetadata:\n  <<: *m');
    expect(refusal(text).field).toBe('metadata.name');
  });
});

describe('validateManifest', () => {
  it('uses the document line when no line map is given', () => {
    expect(() => validateManifest({ apiVersion: 'x' }, 'api', 7)).toThrow(/^api:7: apiVersion "x" is not supported/);
    expect(() => validateManifest(null, 'api', 3)).toThrow(/^api:3: a manifest must be a mapping/);
  });
});
