import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type DeploymentSpec, DeploymentSpecSchema, labelKeyProblem, labelValueProblem } from '@edgefleet/protocol';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { type K8sExportOptions, kubernetesWorkload } from '../../src/commands/export-k8s.js';

/** The trimmed upstream shapes (k8s-openapi/README.md names the source). */
const schema = JSON.parse(readFileSync(fileURLToPath(new URL('./k8s-openapi/apps-v1.schema.json', import.meta.url)), 'utf8'));
const ajv = new Ajv({ allErrors: true, strict: false });
ajv.addSchema(schema, 'k8s');
const validators = {
  DaemonSet: ajv.getSchema('k8s#/definitions/io.k8s.api.apps.v1.DaemonSet'),
  Deployment: ajv.getSchema('k8s#/definitions/io.k8s.api.apps.v1.Deployment'),
};

/** Loaded YAML, walked by path in the assertions (the schema check comes first). */
// biome-ignore lint/suspicious/noExplicitAny: a manifest checked by the schema, then read field by field
type Manifest = Record<string, any>;

const IMAGE = `registry.example:5000/vision/detector@sha256:${'ab'.repeat(32)}`;

function deployment(spec: unknown, name = 'detector'): { metadata: { name: string }; spec: DeploymentSpec; status: { revision: number } } {
  return { metadata: { name }, spec: DeploymentSpecSchema.parse(spec), status: { revision: 3 } };
}

const container = (runtime: Record<string, unknown> = {}, release: Record<string, unknown> = {}) => ({
  version: '2.1.0',
  runtime: { kind: 'container', image: IMAGE, ...runtime },
  ...release,
});

/**
 * Export, write as YAML, load it back (what kubectl reads), check it against the upstream
 * shapes, plus the rules the API server checks beyond the schema: label keys and values,
 * the template's labels matching the selector, extended resources with requests = limits.
 */
function exported(d: ReturnType<typeof deployment>, opts: K8sExportOptions = { kind: 'DaemonSet' }): Manifest {
  const loaded = parse(stringify(kubernetesWorkload(d, opts)));
  const validate = validators[opts.kind];
  if (validate === undefined) throw new Error('schema missing');
  if (!validate(loaded)) throw new Error(`not a valid ${opts.kind}: ${ajv.errorsText(validate.errors)}`);
  expect(loaded.apiVersion).toBe('apps/v1');
  expect(loaded.kind).toBe(opts.kind);
  const pod = loaded.spec.template;
  for (const [k, v] of Object.entries({ ...loaded.metadata.labels, ...pod.metadata.labels, ...pod.spec.nodeSelector })) {
    expect(labelKeyProblem(k), k).toBeUndefined();
    expect(labelValueProblem(v as string), `${k}=${v}`).toBeUndefined();
  }
  for (const [k, v] of Object.entries(loaded.spec.selector.matchLabels)) expect(pod.metadata.labels[k]).toBe(v);
  for (const c of pod.spec.containers) {
    for (const [r, q] of Object.entries(c.resources?.limits ?? {})) if (r.includes('/')) expect(c.resources.requests[r]).toBe(q);
  }
  return loaded;
}

