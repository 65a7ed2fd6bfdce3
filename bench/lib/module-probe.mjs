// Loaded into a process with `node --import ./bench/lib/module-probe.mjs …` by
// `npm run bench:agent -- --probe`: records every module the process loads (ESM through a
// resolve hook, CommonJS through require.cache) and, on SIGUSR2, writes them with
// process.memoryUsage() and V8's heap spaces to the file in EDGEFLEET_PROBE_OUT. It answers
// "where does the agent's memory go"; the hook thread costs memory of its own, so the
// footprint figures are taken without it.
import { writeFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import v8 from 'node:v8';
import { MessageChannel } from 'node:worker_threads';

const out = process.env.EDGEFLEET_PROBE_OUT;
const esm = new Set();
const { port1, port2 } = new MessageChannel();
port1.on('message', (url) => esm.add(url));
port1.unref();
register(
  `data:text/javascript,${encodeURIComponent(`
let port;
export function initialize(data) { port = data.port; }
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  port.postMessage(r.url);
  return r;
}`)}`,
  { data: { port: port2 }, transferList: [port2] },
);

process.on('SIGUSR2', () => {
  if (out === undefined) return;
  const require = createRequire(import.meta.url);
  const cjs = Object.keys(require.cache);
  writeFileSync(
    out,
    JSON.stringify({
      memory: process.memoryUsage(),
      heapSpaces: v8.getHeapSpaceStatistics().map((s) => ({ name: s.space_name, usedKb: Math.round(s.space_used_size / 1024) })),
      modules: [...new Set([...esm, ...cjs.map((p) => `file://${p}`)])],
    }),
  );
});
