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

/** Self time by function and by package from the newest `.cpuprofile` in `dir`. */
export function summariseProfile(dir: string, top = 15): { file: string; totalMs: number; functions: CostLine[]; packages: CostLine[] } {
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
  for (let i = 0; i < samples.length; i++) selfUs.set(samples[i] as number, (selfUs.get(samples[i] as number) ?? 0) + (deltas[i + 1] ?? deltas[i] ?? 0));
  const byFunction = new Map<string, number>();
  const byPackage = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const us = selfUs.get(node.id) ?? 0;
    if (us === 0) continue;
    total += us;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url === '' ? '' : ` ${url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/packages\//, 'packages/')}:${lineNumber + 1}`;
    const fn = `${functionName || '(anonymous)'}${where}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
    const pkg = functionName === '(idle)' ? '(idle)' : packageOf(url);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + us);
  }
  const lines = (m: Map<string, number>): CostLine[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: Math.round(us / 1000), share: us / total }));
  return { file, totalMs: Math.round(total / 1000), functions: lines(byFunction), packages: lines(byPackage) };
}

/** Prints a summary as two short tables. */
export function printProfile(s: ReturnType<typeof summariseProfile>): void {
  console.log(`CPU profile ${s.file}: ${s.totalMs} ms sampled`);
  console.log('  self time by package:');
  for (const l of s.packages) console.log(`    ${(l.share * 100).toFixed(1).padStart(5)} %  ${String(l.ms).padStart(6)} ms  ${l.name}`);
  console.log('  self time by function:');
  for (const l of s.functions) console.log(`    ${(l.share * 100).toFixed(1).padStart(5)} %  ${String(l.ms).padStart(6)} ms  ${l.name}`);
}
