import { mulberry32 } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import type { SimulationEventBody } from '../src/events.js';
import { FaultScheduler } from '../src/fault-scheduler.js';
import { type FaultPlan, noFaults } from '../src/faults.js';
import type { HatKind } from '../src/hardware.js';
import type { SimNode } from '../src/node.js';
import { ManualClock } from './manual-clock.js';

interface FakeNode {
  name: string;
  plan: { site: string; kind: HatKind };
  started: boolean;
  powered: boolean;
  agent: object | undefined;
  acceleratorFailed: boolean;
  churnOffline: boolean;
  busy: boolean;
  cuts: number[];
  moment(): string;
  failAccelerator(): Promise<boolean>;
  restoreAccelerator(): Promise<void>;
  powerCut(ms: number): Promise<string>;
}

function fleet(n: number, sites = 2): FakeNode[] {
  return Array.from(
    { length: n },
    (_, i): FakeNode => ({
      name: `node-${i}`,
      plan: { site: `site-0${(i % sites) + 1}`, kind: i % 5 === 0 ? 'none' : 'hailo8l' },
      started: true,
      powered: true,
      agent: {},
      acceleratorFailed: false,
      churnOffline: false,
      busy: false,
      cuts: [],
      moment(this: FakeNode) {
        return this.busy ? 'download' : 'steady';
      },
      async failAccelerator(this: FakeNode) {
        this.acceleratorFailed = true;
        return true;
      },
      async restoreAccelerator(this: FakeNode) {
        this.acceleratorFailed = false;
      },
      async powerCut(this: FakeNode, ms: number) {
        this.cuts.push(ms);
        return this.moment();
      },
    }),
  );
}

function run(nodes: FakeNode[], plan: Partial<FaultPlan>, seed = 1) {
  const time = new ManualClock();
  const outages: string[] = [];
  const events: SimulationEventBody[] = [];
  const scheduler = new FaultScheduler({
    nodes: nodes as unknown as SimNode[],
    schedule: time.schedule,
    random: mulberry32(seed),
    setSiteOutage: (site, on) => outages.push(`${time.now}:${site}:${on}`),
    emit: (e) => events.push(e),
  });
  scheduler.start({ ...noFaults(), ...plan });
  return { time, outages, events, scheduler };
}

describe('fault scheduler', () => {
  it('churns round(share × nodes) nodes, each offline for 10 s at least, and brings them back', async () => {
    const nodes = fleet(50);
    const { time, events, scheduler } = run(nodes, { offline: { share: 0.2, meanOnlineMs: 60_000, meanOfflineMs: 20_000 } });
    const everOffline = new Set<string>();
    const wentAt = new Map<string, number>();
    let shortest = Number.POSITIVE_INFINITY;
    let maxAtOnce = 0;
    for (let t = 0; t < 600; t++) {
      await time.advance(1_000);
      for (const n of nodes) {
        if (n.churnOffline && !wentAt.has(n.name)) wentAt.set(n.name, time.now);
        if (!n.churnOffline && wentAt.has(n.name)) {
          shortest = Math.min(shortest, time.now - (wentAt.get(n.name) as number));
          wentAt.delete(n.name);
        }
        if (n.churnOffline) everOffline.add(n.name);
      }
      maxAtOnce = Math.max(maxAtOnce, nodes.filter((n) => n.churnOffline).length);
    }
    expect(everOffline.size).toBe(10);
    expect(shortest).toBeGreaterThanOrEqual(10_000);
    expect(maxAtOnce).toBeLessThanOrEqual(10);
    // Ten nodes over ten minutes, about a minute online and 20 s away each time: many episodes.
    expect(scheduler.counts.offlineEpisodes).toBeGreaterThan(40);
    expect(events.filter((e) => e.type === 'node-offline').length).toBe(scheduler.counts.offlineEpisodes);
    scheduler.stop();
    expect(time.pending).toBe(0);
  });

  it('picks the same nodes at the same times for the same seed', async () => {
    const trace = async (seed: number): Promise<string[]> => {
      const nodes = fleet(30);
      const { time, events } = run(nodes, { offline: { share: 0.3, meanOnlineMs: 30_000, meanOfflineMs: 15_000 } }, seed);
      await time.advance(300_000);
      return events.map((e) => `${e.type}:${'node' in e ? e.node : ''}`);
    };
    expect(await trace(4)).toEqual(await trace(4));
    expect(await trace(4)).not.toEqual(await trace(5));
  });

  it('cuts a site off at its time for its duration', async () => {
    const { time, outages } = run(fleet(4), { siteOutages: [{ site: 'site-02', atMs: 120_000, durationMs: 600_000 }] });
    await time.advance(119_000);
    expect(outages).toEqual([]);
    await time.advance(1_000);
    expect(outages).toEqual(['120000:site-02:true']);
    await time.advance(600_000);
    expect(outages).toEqual(['120000:site-02:true', '720000:site-02:false']);
  });

  it('fails accelerators of nodes that have one, of the given site, and repairs them after `for`', async () => {
    const nodes = fleet(20);
    const { time, events, scheduler } = run(nodes, { acceleratorFailures: [{ count: 3, atMs: 60_000, forMs: 30_000, site: 'site-01' }] });
    await time.advance(60_000);
    const failed = nodes.filter((n) => n.acceleratorFailed);
    expect(failed).toHaveLength(3);
    expect(failed.every((n) => n.plan.site === 'site-01' && n.plan.kind !== 'none')).toBe(true);
    expect(scheduler.counts.acceleratorFailures).toBe(3);
    await time.advance(30_000);
    expect(nodes.some((n) => n.acceleratorFailed)).toBe(false);
    expect(events).toEqual([]);
  });

  it('cuts power at random moments within the window, preferring nodes mid-download half the time', async () => {
    const nodes = fleet(40);
    for (const n of nodes.slice(0, 2)) n.busy = true;
    const { time, scheduler } = run(nodes, { powerCuts: [{ count: 40, withinMs: 600_000, downtimeMs: 20_000 }] });
    await time.advance(600_000);
    const cut = nodes.flatMap((n) => n.cuts);
    expect(cut).toHaveLength(40);
    expect(cut.every((ms) => ms === 20_000)).toBe(true);
    expect(scheduler.counts.powerCuts).toBe(40);
    // Two busy nodes out of forty would get about 2 cuts by chance; preferring them gives ~20.
    const busyCuts = nodes.slice(0, 2).reduce((a, n) => a + n.cuts.length, 0);
    expect(busyCuts).toBeGreaterThan(10);
  });

  it('skips a fault when no node qualifies', async () => {
    const nodes = fleet(5).map((n) => ({ ...n, plan: { ...n.plan, kind: 'none' as HatKind } }));
    const { time, scheduler } = run(nodes, { acceleratorFailures: [{ count: 2, atMs: 1_000 }] });
    await time.advance(2_000);
    expect(scheduler.counts.acceleratorFailures).toBe(0);
  });
});
