import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RolloutGatesSchema, RolloutStrategySchema, resolveRolloutStrategy } from '@edgefleet/protocol';
import { parseManifestFile, publicKeyId, releaseSignatureProblem } from '@edgefleet/protocol/node';
import { describe, expect, it } from 'vitest';
import { DEMO_COUNTER_IMAGES, DEMO_ROLLOUT, FleetRepo } from '../../src/demo/fleet-repo.js';
import { failedGate } from '../../src/demo/story.js';

describe("the demo's rollout strategy", () => {
  const strategy = RolloutStrategySchema.parse(DEMO_ROLLOUT);

  it('gates like a real user: a 1.5 P95 ratio and the defaults for everything statistical', () => {
    const defaults = RolloutGatesSchema.parse({});
    expect(strategy.gates).toEqual({ ...defaults, p95LatencyRatio: 1.5, interval: '5s', warmup: { requests: 20, duration: '5s' } });
    expect(strategy.gates).toMatchObject({ minRequests: 200, confidence: 0.95, failureThreshold: 2, minLatencyDeltaMs: 2, maxErrorRate: 0.01 });
  });

  it('is timed for a demo: evaluations 5 s apart, 5 s of warm-up, bakes that add up to well under a minute', () => {
    const resolved = resolveRolloutStrategy(strategy);
    expect(resolved.gateIntervalMs).toBe(5_000);
    expect(resolved.warmupMs).toBe(5_000);
    expect(resolved.steps.reduce((ms, s) => ms + s.bakeMs, 0)).toBe(35_000);
  });

  it('first step has enough canaries for 200 requests in seconds: 3 of the 48 nodes with a HAT at 5 requests a second', () => {
    const canaries = Math.ceil((DEMO_ROLLOUT.steps[0].percent * 48) / 100);
    expect(canaries).toBe(3);
    const secondsTo200 = (DEMO_ROLLOUT.gates.warmup.requests + 200 / canaries) / 5;
    expect(secondsTo200).toBeLessThan(20);
  });
});

describe('the story says why a release was rolled back', () => {
  it('with the failing gates in words, or the reason when there are no per-gate verdicts', () => {
    const verdict = (gate: 'p95LatencyRatio' | 'maxErrorRate', v: 'passing' | 'failing', message: string) => ({
      gate,
      verdict: v,
      estimate: 1,
      interval: null,
      confidence: 0.95,
      threshold: 1.5,
      canary: { nodes: 3, requests: 500, value: 1 },
      baseline: null,
      consecutiveFailures: v === 'failing' ? 2 : 0,
      message,
    });
    const gate = { reason: 'P95LatencyRatioExceeded' as const };
    expect(
      failedGate({
        gate: {
          ...gate,
          gates: [
            verdict('p95LatencyRatio', 'failing', 'P95 ratio 2.91 (2.62–3.30 at 95 %), threshold 1.5: failing'),
            verdict('maxErrorRate', 'passing', 'error rate 0 %: passing'),
          ],
        },
      } as never),
    ).toBe('P95 ratio 2.91 (2.62–3.30 at 95 %), threshold 1.5: failing');
    expect(failedGate({ gate: { ...gate, gates: [] } } as never)).toBe('P95LatencyRatioExceeded');
    expect(failedGate({ gate: null })).toBe('gate failed');
  });
});

describe("the demo's container deployment", () => {
  it('writes a signed container release that parses as `edgefleet apply` reads it, with the image pinned by digest', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgefleet-demo-repo-'));
    try {
      const { publicKey, privateKey } = generateKeyPairSync('ed25519');
      const fleet = 'f'.repeat(64);
      const repo = new FleetRepo(dir, privateKey, { primary: `sha256:${'1'.repeat(64)}`, fallback: `sha256:${'2'.repeat(64)}` }, fleet);
      await repo.init();
      for (const [i, image] of DEMO_COUNTER_IMAGES.entries()) {
        await repo.container(`1.${i}.0`, image, 'test');
        const [m] = parseManifestFile(readFileSync(join(dir, 'fleet', 'count.yaml'), 'utf8'), 'count.yaml');
        const spec = m?.manifest.spec;
        expect(m?.manifest.metadata.name).toBe('count');
        expect(spec?.release.runtime).toMatchObject({ kind: 'container', image, accelerator: 'none', ports: [{ name: 'inference', containerPort: 8080 }] });
        expect(spec?.release.model).toBeUndefined();
        expect(spec?.endpoint).toEqual({ port: 8080 });
        const trusted = new Map([[publicKeyId(publicKey), publicKey]]);
        expect(releaseSignatureProblem(spec?.release as never, trusted, { fleet, deployment: 'count' })).toBeUndefined();
        expect(releaseSignatureProblem(spec?.release as never, trusted, { fleet, deployment: 'detect' })).toBeDefined();
      }
      // The two revisions differ in digest only: same repository, so the simulator's default sizes share the base.
      expect(new Set(DEMO_COUNTER_IMAGES.map((i) => i.split('@')[0])).size).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
