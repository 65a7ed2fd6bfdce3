/**
 * The node table: one plan's view of a rollout's targeted nodes — the data layout, no
 * policy. A node is addressed by its position in `RolloutPlanInput.nodes`; the persisted id
 * lists are joined to positions once, and every question the policy asks ("is the node at
 * p picked? does it serve the rollout's revision?") is a named accessor over typed arrays.
 *
 * Why the packing: `bench:plan` must plan 100,000 nodes well under a second. Sets of ids
 * per question would hash every id many times per plan and allocate per node; here each
 * node has two bytes of bit flags — what the rollout state says (`mark`) and what the node
 * reports for the rollout's revision (`fact`) — so a plan hashes each id about once and the
 * rules run over flat arrays. The bits stay private to this module: callers use the
 * accessors (small enough for V8 to inline in the hot loops).
 */
import type { RolloutNodeCounts, WorkloadStats } from '@edgefleet/protocol';
import { type CohortIndex, CohortNumbering, cohortFamilies, cohortIndex } from './cohorts.js';
import type { RolloutState } from './state.js';
import { servingRevision } from './status.js';
import { type NodeWorkloadStats, type RolloutNode, SITE_LABEL } from './types.js';

// What the rollout state says of a node (`mark`)…
const PICKED = 1;
const ASSIGNED = 2;
const DEFERRED = 4;
const ROLLED_BACK = 8;
const SCOPE = 16;
/** Bits of `mark` that a packed id (`packIds`) carries below its pick rank. */
const MARK_BITS = 5;
// …and what the node reports, for the rollout's revision (`fact`).
const UPDATED = 1;
const FAILED = 2;
const SERVING = 4;
const ONLINE = 8;
const GONE = 16; // offline for at least deferAfter

const BROKEN: ReadonlySet<string> = new Set(['failed', 'verification-failed']);

/** What the table needs to be built; see `RolloutPlanInput` for the fields it shares. */
export interface NodeTableInput {
  nodes: readonly RolloutNode[];
  /** The persisted state whose id lists are joined to positions; null before a first rollout. */
  state: RolloutState | null;
  /** The revision whose reports `fact` reads (the rollout's revision). */
  revision: number;
  /** Stats samples as a flat list, joined to nodes by id on first use. */
  stats?: readonly NodeWorkloadStats[];
  cohortBy: readonly string[];
  /** A node offline this long is gone (`offline.deferAfter`). */
  deferAfterMs: number;
  now: number;
  /**
   * Number cohorts and sites in the first scan. A plan whose rollout is over and stays so
   * never asks, so it skips the label reads; asked later, they are built on demand.
   */
  withCohorts: boolean;
}

/** Picked nodes of the scope by how they stand: what decides whether a step is reached. */
interface StepTally {
  /** Picked and not deferred. */
  reachable: number;
  /** Reachable and serving the rollout's revision. */
  updated: number;
  /** Reachable and reporting the rollout's revision as failed. */
  failed: number;
  /** Reachable and not told to switch yet. */
  unassigned: number;
  deferred: number;
}

/** A rollout's targeted nodes, by position, with what the state says and what they report. */
export class NodeTable {
  /** Number of targeted nodes. */
  readonly size: number;
  private readonly nodes: readonly RolloutNode[];
  private readonly mark: Uint8Array;
  private readonly fact: Uint8Array;
  private factRevision: number;
  private readonly now: number;
  private readonly deferAfterMs: number;
  private readonly cohortBy: readonly string[];
  private readonly flatStats: readonly NodeWorkloadStats[];
  /** The input state's own lists: copied before the first append, never modified. */
  private readonly inputPicked: readonly string[] | undefined;
  private readonly inputAssigned: readonly string[] | undefined;
  private picked: readonly string[] = [];
  private pickedPos: number[] = [];
  private assigned: readonly string[] = [];
  private rolledBack: readonly string[] = [];
  private scopeCount = 0;
  private cohorts: CohortIndex | null = null;
  private families: Int32Array | null = null;
  private siteOf: Int32Array | null = null;
  private sites = 0;
  private samples: (readonly WorkloadStats[] | undefined)[];
  private flatJoined = false;
  private idList: string[] | null = null;
  /** Node id → position; built only for a flat stats list. */
  private index: Map<string, number> | null = null;

