import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import { EdgefleetError } from '../errors.js';
import { API_VERSION, type DeploymentManifest, DeploymentManifestSchema, KINDS } from '../manifest.js';
import { fieldPath } from '../wire.js';

/** A validated manifest and where it came from (for messages: `fleet/app.yaml:12`). */
export interface LocatedManifest {
  manifest: DeploymentManifest;
  file: string;
  line: number;
}

function manifestError(file: string, line: number, message: string, hint: string, field?: string): EdgefleetError {
  return new EdgefleetError({ code: 'invalid_manifest', message: `${file}:${line}: ${message}`, hint, ...(field === undefined ? {} : { field }) });
}

/**
 * Validates one manifest object. `lineOf` maps a field path to its line in the source file
 * so errors point at the field, not just the document.
 */
export function validateManifest(
  value: unknown,
  file: string,
  line: number,
  lineOf: (path: ReadonlyArray<PropertyKey>) => number = () => line,
): DeploymentManifest {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw manifestError(file, line, 'a manifest must be a mapping with apiVersion, kind, metadata and spec', 'see examples/fleet/ for a Deployment');
  }
  const v = value as Record<string, unknown>;
  if (v.apiVersion !== API_VERSION) {
    throw manifestError(
      file,
      lineOf(['apiVersion']),
      `apiVersion ${JSON.stringify(v.apiVersion ?? null)} is not supported`,
      `write apiVersion: ${API_VERSION}`,
      'apiVersion',
    );
  }
  if (!KINDS.includes(v.kind as (typeof KINDS)[number])) {
    throw manifestError(file, lineOf(['kind']), `kind ${JSON.stringify(v.kind ?? null)} is not supported`, `supported kinds: ${KINDS.join(', ')}`, 'kind');
  }
  const parsed = DeploymentManifestSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    // An unknown field is named itself (and its line found), not the object that holds it.
    const path = issue?.code === 'unrecognized_keys' && issue.keys[0] !== undefined ? [...issue.path, issue.keys[0]] : (issue?.path ?? []);
    const field = fieldPath(path);
    throw manifestError(file, lineOf(path), `${field || 'manifest'}: ${issue?.message ?? 'invalid'}`, `fix the field "${field}"`, field);
  }
  return parsed.data;
}

/**
 * The YAML parser, loaded on the first manifest parsed (synchronously, so the API stays sync):
 * the agent imports this package too and never parses a manifest file, and an idle agent
 * would otherwise keep megabytes of parser in memory.
 */
const yaml = (): typeof Yaml => createRequire(import.meta.url)('yaml') as typeof Yaml;

/**
 * Parses a YAML (or JSON) file of one or more `---`-separated manifests. A syntax error names
 * the file and line; a schema error names the field path and its line.
 */
export function parseManifestFile(text: string, file: string): LocatedManifest[] {
  const y = yaml();
  const { isNode, LineCounter, parseAllDocuments } = y;
  const lineCounter = new LineCounter();
  // uniqueKeys off: the library compares every key with every other one (a 700 KB mapping
  // took 70 s, blocking the server's GitOps pass); duplicateKey does it in one pass.
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
  const out: LocatedManifest[] = [];
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    const err = doc.errors[0];
    if (err !== undefined) {
      const line = lineCounter.linePos(err.pos[0]).line;
      throw manifestError(file, line, `YAML syntax error: ${err.message.split('\n')[0]}`, 'fix the YAML at that line');
    }
    const dup = duplicateKey(doc.contents, y);
    if (dup !== undefined) {
      const line = dup.node?.range ? lineCounter.linePos(dup.node.range[0]).line : 1;
      throw manifestError(file, line, `YAML syntax error: Map keys must be unique (${JSON.stringify(dup.name)} is written twice)`, 'keep one of them');
    }
    const start = doc.contents?.range?.[0] ?? 0;
    const docLine = lineCounter.linePos(start).line;
    let value: unknown;
    try {
      value = doc.toJS();
    } catch (err) {
      // The yaml library refuses an alias bomb here ("excessive alias count"), after parsing.
      throw manifestError(file, docLine, `YAML error: ${(err as Error).message}`, 'write the values out instead of through many nested aliases');
    }
    if (value === null || value === undefined) continue; // an empty document between two ---
    const lineOf = (path: ReadonlyArray<PropertyKey>): number => {
      // The deepest existing node on the path gives the closest line.
      for (let n = path.length; n >= 0; n--) {
        const node = doc.getIn(path.slice(0, n) as unknown[], true);
        if (isNode(node) && node.range !== undefined && node.range !== null) return lineCounter.linePos(node.range[0]).line;
      }
      return docLine;
    };
    out.push({ manifest: validateManifest(value, file, docLine, lineOf), file, line: docLine });
  }
  return out;
}

/**
 * The first key written twice in one mapping, in one pass over the tree. Keys compare as
 * the property names they become (`1` and `"1"` are one key), so no value is silently
 * dropped on the way to JSON. Aliases are not followed: what they point at is checked
 * where it is written.
 */
function duplicateKey(root: unknown, y: typeof Yaml): { name: string; node: Yaml.Node | undefined } | undefined {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (y.isMap(node)) {
      const seen = new Set<unknown>();
      for (const pair of node.items) {
        const k: unknown = pair.key;
        const name: unknown = y.isScalar(k) ? String(k.value) : k;
        if (seen.has(name)) return { name: String(name), node: y.isNode(k) ? k : undefined };
        seen.add(name);
        stack.push(pair.value);
      }
    } else if (y.isSeq(node)) {
      for (const item of node.items) stack.push(item);
    }
  }
  return undefined;
}
