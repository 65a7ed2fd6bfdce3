/**
 * Puts a fault plan (faults.ts) on the simulation's clock. All choices come from one seeded
 * stream, so the same seed and plan pick the same nodes at the same offsets.
 *
 * - Churn (`offline`, `--offline-rate R`): round(R × nodes) nodes, picked by the seed, each
 *   alternate between online and offline for good. Online periods are exponential with mean
 *   `meanOnline` (5 min by default; the first is uniform in [0, meanOnline] so drops do not
 *   all come at once), offline periods exponential with mean `meanOffline` (1 min), clamped
 *   to [10 s, 10 × meanOffline]. So at any moment about R × meanOffline / (meanOnline +
 *   meanOffline) of the fleet is away through churn.
 * - Site outages: the site's links go down at `at` for `duration`.
 * - Accelerator failures: at `at`, or each at a uniform random time in [0, within], a random
 *   node that has a working accelerator (of `site` if given) loses it; back after `for`.
 * - Power cuts: likewise a random powered, enrolled node; when some node is in the middle of
 *   a model download or a switch between models, one of those is chosen half of the time,
 *   so the interesting moments are covered. It boots again after `downtime`.
 */
import type { SimulationEventBody } from './events.js';
import type { FaultPlan } from './faults.js';
import type { SimNode } from './node.js';

/** What the scheduler acts on. */
interface FaultContext {
  nodes: readonly SimNode[];
  schedule: (ms: number, fn: () => void) => () => void;
  random: () => number;
  setSiteOutage: (site: string, on: boolean) => void;
  emit: (event: SimulationEventBody) => void;
}

/** Counts of what happened, for the summary. */
export interface FaultCounts {
  powerCuts: number;
  acceleratorFailures: number;
  offlineEpisodes: number;
}

/** An exponential draw with the given mean. */
export function exponential(mean: number, random: () => number): number {
  return -mean * Math.log(1 - random());
}

export class FaultScheduler {
  readonly counts: FaultCounts = { powerCuts: 0, acceleratorFailures: 0, offlineEpisodes: 0 };
  private readonly cancels = new Set<() => void>();
  private stopped = false;

  constructor(private readonly ctx: FaultContext) {}

  start(plan: FaultPlan): void {
    if (plan.offline !== undefined && plan.offline.share > 0) this.churn(plan.offline.share, plan.offline.meanOnlineMs, plan.offline.meanOfflineMs);
    for (const o of plan.siteOutages) {
      this.at(o.atMs, () => {
        this.ctx.setSiteOutage(o.site, true);
        this.at(o.durationMs, () => this.ctx.setSiteOutage(o.site, false));
      });
    }
    for (const a of plan.acceleratorFailures) {
      for (let i = 0; i < a.count; i++) {
        this.at(this.when(a), () => {
          const node = this.pick(
            (n) => n.started && n.powered && n.plan.kind !== 'none' && !n.acceleratorFailed && (a.site === undefined || n.plan.site === a.site),
          );
          if (node === undefined) return;
          this.counts.acceleratorFailures++;
          void node.failAccelerator();
          const forMs = a.forMs;
          if (forMs !== undefined) this.at(forMs, () => void node.restoreAccelerator());
        });
      }
    }
    for (const p of plan.powerCuts) {
      for (let i = 0; i < p.count; i++) {
        this.at(this.when(p), () => {
          const eligible = (n: SimNode): boolean => n.started && n.powered && n.agent !== undefined && (p.site === undefined || n.plan.site === p.site);
          const busy = this.ctx.nodes.filter((n) => eligible(n) && (n.moment() === 'download' || n.moment() === 'switch'));
          const node = busy.length > 0 && this.ctx.random() < 0.5 ? busy[Math.floor(this.ctx.random() * busy.length)] : this.pick(eligible);
          if (node === undefined) return;
          this.counts.powerCuts++;
          void node.powerCut(p.downtimeMs);
        });
      }
    }
  }

  stop(): void {
    this.stopped = true;
    for (const c of this.cancels) c();
    this.cancels.clear();
  }

  private when(t: { atMs?: number; withinMs?: number }): number {
    return t.atMs ?? this.ctx.random() * (t.withinMs ?? 0);
  }

  private at(ms: number, fn: () => void): void {
    if (this.stopped) return;
    const cancel = this.ctx.schedule(ms, () => {
      this.cancels.delete(cancel);
      fn();
    });
    this.cancels.add(cancel);
  }

  private pick(ok: (n: SimNode) => boolean): SimNode | undefined {
    const candidates = this.ctx.nodes.filter(ok);
    return candidates[Math.floor(this.ctx.random() * candidates.length)];
  }

  private churn(share: number, meanOnlineMs: number, meanOfflineMs: number): void {
    const nodes = [...this.ctx.nodes];
    const count = Math.round(share * nodes.length);
    // A partial Fisher–Yates shuffle picks `count` distinct nodes.
    for (let i = 0; i < count; i++) {
      const j = i + Math.floor(this.ctx.random() * (nodes.length - i));
      [nodes[i], nodes[j]] = [nodes[j] as SimNode, nodes[i] as SimNode];
    }
    const offlineFor = (): number => Math.min(10 * meanOfflineMs, Math.max(10_000, exponential(meanOfflineMs, this.ctx.random)));
    for (const node of nodes.slice(0, count)) {
      const goOffline = (): void => {
        node.churnOffline = true;
        this.counts.offlineEpisodes++;
        this.ctx.emit({ type: 'node-offline', node: node.name });
        this.at(offlineFor(), () => {
          node.churnOffline = false;
          this.ctx.emit({ type: 'node-online', node: node.name });
          this.at(exponential(meanOnlineMs, this.ctx.random), goOffline);
        });
      };
      this.at(this.ctx.random() * meanOnlineMs, goOffline);
    }
  }
}
