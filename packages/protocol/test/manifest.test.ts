import { describe, expect, it } from 'vitest';
import { type DeploymentManifestInput, DeploymentManifestSchema, ReleaseSchema } from '../src/manifest.js';

const A = `sha256:${'a'.repeat(64)}`;
const B = `sha256:${'b'.repeat(64)}`;

function manifest(spec: Record<string, unknown> = {}, metadata: Record<string, unknown> = {}): DeploymentManifestInput {
  return {
    apiVersion: 'edgefleet.dev/v1',
    kind: 'Deployment',
    metadata: { name: 'detect', ...metadata },
    spec: { selector: 'ai.accelerator=hailo8l', release: { version: '1.0.0', model: { artifact: A, format: 'onnx' } }, ...spec },
  } as DeploymentManifestInput;
}

/** The first issue of a refused manifest, as "path: message". */
function refusal(value: unknown): string {
  const r = DeploymentManifestSchema.safeParse(value);
  if (r.success) return 'accepted';
  const issue = r.error.issues[0];
  return `${issue?.path.join('.')}: ${issue?.message}`;
}

describe('DeploymentManifestSchema: valid manifests', () => {
  it('fills the release defaults', () => {
    const m = DeploymentManifestSchema.parse(manifest());
    expect(m.spec.release.runtime).toEqual({ kind: 'model-server', accelerator: 'none' });
    expect(m.spec.release.health).toEqual({ path: '/v2/health/ready', interval: '5s', failureThreshold: 3, window: '30s' });
    expect(m.spec.rollout).toBeUndefined();
  });

  it.each([
    ['a selector string', 'cpu.arch=arm64,ai.accelerator in (hailo8l)'],
    ['an empty selector string (every node)', ''],
    ['matchLabels', { matchLabels: { 'cpu.arch': 'arm64' } }],
    ['matchExpressions', { matchExpressions: [{ key: 'ai.accelerator', operator: 'In', values: ['hailo8l', 'hailo8'] }] }],
    ['both', { matchLabels: { 'cpu.arch': 'arm64' }, matchExpressions: [{ key: 'gpu', operator: 'DoesNotExist' }] }],
    ['an empty object', {}],
  ])('accepts %s as the selector', (_what, selector) => {
    expect(refusal(manifest({ selector }))).toBe('accepted');
  });

  it('gives Exists/DoesNotExist requirements an empty values list', () => {
    const m = DeploymentManifestSchema.parse(manifest({ selector: { matchExpressions: [{ key: 'gpu', operator: 'Exists' }] } }));
    expect(m.spec.selector).toEqual({ matchExpressions: [{ key: 'gpu', operator: 'Exists', values: [] }] });
  });

  it('accepts a process runtime with its fields, a fallback, health and env', () => {
    const m = DeploymentManifestSchema.parse(
      manifest({
        release: {
          version: '2',
          model: { artifact: A, format: 'hef' },
          fallback: { artifact: B, format: 'onnx' },
          runtime: { kind: 'process', command: 'hailo-serve', args: ['--x'], env: { A_B: '1' }, workingDir: '/opt', accelerator: 'required', port: 9000 },
          health: { path: '/ready', interval: '2s', failureThreshold: 5, window: '1m' },
          env: { _X: 'y' },
          annotations: { 'any key at all': 'v' },
        },
      }),
    );
    expect(m.spec.release.runtime.accelerator).toBe('required');
    expect(m.spec.release.fallback).toEqual({ artifact: B, format: 'onnx' });
    expect(m.spec.release.health.interval).toBe('2s');
  });

  it.each(['onnx', 'hef', 'tflite', 'other'])('accepts model format %s', (format) => {
    expect(refusal(manifest({ release: { version: '1', model: { artifact: A, format } } }))).toBe('accepted');
  });

  it('fills the rollout defaults and appends a last 100 % step', () => {
    const m = DeploymentManifestSchema.parse(manifest({ rollout: { steps: [{ percent: 10, bake: '5m' }] } }));
    expect(m.spec.rollout?.steps).toEqual([
      { percent: 10, bake: '5m' },
      { percent: 100, bake: '0s' },
    ]);
    expect(m.spec.rollout?.onFailure).toBe('rollback');
    expect(m.spec.rollout?.cohortBy).toEqual(['geolocation.site', 'ai.accelerator']);
  });

  it('keeps the health defaults equal to those the release default writes', () => {
    // releaseDigest relies on it: an omitted health and a health: {} must hash the same.
    const omitted = ReleaseSchema.parse({ version: '1', model: { artifact: A, format: 'onnx' } });
    const empty = ReleaseSchema.parse({ version: '1', model: { artifact: A, format: 'onnx' }, health: {}, runtime: { kind: 'model-server' } });
    expect(empty).toEqual(omitted);
  });
});

