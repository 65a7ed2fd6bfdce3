import type { DeploymentManifestInput } from '@edgefleet/protocol';

/**
 * The deployment the simulator benches roll out: a process runtime that prefers the
 * accelerator, to every arm64 node (every simulated Pi, with or without a HAT). `rollout`
 * stages it; `annotations` carry the simulator's what-if behaviour (a latency multiplier).
 */
export function simDeployment(
  artifact: string,
  version: string,
  opts: { rollout?: Record<string, unknown>; annotations?: Record<string, string> } = {},
): DeploymentManifestInput {
  return {
    apiVersion: 'edgefleet.dev/v1',
    kind: 'Deployment',
    metadata: { name: 'detect' },
    spec: {
      selector: 'cpu.arch=arm64',
      release: {
        version,
        model: { artifact, format: 'other' },
        runtime: { kind: 'process', command: 'node', args: ['serve.mjs'], accelerator: 'preferred' },
        ...(opts.annotations === undefined ? {} : { annotations: opts.annotations }),
      } as never,
      ...(opts.rollout === undefined ? {} : { rollout: opts.rollout as never }),
    },
  };
}

/**
 * The container form of {@link simDeployment}: `image` pinned by digest, run by the
 * simulated podman on every arm64 node; the simulator sizes it (50 MB, of which each digest
 * has a 5 MB layer of its own, unless its `--images` table says otherwise).
 */
export function simContainerDeployment(
  image: string,
  version: string,
  opts: { rollout?: Record<string, unknown>; annotations?: Record<string, string> } = {},
): DeploymentManifestInput {
  return {
    apiVersion: 'edgefleet.dev/v1',
    kind: 'Deployment',
    metadata: { name: 'detect' },
    spec: {
      selector: 'cpu.arch=arm64',
      release: {
        version,
        runtime: { kind: 'container', image, accelerator: 'preferred', ports: [{ name: 'inference', containerPort: 8080 }] },
        ...(opts.annotations === undefined ? {} : { annotations: opts.annotations }),
      } as never,
      ...(opts.rollout === undefined ? {} : { rollout: opts.rollout as never }),
    },
  };
}