  constructor(input: NodeTableInput) {
    this.nodes = input.nodes;
    this.size = input.nodes.length;
    this.mark = new Uint8Array(this.size);
    this.fact = new Uint8Array(this.size);
    this.factRevision = input.revision;
    this.now = input.now;
    this.deferAfterMs = input.deferAfterMs;
    this.cohortBy = input.cohortBy;
    this.flatStats = input.stats ?? [];
    this.inputPicked = input.state?.picked;
    this.inputAssigned = input.state?.assigned;
    this.samples = new Array(this.size);
    this.scan(input);
    if (input.state !== null) {
      // Lists are shared with the input until changed (copy on write).
      this.picked = input.state.picked;
      this.assigned = input.state.assigned;
      this.rolledBack = input.state.rolledBack;
    }
    // No state yet: a first rollout, which moves every targeted node.
    this.countScope(input.state === null || input.state.scope === null);
  }

  /**
   * One pass over the nodes that reads each node once (on a big fleet every pass over
   * 100,000 node objects costs more in memory traffic than in work): joins the persisted
   * id lists to positions, and takes what nodes report, their cohort and site, and their
   * stats.
   */
  private scan(input: NodeTableInput): void {
    const { state } = input;
    const known = state === null ? null : packIds(state);
    const byRank = new Int32Array(state?.picked.length ?? 0).fill(-1);
    const numbering = input.withCohorts ? new CohortNumbering(this.cohortBy) : null;
    const cohortOf = new Int32Array(numbering === null ? 0 : this.size);
    const sites = new Map<string, number>();
    const siteOf = new Int32Array(numbering === null ? 0 : this.size);
    for (let p = 0; p < this.size; p++) {
      const node = this.nodes[p] as RolloutNode;
      if (known !== null) {
        const v = known.get(node.id);
        if (v !== undefined) {
          this.mark[p] = v & ((1 << MARK_BITS) - 1);
          if (v >> MARK_BITS > 0) byRank[(v >> MARK_BITS) - 1] = p;
        }
      }
      this.fact[p] = this.factOf(node, input.revision);
      this.samples[p] = node.stats;
      if (numbering !== null) {
        cohortOf[p] = numbering.number(node.labels);
        siteOf[p] = siteNumber(sites, node.labels[SITE_LABEL]);
      }
    }
    for (const p of byRank) if (p >= 0) this.pickedPos.push(p);
    if (numbering !== null) {
      this.cohorts = numbering.index(cohortOf);
      this.siteOf = siteOf;
      this.sites = sites.size;
    }
  }

  private factOf(node: RolloutNode, revision: number): number {
    const w = node.workload;
    const serving = servingRevision(w);
    let f = 0;
    if (serving === revision) f |= UPDATED;
    else if (w !== null && w.revision === revision && BROKEN.has(w.state)) f |= FAILED;
    if (node.online) {
      f |= ONLINE;
      if (serving !== null) f |= SERVING;
    } else if (node.lastSeen === null || this.now - node.lastSeen >= this.deferAfterMs) {
      f |= GONE;
    }
    return f;
  }

  // ---- what the state says --------------------------------------------------------------

  /** Whether the rollout moves the node at `p` (every node, unless an undo has a scope). */
  inScope(p: number): boolean {
    return ((this.mark[p] as number) & SCOPE) !== 0;
  }
  isPicked(p: number): boolean {
    return ((this.mark[p] as number) & PICKED) !== 0;
  }
  /** Told to run the rollout's revision. */
  isAssigned(p: number): boolean {
    return ((this.mark[p] as number) & ASSIGNED) !== 0;
  }
  isDeferred(p: number): boolean {
    return ((this.mark[p] as number) & DEFERRED) !== 0;
  }
  isRolledBack(p: number): boolean {
    return ((this.mark[p] as number) & ROLLED_BACK) !== 0;
  }

  // ---- what the node reports, for the rollout's revision -------------------------------

  /** Serves the rollout's revision. */
  isUpdated(p: number): boolean {
    return ((this.fact[p] as number) & UPDATED) !== 0;
  }
  /** Reported the rollout's revision as failed (and does not serve it). */
  hasFailed(p: number): boolean {
    return ((this.fact[p] as number) & FAILED) !== 0;
  }
  /** Has the rollout's revision, one way or the other: serving it or failed on it. */
  isSettled(p: number): boolean {
    return ((this.fact[p] as number) & (UPDATED | FAILED)) !== 0;
  }
  /** Online and serving some revision. */
  isServing(p: number): boolean {
    return ((this.fact[p] as number) & SERVING) !== 0;
  }
  isOnline(p: number): boolean {
    return ((this.fact[p] as number) & ONLINE) !== 0;
  }
  /** Offline for at least `offline.deferAfter` (or never seen). */
  isGone(p: number): boolean {
    return ((this.fact[p] as number) & GONE) !== 0;
  }

