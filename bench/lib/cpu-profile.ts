/**
 * Reads a V8 CPU profile (`node --cpu-prof`) and says where the time went: self time by
 * function and by package, so a benchmark can name its top costs instead of guessing.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/** Self time of one function or package, in ms and as a share of the sampled time. */
export interface CostLine {
  name: string;
  ms: number;
  share: number;
}

/** Where `url` lives: a package name, one of our workspaces, node internals, or native. */
function packageOf(url: string): string {
  if (url === '') return '(native, GC, idle)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm !== null) return nm[1] as string;
  const ours = /packages\/([^/]+)\//.exec(url);
  if (ours !== null) return `@edgefleet/${ours[1]}`;
  if (url.startsWith('node:')) return url.split('/')[0] === 'node:internal' ? `node:${url.split('/')[1] ?? ''}` : url;
  return url;
}

/**
 * Self time by function and by package from the newest `.cpuprofile` in `dir`; and the
 * inclusive time of our own functions (`@edgefleet/*`: which handler or step the time was
 * spent under). With `busiest: seconds`, only the samples of the busiest window of that
 * length (the most time not idle): a burst's costs, not the run's. With `busiest: { fromS,
 * toS }`, the samples of that window of the profile's clock (a steady state's costs).
 */
export function summariseProfile(
  dir: string,
  top = 15,
  busiest?: number | { fromS: number; toS: number },
  /** With `busiest`: only windows starting this many seconds after the profile's start. */
  afterS = 0,
): { file: string; totalMs: number; window?: { fromS: number; toS: number }; functions: CostLine[]; packages: CostLine[]; ours: CostLine[] } {
  // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: the main thread is thread 0. A server
  // with worker threads (the SQLite checkpointer) writes one file per thread, and a worker's,
  // nearly all idle, says nothing about the event loop.
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .sort();
  const file = files.filter((f) => f.split('.').at(-3) === '0').at(-1) ?? files.at(-1);
  if (file === undefined) throw new Error(`no .cpuprofile in ${dir}: did the process exit cleanly?`);
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Profile;
  // Self time per node from the samples and their time deltas (µs).
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const idle = new Set(profile.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id));
  const weight = (i: number): number => deltas[i + 1] ?? deltas[i] ?? 0;
  const { from, to, window } = busiestWindow(samples, deltas, idle, busiest, afterS);
  for (let i = from; i < to; i++) selfUs.set(samples[i] as number, (selfUs.get(samples[i] as number) ?? 0) + weight(i));
  // Inclusive time of our functions: each sample counts once for every distinct one of ours on its stack.
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const oursUs = new Map<string, number>();
  for (let i = from; i < to; i++) {
    const seen = new Set<string>();
    for (let id: number | undefined = samples[i]; id !== undefined; id = parent.get(id)) {
      const node = byId.get(id);
      if (node === undefined || !packageOf(node.callFrame.url).startsWith('@edgefleet/')) continue;
      seen.add(functionLabel(node));
    }
    for (const fn of seen) oursUs.set(fn, (oursUs.get(fn) ?? 0) + weight(i));
  }
  const byFunction = new Map<string, number>();
  const byPackage = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const us = selfUs.get(node.id) ?? 0;
    if (us === 0) continue;
    total += us;
    const fn = functionLabel(node);
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
    const pkg = node.callFrame.functionName === '(idle)' ? '(idle)' : packageOf(node.callFrame.url);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + us);
  }
  const lines = (m: Map<string, number>): CostLine[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: Math.round(us / 1000), share: us / total }));
  return {
    file,
    totalMs: Math.round(total / 1000),
    ...(window === undefined ? {} : { window }),
    functions: lines(byFunction),
    packages: lines(byPackage),
    ours: lines(oursUs),
  };
}

function functionLabel(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const where = url === '' ? '' : ` ${url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/packages\//, 'packages/')}:${lineNumber + 1}`;
  return `${functionName || '(anonymous)'}${where}`;
}

/** The sample range [from, to) of the `seconds`-long window with the most time not idle (all samples without `seconds`). */
function busiestWindow(
  samples: number[],
  deltas: number[],
  idle: Set<number>,
  seconds: number | { fromS: number; toS: number } | undefined,
  afterS: number,
): { from: number; to: number; window?: { fromS: number; toS: number } } {
  if (seconds === undefined || samples.length === 0) return { from: 0, to: samples.length };
  const at: number[] = [];
  let t = 0;
  for (let i = 0; i < samples.length; i++) {
    t += deltas[i] ?? 0;
    at.push(t);
  }
  if (typeof seconds === 'object') {
    const from = at.findIndex((us) => us >= seconds.fromS * 1e6);
    const end = at.findIndex((us) => us >= seconds.toS * 1e6);
    return { from: from < 0 ? samples.length : from, to: end < 0 ? samples.length : end, window: seconds };
  }
  const span = seconds * 1e6;
  // Two pointers over the samples' times: the busy time inside [at[lo], at[lo] + span).
  const busyUs = (i: number): number => (idle.has(samples[i] as number) ? 0 : (deltas[i + 1] ?? 0));
  let best = { from: 0, to: 0, busy: -1 };
  let busy = 0;
  let hi = 0;
  for (let lo = 0; lo < samples.length; lo++) {
    if ((at[lo] as number) < afterS * 1e6) {
      // Not a window's start: keep `busy` as the sum over [lo + 1, hi) once hi moves past it.
      if (hi <= lo) hi = lo + 1;
      else busy -= busyUs(lo);
      continue;
    }
    while (hi < samples.length && (at[hi] as number) < (at[lo] as number) + span) busy += busyUs(hi++);
    if (busy > best.busy) best = { from: lo, to: hi, busy };
    busy -= busyUs(lo);
  }
  return {
    from: best.from,
    to: best.to,
    window: { fromS: Math.round((at[best.from] as number) / 1e5) / 10, toS: Math.round((at[best.to - 1] as number) / 1e5) / 10 },
  };
}

/** Prints a summary as two short tables. */
export function printProfile(s: ReturnType<typeof summariseProfile>): void {
  const window = s.window === undefined ? '' : ` in ${s.window.fromS}–${s.window.toS} s after the start`;
  console.log(`CPU profile ${s.file}: ${s.totalMs} ms sampled${window}`);
  console.log('  self time by package:');
  for (const l of s.packages) console.log(`    ${(l.share * 100).toFixed(1).padStart(5)} %  ${String(l.ms).padStart(6)} ms  ${l.name}`);
  console.log('  self time by function:');
  for (const l of s.functions) console.log(`    ${(l.share * 100).toFixed(1).padStart(5)} %  ${String(l.ms).padStart(6)} ms  ${l.name}`);
  console.log('  inclusive time of our functions:');
  for (const l of s.ours) console.log(`    ${(l.share * 100).toFixed(1).padStart(5)} %  ${String(l.ms).padStart(6)} ms  ${l.name}`);
}
