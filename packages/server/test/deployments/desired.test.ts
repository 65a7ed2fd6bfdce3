import type { RegistryAccess, Release } from '@edgefleet/protocol';
import { parseSelector, ReleaseSchema } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { desiredStateFor, registriesUsedBy, type TargetedDeployment } from '../../src/deployments/desired.js';
import { DesiredInputs, labelsKeyOf } from '../../src/deployments/desired-inputs.js';
import type { RevisionRecord } from '../../src/store/index.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const image = (host: string, repo = 'team/detector'): string => `${host}/${repo}@${DIGEST}`;

function registry(name: string, server: string): RegistryAccess {
  return { name, server, caPem: null, username: 'u', password: `pw-${name}` };
}
const REGISTRIES = [
  registry('harbor', 'https://harbor.example:5000'),
  registry('ghcr', 'https://ghcr.io'),
  registry('local', 'https://localhost:5001'),
  registry('unused', 'https://unused.example'),
];

const container = (img: string, fallback?: Release['fallback']): Release =>
  ReleaseSchema.parse({ version: '1', runtime: { kind: 'container', image: img, accelerator: 'none' }, ...(fallback === undefined ? {} : { fallback }) });
const modelServer = (): Release => ReleaseSchema.parse({ version: '1', model: { artifact: `sha256:${'b'.repeat(64)}`, format: 'onnx' } });
const processRuntime = (): Release => ReleaseSchema.parse({ version: '1', runtime: { kind: 'process', command: '/bin/serve', accelerator: 'none' } });

describe('registriesUsedBy', () => {
  it.each<[string, Release[], string[]]>([
    ['no workloads', [], []],
    ['a model-server release pulls no image', [modelServer()], []],
    ['a process release pulls no image', [processRuntime()], []],
    ['a container image on a known registry', [container(image('harbor.example:5000'))], ['harbor']],
    ['the same host without its port is another registry', [container(image('harbor.example'))], []],
    ['a registry host in other letter case', [container(image('GHCR.io'))], ['ghcr']],
    [
      'a container fallback image counts',
      [container(image('harbor.example:5000'), { kind: 'container', image: image('ghcr.io', 'team/cpu') })],
      ['ghcr', 'harbor'],
    ],
    [
      'a process with a container fallback',
      [
        ReleaseSchema.parse({
          version: '1',
          runtime: { kind: 'process', command: '/x', accelerator: 'none' },
          fallback: { kind: 'container', image: image('localhost:5001') },
        }),
      ],
      ['local'],
    ],
    ['a process fallback pulls nothing', [container(image('localhost:5001'), { kind: 'process', command: '/bin/cpu' })], ['local']],
    [
      'several workloads, one registry once, sorted by name',
      [container(image('localhost:5001')), container(image('harbor.example:5000')), container(image('localhost:5001', 'other/x'))],
      ['harbor', 'local'],
    ],
    ['an image on a registry nobody added', [container(image('quay.example'))], []],
  ])('%s', (_, releases, expected) => {
    const used = registriesUsedBy(
      releases.map((release) => ({ release })),
      REGISTRIES,
    );
    expect(used.map((r) => r.name)).toEqual(expected);
    // Entries go out whole: address, CA and credentials.
    for (const r of used) expect(r).toEqual(REGISTRIES.find((x) => x.name === r.name));
  });

  it('passes over a stored registry whose address does not parse, and a release stored before runtimes existed', () => {
    const broken = { ...registry('broken', 'not a url') };
    expect(registriesUsedBy([{ release: container(image('harbor.example:5000')) }], [broken, ...REGISTRIES]).map((r) => r.name)).toEqual(['harbor']);
    expect(registriesUsedBy([{ release: { version: '1' } as Release }], REGISTRIES)).toEqual([]);
  });
});

describe('desiredStateFor with registries', () => {
  const revision = (deployment: string, release: Release): RevisionRecord => ({
    deployment,
    revision: 1,
    release,
    releaseDigest: deployment,
    commit: null,
    createdAt: 1,
  });
  const target = (name: string, selector: string, release: Release): TargetedDeployment => ({
    deployment: { name, spec: { selector } as never, generation: 1, revision: 1, source: null, createdAt: 1, updatedAt: 1 },
    selector: [{ key: 'site', operator: 'In', values: [selector.split('=')[1] as string] }],
    revision: revision(name, release),
  });
  const targets = [target('cameras', 'site=a', container(image('harbor.example:5000'))), target('models', 'site=b', modelServer())];

  it("gives a node the registries of its own workloads' images only, and changes the version when a registry's password does", () => {
    const a = desiredStateFor('n1', { site: 'a' }, targets, [], false, REGISTRIES);
    expect(a.registries.map((r) => r.name)).toEqual(['harbor']);
    expect(a.registries[0]?.password).toBe('pw-harbor');
    const b = desiredStateFor('n2', { site: 'b' }, targets, [], false, REGISTRIES);
    expect(b.registries).toEqual([]);
    expect(JSON.stringify(b)).not.toContain('pw-');
    const rotated = REGISTRIES.map((r) => (r.name === 'harbor' ? { ...r, password: 'new' } : r));
    expect(desiredStateFor('n1', { site: 'a' }, targets, [], false, rotated).version).not.toBe(a.version);
    // A registry the node doesn't use changes nothing for it.
    const other = REGISTRIES.map((r) => (r.name === 'ghcr' ? { ...r, password: 'new' } : r));
    expect(desiredStateFor('n1', { site: 'a' }, targets, [], false, other).version).toBe(a.version);
  });
});

