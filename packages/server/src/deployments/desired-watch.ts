import { performance } from 'node:perf_hooks';
import type { ServerContext } from '../context.js';
import type { DesiredStateMarks } from '../store/index.js';
import { type DesiredInputs, loadDesiredInputs } from './desired-inputs.js';

/** How often a server reads the store's change marks, to notice other replicas' writes. */
const DESIRED_CHECK_INTERVAL_MS = 2_000;

/**
 * How long processed node changes are remembered, for polls whose node was read just
 * before a change was processed (see {@link DesiredWatch.subscribe}). A poll's node is read
 * milliseconds before it subscribes; one read longer ago than this re-reads its node.
 */
const RECENT_NODE_CHANGES_MS = 10_000;

/** Why a wait ended. */
type DesiredWake = 'changed' | 'deadline' | 'closed';

/**
 * One long poll's interest in its node. Changes are latched: one that happens while the
 * poll is busy (reading the store, computing) ends its next wait at once, so none is lost
 * between a read and the wait that follows it.
 */
export class DesiredSubscription {
  private changed = false;
  private nodeChanged = false;
  private closed = false;
  private wake: ((why: DesiredWake) => void) | undefined;

  constructor(
    readonly nodeId: string,
    private readonly unsubscribe: (s: DesiredSubscription) => void,
  ) {}

  /** True, once, when the node's own record changed (labels, or decommissioned): read it again. */
  takeNodeChange(): boolean {
    const was = this.nodeChanged;
    this.nodeChanged = false;
    return was;
  }

  /**
   * Resolves at the next change that may concern the node (at once if one came since the
   * last wait), at `deadline` (epoch ms), when `signal` aborts or the watch closes.
   */
  wait(deadline: number, signal: AbortSignal): Promise<DesiredWake> {
    if (this.closed || signal.aborted) return Promise.resolve('closed');
    if (this.changed) {
      this.changed = false;
      return Promise.resolve('changed');
    }
    return new Promise((resolve) => {
      const done = (why: DesiredWake): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', aborted);
        this.wake = undefined;
        if (why === 'changed') this.changed = false;
        resolve(why);
      };
      const aborted = (): void => done('closed');
      const timer = setTimeout(() => done('deadline'), Math.max(0, deadline - Date.now()));
      signal.addEventListener('abort', aborted, { once: true });
      this.wake = done;
    });
  }

  /** Ends the subscription (the poll answered or went away). */
  close(): void {
    this.unsubscribe(this);
  }

  /** @internal Called by the watch. */
  notify(node: boolean): void {
    this.changed = true;
    if (node) this.nodeChanged = true;
    this.wake?.('changed');
  }

  /** @internal Called by the watch when it stops. */
  end(): void {
    this.closed = true;
    this.wake?.('closed');
  }
}

/**
 * Desired state for long polls, per server process: the node-independent inputs, loaded
 * once per change, and who waits for what.
 *
 * One timer reads the store's change marks every 2 s (one small statement) to notice
 * writes by other replicas sharing the database; an in-process `desired` event reads them
 * at once. When the inputs' mark moved, the inputs are loaded again, and only when that
 * changed some node's answer are all polls woken, to recompute from the cached inputs
 * without touching the store. When nodes changed (labels, decommissioning), only their
 * own polls are woken, and re-read their node. Polls never recompute on a timer of their own.
 */
export class DesiredWatch {
  private inputs: DesiredInputs | undefined;
  private marks: DesiredStateMarks | undefined;
  /** Set by an in-process event until a check that started after it has finished. */
  private stale = false;
  private events = 0;
  private running: Promise<void> | undefined;
  private again = false;
  private lastError: unknown;
  /** Whether the latest check read the store (a failed one leaves the previous inputs). */
  private lastCheckOk = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly subscriptions = new Map<string, Set<DesiredSubscription>>();
  /** Nodes whose changes were processed lately, with when (performance.now()). */
  private readonly recentNodeChanges = new Map<string, number>();
  /** When a change of every node was last assumed (node changes lost to pruning). */
  private everyNodeChangedAt = Number.NEGATIVE_INFINITY;
  private readonly onDesiredEvent = (): void => {
    this.events++;
    this.stale = true;
    void this.refresh();
  };

  constructor(
    private readonly ctx: ServerContext,
    private readonly intervalMs = DESIRED_CHECK_INTERVAL_MS,
  ) {}

  start(): void {
    this.ctx.events.on('desired', this.onDesiredEvent);
    this.timer = setInterval(() => void this.refresh(), this.intervalMs);
    this.timer.unref();
  }

  /** Stops checking, ends every wait with 'closed', and settles once no check reads the store. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.ctx.events.off('desired', this.onDesiredEvent);
    for (const set of this.subscriptions.values()) for (const s of set) s.end();
    this.subscriptions.clear();
    await this.running;
  }

  /** The current inputs; after an in-process change, only once a check has seen it. */
  async current(): Promise<DesiredInputs> {
    if (this.inputs !== undefined && !this.stale) return this.inputs;
    await this.refresh();
    if (this.inputs === undefined || this.stale) throw this.lastError ?? new Error('desired state inputs are not loaded');
    return this.inputs;
  }

