/**
 * Which nodes each step of a rollout moves, decided deterministically so that a restarted
 * server (or another replica) picks the same nodes.
 *
 * Every node gets a rank from a stable hash of (deployment, revision, node id). Nodes are
 * grouped into strata by their `cohortBy` label values (site × accelerator by default).
 * The pick order takes one node from each stratum in turn (round robin), each stratum's
 * nodes in rank order; in the first round the strata are ordered greedily so that each
 * next one adds as many label values not yet covered as possible (ties by the stratum's
 * hash). So the first canaries cover every site and every accelerator kind the fleet has
 * before any repeats, as far as the step's size allows, then every combination.
 *
 * Picks are cumulative and persisted: a step extends the picks of the steps before it and
 * never drops one, even when the node set changed in between (`extendPicks`).
 */

/** Minimal node shape for picking. */
export interface CohortNode {
  id: string;
  labels: Readonly<Record<string, string>>;
}

/**
 * cyrb53: a fast, well-mixed 53-bit string hash. Stable across processes and Node versions
 * (unlike anything seeded), which is all picking needs; it is not a security boundary.
 */
export function stableHash(text: string, seed = 0): number {
  return stableHash2('', text, seed);
}

/** `stableHash(prefix + text)` without building the joined string. */
function stableHash2(prefix: string, text: string, seed = 0): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < prefix.length; i++) {
    const ch = prefix.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/** A node's cohort: its `cohortBy` label values (missing → empty), joined. */
function cohortKey(labels: Readonly<Record<string, string>>, cohortBy: readonly string[]): string {
  if (cohortBy.length === 1) return labels[cohortBy[0] as string] ?? '';
  let key = '';
  for (let i = 0; i < cohortBy.length; i++) {
    if (i > 0) key += '\u0000';
    key += labels[cohortBy[i] as string] ?? '';
  }
  return key;
}

/**
 * Nodes a step covers: ⌈percent × targeted / 100⌉, at least 1 (0 only with no targets),
 * at most all of them.
 */
export function stepSize(percent: number, targeted: number): number {
  if (targeted <= 0) return 0;
  // Rounded to 9 decimals first so that 10 % of 30 is 3, not 4 from 3.0000000000000004.
  return Math.min(targeted, Math.max(1, Math.ceil(Number(((percent * targeted) / 100).toFixed(9)))));
}

/**
 * Nodes a step moves: its percent of the targeted nodes (`stepSize`), and for every step
 * before the last at least `minCanaryNodes` (`gates.minCanaryNodes`), but no more than half
 * the targeted nodes, so as many stay on the previous revision to compare with. A node-level
 * bootstrap over two canaries cannot tell a slow release from two slow boards: at 1 % of
 * 200 nodes, step 1's verdicts rested on two nodes' load (docs/GATES.md, "Enough canaries").
 */
export function stepNodes(percent: number, targeted: number, last: boolean, minCanaryNodes: number): number {
  const size = stepSize(percent, targeted);
  if (last) return size;
  return Math.max(size, Math.min(minCanaryNodes, Math.floor(targeted / 2)));
}

/** Every node's cohort as a small number, and each number's key. */
export interface CohortIndex {
  /** Cohort number of the node at each position. */
  of: Int32Array;
  /** Cohort key (`cohortKey`) of each number. */
  keys: string[];
  /** How many label keys a cohort key joins (`cohortBy.length`). */
  width: number;
}

interface TrieLevel {
  next: Map<string, TrieLevel>;
  number: number;
}

/**
 * Numbers cohorts as nodes come (first seen, first numbered), through a trie of label
 * values rather than joined keys, so no string is built per node.
 */
export class CohortNumbering {
  readonly keys: string[] = [];
  private readonly root: TrieLevel = { next: new Map(), number: -1 };

  constructor(private readonly cohortBy: readonly string[]) {}

  /** The cohort number of a node with these labels. */
  number(labels: Readonly<Record<string, string>>): number {
    let level = this.root;
    for (let k = 0; k < this.cohortBy.length; k++) {
      const value = labels[this.cohortBy[k] as string] ?? '';
      let child = level.next.get(value);
      if (child === undefined) {
        child = { next: new Map(), number: -1 };
        level.next.set(value, child);
      }
      level = child;
    }
    if (level.number < 0) {
      level.number = this.keys.length;
      this.keys.push(cohortKey(labels, this.cohortBy));
    }
    return level.number;
  }

  /** The index over numbers given so far, `of` holding each node's. */
  index(of: Int32Array): CohortIndex {
    return { of, keys: this.keys, width: this.cohortBy.length };
  }
}

/** Numbers the cohorts of `nodes` (by first appearance). */
export function cohortIndex(nodes: readonly CohortNode[], cohortBy: readonly string[]): CohortIndex {
  const numbering = new CohortNumbering(cohortBy);
  const of = new Int32Array(nodes.length);
  for (let i = 0; i < nodes.length; i++) of[i] = numbering.number((nodes[i] as CohortNode).labels);
  return numbering.index(of);
}

/** The full pick order for a rollout (see the file header), as node ids. Deterministic for the same inputs. */
export function pickOrder(deployment: string, revision: number, nodes: readonly CohortNode[], cohortBy: readonly string[]): string[] {
  const positions = pickOrderPositions(deployment, revision, nodes, cohortIndex(nodes, cohortBy));
  return Array.from(positions, (p) => (nodes[p] as CohortNode).id);
}

const SLOT = 2 ** 21;

/**
 * The pick order as positions into `nodes`, over the positions in `among` (default: all).
 * Does not depend on the order of `nodes`. Cost: one hash per node and one numeric sort.
 */
export function pickOrderPositions(
  deployment: string,
  revision: number,
  nodes: readonly CohortNode[],
  cohorts: CohortIndex,
  among?: ArrayLike<number>,
): Int32Array {
  const prefix = `${deployment}\u0000${revision}\u0000`;
  const count = among === undefined ? nodes.length : among.length;
  if (count >= SLOT) throw new RangeError(`at most ${SLOT - 1} nodes can be ordered`);
  const at = (i: number): number => (among === undefined ? i : (among[i] as number));
  // Rank by the hash's top 32 bits, packed with the slot so a native numeric sort does it;
  // equal tops (about one pair in 100,000 nodes) are then ordered by the full hash and id.
  const packed = new Float64Array(count);
  const full = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const h = stableHash2(prefix, (nodes[at(i)] as CohortNode).id);
    full[i] = h;
    packed[i] = Math.floor(h / SLOT) * SLOT + i;
  }
  packed.sort();
  const sorted = new Int32Array(count);
  for (let i = 0; i < count; i++) sorted[i] = (packed[i] as number) % SLOT;
  for (let i = 0; i + 1 < count; ) {
    let j = i + 1;
    while (j < count && Math.floor((packed[j] as number) / SLOT) === Math.floor((packed[i] as number) / SLOT)) j++;
    if (j - i > 1) {
      const run = Array.from(sorted.subarray(i, j)).sort((a, b) => {
        const d = (full[a] as number) - (full[b] as number);
        if (d !== 0) return d;
        const ia = (nodes[at(a)] as CohortNode).id;
        const ib = (nodes[at(b)] as CohortNode).id;
        return ia < ib ? -1 : ia > ib ? 1 : 0;
      });
      sorted.set(run, i);
    }
    i = j;
  }
  // Members of each stratum in rank order.
  const members: number[][] = cohorts.keys.map(() => []);
  for (let i = 0; i < count; i++) {
    const p = at(sorted[i] as number);
    (members[cohorts.of[p] as number] as number[]).push(p);
  }
  const present = cohorts.keys.filter((_, c) => (members[c] as number[]).length > 0);
  const number = new Map(cohorts.keys.map((k, c) => [k, c]));
  const columns = coverageOrder(prefix, present, cohorts.width).map((key) => members[number.get(key) as number] as number[]);
  const out = new Int32Array(count);
  let k = 0;
  for (let round = 0; k < count; round++) {
    for (const column of columns) {
      const p = column[round];
      if (p !== undefined) out[k++] = p;
    }
  }
  return out;
}