describe('edgefleet export k8s', () => {
  it('makes a DaemonSet with the NFD node selector, the accelerator request, image, ports, probes and isolation', () => {
    const w = exported(
      deployment({
        selector: { matchLabels: { 'ai.accelerator': 'hailo8l', 'geolocation.site': 'warehouse-east' } },
        release: container(
          {
            accelerator: 'required',
            command: '/app/serve',
            args: ['--model', '/models/yolo.hef'],
            env: { LOG_LEVEL: 'info' },
            ports: [
              { name: 'inference', containerPort: 8000 },
              { name: 'metrics', containerPort: 9100 },
            ],
            resources: { cpu: '1.5', memory: '512Mi' },
            capabilities: ['NET_BIND_SERVICE'],
          },
          { env: { SITE_MODE: 'edge' }, health: { path: '/v2/health/ready', interval: '10s', failureThreshold: 3, window: '45s' } },
        ),
        endpoint: { port: 8080 },
      }),
    );
    const pod = w.spec.template.spec;
    expect(pod.nodeSelector).toEqual({
      'feature.node.kubernetes.io/edgefleet-ai.accelerator': 'hailo8l',
      'feature.node.kubernetes.io/edgefleet-geolocation.site': 'warehouse-east',
    });
    expect(pod.affinity).toBeUndefined();
    expect(w.spec.minReadySeconds).toBe(45);
    const c = pod.containers[0];
    expect(c.image).toBe(IMAGE);
    expect(c.command).toEqual(['/app/serve']);
    expect(c.args).toEqual(['--model', '/models/yolo.hef']);
    expect(c.env).toEqual([
      { name: 'SITE_MODE', value: 'edge' },
      { name: 'LOG_LEVEL', value: 'info' },
    ]);
    expect(c.ports).toEqual([
      { name: 'inference', containerPort: 8000, protocol: 'TCP', hostPort: 8080 },
      { name: 'metrics', containerPort: 9100, protocol: 'TCP' },
    ]);
    expect(c.resources.limits).toEqual({ cpu: '1500m', memory: String(512 * 1024 * 1024), 'edgefleet.dev/hailo8l': '1' });
    expect(c.readinessProbe).toEqual({ httpGet: { path: '/v2/health/ready', port: 'inference' }, periodSeconds: 10, failureThreshold: 3 });
    expect(c.livenessProbe.failureThreshold).toBe(6);
    expect(c.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 65534,
      runAsGroup: 65534,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] },
    });
    expect(pod.securityContext.seccompProfile).toEqual({ type: 'RuntimeDefault' });
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(w.metadata.annotations).toEqual({ 'edgefleet.dev/deployment': 'detector', 'edgefleet.dev/release-version': '2.1.0', 'edgefleet.dev/revision': '3' });
  });

  it('turns selector expressions into required node affinity', () => {
    const w = exported(
      deployment({
        selector: 'ai.accelerator in (hailo8l,hailo8),geolocation.site!=lab,hardware.ai-hat,!legacy,example.com/zone=north',
        release: container(),
      }),
    );
    const pod = w.spec.template.spec;
    expect(pod.nodeSelector).toEqual({ 'example.com/zone': 'north' });
    expect(pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms).toEqual([
      {
        matchExpressions: [
          { key: 'feature.node.kubernetes.io/edgefleet-ai.accelerator', operator: 'In', values: ['hailo8l', 'hailo8'] },
          { key: 'feature.node.kubernetes.io/edgefleet-geolocation.site', operator: 'NotIn', values: ['lab'] },
          { key: 'feature.node.kubernetes.io/edgefleet-hardware.ai-hat', operator: 'Exists' },
          { key: 'feature.node.kubernetes.io/edgefleet-legacy', operator: 'DoesNotExist' },
        ],
      },
    ]);
    // No accelerator wanted: no resource request, no limits at all.
    expect(pod.containers[0].resources).toBeUndefined();
  });

  it('makes a Deployment with replicas and a namespace when asked', () => {
    const w = exported(deployment({ selector: 'cpu.arch=arm64', release: container() }), { kind: 'Deployment', replicas: 3, namespace: 'vision' });
    expect(w.spec.replicas).toBe(3);
    expect(w.metadata.namespace).toBe('vision');
    expect(w.spec.template.spec.containers[0].ports).toEqual([{ name: 'inference', containerPort: 8080, protocol: 'TCP' }]);
  });

  it('says what did not carry over', () => {
    const w = exported(
      deployment({
        selector: 'cpu.arch=arm64',
        release: container({ accelerator: 'preferred' }, { fallback: { kind: 'process', command: '/usr/bin/cpu-detector' } }),
        rollout: {},
      }),
    );
    expect(w.metadata.annotations['edgefleet.dev/not-exported']).toBe('fallback, rollout gates, preferred accelerator (selector pins no kind)');
    expect(w.spec.template.spec.containers[0].resources).toBeUndefined();
  });

  it('requests the accelerator named by --accelerator when the selector pins none', () => {
    const w = exported(deployment({ selector: 'hardware.ai-hat=true', release: container({ accelerator: 'required' }) }), {
      kind: 'DaemonSet',
      accelerator: 'coral-pcie',
    });
    expect(w.spec.template.spec.containers[0].resources.limits).toEqual({ 'edgefleet.dev/coral-pcie': '1' });
  });

  it.each([
    [
      'a model-server release',
      { selector: 'cpu.arch=arm64', release: { version: '1', model: { artifact: `sha256:${'cd'.repeat(32)}`, format: 'onnx' } } },
      /runs a model-server release, which has no container image/,
    ],
    [
      'a required accelerator of no known kind',
      { selector: 'hardware.ai-hat=true', release: container({ accelerator: 'required' }) },
      /does not pin one kind .* so there is no resource to request/,
    ],
    [
      'a selector on a label NFD cannot publish',
      { selector: 'kubernetes.io/arch=arm64', release: container() },
      /selector key "kubernetes.io\/arch" has no Kubernetes node label/,
    ],
  ])('refuses %s with a clear error', (_name, spec, message) => {
    expect(() => kubernetesWorkload(deployment(spec), { kind: 'DaemonSet' })).toThrow(message);
  });

  it('checks against the schema for real: a misspelled or mistyped field is refused', () => {
    const validate = validators.DaemonSet;
    const good = kubernetesWorkload(deployment({ selector: 'cpu.arch=arm64', release: container() }), { kind: 'DaemonSet' }) as Manifest;
    expect(validate?.(good)).toBe(true);
    const misspelled = structuredClone(good);
    misspelled.spec.template.spec.containers[0].readinesProbe = {};
    expect(validate?.(misspelled)).toBe(false);
    const mistyped = structuredClone(good);
    mistyped.spec.template.spec.containers[0].ports[0].containerPort = '8080';
    expect(validate?.(mistyped)).toBe(false);
  });
});