describe('DeploymentManifestSchema: refusals name the field', () => {
  const cases: Array<[string, unknown, string | RegExp]> = [
    ['wrong apiVersion', { ...manifest(), apiVersion: 'v1' }, /^apiVersion: /],
    ['wrong kind', { ...manifest(), kind: 'Pod' }, /^kind: /],
    ['an unknown top-level field', { ...manifest(), status: {} }, /Unrecognized key: "status"/],
    ['an unknown metadata field', manifest({}, { namespace: 'x' }), /^metadata: Unrecognized key: "namespace"/],
    ['an unknown spec field', manifest({ replicas: 3 }), /^spec: Unrecognized key: "replicas"/],
    ['an unknown release field', manifest({ release: { version: '1', model: { artifact: A, format: 'onnx' }, image: 'x' } }), /^spec\.release: .*"image"/],
    ['an unknown model field', manifest({ release: { version: '1', model: { artifact: A, format: 'onnx', size: 1 } } }), /^spec\.release\.model: .*"size"/],
    ['an unknown selector field', manifest({ selector: { matchLabel: { a: 'b' } } }), /^spec\.selector/],
    ['an uppercase name', manifest({}, { name: 'Detect' }), /^metadata\.name: must be lowercase/],
    ['a name with a dot', manifest({}, { name: 'a.b' }), /^metadata\.name: /],
    ['a 64-character name', manifest({}, { name: 'a'.repeat(64) }), /^metadata\.name: /],
    ['an empty name', manifest({}, { name: '' }), /^metadata\.name: /],
    ['a number as version', manifest({ release: { version: 1, model: { artifact: A, format: 'onnx' } } }), /^spec\.release\.version: .*string/],
    ['an empty version', manifest({ release: { version: '', model: { artifact: A, format: 'onnx' } } }), /^spec\.release\.version: /],
    ['no model', manifest({ release: { version: '1' } }), /^spec\.release\.model: /],
    [
      'an uppercase digest',
      manifest({ release: { version: '1', model: { artifact: A.toUpperCase(), format: 'onnx' } } }),
      /^spec\.release\.model\.artifact: must be "sha256:"/,
    ],
    ['a short digest', manifest({ release: { version: '1', model: { artifact: 'sha256:abc', format: 'onnx' } } }), /^spec\.release\.model\.artifact: /],
    [
      'a sha512 digest',
      manifest({ release: { version: '1', model: { artifact: `sha512:${'a'.repeat(128)}`, format: 'onnx' } } }),
      /^spec\.release\.model\.artifact: /,
    ],
    [
      'a digest with a newline after it',
      manifest({ release: { version: '1', model: { artifact: `${A}\n`, format: 'onnx' } } }),
      /^spec\.release\.model\.artifact: /,
    ],
    [
      'a bad fallback digest',
      manifest({ release: { version: '1', model: { artifact: A, format: 'onnx' }, fallback: { artifact: 'x', format: 'onnx' } } }),
      /^spec\.release\.fallback\.artifact: /,
    ],
    ['an unknown format', manifest({ release: { version: '1', model: { artifact: A, format: 'gguf' } } }), /^spec\.release\.model\.format: /],
    [
      'an unknown runtime kind',
      manifest({ release: { version: '1', model: { artifact: A, format: 'onnx' }, runtime: { kind: 'docker' } } }),
      /^spec\.release\.runtime\.kind: /,
    ],
    [
      'a process without command',
      manifest({ release: { version: '1', model: { artifact: A, format: 'onnx' }, runtime: { kind: 'process' } } }),
      'spec.release.runtime.command: a process runtime needs a command',
    ],
    [
      'a model-server with a command',
      manifest({ release: { version: '1', model: { artifact: A, format: 'onnx' }, runtime: { kind: 'model-server', command: 'x' } } }),
      /^spec\.release\.runtime\.command: the model-server runtime takes no command/,
    ],
    [
      'port 0',
      manifest({ release: { version: '1', model: { artifact: A, format: 'onnx' }, runtime: { kind: 'model-server', port: 0 } } }),
      /^spec\.release\.runtime\.port: /,
    ],
    [
      'port 65536',
      manifest({ release: { version: '1', model: { artifact: A, format: 'onnx' }, runtime: { kind: 'model-server', port: 65536 } } }),
      /^spec\.release\.runtime\.port: /,
    ],
    [
      'a bad env name',
      manifest({ release: { version: '1', model: { artifact: A, format: 'onnx' }, env: { 'A-B': 'x' } } }),
      /^spec\.release\.env\.A-B: Invalid key/,
    ], // zod 4 keeps the regex message in a nested issue,
    ['a number as env value', manifest({ release: { version: '1', model: { artifact: A, format: 'onnx' }, env: { A: 1 } } }), /^spec\.release\.env\.A: /],
    [
      'a relative health path',
      manifest({ release: { version: '1', model: { artifact: A, format: 'onnx' }, health: { path: 'ready' } } }),
      /^spec\.release\.health\.path: /,
    ],
    [
      'a bad health interval',
      manifest({ release: { version: '1', model: { artifact: A, format: 'onnx' }, health: { interval: 'soon' } } }),
      /^spec\.release\.health\.interval: must be a duration/,
    ],
    [
      'failureThreshold 0',
      manifest({ release: { version: '1', model: { artifact: A, format: 'onnx' }, health: { failureThreshold: 0 } } }),
      /^spec\.release\.health\.failureThreshold: /,
    ],
    [
      'an rsa signature',
      manifest({ release: { version: '1', model: { artifact: A, format: 'onnx' }, signature: { algorithm: 'rsa', keyId: '0123456789abcdef', value: 'x' } } }),
      /^spec\.release\.signature\.algorithm: /,
    ],
    [
      'a short key id',
      manifest({ release: { version: '1', model: { artifact: A, format: 'onnx' }, signature: { algorithm: 'ed25519', keyId: 'abc', value: 'x' } } }),
      /^spec\.release\.signature\.keyId: must be 16 hex digits/,
    ],
    [
      'an empty signature value',
      manifest({
        release: { version: '1', model: { artifact: A, format: 'onnx' }, signature: { algorithm: 'ed25519', keyId: '0123456789abcdef', value: '' } },
      }),
      /^spec\.release\.signature\.value: /,
    ],
    ['an unknown operator', manifest({ selector: { matchExpressions: [{ key: 'a', operator: 'Gt', values: ['1'] }] } }), /^spec\.selector/],
    ['a bad label in matchLabels', manifest({ selector: { matchLabels: { 'a b': 'c' } } }), /^spec\.selector/],
    ['a number as selector', manifest({ selector: 3 }), /^spec\.selector: /],
    [
      'rollout steps that do not increase',
      manifest({ rollout: { steps: [{ percent: 50 }, { percent: 10 }] } }),
      /^spec\.rollout\.steps\.1\.percent: must be more than/,
    ],
    ['an unknown rollout field', manifest({ rollout: { stepz: [] } }), /^spec\.rollout: unknown field "stepz"/],
    ['a string where the spec is', { ...manifest(), spec: 'x' }, /^spec: /],
    ['a list where metadata is', { ...manifest(), metadata: [] }, /^metadata: /],
  ];
  it.each(cases)('refuses %s', (_what, value, expected) => {
    const got = refusal(value);
    if (typeof expected === 'string') expect(got).toBe(expected);
    else expect(got).toMatch(expected);
  });
});

