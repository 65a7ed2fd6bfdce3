import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import { type DeploymentView, errors } from '@edgefleet/protocol';
import { type LocatedManifest, parseManifestFile } from '@edgefleet/protocol/node';
import type { Command } from 'commander';
import { type ConnectionFlags, clientFrom } from '../connection.js';
import { ago, type Column, outputFormat, printData, renderTable } from '../output.js';
import { deploymentLatencyCommand } from './latency.js';

const MANIFEST_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

/** Every manifest file under a path, in a stable order (a file, or a folder walked recursively). */
function manifestFiles(path: string): string[] {
  let stat: ReturnType<typeof statSync>;
  try {
    stat = statSync(path);
  } catch {
    throw errors.config(`cannot read ${path}: no such file or folder`, 'give -f a manifest file or a folder of them');
  }
  if (stat.isFile()) return [path];
  const out: string[] = [];
  for (const entry of readdirSync(path, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (entry.name.startsWith('.')) continue;
    const full = join(path, entry.name);
    if (entry.isDirectory()) out.push(...manifestFiles(full));
    else if (MANIFEST_EXTENSIONS.has(extname(entry.name))) out.push(full);
  }
  return out;
}

/** Reads and validates every manifest under the given paths; errors name file and line. */
function readManifests(paths: string[]): LocatedManifest[] {
  const files = paths.flatMap(manifestFiles);
  if (files.length === 0) throw errors.config(`no .yaml, .yml or .json files in ${paths.join(', ')}`, 'give -f a manifest file or a folder of them');
  // Name files as the user would: relative to here when inside it, else as given.
  const shown = (f: string): string => {
    const rel = relative(process.cwd(), f);
    return rel === '' || rel.startsWith('..') ? f : rel;
  };
  return files.flatMap((f) => parseManifestFile(readFileSync(f, 'utf8'), shown(f)));
}

function condition(d: DeploymentView, type: string): string {
  return d.status.conditions.find((c) => c.type === type)?.status ?? 'Unknown';
}

const DEPLOYMENT_COLUMNS: Column<DeploymentView>[] = [
  { header: 'NAME', cell: (d) => d.metadata.name },
  { header: 'REVISION', cell: (d) => String(d.status.revision) },
  { header: 'READY', cell: (d) => condition(d, 'Ready') },
  { header: 'NODES', cell: (d) => d.status.conditions.find((c) => c.type === 'Ready')?.message.split(' ')[0] ?? '' },
  { header: 'STALLED', cell: (d) => condition(d, 'Stalled') },
  { header: 'SOURCE', cell: (d) => d.metadata.source ?? 'apply' },
  { header: 'UPDATED', cell: (d) => ago(d.metadata.updatedAt) },
];

/** `edgefleet apply` and `edgefleet deployments …`. */
export function deploymentCommands(program: Command): void {
  program
    .command('apply')
    .description('validate and apply Deployment manifests (a file or a folder)')
    .requiredOption('-f, --filename <path...>', 'manifest file or folder (repeatable)')
    .action(async (opts: { filename: string[] } & ConnectionFlags) => {
      const located = readManifests(opts.filename);
      const { results } = await clientFrom(opts).apply(
        located.map((l) => l.manifest),
        located.map((l) => `${l.file}:${l.line}`),
      );
      for (const r of results) {
        const what = r.result === 'configured' ? `configured (revision ${r.revision})` : r.result;
        process.stdout.write(`deployment/${r.name} ${what}\n`);
      }
    });

  const deployments = program.command('deployments').alias('deployment').description('deployed model releases');
  deployments
    .command('list')
    .description('list deployments with their revision and readiness')
    .option('-o, --output <format>', 'table, json or yaml', 'table')
    .action(async (opts: { output: string } & ConnectionFlags) => {
      const format = outputFormat(opts.output, ['table', 'json', 'yaml'], 'table');
      const { items } = await clientFrom(opts).listDeployments();
      if (format !== 'table') return printData({ items: items.map(contractView) }, format);
      if (items.length === 0) return void process.stderr.write('No deployments yet. Apply one with "edgefleet apply -f FILE".\n');
      process.stdout.write(`${renderTable(items, DEPLOYMENT_COLUMNS)}\n`);
    });
  deployments
    .command('get <name>')
    .description('show a deployment: spec, revision, conditions and per-node states')
    .option('-o, --output <format>', 'json or yaml', 'yaml')
    .action(async (name: string, opts: { output: string } & ConnectionFlags) => {
      const format = outputFormat(opts.output, ['json', 'yaml'], 'yaml') as 'json' | 'yaml';
      printData(contractView(await clientFrom(opts).getDeployment(name)), format);
    });
  deploymentLatencyCommand(deployments);
  deployments
    .command('delete <name>')
    .description('delete a deployment; nodes stop its workload')
    .action(async (name: string, opts: ConnectionFlags) => {
      await clientFrom(opts).deleteDeployment(name);
      process.stdout.write(`deployment/${name} deleted\n`);
    });
}

/** The `deployments get -o json` shape: metadata, spec, and status with exactly these keys. */
function contractView(d: DeploymentView): {
  metadata: DeploymentView['metadata'];
  spec: DeploymentView['spec'];
  status: Pick<DeploymentView['status'], 'revision' | 'observedGeneration' | 'conditions' | 'nodes'>;
} {
  const { revision, observedGeneration, conditions, nodes } = d.status;
  return { metadata: d.metadata, spec: d.spec, status: { revision, observedGeneration, conditions, nodes } };
}