describe('desiredStateFor with spec.endpoint', () => {
  function siteTarget(name: string, endpoint?: { port: number }): TargetedDeployment {
    const release = { version: '1' } as never;
    const spec = { selector: 'ai.accelerator=hailo8', release, ...(endpoint === undefined ? {} : { endpoint }) } as never;
    return {
      deployment: { name, spec, generation: 1, revision: 1, source: null, createdAt: 1, updatedAt: 1 },
      selector: parseSelector('ai.accelerator=hailo8'),
      revision: { deployment: name, revision: 1, release, releaseDigest: 'sha256:x', commit: null, createdAt: 1 },
    };
  }

  it("hands each workload its deployment's spec.endpoint, null without one", () => {
    const desired = desiredStateFor('n1', { 'ai.accelerator': 'hailo8' }, [siteTarget('site', { port: 8080 }), siteTarget('local')], [], false);
    expect(desired.workloads.map((w) => [w.deployment, w.endpoint])).toEqual([
      ['local', null],
      ['site', { port: 8080 }],
    ]);
  });

  it('changes the version when only the endpoint changes, so long polls answer', () => {
    const a = desiredStateFor('n1', { 'ai.accelerator': 'hailo8' }, [siteTarget('site', { port: 8080 })], [], false);
    const b = desiredStateFor('n1', { 'ai.accelerator': 'hailo8' }, [siteTarget('site', { port: 8081 })], [], false);
    expect(a.version).not.toBe(b.version);
  });
});

describe('DesiredInputs under a staged rollout', () => {
  const release = (v: string): Release => ReleaseSchema.parse({ version: v, model: { artifact: `sha256:${'b'.repeat(64)}`, format: 'onnx' } });
  const revision = (deployment: string, n: number): RevisionRecord => ({
    deployment,
    revision: n,
    release: release(`1.${n}`),
    releaseDigest: `${deployment}-${n}`,
    commit: null,
    createdAt: n,
  });
  const deployment = (name: string) => ({ name, spec: { selector: 'site=a' } as never, generation: 1, revision: 2, source: null, createdAt: 1, updatedAt: 1 });
  // detect: revision 2 rolling out (n1, n2 on it, n3 still on 1, n4 on none yet); audio: everyone on 1.
  const onRevision: Record<string, number | null> = { n1: 2, n2: 2, n3: 1, n4: null };
  const detect: TargetedDeployment = {
    deployment: deployment('detect'),
    selector: parseSelector('site=a'),
    revision: revision('detect', 2),
    revisionFor: (nodeId) => {
      const n = onRevision[nodeId];
      return n === null || n === undefined ? null : revision('detect', n);
    },
    revisionForInputs: onRevision,
  };
  const audio: TargetedDeployment = { deployment: deployment('audio'), selector: parseSelector('site=a'), revision: revision('audio', 1) };
  const labels = { site: 'a' };

  it('gives each node the document desiredStateFor makes for it, shared by the nodes at the same step', () => {
    const inputs = new DesiredInputs([detect, audio], [], false);
    const answers = Object.fromEntries(['n1', 'n2', 'n3', 'n4'].map((id) => [id, inputs.desiredFor(id, labels, labelsKeyOf(labels))]));
    for (const id of ['n1', 'n2', 'n3', 'n4']) expect(answers[id]).toEqual(desiredStateFor(id, labels, [detect, audio], [], false));
    expect(answers.n1?.workloads.map((w) => [w.deployment, w.revision])).toEqual([
      ['audio', 1],
      ['detect', 2],
    ]);
    expect(answers.n3?.workloads.map((w) => [w.deployment, w.revision])).toEqual([
      ['audio', 1],
      ['detect', 1],
    ]);
    expect(answers.n4?.workloads.map((w) => w.deployment)).toEqual(['audio']);
    expect(new Set([answers.n1?.version, answers.n3?.version, answers.n4?.version]).size).toBe(3);
    // Built once for n1 and n2: the same answer, not a copy made and hashed again.
    expect(answers.n2).toBe(answers.n1);
  });

  it('keeps nodes with other labels apart even at the same step', () => {
    const inputs = new DesiredInputs([detect], [], false);
    const b = { site: 'a', zone: 'b' };
    expect(inputs.desiredFor('n1', b, labelsKeyOf(b))).not.toBe(inputs.desiredFor('n2', labels, labelsKeyOf(labels)));
    expect(inputs.desiredFor('n1', b, labelsKeyOf(b))).toEqual(desiredStateFor('n1', b, [detect], [], false));
  });
});
