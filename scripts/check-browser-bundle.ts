/**
 * `npm run check:browser-bundle`: bundles the root of @edgefleet/protocol for the browser
 * with esbuild and fails when any module in it is a Node built-in (any of `module.isBuiltin`)
 * or undici. The dashboard bundles the same entry, but vite only warns when it stubs a built-in
 * out; this fails, and names the culprit. Run by `npm test` (so by CI) and `npm run lint`.
 */
import { isBuiltin } from 'node:module';
import { resolve } from 'node:path';
import { build } from 'esbuild';

const entry = resolve(import.meta.dirname, '../packages/protocol/src/index.ts');
/** Every Node built-in (with or without `node:`, per Node's own list), and undici (Node's HTTP client, not the browser's fetch). */
const nodeOnly = (path: string): boolean => isBuiltin(path) || path === 'undici' || path.startsWith('undici/');

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
            if (nodeOnly(args.path)) {
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