  /** The rollout's revision changed (a new rollout or an undo began): re-read what nodes report. */
  setRevision(revision: number): void {
    if (this.factRevision === revision) return;
    for (let p = 0; p < this.size; p++) this.fact[p] = this.factOf(this.nodes[p] as RolloutNode, revision);
    this.factRevision = revision;
  }

  // ---- changes --------------------------------------------------------------------------

  /** Forgets every mark and list (a new rollout begins) and sets its scope (null: every node). */
  reset(scope: readonly string[] | null): void {
    this.mark.fill(0);
    this.picked = [];
    this.pickedPos = [];
    this.assigned = [];
    this.rolledBack = [];
    const ids = scope === null ? null : new Set(scope);
    for (let p = 0; p < this.size; p++) if (ids === null || ids.has(this.id(p))) this.mark[p] = SCOPE;
    this.countScope(false);
  }

  /** Picks the node at `p` (after every node picked before). */
  pick(p: number): void {
    this.mark[p] = (this.mark[p] as number) | PICKED;
    this.pickedPos.push(p);
    this.picked = appended(this.picked, this.id(p), this.inputPicked);
  }

  /** Records that the node at `p` is told to run the rollout's revision. */
  assign(p: number): void {
    this.mark[p] = (this.mark[p] as number) | ASSIGNED;
    this.assigned = appended(this.assigned, this.id(p), this.inputAssigned);
  }

  setDeferred(p: number, deferred: boolean): void {
    const m = this.mark[p] as number;
    this.mark[p] = deferred ? m | DEFERRED : m & ~DEFERRED;
  }

  /** The nodes at `positions` are the ones rolled back (replacing any earlier rollback). */
  setRolledBack(positions: readonly number[]): string[] {
    for (let p = 0; p < this.size; p++) this.mark[p] = (this.mark[p] as number) & ~ROLLED_BACK;
    for (const p of positions) this.mark[p] = (this.mark[p] as number) | ROLLED_BACK;
    const ids = this.idsOf(positions);
    this.rolledBack = ids;
    return ids;
  }

  // ---- lists and counts -----------------------------------------------------------------

  id(p: number): string {
    return (this.nodes[p] as RolloutNode).id;
  }

  /** The targeted nodes as given, by position. */
  nodeList(): readonly RolloutNode[] {
    return this.nodes;
  }

  /** Every node's id by position (made once per table). */
  ids(): readonly string[] {
    if (this.idList === null) this.idList = this.nodes.map((n) => n.id);
    return this.idList;
  }

  idsOf(positions: readonly number[]): string[] {
    return positions.map((p) => this.id(p));
  }

  /** Positions of the picked targeted nodes, in pick order. Read only. */
  pickedPositions(): readonly number[] {
    return this.pickedPos;
  }

  /** Nodes in the rollout's scope. */
  get scopeSize(): number {
    return this.scopeCount;
  }

  /** The id lists to persist; lists that did not change are the input state's own arrays. */
  lists(): Pick<RolloutState, 'picked' | 'assigned' | 'deferred' | 'rolledBack'> {
    const deferred: string[] = [];
    for (let p = 0; p < this.size; p++) if (this.isDeferred(p)) deferred.push(this.id(p));
    return { picked: this.picked as string[], assigned: this.assigned as string[], deferred, rolledBack: this.rolledBack as string[] };
  }

  /** The assigned ids, in the order they were told. */
  assignedIds(): readonly string[] {
    return this.assigned;
  }

  /** Picked nodes of the scope, tallied (`StepTally`). */
  tally(): StepTally {
    const t: StepTally = { reachable: 0, updated: 0, failed: 0, unassigned: 0, deferred: 0 };
    for (const p of this.pickedPos) {
      if (!this.inScope(p)) continue;
      if (this.isDeferred(p)) {
        t.deferred++;
        continue;
      }
      t.reachable++;
      if (this.isUpdated(p)) t.updated++;
      else if (this.hasFailed(p)) t.failed++;
      if (!this.isAssigned(p)) t.unassigned++;
    }
    return t;
  }

