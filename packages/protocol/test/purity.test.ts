/**
 * The package root must stay pure (it bundles for the browser): no module reachable from
 * src/index.ts may import a Node built-in, undici or zlib. Walks the import graph by
 * reading the files, no child process.
 */
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../src');
const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
const FORBIDDEN_PACKAGES = new Set(['undici', 'zlib', 'ws', 'better-sqlite3']);

/** Module specifiers of a file's static imports, re-exports and dynamic imports. */
export function importsOf(source: string): string[] {
  const out: string[] = [];
  const text = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  for (const m of text.matchAll(/\b(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?['"]([^'"]+)['"]/g)) out.push(m[1] as string);
  for (const m of text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1] as string);
  return out;
}

/** Every non-relative specifier reachable from `entry`, with the file that imports it. */
function externalImports(entry: string): Array<{ file: string; specifier: string }> {
  const seen = new Set<string>();
  const found: Array<{ file: string; specifier: string }> = [];
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      if (spec.startsWith('.')) queue.push(join(dirname(file), spec.replace(/\.js$/, '.ts')));
      else found.push({ file: relative(SRC, file), specifier: spec });
    }
  }
  return found;
}

function isNodeOnly(specifier: string): boolean {
  const pkg = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : (specifier.split('/')[0] as string);
  return BUILTINS.has(specifier) || BUILTINS.has(pkg) || specifier.startsWith('node:') || FORBIDDEN_PACKAGES.has(pkg);
}

describe('the package root', () => {
  it('reads the imports of a file, whatever their form', () => {
    const source = [
      "import { a } from './a.js';",
      "import type { B } from 'node:stream';",
      "export * from './c.js';",
      "import * as z from 'zod';",
      "import 'undici';",
      "const y = await import('node:zlib');",
      "// import { no } from 'node:fs';",
      "/* import { no } from 'node:os'; */",
    ].join('\n');
    expect(importsOf(source)).toEqual(['./a.js', 'node:stream', './c.js', 'zod', 'undici', 'node:zlib']);
  });

  it('imports no Node built-in, undici or zlib from any module it reaches', () => {
    const imports = externalImports(join(SRC, 'index.ts'));
    expect(imports.length).toBeGreaterThan(0);
    expect(imports.filter((i) => isNodeOnly(i.specifier))).toEqual([]);
  });

  it('would notice one: the Node subpath does import them', () => {
    const imports = externalImports(join(SRC, 'node/index.ts'));
    expect(imports.some((i) => isNodeOnly(i.specifier))).toBe(true);
  });
});
