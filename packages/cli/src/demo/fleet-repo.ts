import type { KeyObject } from 'node:crypto';
import * as fs from 'node:fs';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type DeploymentManifestInput, ReleaseSchema } from '@edgefleet/protocol';
import { signRelease } from '@edgefleet/protocol/node';
import * as git from 'isomorphic-git';
import { stringify } from 'yaml';

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
        // Short bakes so the story fits in minutes; a real fleet bakes for hours.
        rollout: {
          steps: [
            { percent: 1, bake: '15s' },
            { percent: 10, bake: '15s' },
            { percent: 50, bake: '10s' },
            { percent: 100, bake: '0s' },
          ],
          cohortBy: ['geolocation.site', 'ai.accelerator'],
          maxUnavailablePerSite: '50%',
          gates: { minRequests: 50, p95LatencyRatio: 1.5, maxErrorRate: 0.02 },
          offline: { deferAfter: '15s', minReachedPercent: 80 },
          onFailure: 'rollback',
        } as never,
      },
    };
    const header = `# The demo's deployment: written by \`npm start\` (packages/cli/src/demo). Release ${version}: ${message}\n`;
    writeFileSync(join(this.dir, 'fleet', 'detect.yaml'), header + stringify(manifest, { lineWidth: 0 }));
    await git.add({ fs, dir: this.dir, filepath: 'fleet/detect.yaml' });
    return git.commit({ fs, dir: this.dir, message: `detect ${version}: ${message}`, author: { name: 'edgefleet demo', email: 'demo@edgefleet.invalid' } });
  }
}