  /** Status counts: the same rules as `countNodes`, over the flags. */
  counts(): RolloutNodeCounts {
    const c: RolloutNodeCounts = { total: this.size, updated: 0, pending: 0, deferred: 0, failed: 0, rolledBack: 0 };
    for (let p = 0; p < this.size; p++) {
      if (this.isRolledBack(p)) c.rolledBack++;
      else if (this.isUpdated(p)) c.updated++;
      else if (this.hasFailed(p)) c.failed++;
      else if (this.isDeferred(p) && !this.isOnline(p)) c.deferred++;
      else c.pending++;
    }
    return c;
  }

  // ---- cohorts, sites, stats ------------------------------------------------------------

  /** Every node's cohort (`cohorts.ts`). */
  cohortIndex(): CohortIndex {
    if (this.cohorts === null) this.cohorts = cohortIndex(this.nodes, this.cohortBy);
    return this.cohorts;
  }

  /** Each cohort number's family: the same cohort values but the site (`cohorts.ts` cohortFamilies). */
  cohortFamilies(): Int32Array {
    if (this.families === null) this.families = cohortFamilies(this.cohortIndex(), this.cohortBy);
    return this.families;
  }

  /** Every node's site as a number (-1: no site label), and how many sites there are. */
  siteIndex(): { siteOf: Int32Array; sites: number } {
    if (this.siteOf === null) {
      const numbers = new Map<string, number>();
      const siteOf = new Int32Array(this.size);
      for (let p = 0; p < this.size; p++) siteOf[p] = siteNumber(numbers, (this.nodes[p] as RolloutNode).labels[SITE_LABEL]);
      this.siteOf = siteOf;
      this.sites = numbers.size;
    }
    return { siteOf: this.siteOf, sites: this.sites };
  }

  /** Each node's samples by position: its own `stats`, plus the flat stats list joined by node id. */
  samplesByNode(): ArrayLike<readonly WorkloadStats[] | undefined> {
    const out = this.samples;
    if (this.flatStats.length > 0 && !this.flatJoined) {
      this.flatJoined = true;
      const index = this.positions();
      // Lists made here may grow in place; a node's own list is copied before it grows.
      const ours = new Uint8Array(this.size);
      for (const s of this.flatStats) {
        const p = index.get(s.nodeId);
        if (p === undefined) continue;
        const list = out[p];
        if (list !== undefined && ours[p] === 1) (list as WorkloadStats[]).push(s);
        else {
          out[p] = list === undefined ? [s] : [...list, s];
          ours[p] = 1;
        }
      }
    }
    return out;
  }

  private positions(): Map<string, number> {
    if (this.index === null) {
      this.index = new Map();
      for (let p = 0; p < this.size; p++) this.index.set(this.id(p), p);
    }
    return this.index;
  }

  /** Counts the nodes in scope; `all`: every node is (a rollout without a scope). */
  private countScope(all: boolean): void {
    if (all) for (let p = 0; p < this.size; p++) this.mark[p] = (this.mark[p] as number) | SCOPE;
    this.scopeCount = 0;
    for (let p = 0; p < this.size; p++) if (this.inScope(p)) this.scopeCount++;
  }
}

/**
 * The persisted ids of a state → mark bits | (pick rank + 1) << MARK_BITS, so the scan joins
 * all five lists to a node with one map probe. The first of duplicate picks keeps its rank.
 */
export function packIds(state: RolloutState): Map<string, number> {
  const known = new Map<string, number>();
  const picked = state.picked;
  for (let rank = 0; rank < picked.length; rank++) {
    const id = picked[rank] as string;
    if (!known.has(id)) known.set(id, PICKED | ((rank + 1) << MARK_BITS));
  }
  const add = (ids: readonly string[], bit: number): void => {
    for (const id of ids) known.set(id, (known.get(id) ?? 0) | bit);
  };
  add(state.assigned, ASSIGNED);
  add(state.deferred, DEFERRED);
  add(state.rolledBack, ROLLED_BACK);
  if (state.scope !== null) add(state.scope, SCOPE);
  return known;
}

function siteNumber(numbers: Map<string, number>, site: string | undefined): number {
  if (site === undefined) return -1;
  let number = numbers.get(site);
  if (number === undefined) {
    number = numbers.size;
    numbers.set(site, number);
  }
  return number;
}

/** `list` with `id` appended: copied first if it is the input's own array, else in place. */
function appended(list: readonly string[], id: string, input: readonly string[] | undefined): string[] {
  const own = list === input ? [...list] : (list as string[]);
  own.push(id);
  return own;
}
