import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runCli } from '../../../../test-support/cli.js';
import { startTestFleet, type TestFleet } from '../../../../test-support/fleet.js';

const IMAGE = `registry.example:5000/vision/detector@sha256:${'ab'.repeat(32)}`;

/** `edgefleet export k8s` reads the deployment from the server, as `deployments get` does. */
describe('edgefleet export k8s', () => {
  let fleet: TestFleet;
  const conn = (): string[] => ['--server', fleet.server.url, '--token', fleet.adminToken, '--ca', `${fleet.dir}/server/ca.crt`];
  beforeAll(async () => {
    fleet = await startTestFleet({ requireSigned: false });
    await fleet.admin.apply([
      {
        apiVersion: 'edgefleet.dev/v1',
        kind: 'Deployment',
        metadata: { name: 'detector' },
        spec: {
          selector: 'ai.accelerator=hailo8l',
          release: {
            version: '1.0.0',
            runtime: { kind: 'container', image: IMAGE, accelerator: 'required', ports: [{ name: 'inference', containerPort: 8000 }] },
          },
        } as never,
      },
    ]);
  });
  afterAll(async () => {
    await fleet?.close();
  });

  it('prints the DaemonSet as YAML, and as JSON with -o json', async () => {
    const r = await runCli('export', 'k8s', 'detector', ...conn());
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const ds = parse(r.out);
    expect(ds.kind).toBe('DaemonSet');
    expect(ds.metadata.annotations['edgefleet.dev/revision']).toBe('1');
    expect(ds.spec.template.spec.nodeSelector).toEqual({ 'feature.node.kubernetes.io/edgefleet-ai.accelerator': 'hailo8l' });
    expect(ds.spec.template.spec.containers[0].resources.limits).toEqual({ 'edgefleet.dev/hailo8l': '1' });
    const j = await runCli('export', 'k8s', 'detector', '-o', 'json', '--kind', 'Deployment', '--replicas', '2', ...conn());
    expect(JSON.parse(j.out)).toMatchObject({ kind: 'Deployment', spec: { replicas: 2 } });
  });

  it('names what is wrong: an unknown deployment, a bad --kind', async () => {
    const missing = await runCli('export', 'k8s', 'nope', ...conn());
    expect(missing.code).not.toBe(0);
    expect(missing.err).toContain('deployment "nope" not found');
    const kind = await runCli('export', 'k8s', 'detector', '--kind', 'StatefulSet', ...conn());
    expect(kind.err).toContain('unknown --kind "StatefulSet"');
    expect(kind.err).toContain('hint: use --kind DaemonSet');
  });
});
