#!/usr/bin/env node
/**
 * One version of each dependency across the workspaces: fails (exit 1) when two package.json
 * files of this repository (the root and every workspace) ask for different ranges of the
 * same package, naming each file and range, so the fix is to write one range everywhere.
 * Run by `npm test`, `npm run test:unit` and `npm run check:deps`.
 */
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(fileURLToPath(import.meta.url), '../..');
const KINDS = ['dependencies', 'devDependencies', 'optionalDependencies', 'peerDependencies'];

const read = (dir) => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
const root = read(ROOT);
const dirs = [ROOT, ...(root.workspaces ?? []).map((w) => join(ROOT, w))];

/** package name → range → where it is asked for ("packages/agent (dependencies)"). */
const asked = new Map();
for (const dir of dirs) {
  const manifest = read(dir);
  for (const kind of KINDS) {
    for (const [name, range] of Object.entries(manifest[kind] ?? {})) {
      const ranges = asked.get(name) ?? new Map();
      asked.set(name, ranges);
      ranges.set(range, [...(ranges.get(range) ?? []), `${relative(ROOT, dir) || '.'} (${kind})`]);
    }
  }
}

const split = [...asked].filter(([, ranges]) => ranges.size > 1);
for (const [name, ranges] of split) {
  console.error(`${name} is asked for in ${ranges.size} ranges:`);
  for (const [range, where] of ranges) console.error(`  ${range}: ${where.join(', ')}`);
}
if (split.length > 0) {
  console.error(
    `check-deps: ${split.length} package(s) with more than one range; write the same range in every package.json, then npm install to update package-lock.json`,
  );
  process.exit(1);
}
console.log(`check-deps: ${asked.size} packages, one range each across ${dirs.length} package.json files`);
