/**
 * How many more nodes of each site may stop serving to switch revisions right now:
 * `maxUnavailablePerSite`, and never a site's last serving node.
 */
import { type SiteUnavailableLimit, siteUnavailableLimit } from '@edgefleet/protocol';
import type { NodeTable } from './node-table.js';

/** Per-site availability over every targeted node, spent as nodes are told to switch. */
export class SiteBudget {
  private readonly siteOf: Int32Array;
  private readonly members: Int32Array;
  private readonly free: Int32Array;
  private readonly down: Int32Array;

  constructor(
    private readonly table: NodeTable,
    private readonly limit: SiteUnavailableLimit,
  ) {
    const { siteOf, sites } = table.siteIndex();
    this.siteOf = siteOf;
    this.members = new Int32Array(sites);
    this.free = new Int32Array(sites);
    this.down = new Int32Array(sites);
    for (let p = 0; p < table.size; p++) {
      const site = siteOf[p] as number;
      // Nodes gone for deferAfter do not count: a dead node must not hold its site back forever.
      if (site < 0 || table.isGone(p)) continue;
      this.members[site] = (this.members[site] as number) + 1;
      const switching = table.isAssigned(p) && !table.isSettled(p);
      if (table.isServing(p) && !switching) this.free[site] = (this.free[site] as number) + 1;
      else this.down[site] = (this.down[site] as number) + 1;
    }
  }

  /** Whether the node at `p` may switch now; if so, its site's budget is spent for it. */
  take(p: number): boolean {
    const site = this.siteOf[p] as number;
    // A node that serves nothing loses nothing by switching; only serving nodes count against their site.
    if (!this.table.isServing(p) || site < 0) return true;
    const size = this.members[site] as number;
    const limit = siteUnavailableLimit(this.limit, size);
    const lastServing = (this.free[site] as number) <= 1 && size > 1;
    if ((this.down[site] as number) + 1 > limit || lastServing) return false;
    this.down[site] = (this.down[site] as number) + 1;
    this.free[site] = (this.free[site] as number) - 1;
    return true;
  }
}
