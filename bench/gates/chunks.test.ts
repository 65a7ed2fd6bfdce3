import { describe, expect, it } from 'vitest';
import { type ChunkKey, combineResults, parseScenarios, resultLine } from './chunks.js';
import type { RunResult } from './rollout-run.js';

const KEY: ChunkKey = { seed: 1, nodes: 200, world: null };

function run(outcome: RunResult['outcome'], step = 0): RunResult {
  return {
    outcome,
    reason: outcome === 'rolled-back' ? 'GateFailed' : 'Succeeded',
    rolledBackAfterMs: outcome === 'rolled-back' ? 120_000 : null,
    withinFirstBake: outcome === 'rolled-back',
    step,
    message: '',
    onFleetBaseline: false,
    plans: 10,
    simulatedMs: 600_000,
  };
}

/** A chunk: runs `from`..`from + n - 1` of all three scenarios. */
function chunk(from: number, n: number, key: ChunkKey = KEY, outcome = (_s: number, _i: number) => run('succeeded'), scenarios = [0, 1, 2]): string {
  const lines: string[] = [];
  for (const s of scenarios) for (let i = from; i < from + n; i++) lines.push(resultLine(key, s, i, outcome(s, i)));
  return `${lines.join('\n')}\n`;
}

describe('combineResults', () => {
  it('puts chunks made apart back together, in run order', () => {
    const c = combineResults(
      [
        { name: 'b', text: chunk(2, 2, KEY, (s, i) => run(s === 0 && i === 3 ? 'rolled-back' : 'succeeded')) },
        { name: 'a', text: chunk(0, 2) },
      ],
      3,
    );
    expect(c.problems).toEqual([]);
    expect(c.indices).toEqual([
      [0, 1, 2, 3],
      [0, 1, 2, 3],
      [0, 1, 2, 3],
    ]);
    expect(c.scenarios.map((runs) => runs.length)).toEqual([4, 4, 4]);
    expect(c.scenarios[0]?.map((r) => r.outcome)).toEqual(['succeeded', 'succeeded', 'succeeded', 'rolled-back']);
    expect(c.key).toEqual(KEY);
  });

  it('counts a run recorded twice with the same result once', () => {
    const c = combineResults(
      [
        { name: 'a', text: chunk(0, 3) },
        { name: 'b', text: chunk(2, 2) },
      ],
      3,
    );
    expect(c.problems).toEqual([]);
    expect(c.indices[0]).toEqual([0, 1, 2, 3]);
  });

  it('refuses a run recorded twice with different results: the chunks came from different code', () => {
    const c = combineResults(
      [
        { name: 'a', text: chunk(0, 2) },
        { name: 'b', text: chunk(1, 1, KEY, () => run('rolled-back')) },
      ],
      3,
    );
    expect(c.problems).toHaveLength(3);
    expect(c.problems[0]).toMatch(/^b:1: run 1 of scenario 0 was recorded before with another result/);
  });

  it('refuses runs of another world, seed or fleet size', () => {
    const c = combineResults(
      [
        { name: 'a', text: chunk(0, 1) },
        { name: 'b', text: chunk(1, 1, { ...KEY, world: '{"speedSigma":0}' }) },
        { name: 'c', text: chunk(2, 1, { ...KEY, seed: 2 }) },
        { name: 'd', text: chunk(3, 1, { ...KEY, nodes: 100 }) },
      ],
      3,
    );
    expect(c.problems).toHaveLength(9);
    expect(c.problems[0]).toMatch(/^b:1: seed 1, 200 nodes, world \{"speedSigma":0\} — the first line had seed 1, 200 nodes, world null/);
    expect(c.indices).toEqual([[0], [0], [0]]);
  });

  it('says which lines are not results', () => {
    const c = combineResults([{ name: 'x', text: `${chunk(0, 1)}not json\n{"bench":"other"}\n${resultLine(KEY, 7, 0, run('succeeded'))}\n` }], 3);
    expect(c.problems).toEqual(['x:4: not a JSON line', 'x:5: not a bench:gates result line', 'x:6: unknown scenario 7']);
    expect(c.indices).toEqual([[0], [0], [0]]);
  });

  it('counts each scenario over its own runs: chunks of some scenarios only, or an interrupted one', () => {
    const interrupted = [resultLine(KEY, 0, 5, run('succeeded')), resultLine(KEY, 1, 5, run('rolled-back'))].join('\n');
    const c = combineResults(
      [
        { name: 'a', text: chunk(0, 2) },
        { name: 'b', text: chunk(2, 3, KEY, () => run('rolled-back'), [2]) },
        { name: 'c', text: interrupted },
      ],
      3,
    );
    expect(c.problems).toEqual([]);
    expect(c.indices).toEqual([
      [0, 1, 5],
      [0, 1, 5],
      [0, 1, 2, 3, 4],
    ]);
    expect(c.scenarios[2]?.map((r) => r.outcome)).toEqual(['succeeded', 'succeeded', 'rolled-back', 'rolled-back', 'rolled-back']);
  });

  it("still refuses a scenario-only chunk whose runs differ from another chunk's", () => {
    const c = combineResults(
      [
        { name: 'a', text: chunk(0, 2) },
        { name: 'b', text: chunk(1, 1, KEY, () => run('rolled-back'), [2]) },
      ],
      3,
    );
    expect(c.problems).toEqual(['b:1: run 1 of scenario 2 was recorded before with another result (made by different code?)']);
  });
});

describe('parseScenarios', () => {
  it.each([
    [undefined, [0, 1, 2]],
    ['aa', [0]],
    ['2,aa', [0, 2]],
    ['1.3, 2,2', [1, 2]],
  ])('%s runs scenarios %o', (list, want) => {
    expect(parseScenarios(list)).toEqual({ scenarios: want });
  });

  it.each([
    ['1.5', /unknown "1.5"; known: aa, 1.3, 2/],
    ['aa,AB', /unknown "AB"/],
    ['', /none named/],
  ])('refuses %j with a clear error', (list, want) => {
    const r = parseScenarios(list);
    expect('error' in r && r.error).toMatch(want);
  });
});
