/**
 * A thousand simulated rollouts per scenario take hours of one core, more than one sitting
 * on a shared machine. Every run is a pure function of (seed, nodes, world, scenario, run
 * index), so a measurement can be made in chunks — `--from 0 --runs 250`, `--from 250 …`,
 * on one machine or several — each appending its runs to a results file (`--results FILE`),
 * and the figures computed over all of them (`--combine FILE,FILE…`). A chunk may run only
 * some scenarios (`--scenarios aa,1.3,2`): the 2× runs stop after step 1's bake and cost
 * little, the A/A runs go to the end. Pure: parsing and combining are table-tested; the
 * bench does the file I/O.
 */
import type { RunResult } from './rollout-run.js';

/** `--scenarios` names, in the bench's scenario order: A/A, A/B 1.3×, A/B 2×. */
export const SCENARIO_NAMES = ['aa', '1.3', '2'] as const;

/**
 * The scenarios a `--scenarios` list names (their numbers, ascending), or an error that says
 * what was wrong. Undefined: every scenario.
 */
export function parseScenarios(list: string | undefined): { scenarios: number[] } | { error: string } {
  if (list === undefined) return { scenarios: SCENARIO_NAMES.map((_, k) => k) };
  const names = list
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '');
  const unknown = names.filter((n) => !(SCENARIO_NAMES as readonly string[]).includes(n));
  if (names.length === 0 || unknown.length > 0)
    return {
      error: `--scenarios: ${unknown.length > 0 ? `unknown ${unknown.map((n) => `"${n}"`).join(', ')}` : 'none named'}; known: ${SCENARIO_NAMES.join(', ')}`,
    };
  return { scenarios: [...new Set(names.map((n) => (SCENARIO_NAMES as readonly string[]).indexOf(n)))].sort((a, b) => a - b) };
}

/** What makes two runs comparable: the same world, seed and fleet size. */
export interface ChunkKey {
  seed: number;
  nodes: number;
  /** The `--world` JSON as given (null for the default world). */
  world: string | null;
}

/** One line of a results file. */
export interface ResultLine extends ChunkKey {
  bench: 'gates';
  scenario: number;
  index: number;
  result: RunResult;
}

/** The line a run is written as. */
export function resultLine(key: ChunkKey, scenario: number, index: number, result: RunResult): string {
  return JSON.stringify({ bench: 'gates', ...key, scenario, index, result } satisfies ResultLine);
}

/** Runs per scenario, by run index, and what was wrong with the input. */
export interface Combined {
  key: ChunkKey;
  /** For each scenario, its runs in index order. */
  scenarios: RunResult[][];
  /**
   * For each scenario, the run indices it has (what its figure is over). Scenarios are
   * counted apart: a chunk may run only some (`--scenarios`), and each run is pure in its
   * seed, so a scenario's figure over more runs than another's is no less right.
   */
  indices: number[][];
  /** Lines that could not be used, and why (the bench prints them and stops if any). */
  problems: string[];
}

/**
 * Combines results files' lines (`name` says where each came from, for the problems). A run
 * that appears twice must have the same result both times: it is the same pure function, so
 * a difference means the chunks were made by different code and cannot be combined.
 */
export function combineResults(files: ReadonlyArray<{ name: string; text: string }>, scenarioCount: number): Combined {
  const problems: string[] = [];
  let key: ChunkKey | undefined;
  const byScenario: Array<Map<number, RunResult>> = Array.from({ length: scenarioCount }, () => new Map());
  for (const { name, text } of files) {
    for (const [n, raw] of text.split('\n').entries()) {
      if (raw.trim() === '') continue;
      const where = `${name}:${n + 1}`;
      let line: ResultLine;
      try {
        line = JSON.parse(raw) as ResultLine;
      } catch {
        problems.push(`${where}: not a JSON line`);
        continue;
      }
      if (line.bench !== 'gates' || typeof line.result !== 'object' || line.result === null || !Number.isInteger(line.index) || line.index < 0) {
        problems.push(`${where}: not a bench:gates result line`);
        continue;
      }
      if (!Number.isInteger(line.scenario) || line.scenario < 0 || line.scenario >= scenarioCount) {
        problems.push(`${where}: unknown scenario ${line.scenario}`);
        continue;
      }
      const lineKey: ChunkKey = { seed: line.seed, nodes: line.nodes, world: line.world ?? null };
      if (key === undefined) key = lineKey;
      else if (key.seed !== lineKey.seed || key.nodes !== lineKey.nodes || key.world !== lineKey.world) {
        problems.push(
          `${where}: seed ${lineKey.seed}, ${lineKey.nodes} nodes, world ${lineKey.world} — the first line had seed ${key.seed}, ${key.nodes} nodes, world ${key.world}; only runs of one world combine`,
        );
        continue;
      }
      const runs = byScenario[line.scenario] as Map<number, RunResult>;
      const seen = runs.get(line.index);
      if (seen !== undefined && JSON.stringify(seen) !== JSON.stringify(line.result)) {
        problems.push(`${where}: run ${line.index} of scenario ${line.scenario} was recorded before with another result (made by different code?)`);
        continue;
      }
      runs.set(line.index, line.result);
    }
  }
  const indices = byScenario.map((m) => [...m.keys()].sort((a, b) => a - b));
  return {
    key: key ?? { seed: 0, nodes: 0, world: null },
    scenarios: byScenario.map((m, s) => (indices[s] as number[]).map((i) => m.get(i) as RunResult)),
    indices,
    problems,
  };
}
