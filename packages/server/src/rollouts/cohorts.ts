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
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
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
export function cohortKey(labels: Readonly<Record<string, string>>, cohortBy: readonly string[]): string {
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

/** The full pick order for a rollout (see the file header). Deterministic for the same inputs. */
export function pickOrder(deployment: string, revision: number, nodes: readonly CohortNode[], cohortBy: readonly string[]): string[] {
  const prefix = `${deployment}\u0000${revision}\u0000`;
  const n = nodes.length;
  const hashes = new Float64Array(n);
  const strata = new Map<string, number[]>();
  for (let i = 0; i < n; i++) {
    const node = nodes[i] as CohortNode;
    hashes[i] = stableHash(prefix + node.id);
    const key = cohortKey(node.labels, cohortBy);
    const members = strata.get(key);
    if (members === undefined) strata.set(key, [i]);
    else members.push(i);
  }
  const byRank = (a: number, b: number): number => {
    const d = (hashes[a] as number) - (hashes[b] as number);
    if (d !== 0) return d;
    const ia = (nodes[a] as CohortNode).id;
    const ib = (nodes[b] as CohortNode).id;
    return ia < ib ? -1 : ia > ib ? 1 : 0;
  };
  for (const members of strata.values()) members.sort(byRank);

  const order = coverageOrder(prefix, [...strata.keys()], cohortBy.length);
  const columns = order.map((key) => strata.get(key) as number[]);
  const out: string[] = [];
  for (let round = 0; out.length < n; round++) {
    for (const members of columns) {
      const i = members[round];
      if (i !== undefined) out.push((nodes[i] as CohortNode).id);
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

export interface ExtendPicksInput {
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
export interface CohortByProblem {
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