/**
 * Orders strata so that each next one adds the most label values not yet covered (greedy
 * set cover), ties broken by the stratum's hash. Gains only shrink as values get covered,
 * so sweeping in hash order taking strata that add ≥ g values, for g = keys … 1, yields a
 * greedy order in O(keys² × strata) — no quadratic scan even with thousands of strata.
 */
function coverageOrder(prefix: string, keys: string[], width: number): string[] {
  const ranked = keys.map((key) => ({ key, hash: stableHash(`${prefix}stratum\u0000${key}`), values: width <= 1 ? [key] : key.split('\u0000') }));
  ranked.sort((a, b) => a.hash - b.hash || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const covered = Array.from({ length: Math.max(1, width) }, () => new Set<string>());
  const gain = (values: string[]): number => {
    let g = 0;
    values.forEach((v, k) => {
      if (!(covered[k] as Set<string>).has(v)) g++;
    });
    return g;
  };
  const out: string[] = [];
  const taken = new Set<string>();
  for (let g = Math.max(1, width); g >= 1; g--) {
    for (const s of ranked) {
      if (taken.has(s.key) || gain(s.values) < g) continue;
      taken.add(s.key);
      out.push(s.key);
      s.values.forEach((v, k) => {
        (covered[k] as Set<string>).add(v);
      });
    }
  }
  for (const s of ranked) if (!taken.has(s.key)) out.push(s.key);
  return out;
}

interface ExtendPicksInput {
  deployment: string;
  revision: number;
  /** The nodes that may be picked (the rollout's targets). */
  nodes: readonly CohortNode[];
  cohortBy: readonly string[];
  /** Picks persisted so far, in pick order; all are kept (even nodes no longer targeted). */
  picked: readonly string[];
  /** How many picked targets the step needs that `counts` accepts. */
  want: number;
  /**
   * Whether a picked target counts towards `want`. The planner passes "not long offline":
   * a node offline when its turn comes is picked (it catches up later) but another is
   * picked too, so an offline node never shrinks a step.
   */
  counts?: (id: string) => boolean;
}

/**
 * The picks after this step: the persisted ones, then the next nodes in pick order until
 * `want` picked targets count. Returns `picked` itself when nothing needs adding (the pick
 * order, the costly part, is only computed when it does).
 */
export function extendPicks(input: ExtendPicksInput): readonly string[] {
  const counts = input.counts ?? (() => true);
  const targets = new Set<string>();
  for (const n of input.nodes) targets.add(n.id);
  let have = 0;
  for (const id of input.picked) if (targets.has(id) && counts(id)) have++;
  if (have >= input.want) return input.picked;
  const already = new Set(input.picked);
  const out = [...input.picked];
  for (const id of pickOrder(input.deployment, input.revision, input.nodes, input.cohortBy)) {
    if (have >= input.want) break;
    if (already.has(id)) continue;
    out.push(id);
    if (counts(id)) have++;
  }
  return out;
}

/** A `cohortBy` key no targeted node has, named as a field of the manifest. */
interface CohortByProblem {
  field: string;
  message: string;
}

/**
 * `cohortBy` keys that no node has, for apply to refuse (`field` is relative to
 * `spec.rollout`, like `cohortBy.1`). With no nodes at all nothing can be said, so nothing is.
 */
export function cohortByProblems(cohortBy: readonly string[], nodes: readonly CohortNode[]): CohortByProblem[] {
  if (nodes.length === 0) return [];
  const problems: CohortByProblem[] = [];
  cohortBy.forEach((key, i) => {
    if (!nodes.some((n) => n.labels[key] !== undefined))
      problems.push({ field: `cohortBy.${i}`, message: `no node has the label "${key}", so canaries cannot be spread across it` });
  });
  return problems;
}

/** The label whose cohorts a baseline may pool when each alone has too few nodes (`cohortFamilies`). */
export const POOLED_ACROSS = 'geolocation.site';

/**
 * Each cohort's family: cohorts that differ only in `across` (default the site) share one,
 * so a canary cohort whose own baseline is a node or two is compared with the same hardware
 * at other sites rather than with a fleet that mixes accelerators. Without `across` among
 * `cohortBy`, every cohort is its own family. Returns the family number of each cohort number.
 */
export function cohortFamilies(index: CohortIndex, cohortBy: readonly string[], across = POOLED_ACROSS): Int32Array {
  const at = cohortBy.indexOf(across);
  const out = new Int32Array(index.keys.length);
  if (at < 0) {
    for (let c = 0; c < out.length; c++) out[c] = c;
    return out;
  }
  const numbers = new Map<string, number>();
  index.keys.forEach((key, c) => {
    const parts = index.width === 1 ? [key] : key.split('\u0000');
    parts.splice(at, 1);
    const family = parts.join('\u0000');
    let n = numbers.get(family);
    if (n === undefined) {
      n = numbers.size;
      numbers.set(family, n);
    }
    out[c] = n;
  });
  return out;
}