describe('container releases (issue 16)', () => {
  const IMG = `registry.example:5000/team/detector@sha256:${'c'.repeat(64)}`;
  const container = (runtime: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    manifest({ release: { version: '2.0.0', runtime: { kind: 'container', image: IMG, ...runtime }, ...extra } });

  it('accepts an image pinned by digest without a model, with ports, limits and capabilities', () => {
    const m = DeploymentManifestSchema.parse(
      container(
        { ports: [{ containerPort: 8000 }], resources: { cpu: '500m', memory: '256Mi' }, capabilities: ['NET_BIND_SERVICE'], accelerator: 'preferred' },
        {
          fallback: { artifact: A, format: 'onnx' },
          verify: { cosign: { publicKey: '-----BEGIN PUBLIC KEY-----\nMFk=\n-----END PUBLIC KEY-----\n' } },
        },
      ),
    );
    expect(m.spec.release.model).toBeUndefined();
    expect(m.spec.release.runtime.ports).toEqual([{ name: 'inference', containerPort: 8000 }]);
  });

  it('refuses a tag without a digest, with the hint to pin it', () => {
    expect(refusal(container({ image: 'registry.example:5000/team/detector:1.2' }))).toMatch(
      /^spec\.release\.runtime\.image: image "registry\.example:5000\/team\/detector:1\.2" is not pinned by digest: .*registry\.example:5000\/team\/detector@sha256:/,
    );
  });

  it.each([
    ['no image', { image: undefined }, /runtime\.image: a container runtime needs an image/],
    ['a capability outside the allowlist', { capabilities: ['SYS_ADMIN'] }, /runtime\.capabilities\.0/],
    ['a bad memory size', { resources: { memory: 'lots' } }, /memory "lots"/],
    ['port instead of ports', { port: 8080 }, /runtime\.port: a container names its ports/],
    [
      'two unnamed ports',
      {
        ports: [
          { containerPort: 1, name: 'a' },
          { containerPort: 2, name: 'b' },
        ],
      },
      /name the one serving the Open Inference Protocol/,
    ],
  ])('refuses %s', (_what, runtime, message) => {
    expect(refusal(container(runtime))).toMatch(message);
  });

  it('refuses container fields on other runtimes, and a model-server without a model', () => {
    expect(refusal(manifest({ release: { version: '1', model: { artifact: A, format: 'onnx' }, runtime: { kind: 'model-server', image: IMG } } }))).toMatch(
      /runtime\.image: "image" is for container runtimes only/,
    );
    expect(refusal(manifest({ release: { version: '1' } }))).toMatch(/^spec\.release\.model: the model-server runtime needs a model/);
    expect(refusal(manifest({ release: { version: '1', runtime: { kind: 'process', command: '/usr/bin/true' } } }))).toBe('accepted');
  });

  it('takes a fallback that is a model, a process or another image', () => {
    for (const fallback of [
      { artifact: B, format: 'onnx' },
      { kind: 'process', command: '/opt/cpu-server' },
      { kind: 'container', image: IMG },
    ])
      expect(refusal(container({}, { fallback }))).toBe('accepted');
    expect(refusal(container({}, { fallback: { kind: 'container', image: 'r.example/x:latest' } }))).toMatch(/fallback/);
  });

  it('refuses verify.cosign on a release without images', () => {
    expect(
      refusal(
        manifest({ release: { version: '1', model: { artifact: A, format: 'onnx' }, verify: { cosign: { publicKey: '-----BEGIN PUBLIC KEY-----\n' } } } }),
      ),
    ).toMatch(/spec\.release\.verify: verify\.cosign checks container images/);
  });

  it('takes an endpoint port for the site', () => {
    expect(refusal(manifest({ endpoint: { port: 8080 } }))).toBe('accepted');
    expect(refusal(manifest({ endpoint: { port: 0 } }))).toMatch(/^spec\.endpoint\.port/);
  });
});
