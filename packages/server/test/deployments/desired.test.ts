import { parseSelector } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { desiredStateFor, type TargetedDeployment } from '../../src/deployments/desired.js';

function target(name: string, endpoint?: { port: number }): TargetedDeployment {
  const release = { version: '1' } as never;
  const spec = { selector: 'ai.accelerator=hailo8', release, ...(endpoint === undefined ? {} : { endpoint }) } as never;
  return {
    deployment: { name, spec, generation: 1, revision: 1, source: null, createdAt: 1, updatedAt: 1 },
    selector: parseSelector('ai.accelerator=hailo8'),
    revision: { deployment: name, revision: 1, release, releaseDigest: 'sha256:x', commit: null, createdAt: 1 },
  };
}

describe('desiredStateFor', () => {
  it("hands each workload its deployment's spec.endpoint, null without one", () => {
    const desired = desiredStateFor('n1', { 'ai.accelerator': 'hailo8' }, [target('site', { port: 8080 }), target('local')], [], false);
    expect(desired.workloads.map((w) => [w.deployment, w.endpoint])).toEqual([
      ['local', null],
      ['site', { port: 8080 }],
    ]);
  });

  it('changes the version when only the endpoint changes, so long polls answer', () => {
    const a = desiredStateFor('n1', { 'ai.accelerator': 'hailo8' }, [target('site', { port: 8080 })], [], false);
    const b = desiredStateFor('n1', { 'ai.accelerator': 'hailo8' }, [target('site', { port: 8081 })], [], false);
    expect(a.version).not.toBe(b.version);
  });
});
