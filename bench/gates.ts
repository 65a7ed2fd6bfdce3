/**
 * `npm run bench:gates [-- --runs 200 --seed 1 --nodes 200 --workers 1]`: how often rollout gates roll
 * back a good release, and how often and how fast they catch a slow one. The real planner
 * (`planRollout`, with the contract's default strategy: steps 1/10/50/100 %, bakes 10m/30m/1h,
 * default gates) drives a simulated fleet (bench/gates/world.ts) in simulated time:
 *
 * - A/A: the new revision is the previous one (identical latency law). Runs to the end.
 * - A/B 1.3×: every request of the new revision takes 1.3 × as long (so its P95 is 1.3 ×).
 *   Runs to the end: caught at any step counts.
 * - A/B 2×: the same with 2 ×. Stops once step 1's bake (10 m) is over: only a rollback
 *   before then counts.
 *
 * Run i of every scenario uses the same world (seed, fleet, load, traffic), so the
 * scenarios differ only in the regression; even runs have low traffic (0.5 requests/s per
 * node), odd runs high (20/s).
 *
 * `--real` repeats A/A and a 3× A/B with a real server and real agents on this machine
 * under a traffic driver (bench/gates/real.ts; `--runs` defaults to 10 there).
 *
 * A long measurement can be made in chunks (bench/gates/chunks.ts): `--from 250 --runs 250
 * --results gates.jsonl` runs 250..499 of every scenario and appends each run's result to
 * the file; `--combine a.jsonl,b.jsonl` prints the figures over every run the files hold,
 * each scenario over its own runs. `--scenarios aa,1.3,2` runs only the named scenarios (the
 * 2× runs are cheap, the A/A runs the expensive ones); a scenario not run prints null.
 *
 * Human-readable lines go to stderr; the last line on stdout is the JSON figures:
 * {"runs":N,"falseRollbackRate":x,"detection1_3x":y,"detection2x":z,"medianSecondsToDetect2x":t}
 * Not a test: nothing here passes or fails.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { type ChunkKey, combineResults, parseScenarios, resultLine, SCENARIO_NAMES } from './gates/chunks.js';
import { benchFigures, median, wilson } from './gates/figures.js';
import { DEFAULT_CADENCE, type RunResult } from './gates/rollout-run.js';
import { type RunJob, runJobs } from './gates/run-pool.js';
import { WORLD, type WorldParameters } from './gates/world.js';
import { benchArgs } from './lib/args.js';
import { machineLine } from './lib/proc-stats.js';

const values = benchArgs(
  'npm run bench:gates [-- --runs 200 --from 0 --seed 1 --nodes 200 --workers 1 --world \'{"speedSigma":0}\' --results FILE --scenarios aa,1.3,2] | [-- --combine FILE,FILE…] | [-- --real --runs 10 --agents 8]',
  {
    runs: { type: 'string' },
    seed: { type: 'string', default: '1' },
    nodes: { type: 'string', default: '200' },
    real: { type: 'boolean', default: false },
    agents: { type: 'string', default: '8' },
    world: { type: 'string' },
    workers: { type: 'string', default: '1' },
    from: { type: 'string', default: '0' },
    results: { type: 'string' },
    combine: { type: 'string' },
    scenarios: { type: 'string' },
  },
);

function whole(name: string, value: string | undefined, fallback: number, min: number): number {
  const v = value === undefined ? fallback : Number(value);
  if (!Number.isInteger(v) || v < min) {
    console.error(`--${name} must be a whole number of at least ${min} (got ${value})`);
    process.exit(2);
  }
  return v;
}

const RUNS = whole('runs', values.runs, values.real ? 10 : 200, 1);
const SEED = whole('seed', values.seed, 1, 0);
const NODES = whole('nodes', values.nodes, 200, 2);
const PARAMETERS = worldParameters(values.world);
/** Threads the runs are split over (default one: the figures' cost is quoted per core). */
const WORKERS = whole('workers', values.workers, 1, 1);
/** The first run's index: chunks of one measurement start where the last one ended. */
const FROM = whole('from', values.from, 0, 0);
/** The scenarios this chunk runs (`--scenarios aa,1.3,2`, numbers into `SCENARIOS`): default all. */
const CHOSEN = (() => {
  const parsed = parseScenarios(values.scenarios);
  if ('error' in parsed) {
    console.error(parsed.error);
    process.exit(2);
  }
  return parsed.scenarios;
})();
/** What makes runs of several chunks comparable. */
const CHUNK_KEY: ChunkKey = { seed: SEED, nodes: NODES, world: values.world ?? null };

