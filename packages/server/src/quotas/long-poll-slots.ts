/**
 * One desired-state long poll per node (issue 14, finding 10; the bound is
 * `NodeQuotaLimits.longPollsPerNode`, 1 unless a test or benchmark raises it). A node's new
 * poll beyond the bound ends its oldest one, rather than being refused: an agent whose old
 * connection died without a FIN (a dropped Wi-Fi link, a restart) reconnects at once
 * instead of waiting out a poll nobody reads, and a node that opens many holds at most the bound.
 */
export class LongPollSlots {
  /** Per node, its polls' controllers, oldest first. */
  private readonly held = new Map<string, AbortController[]>();

  constructor(private readonly perNode = 1) {}

  /**
   * Takes a slot for a new poll of the node; beyond the bound the oldest poll's signal aborts
   * with reason {@link REPLACED}. Call `release` when the poll ends.
   */
  claim(nodeId: string): { signal: AbortSignal; release: () => void } {
    const mine = new AbortController();
    const polls = this.held.get(nodeId) ?? [];
    polls.push(mine);
    this.held.set(nodeId, polls);
    while (polls.length > this.perNode) polls.shift()?.abort(REPLACED);
    return {
      signal: mine.signal,
      release: () => {
        const now = this.held.get(nodeId);
        if (now === undefined) return;
        const i = now.indexOf(mine);
        if (i >= 0) now.splice(i, 1);
        if (now.length === 0) this.held.delete(nodeId);
      },
    };
  }

  /** Polls held now, over all nodes. */
  get size(): number {
    let n = 0;
    for (const polls of this.held.values()) n += polls.length;
    return n;
  }
}

/** The abort reason of a poll ended by a newer poll of the same node. */
export const REPLACED = 'replaced by a newer long poll of the same node';
