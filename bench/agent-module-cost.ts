/**
 * What loading each part of the agent costs in memory, the way the packaged agent loads it.
 *
 *   npm run bench:agent-modules [-- --runs 3 --node-args=--max-semi-space-size=1]
 *
 * For each case below, esbuild bundles one import (as scripts/package-agent.mjs bundles the
 * agent: ES module for Node 20, the edgefleet:source condition, ASCII output) into a temp
 * folder; a fresh `node --expose-gc` runs it, waits 300 ms, collects garbage twice and
 * reports process.memoryUsage(), RssAnon from /proc/self/status and the resident pages of
 * the `node` binary from /proc/self/smaps. The medians over `--runs` processes are printed,
 * with the difference from an empty script. An import keeps what it built at load (a
 * namespace kept alive), nothing runs: these are the costs an idle agent pays before it
 * does anything. Not a test: nothing passes or fails.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { benchArgs } from './lib/args.js';
import { machineLine } from './lib/proc-stats.js';
import { REPO_ROOT } from './lib/server-process.js';

const values = benchArgs('npm run bench:agent-modules [-- --runs 3 --node-args=--max-semi-space-size=1]', {
  runs: { type: 'string', default: '3' },
  'node-args': { type: 'string', default: '' },
});
const RUNS = Number(values.runs);
if (!(Number.isInteger(RUNS) && RUNS > 0)) {
  console.error('--runs must be a positive whole number');
  process.exit(2);
}
const nodeArgs = (values['node-args'] as string).split(' ').filter((a) => a !== '');

const cases: Array<[string, string]> = [
  ['empty script', ''],
  ['node:https + a TLS context', "import https from 'node:https'; import tls from 'node:tls'; globalThis.kept = [https, tls.createSecureContext({})];"],
  ['undici', "import * as m from 'undici'; globalThis.kept = m;"],
  ['zod', "import * as m from 'zod'; globalThis.kept = m;"],
  ['@edgefleet/protocol (zod + its schemas)', "import * as m from '@edgefleet/protocol'; globalThis.kept = m;"],
  ['@edgefleet/protocol/node (+ undici client)', "import * as m from '@edgefleet/protocol/node'; globalThis.kept = m;"],
  ['pino', "import m from 'pino'; globalThis.kept = m;"],
  ['model server (model-server/index.ts)', "import * as m from './packages/agent/src/model-server/index.ts'; globalThis.kept = m;"],
  [
    'container runtime (engine + runtime)',
    "import * as a from './packages/agent/src/workloads/container/engine.ts'; import * as b from './packages/agent/src/workloads/container/runtime.ts'; globalThis.kept = [a, b];",
  ],
  ['agent.ts (the Agent and all it imports)', "import * as m from './packages/agent/src/agent.ts'; globalThis.kept = m;"],
  ['@edgefleet/agent (the whole index)', "import * as m from '@edgefleet/agent'; globalThis.kept = m;"],
];

const report = `
await new Promise((r) => setTimeout(r, 300));
gc(); gc();
const { readFileSync } = await import('node:fs');
let mapping = '', nodeBinKb = 0;
for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\\n')) {
  const head = /^[0-9a-f]+-[0-9a-f]+ \\S+ \\S+ \\S+ \\S+\\s*(.*)$/.exec(line);
  if (head) { mapping = head[1]; continue; }
  const rss = /^Rss:\\s+(\\d+) kB/.exec(line);
  if (rss && mapping === process.execPath) nodeBinKb += Number(rss[1]);
}
const anonKb = Number(/^RssAnon:\\s+(\\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))[1]);
const usage = process.memoryUsage();
console.log(JSON.stringify({ rss: usage.rss / 1048576, heapUsed: usage.heapUsed / 1048576, heapTotal: usage.heapTotal / 1048576, anon: anonKb / 1024, nodeBin: nodeBinKb / 1024 }));
`;

console.log(`agent module cost: ${RUNS} processes a case, medians in MiB${nodeArgs.length > 0 ? `, node ${nodeArgs.join(' ')}` : ''}`);
console.log(
  `machine: ${machineLine()}; load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
const dir = mkdtempSync(join(tmpdir(), 'edgefleet-module-cost-'));
type Figures = { rss: number; heapUsed: number; heapTotal: number; anon: number; nodeBin: number };
const keys: Array<keyof Figures> = ['rss', 'anon', 'nodeBin', 'heapUsed', 'heapTotal'];
let empty: Figures | undefined;
try {
  console.log(`${'case'.padEnd(44)} ${keys.map((k) => k.padStart(16)).join('')}`);
  for (const [i, [name, source]] of cases.entries()) {
    const file = join(dir, `case-${i}.mjs`);
    await build({
      stdin: { contents: source + report, resolveDir: REPO_ROOT, loader: 'ts' },
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      conditions: ['edgefleet:source'],
      external: ['yaml'],
      // As in the agent bundle before it left the model server out: onnxruntime-node stubbed.
      plugins: [
        {
          name: 'no-onnxruntime',
          setup(b) {
            b.onResolve({ filter: /^onnxruntime-node$/ }, () => ({ path: 'onnxruntime-node', namespace: 'stub' }));
            b.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({ contents: 'export const InferenceSession = {}; export class Tensor {}', loader: 'js' }));
          },
        },
      ],
      banner: { js: "import { createRequire as __edgefleetRequire } from 'node:module'; const require = __edgefleetRequire(import.meta.url);" },
      outfile: file,
      logLevel: 'error',
    });
    const runs: Figures[] = [];
    for (let r = 0; r < RUNS; r++) {
      const out = execFileSync(process.execPath, [...nodeArgs, '--expose-gc', file], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .at(-1) as string;
      runs.push(JSON.parse(out) as Figures);
    }
    const median = Object.fromEntries(keys.map((k) => [k, runs.map((r) => r[k]).sort((a, b) => a - b)[Math.floor(RUNS / 2)] as number])) as Figures;
    empty ??= median;
    const base = empty;
    console.log(
      `${name.padEnd(44)} ${keys
        .map((k) =>
          `${median[k].toFixed(1)}${median === base ? '' : ` (${median[k] - base[k] >= 0 ? '+' : ''}${(median[k] - base[k]).toFixed(1)})`}`.padStart(16),
        )
        .join('')}`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
