import type { DeploymentManifestInput } from '@edgefleet/protocol';

type Release = DeploymentManifestInput['spec']['release'];
type Rollout = NonNullable<DeploymentManifestInput['spec']['rollout']>;

/** What both deployments take besides their payload: `rollout` stages it; `annotations` carry the simulator's what-if behaviour (a latency multiplier). */
interface SimDeploymentOptions {
  rollout?: Record<string, unknown>;
  annotations?: Record<string, string>;
}

/** The deployment `detect` the simulator benches roll out, to every arm64 node (every simulated Pi, with or without a HAT), running `runtime`. */
function detect(version: string, payload: Pick<Release, 'model' | 'runtime'>, opts: SimDeploymentOptions): DeploymentManifestInput {
  const release: Release = { version, ...payload, ...(opts.annotations === undefined ? {} : { annotations: opts.annotations }) };
  return {
    apiVersion: 'edgefleet.dev/v1',
    kind: 'Deployment',
    metadata: { name: 'detect' },
    spec: { selector: 'cpu.arch=arm64', release, ...(opts.rollout === undefined ? {} : { rollout: opts.rollout as Rollout }) },
  };
}

/** A process runtime that prefers the accelerator, serving model `artifact`. */
export function simDeployment(artifact: string, version: string, opts: SimDeploymentOptions = {}): DeploymentManifestInput {
  return detect(
    version,
    { model: { artifact, format: 'other' }, runtime: { kind: 'process', command: 'node', args: ['serve.mjs'], accelerator: 'preferred' } },
    opts,
  );
}

/**
 * The container form of {@link simDeployment}: `image` pinned by digest, run by the
 * simulated podman on every arm64 node; the simulator sizes it (50 MB, of which each digest
 * has a 5 MB layer of its own, unless its `--images` table says otherwise).
 */
export function simContainerDeployment(image: string, version: string, opts: SimDeploymentOptions = {}): DeploymentManifestInput {
  return detect(version, { runtime: { kind: 'container', image, accelerator: 'preferred', ports: [{ name: 'inference', containerPort: 8080 }] } }, opts);
}