/** `--world '{"speedSigma":0}'`: the world's parameters with some changed (for what-ifs). */
function worldParameters(json: string | undefined): WorldParameters {
  if (json === undefined) return WORLD;
  let changes: unknown;
  try {
    changes = JSON.parse(json);
  } catch (err) {
    console.error(`--world must be a JSON object of parameters to change, e.g. '{"speedSigma":0}': ${(err as Error).message}`);
    process.exit(2);
  }
  const unknown = Object.keys(changes as object).filter((k) => !(k in WORLD));
  if (typeof changes !== 'object' || changes === null || unknown.length > 0) {
    console.error(`--world: unknown parameter ${unknown.join(', ')}; known: ${Object.keys(WORLD).join(', ')}`);
    process.exit(2);
  }
  return { ...WORLD, ...(changes as Partial<WorldParameters>) };
}

/** Long enough for the whole default rollout with a maxAnalysisTime hold at every step. */
const MAX_MS = 6 * 3_600_000;

interface Scenario {
  name: string;
  regression: number;
  stopAfterFirstBake: boolean;
}

const SCENARIOS: Scenario[] = [
  { name: 'A/A (identical releases)', regression: 1, stopAfterFirstBake: false },
  { name: 'A/B 1.3× P95', regression: 1.3, stopAfterFirstBake: false },
  { name: 'A/B 2× P95 (within step 1 bake)', regression: 2, stopAfterFirstBake: true },
];

async function simulated(): Promise<void> {
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  log(`bench:gates — ${RUNS} simulated rollouts per scenario (runs ${FROM}–${FROM + RUNS - 1}), ${NODES} nodes, seed ${SEED}; ${machineLine()}`);
  if (PARAMETERS !== WORLD) log(`  world parameters changed: ${values.world}`);
  log(
    `  world: ${PARAMETERS.accelerators.map(([k, s]) => `${k} ${s * 100} %`).join(', ')}; speed σ ${PARAMETERS.speedSigma}; traffic ${PARAMETERS.traffic.low}/s and ${PARAMETERS.traffic.high}/s per node; heartbeats ${PARAMETERS.heartbeatMs[0] / 1000}–${PARAMETERS.heartbeatMs[1] / 1000} s; planner every ${DEFAULT_CADENCE.minMs / 1000}–${DEFAULT_CADENCE.maxMs / 1000} s (1/${DEFAULT_CADENCE.perWindow} of the gate window's age)`,
  );
  const started = performance.now();
  if (CHOSEN.length < SCENARIOS.length) log(`  scenarios: ${CHOSEN.map((k) => SCENARIO_NAMES[k]).join(', ')} only`);
  const jobs: RunJob[] = SCENARIOS.flatMap((s, scenario) =>
    !CHOSEN.includes(scenario)
      ? []
      : Array.from({ length: RUNS }, (_, k) => FROM + k).map((i) => ({
          scenario,
          index: i,
          options: {
            nodes: NODES,
            seed: SEED * 1_000_003 + i,
            traffic: i % 2 === 0 ? ('low' as const) : ('high' as const),
            regression: s.regression,
            cadence: DEFAULT_CADENCE,
            stopAfterFirstBake: s.stopAfterFirstBake,
            maxMs: MAX_MS,
            parameters: PARAMETERS,
          },
        })),
  );
  const all: RunResult[][] = SCENARIOS.map((_, k) => (CHOSEN.includes(k) ? new Array<RunResult>(RUNS) : []));
  let done = 0;
  const every = Math.max(1, Math.round(jobs.length / 20));
  await runJobs(jobs, WORKERS, (job, result) => {
    (all[job.scenario] as RunResult[])[job.index - FROM] = result;
    if (values.results !== undefined) appendFileSync(values.results, `${resultLine(CHUNK_KEY, job.scenario, job.index, result)}\n`);
    if (++done % every === 0 || done === jobs.length) {
      const line = `  ${done}/${jobs.length} rollouts, ${Math.round((performance.now() - started) / 1000)} s`;
      process.stderr.write(process.stderr.isTTY ? `\r${line}   ` : `${line}\n`);
    }
  });
  if (process.stderr.isTTY) process.stderr.write('\n');
  for (const [k, s] of SCENARIOS.entries()) if (CHOSEN.includes(k)) report(s, all[k] as RunResult[], log);
  const [aa, ab13, ab2] = all as [RunResult[], RunResult[], RunResult[]];
  log(`  ${jobs.length} rollouts in ${Math.round((performance.now() - started) / 1000)} s on ${WORKERS} thread${WORKERS === 1 ? '' : 's'}`);
  process.stdout.write(`${JSON.stringify(benchFigures(aa, ab13, ab2))}\n`);
}

