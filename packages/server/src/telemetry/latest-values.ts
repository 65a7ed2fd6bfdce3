import type { ServerContext } from '../context.js';
import type { LatestSample } from '../store/index.js';

/** How long one bulk metric read is reused: every open nodes page asks for it. */
const LATEST_CACHE_MS = 10_000;

/** One node's latest value of a metric, as `GET /v1/telemetry/latest` lists it. */
interface LatestValue {
  nodeId: string;
  value: number;
  t: number;
}

/**
 * The latest value of one metric for every node (the temperature column of a 10,000-row
 * table without 10,000 requests), read in two queries and cached briefly per metric.
 */
export class FleetLatestValues {
  private readonly cache = new Map<string, { at: number; items: Promise<LatestValue[]> }>();

  constructor(private readonly ctx: Pick<ServerContext, 'store'>) {}

  /** `GET /v1/telemetry/latest?name=`: the metric's node-level value per node, in node order. */
  async read(name: string): Promise<{ name: string; items: LatestValue[] }> {
    return { name, items: await this.cached(name) };
  }

  private cached(name: string): Promise<LatestValue[]> {
    const now = Date.now();
    const hit = this.cache.get(name);
    if (hit !== undefined && now - hit.at < LATEST_CACHE_MS) return hit.items;
    const items = this.load(name);
    this.cache.set(name, { at: now, items });
    items.catch(() => this.cache.delete(name));
    return items;
  }

  private async load(name: string): Promise<LatestValue[]> {
    const [nodes, rows] = await Promise.all([this.ctx.store.listNodes(), this.ctx.store.listNodeTelemetry()]);
    const byNode = new Map(rows.map((r) => [r.nodeId, r.latest]));
    const out: LatestValue[] = [];
    for (const n of nodes) {
      const latest = byNode.get(n.id);
      if (latest === undefined) continue;
      // The node-level series: the one with the fewest labels (every series carries the
      // stamped node and site; per-deployment or per-interface ones carry more).
      let s: LatestSample | undefined;
      for (const x of latest) if (x.name === name && (s === undefined || Object.keys(x.labels).length < Object.keys(s.labels).length)) s = x;
      if (s !== undefined) out.push({ nodeId: n.id, value: s.value, t: s.t });
    }
    return out;
  }
}
