/**
 * `npm run check:browser-bundle`: bundles the root of @edgefleet/protocol for the browser
 * with esbuild and fails when any module in it is a Node built-in (or undici, or zlib).
 * The dashboard bundles the same entry; this says so before vite does, and names the culprit.
 */
import { resolve } from 'node:path';
import { build } from 'esbuild';

const entry = resolve(import.meta.dirname, '../packages/protocol/src/index.ts');
const NODE_ONLY = /^(node:|undici$|zlib$|fs$|path$|crypto$|stream$|tls$|net$|http$|https$|os$|child_process$|worker_threads$)/;

const found: string[] = [];
try {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    write: false,
    metafile: true,
    logLevel: 'silent',
    conditions: ['edgefleet:source'],
    plugins: [
      {
        name: 'no-node-built-ins',
        setup(b) {
          b.onResolve({ filter: /.*/ }, (args) => {
            if (NODE_ONLY.test(args.path)) {
              found.push(`${args.path} (imported by ${args.importer})`);
              return { path: args.path, external: true };
            }
            return undefined;
          });
        },
      },
    ],
  });
  const bytes = result.outputFiles.reduce((n, f) => n + f.contents.byteLength, 0);
  if (found.length === 0) {
    console.log(
      `@edgefleet/protocol bundles for the browser: ${Object.keys(result.metafile.inputs).length} modules, ${Math.round(bytes / 1024)} KiB, no Node built-ins`,
    );
  }
} catch (err) {
  console.error(`esbuild could not bundle ${entry} for the browser:\n${(err as Error).message}`);
  process.exit(1);
}
if (found.length > 0) {
  console.error(`@edgefleet/protocol's root imports Node-only modules; move them to src/node/ (@edgefleet/protocol/node):\n  ${found.join('\n  ')}`);
  process.exit(1);
}
