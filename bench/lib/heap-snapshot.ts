/**
 * Reads a V8 heap snapshot (`node --heapsnapshot-signal`, `v8.writeHeapSnapshot`) and says
 * what the heap holds: self size and count by constructor (objects) or by kind (strings,
 * arrays, code, closures…), so a benchmark can name what a server keeps per node instead of
 * guessing from RSS.
 *
 * A snapshot of a busy server is larger than the longest string V8 can parse at once (about
 * 512 MiB), so the file is read as a stream: the header, then the `nodes` numbers (only
 * each node's type, name and self size are kept), then the `strings`; the edges and the
 * rest are skipped. Self sizes only: what an object keeps alive through its edges (retained
 * size) needs the dominator tree, which this does not build.
 */
import { createReadStream } from 'node:fs';

/** One line of the summary: a constructor or kind, its objects' self size and count. */
export interface HeapLine {
  name: string;
  bytes: number;
  count: number;
}

export interface HeapSummary {
  totalBytes: number;
  nodeCount: number;
  lines: HeapLine[];
}

interface SnapshotMeta {
  node_fields: string[];
  node_types: [string[], ...unknown[]];
}

/** Where the reader is in the file. */
type Section = 'header' | 'nodes' | 'skip' | 'strings' | 'done';

/** Summarises the snapshot at `file`: the `top` largest constructors and kinds by self size. */
export async function summariseHeapSnapshot(file: string, top = 25): Promise<HeapSummary> {
  let section: Section = 'header';
  let header = '';
  let fieldCount = 0;
  let typeAt = 0;
  let nameAt = 0;
  let sizeAt = 0;
  let typeNames: string[] = [];
  let types = new Uint8Array(0);
  let names = new Uint32Array(0);
  let sizes = new Float64Array(0);
  let field = 0; // index into the nodes array
  let number = -1; // the number being read, -1 between numbers
  let tail = ''; // the end of the last chunk, for a marker split across chunks
  const strings: string[] = [];
  let partial = ''; // a string's text from earlier chunks
  let inString = false;
  let escaped = false;

  const keep = (value: number): void => {
    const node = Math.floor(field / fieldCount);
    const at = field % fieldCount;
    if (at === typeAt) types[node] = value;
    else if (at === nameAt) names[node] = value;
    else if (at === sizeAt) sizes[node] = value;
    field++;
  };

  const stream = createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 });
  for await (const chunk of stream as AsyncIterable<string>) {
    let i = 0;
    while (i < chunk.length && section !== 'done') {
      if (section === 'header') {
        header += chunk;
        const at = header.indexOf('"nodes":[');
        if (at < 0) break;
        const meta = JSON.parse(`${header.slice(0, at).replace(/,\s*$/, '')}}`) as { snapshot: { meta: SnapshotMeta; node_count: number } };
        const fields = meta.snapshot.meta.node_fields;
        fieldCount = fields.length;
        typeAt = fields.indexOf('type');
        nameAt = fields.indexOf('name');
        sizeAt = fields.indexOf('self_size');
        typeNames = meta.snapshot.meta.node_types[0];
        const n = meta.snapshot.node_count;
        types = new Uint8Array(n);
        names = new Uint32Array(n);
        sizes = new Float64Array(n);
        section = 'nodes';
        // Continue in this chunk right after the marker.
        i = chunk.length - (header.length - (at + '"nodes":['.length));
        header = '';
        continue;
      }
      if (section === 'nodes') {
        for (; i < chunk.length; i++) {
          const c = chunk.charCodeAt(i);
          if (c >= 48 && c <= 57) number = (number < 0 ? 0 : number * 10) + (c - 48);
          else {
            if (number >= 0) keep(number);
            number = -1;
            if (c === 93 /* ] */) {
              section = 'skip';
              i++;
              break;
            }
          }
        }
        continue;
      }
      if (section === 'skip') {
        const window = tail + chunk.slice(i);
        const at = window.indexOf('"strings":[');
        if (at < 0) {
          tail = window.slice(-16);
          break;
        }
        i = i + (at - tail.length) + '"strings":['.length;
        tail = '';
        section = 'strings';
        continue;
      }
      // strings: JSON string tokens separated by commas, up to the closing bracket.
      let start = inString ? i : -1;
      for (; i < chunk.length; i++) {
        const c = chunk.charCodeAt(i);
        if (inString) {
          if (escaped) escaped = false;
          else if (c === 92 /* \\ */) escaped = true;
          else if (c === 34 /* " */) {
            inString = false;
            strings.push(JSON.parse(`"${partial}${chunk.slice(start, i)}"`) as string);
            partial = '';
          }
        } else if (c === 34) {
          inString = true;
          start = i + 1;
        } else if (c === 93 /* ] */) {
          section = 'done';
          break;
        }
      }
      if (inString) partial += chunk.slice(start);
    }
    if (section === 'done') break;
  }
  stream.destroy();
  if (section !== 'done') throw new Error(`${file} ended before its strings: not a complete heap snapshot`);

  const byName = new Map<string, HeapLine>();
  let totalBytes = 0;
  for (let n = 0; n < types.length; n++) {
    const type = typeNames[types[n] as number] ?? 'unknown';
    const size = sizes[n] as number;
    totalBytes += size;
    // Objects by constructor; everything else by its kind (one line for all strings, code…).
    const name = type === 'object' || type === 'native' ? `${strings[names[n] as number] ?? '?'}${type === 'native' ? ' (native)' : ''}` : `(${type})`;
    const line = byName.get(name);
    if (line === undefined) byName.set(name, { name, bytes: size, count: 1 });
    else {
      line.bytes += size;
      line.count++;
    }
  }
  const lines = [...byName.values()].sort((a, b) => b.bytes - a.bytes).slice(0, top);
  return { totalBytes, nodeCount: types.length, lines };
}

/** Prints a summary as a table of MiB, share and count. */
export function printHeapSummary(s: HeapSummary): void {
  const mib = (b: number) => (b / 1024 / 1024).toFixed(1);
  console.log(`  heap snapshot: ${mib(s.totalBytes)} MiB in ${s.nodeCount} objects; largest by self size:`);
  for (const l of s.lines)
    console.log(`    ${mib(l.bytes).padStart(8)} MiB  ${((l.bytes / s.totalBytes) * 100).toFixed(1).padStart(5)} %  ${String(l.count).padStart(9)}  ${l.name}`);
}
