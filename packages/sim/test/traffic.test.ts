import type { LocalWorkload } from '@edgefleet/agent';
import { mulberry32 } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { releaseBehaviour } from '../src/behaviour.js';
import type { SimNode } from '../src/node.js';
import { poisson, TrafficGenerator } from '../src/traffic.js';

interface Recorded {
  deployment: string;
  revision: number;
  latencyMs: number;
  ok: boolean;
  fallback: boolean;
}

function fakeNode(workloads: LocalWorkload[], annotations: Record<string, string> = {}, powered = true) {
  const recorded: Recorded[] = [];
  const node = {
    powered,
    recentRps: 0,
    trafficRandom: mulberry32(5),
    agent: {
      workloadInstances: () => new Map(workloads.map((w) => [w.deployment, w])),
      recordInference: (deployment: string, revision: number, latencyMs: number, ok: boolean, fallback: boolean) =>
        recorded.push({ deployment, revision, latencyMs, ok, fallback }),
    },
    runtime: { revision: () => ({ behaviour: releaseBehaviour({ annotations }), usesAccelerator: true }) },
    computeFor: (model: string) => (model === 'fallback' ? 'cpu' : 'hailo8l'),
  };
  return { node: node as unknown as SimNode, recorded };
}

const instance = (revision: number, health: 'ready' | 'starting' | 'exited', model: 'primary' | 'fallback' = 'primary') => ({
  revision,
  model,
  health,
  startedAt: 0,
  promotedAt: 0,
  readySince: health === 'ready' ? 0 : undefined,
  port: 0,
  pid: undefined,
  exit: undefined,
});
const workload = (
  deployment: string,
  active: ReturnType<typeof instance> | undefined,
  lastServing?: { revision: number; model: 'primary' | 'fallback' },
): LocalWorkload => ({
  deployment,
  active,
  candidate: undefined,
  previousRevision: undefined,
  failures: [],
  lastServing,
});

describe('synthetic traffic', () => {
  it('draws Poisson counts with the right mean', () => {
    const random = mulberry32(3);
    for (const mean of [0.5, 5, 80]) {
      const draws = Array.from({ length: 20_000 }, () => poisson(mean, random));
      const avg = draws.reduce((a, b) => a + b, 0) / draws.length;
      expect(avg).toBeGreaterThan(mean * 0.97);
      expect(avg).toBeLessThan(mean * 1.03);
    }
    expect(poisson(0, random)).toBe(0);
  });

  it('records requests to a ready instance with its revision, the node’s latency model and the release’s slowdown', () => {
    const normal = fakeNode([workload('detect', instance(1, 'ready'))]);
    const slow = fakeNode([workload('detect', instance(2, 'ready'))], { 'sim.edgefleet.dev/latency-multiplier': '3' });
    const served: string[] = [];
    const traffic = new TrafficGenerator(50, (_n, d, r) => served.push(`${d}/${r}`));
    for (let i = 0; i < 20; i++) traffic.tick([normal.node, slow.node], 1_000);
    const p50 = (xs: Recorded[]): number => xs.map((x) => x.latencyMs).sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    expect(normal.recorded.length).toBeGreaterThan(900);
    expect(normal.recorded.every((r) => r.deployment === 'detect' && r.revision === 1 && r.ok && !r.fallback)).toBe(true);
    expect(p50(normal.recorded)).toBeGreaterThan(12);
    expect(p50(normal.recorded)).toBeLessThan(14.5);
    expect(p50(slow.recorded) / p50(normal.recorded)).toBeGreaterThan(2.7);
    expect(p50(slow.recorded) / p50(normal.recorded)).toBeLessThan(3.3);
    expect(new Set(served)).toEqual(new Set(['detect/1', 'detect/2']));
    const counts = traffic.takeInterval();
    expect(counts.requests).toBe(normal.recorded.length + slow.recorded.length);
    expect(counts.errors).toBe(0);
    expect(normal.node.recentRps).toBeGreaterThan(30);
  });

  it('fails the release’s error rate of requests; the CPU fallback is marked and slow', () => {
    const flaky = fakeNode([workload('detect', instance(3, 'ready'))], { 'sim.edgefleet.dev/error-rate': '0.2' });
    const cpu = fakeNode([workload('detect', instance(1, 'ready', 'fallback'))]);
    const traffic = new TrafficGenerator(100, () => {});
    for (let i = 0; i < 20; i++) traffic.tick([flaky.node, cpu.node], 1_000);
    const failed = flaky.recorded.filter((r) => !r.ok).length / flaky.recorded.length;
    expect(failed).toBeGreaterThan(0.17);
    expect(failed).toBeLessThan(0.23);
    expect(cpu.recorded.every((r) => r.fallback)).toBe(true);
    expect(cpu.recorded.map((r) => r.latencyMs).sort((a, b) => a - b)[Math.floor(cpu.recorded.length / 2)]).toBeGreaterThan(100);
    expect(traffic.takeInterval().errors).toBe(flaky.recorded.filter((r) => !r.ok).length);
  });

  it('counts requests while nothing is ready, once the service had clients, as errors (503) without recording them for a revision', () => {
    const local = workload('detect', instance(1, 'ready'));
    const restarting = fakeNode([local]);
    const traffic = new TrafficGenerator(10, () => {});
    traffic.tick([restarting.node], 1_000);
    traffic.takeInterval();
    restarting.recorded.length = 0;
    local.active = instance(1, 'starting');
    for (let i = 0; i < 5; i++) traffic.tick([restarting.node], 1_000);
    const counts = traffic.takeInterval();
    expect(counts.requests).toBeGreaterThan(20);
    expect(counts.errors).toBe(counts.requests);
    expect(restarting.recorded).toEqual([]);
  });

  it('sends nothing to a deployment that was never ready on the node, nor to a node without power', () => {
    const fresh = fakeNode([workload('detect', undefined), workload('count', instance(1, 'starting'), { revision: 1, model: 'primary' })]);
    const off = fakeNode([workload('detect', instance(1, 'ready'))], {}, false);
    const traffic = new TrafficGenerator(10, () => {});
    for (let i = 0; i < 5; i++) traffic.tick([fresh.node, off.node], 1_000);
    expect(traffic.takeInterval()).toEqual({ requests: 0, errors: 0 });
    expect(traffic.total).toEqual({ requests: 0, errors: 0 });
  });
});
