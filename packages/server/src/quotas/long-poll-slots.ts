/**
 * One desired-state long poll per node (issue 14, finding 10). A node's new poll ends the
 * one it held before, rather than being refused: an agent whose old connection died
 * without a FIN (a dropped Wi-Fi link, a restart) reconnects at once instead of waiting
 * out a poll nobody reads, and a node that opens many holds at most one.
 */
export class LongPollSlots {
  private readonly held = new Map<string, AbortController>();

  /**
   * Takes the node's slot for a new poll; the older poll's signal aborts with reason
   * {@link REPLACED}. Call `release` when the poll ends (it frees the slot only if still its own).
   */
  claim(nodeId: string): { signal: AbortSignal; release: () => void } {
    this.held.get(nodeId)?.abort(REPLACED);
    const mine = new AbortController();
    this.held.set(nodeId, mine);
    return {
      signal: mine.signal,
      release: () => {
        if (this.held.get(nodeId) === mine) this.held.delete(nodeId);
      },
    };
  }

  /** Nodes holding a poll now. */
  get size(): number {
    return this.held.size;
  }
}

/** The abort reason of a poll ended by a newer poll of the same node. */
export const REPLACED = 'replaced by a newer long poll of the same node';