  /**
   * The inputs as the store has them now: a check (one small statement reading the change
   * marks; the inputs again only if they moved) that started after this call. For answers
   * that must not lag another replica's write, such as which artifacts a node may fetch;
   * calls that come together share a check, so a burst of requests costs a statement or two,
   * not a load of every deployment each.
   */
  async fresh(): Promise<DesiredInputs> {
    await this.refresh();
    if (this.inputs === undefined || !this.lastCheckOk) throw this.lastError ?? new Error('desired state inputs are not loaded');
    return this.inputs;
  }

  /**
   * Subscribes a poll to changes of its node's desired state. `nodeReadAt` is when the
   * poll's copy of the node was read (performance.now(), taken before the read): a change
   * of that node processed since then is latched at once, as it may postdate the copy.
   */
  subscribe(nodeId: string, nodeReadAt: number): DesiredSubscription {
    const s = new DesiredSubscription(nodeId, (x) => this.unsubscribe(x));
    if (this.stopped) {
      s.end();
      return s;
    }
    let set = this.subscriptions.get(nodeId);
    if (set === undefined) {
      set = new Set();
      this.subscriptions.set(nodeId, set);
    }
    set.add(s);
    const changedAt = Math.max(this.recentNodeChanges.get(nodeId) ?? Number.NEGATIVE_INFINITY, this.everyNodeChangedAt);
    if (changedAt >= nodeReadAt || performance.now() - nodeReadAt > RECENT_NODE_CHANGES_MS) s.notify(true);
    return s;
  }

  /** Polls waiting now (for tests and metrics). */
  get waiting(): number {
    let n = 0;
    for (const set of this.subscriptions.values()) n += set.size;
    return n;
  }

  private unsubscribe(s: DesiredSubscription): void {
    const set = this.subscriptions.get(s.nodeId);
    if (set === undefined) return;
    set.delete(s);
    if (set.size === 0) this.subscriptions.delete(s.nodeId);
  }

  /**
   * Runs a check, or one more after the one under way: whoever asks is answered by a check
   * that started after it asked. Never rejects (a failed check is logged and retried at the
   * next tick; `current()` reports it).
   */
  private refresh(): Promise<void> {
    this.again = true;
    this.running ??= this.checkUntilQuiet();
    return this.running;
  }

  private async checkUntilQuiet(): Promise<void> {
    try {
      do {
        if (this.stopped) return;
        this.again = false;
        await this.check();
      } while (this.again);
    } finally {
      // Cleared before any other code runs, so a later refresh() starts a new loop.
      this.running = undefined;
    }
  }

  private async check(): Promise<void> {
    const events = this.events;
    try {
      const marks = await this.ctx.store.desiredStateMarks();
      const previous = this.marks;
      if (this.inputs === undefined || marks.inputs !== previous?.inputs) {
        const inputs = await loadDesiredInputs(this.ctx);
        const changed = this.inputs !== undefined && inputs.key !== this.inputs.key;
        // An equal key keeps the old object, and with it the answers it remembers.
        if (this.inputs === undefined || changed) this.inputs = inputs;
        if (changed) this.notifyAll(false);
      }
      let nodeChanges = marks.nodeChanges;
      // Before the first marks, which nodes changed is unknown: any poll's copy may be old.
      if (previous === undefined) this.everyNodeChanged();
      else if (marks.nodeChanges !== previous.nodeChanges) nodeChanges = await this.nodesChangedSince(previous.nodeChanges, marks.nodeChanges);
      this.marks = { inputs: marks.inputs, nodeChanges };
      if (events === this.events) this.stale = false;
      this.lastCheckOk = true;
    } catch (err) {
      this.lastCheckOk = false;
      this.lastError = err;
      this.ctx.log.warn({ err }, 'reading desired state changes failed; long polls keep the last known state');
    }
  }

  /**
   * Wakes the polls of nodes changed after `generation` (up to `marked` at least, maybe
   * beyond); returns the last generation seen.
   */
  private async nodesChangedSince(generation: number, marked: number): Promise<number> {
    const changes = await this.ctx.store.listNodeChanges(generation);
    const now = performance.now();
    for (const [id, at] of this.recentNodeChanges) if (now - at > RECENT_NODE_CHANGES_MS) this.recentNodeChanges.delete(id);
    // Pruned before this server read them (or the database went back): which nodes changed is unknown.
    if (changes[0]?.generation !== generation + 1) this.everyNodeChanged();
    for (const { nodeId } of changes) {
      this.recentNodeChanges.set(nodeId, now);
      for (const s of this.subscriptions.get(nodeId) ?? []) s.notify(true);
    }
    return changes.at(-1)?.generation ?? marked;
  }

  /** Every poll re-reads its node, and so does any whose copy was read before now. */
  private everyNodeChanged(): void {
    this.everyNodeChangedAt = performance.now();
    this.notifyAll(true);
  }

  private notifyAll(node: boolean): void {
    for (const set of this.subscriptions.values()) for (const s of set) s.notify(node);
  }
}