/** A scenario's outcomes, rolled-back rate with its 95 % interval, reasons and an example message. */
function report(s: Scenario, results: RunResult[], log: (line: string) => void, indices: readonly number[] = results.map((_, k) => FROM + k)): void {
  const count = (f: (r: RunResult) => boolean): number => results.filter(f).length;
  const rolled = results.filter((r) => r.outcome === 'rolled-back');
  const counted = s.stopAfterFirstBake ? rolled.filter((r) => r.withinFirstBake) : rolled;
  const w = wilson(counted.length, results.length);
  const pct = (v: number): string => `${(v * 100).toFixed(1)} %`;
  log(
    `  ${s.name}: rolled back ${counted.length}/${results.length} = ${pct(counted.length / results.length)} (95 % ${pct(w.low)}–${pct(w.high)}); ` +
      `succeeded ${count((r) => r.outcome === 'succeeded')}, passed step 1 bake ${count((r) => r.outcome === 'passed-first-bake')}, unfinished ${count((r) => r.outcome === 'unfinished')}`,
  );
  for (const traffic of ['low', 'high'] as const) {
    const mine = results.filter((_, k) => ((indices[k] as number) % 2 === 0 ? 'low' : 'high') === traffic);
    const n = mine.filter((r) => counted.includes(r)).length;
    log(`    ${traffic} traffic: ${n}/${mine.length} rolled back`);
  }
  const byStep = new Map<string, number>();
  for (const r of rolled) byStep.set(`step ${r.step + 1} ${r.reason}`, (byStep.get(`step ${r.step + 1} ${r.reason}`) ?? 0) + 1);
  if (byStep.size > 0)
    log(
      `    rollbacks by step and reason: ${[...byStep]
        .sort()
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
    );
  const fleet = counted.filter((r) => r.onFleetBaseline).length;
  const missedFleet = results.filter((r) => !counted.includes(r) && r.onFleetBaseline).length;
  log(`    last verdict compared a canary cohort with the fleet-wide baseline: ${fleet} of the rolled back, ${missedFleet} of the others`);
  if (counted.length > 0)
    log(`    median time to rollback ${Math.round(median(counted.map((r) => (r.rolledBackAfterMs ?? 0) / 1000)))} s; e.g. "${counted[0]?.message}"`);
  else if (results[0] !== undefined) log(`    e.g. "${results[0].message}"`);
}

/** `--combine`: the figures over every run in the results files. */
function combined(): void {
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  const names = (values.combine as string).split(',').filter((n) => n !== '');
  const files = names.map((name) => {
    try {
      return { name, text: readFileSync(name, 'utf8') };
    } catch (err) {
      console.error(`--combine: cannot read ${name}: ${(err as Error).message}`);
      return process.exit(2);
    }
  });
  const c = combineResults(files, SCENARIOS.length);
  if (c.problems.length > 0) {
    console.error(`--combine: ${c.problems.length} lines cannot be combined:\n${c.problems.slice(0, 20).join('\n')}`);
    process.exit(2);
  }
  if (c.indices.every((list) => list.length === 0)) {
    console.error(`--combine: no run is recorded for every scenario in ${names.join(', ')}`);
    process.exit(2);
  }
  log(
    `bench:gates --combine — runs per scenario (${SCENARIO_NAMES.map((n, k) => `${n} ${c.indices[k]?.length ?? 0}`).join(', ')}) from ${names.length} file(s), ${c.key.nodes} nodes, seed ${c.key.seed}${c.key.world === null ? '' : `, world ${c.key.world}`}`,
  );
  for (const [k, s] of SCENARIOS.entries()) {
    const indices = c.indices[k] as number[];
    if (indices.length === 0) {
      log(`  ${s.name}: no runs`);
      continue;
    }
    const gaps = (indices.at(-1) as number) + 1 - indices.length;
    if (gaps > 0) log(`  ${s.name}: runs 0–${indices.at(-1)} with ${gaps} missing`);
    report(s, c.scenarios[k] as RunResult[], log, indices);
  }
  const [aa, ab13, ab2] = c.scenarios as [RunResult[], RunResult[], RunResult[]];
  process.stdout.write(`${JSON.stringify(benchFigures(aa, ab13, ab2))}\n`);
}

if (values.combine !== undefined) {
  combined();
} else if (values.real) {
  const { realBench } = await import('./gates/real.js');
  await realBench({ runs: RUNS, agents: whole('agents', values.agents, 8, 2) });
  // Pooled connections and timers of the fleet may linger a moment after close.
  process.exit(0);
} else {
  await simulated();
}
