import type { KeyObject } from 'node:crypto';
import * as fs from 'node:fs';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type DeploymentManifestInput, ReleaseSchema, type RolloutStrategyInput } from '@edgefleet/protocol';
import { signRelease } from '@edgefleet/protocol/node';
import * as git from 'isomorphic-git';
import { stringify } from 'yaml';

/**
 * The demo's rollout strategy: gates as a real user sets them (a 1.5 P95 ratio, every other
 * gate at its default: 200 requests a side, 95 % confidence, a 2 ms noise floor, 2 failing
 * evaluations in a row), with steps, bakes and timings sized for a demo so that a good
 * release rolls out in about a minute and a 3x slower one is rolled back at step 1:
 * - step 1 is 5 %, not 1 %: the simulated nodes answer 5 requests a second, so one canary
 *   would need 40 s for 200 requests after warm-up; three (5 % of the 48 nodes with a HAT)
 *   need about 15 s. A real fleet sizes its first step for its traffic the same way.
 * - `interval: 5s`: failing evaluations count towards failureThreshold at least this far
 *   apart; the default 30 s would keep a slow release on its canaries half a minute longer.
 * - `warmup`: the simulated runtime has no cold start (no JIT, no cache, no model loading),
 *   so 20 requests and 5 s are enough; the default 30 s would hold every new canary for
 *   half a minute, longer than the demo's bakes. A real model server needs the defaults.
 * - Short bakes so the story fits in minutes; a real fleet bakes for hours.
 */
export const DEMO_ROLLOUT = {
  steps: [
    { percent: 5, bake: '15s' },
    { percent: 10, bake: '10s' },
    { percent: 50, bake: '10s' },
    { percent: 100, bake: '0s' },
  ],
  cohortBy: ['geolocation.site', 'ai.accelerator'],
  maxUnavailablePerSite: '50%',
  gates: { p95LatencyRatio: 1.5, interval: '5s', warmup: { requests: 20, duration: '5s' } },
  offline: { deferAfter: '15s', minReachedPercent: 80 },
  onFailure: 'rollback',
} as const satisfies RolloutStrategyInput;

/**
 * The demo's container deployment `count` (a people counter beside the detector): two
 * revisions of one image, pinned by digest. The simulator pulls them over each node's
 * simulated link with its default sizes — a 50 MB image of which each digest has a 5 MB
 * layer of its own — so the second revision moves about 5 MB per node, not 50.
 */
export const DEMO_COUNTER_IMAGES = [
  `registry.example:5000/demo/people-counter@sha256:${'a1'.repeat(32)}`,
  `registry.example:5000/demo/people-counter@sha256:${'b2'.repeat(32)}`,
] as const;

/**
 * The demo's GitOps repository: a local git repo with `fleet/detect.yaml`, committed once per
 * release the story ships. The server polls it like any source; nothing here talks to the
 * server.
 */
export class FleetRepo {
  constructor(
    readonly dir: string,
    private readonly key: KeyObject,
    private readonly artifacts: { primary: string; fallback: string },
    /** The fleet CA fingerprint: each signature names the fleet it is for. */
    private readonly fleet: string,
  ) {}

  async init(): Promise<void> {
    mkdirSync(join(this.dir, 'fleet'), { recursive: true });
    await git.init({ fs, dir: this.dir, defaultBranch: 'main' });
  }

  /** Writes the deployment with a signed release of `version` and commits it; returns the commit. */
  async release(version: string, message: string, annotations: Record<string, string> = {}): Promise<string> {
    const release = ReleaseSchema.parse({
      version,
      model: { artifact: this.artifacts.primary, format: 'other' },
      fallback: { artifact: this.artifacts.fallback, format: 'onnx' },
      runtime: { kind: 'process', command: 'node', args: ['examples/runtimes/oip-stub.mjs'], accelerator: 'required' },
      health: { path: '/v2/health/ready', interval: '2s', failureThreshold: 3, window: '10s' },
      ...(Object.keys(annotations).length === 0 ? {} : { annotations }),
    });
    const manifest: DeploymentManifestInput = {
      apiVersion: 'edgefleet.dev/v1',
      kind: 'Deployment',
      metadata: { name: 'detect' },
      spec: {
        // The accelerator build goes to nodes with an AI HAT; the others are left alone.
        selector: 'hardware.ai-hat=true',
        release: { ...release, signature: signRelease(release, this.key, { fleet: this.fleet, deployment: 'detect' }) } as never,
        rollout: DEMO_ROLLOUT,
      },
    };
    const header =
      `# The demo's deployment: written by \`npm start\` (packages/cli/src/demo). Release ${version}: ${message}\n` +
      '# Gates as a real user sets them (P95 ratio 1.5, defaults otherwise); interval 5s and a short warm-up because the\n' +
      "# simulated runtime has no cold start and the demo's bakes are seconds, not hours (see DEMO_ROLLOUT in fleet-repo.ts).\n";
    writeFileSync(join(this.dir, 'fleet', 'detect.yaml'), header + stringify(manifest, { lineWidth: 0 }));
    await git.add({ fs, dir: this.dir, filepath: 'fleet/detect.yaml' });
    return git.commit({ fs, dir: this.dir, message: `detect ${version}: ${message}`, author: { name: 'edgefleet demo', email: 'demo@edgefleet.invalid' } });
  }

  /**
   * Writes `fleet/count.yaml`: a signed container release of `image` on every node (the CPU
   * serves it, so nodes without a HAT run it too), served to the site on port 8080; commits it.
   */
  async container(version: string, image: string, message: string): Promise<string> {
    const release = ReleaseSchema.parse({
      version,
      runtime: {
        kind: 'container',
        image,
        accelerator: 'none',
        ports: [{ name: 'inference', containerPort: 8080 }],
        resources: { cpu: '0.5', memory: '256Mi' },
      },
      health: { path: '/v2/health/ready', interval: '2s', failureThreshold: 3, window: '10s' },
    });
    const manifest: DeploymentManifestInput = {
      apiVersion: 'edgefleet.dev/v1',
      kind: 'Deployment',
      metadata: { name: 'count' },
      spec: {
        selector: 'cpu.arch=arm64',
        release: { ...release, signature: signRelease(release, this.key, { fleet: this.fleet, deployment: 'count' }) } as never,
        endpoint: { port: 8080 },
      },
    };
    const header = `# The demo's container deployment: written by \`npm start\` (packages/cli/src/demo). Release ${version}: ${message}\n`;
    writeFileSync(join(this.dir, 'fleet', 'count.yaml'), header + stringify(manifest, { lineWidth: 0 }));
    await git.add({ fs, dir: this.dir, filepath: 'fleet/count.yaml' });
    return git.commit({ fs, dir: this.dir, message: `count ${version}: ${message}`, author: { name: 'edgefleet demo', email: 'demo@edgefleet.invalid' } });
  }
}
