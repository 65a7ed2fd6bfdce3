import { isAbsolute, resolve } from 'node:path';
import { errors, type SourceView } from '@edgefleet/protocol';
import type { Command } from 'commander';
import { type ConnectionFlags, clientFrom } from '../connection.js';
import { ago, type Column, outputFormat, printData, renderTable } from '../output.js';

function condition(s: SourceView, type: SourceView['conditions'][number]['type']): SourceView['conditions'][number] | undefined {
  return s.conditions.find((c) => c.type === type);
}

const short = (rev: string | null): string => (rev === null ? '' : rev.slice(0, 12));

const SOURCE_COLUMNS: Column<SourceView>[] = [
  { header: 'NAME', cell: (s) => s.name },
  { header: 'READY', cell: (s) => condition(s, 'Ready')?.status ?? 'Unknown' },
  { header: 'STALLED', cell: (s) => condition(s, 'Stalled')?.status ?? 'Unknown' },
  { header: 'APPLIED', cell: (s) => short(s.lastAppliedRevision) },
  { header: 'BRANCH', cell: (s) => s.branch },
  { header: 'PATH', cell: (s) => s.path },
  { header: 'INTERVAL', cell: (s) => s.interval },
  { header: 'LAST SYNC', cell: (s) => ago(s.lastSyncAt) },
  { header: 'MESSAGE', cell: (s) => condition(s, 'Ready')?.message ?? '' },
];

/**
 * A relative path means a repository next to the user, so it is made absolute here; the
 * server reads it, so it must be on the server's host. URLs go through as they are.
 */
export function sourceLocation(git: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(git) || /^[\w.-]+@[\w.-]+:/.test(git) || isAbsolute(git)) return git;
  return resolve(git);
}

/** One line on what a source holds: `source/NAME Ready=True (Applied): message`. */
function summary(s: SourceView): string {
  const ready = condition(s, 'Ready');
  return `source/${s.name} Ready=${ready?.status ?? 'Unknown'} (${ready?.reason ?? 'Unknown'})${ready?.message ? `: ${ready.message}` : ''}`;
}

/** `edgefleet source …`: GitOps sources the server polls and applies. */
export function sourceCommands(program: Command): void {
  const source = program.command('source').alias('sources').description('GitOps: git repositories whose manifests the server applies');
  source
    .command('add <name>')
    .description('add a git repository the server polls; every manifest under --path is applied as one unit')
    .requiredOption('--git <url-or-path>', 'https URL, or path of a repository (working or bare) on the server host')
    .option('--branch <branch>', 'branch to follow', 'main')
    .option('--path <path>', 'folder inside the repository holding the manifests', 'fleet/')
    .option('--interval <duration>', 'how often to poll (5s to 24h)', '30s')
    .option('-o, --output <format>', 'text, json or yaml', 'text')
    .action(async (name: string, opts: { git: string; branch: string; path: string; interval: string; output: string } & ConnectionFlags) => {
      const format = opts.output === 'text' ? 'text' : outputFormat(opts.output, ['json', 'yaml'], 'json');
      const created = await clientFrom(opts).createSource({
        name,
        url: sourceLocation(opts.git),
        branch: opts.branch,
        path: opts.path,
        interval: opts.interval,
      });
      if (format !== 'text') return printData(created, format as 'json' | 'yaml');
      process.stdout.write(`source/${created.name} created\n`);
      process.stderr.write(`polling ${created.url} branch ${created.branch}, path ${created.path}, every ${created.interval}\n`);
    });
  source
    .command('list')
    .description('list sources with their applied commit and readiness')
    .option('-o, --output <format>', 'table, json or yaml', 'table')
    .action(async (opts: { output: string } & ConnectionFlags) => {
      const format = outputFormat(opts.output, ['table', 'json', 'yaml'], 'table');
      const { items } = await clientFrom(opts).listSources();
      if (format !== 'table') return printData({ items }, format);
      if (items.length === 0) return void process.stderr.write('No sources yet. Add one with "edgefleet source add NAME --git URL".\n');
      process.stdout.write(`${renderTable(items, SOURCE_COLUMNS)}\n`);
    });
  source
    .command('get <name>')
    .description('show a source: spec, lastAppliedRevision, lastAttemptedRevision and conditions')
    .option('-o, --output <format>', 'json or yaml', 'yaml')
    .action(async (name: string, opts: { output: string } & ConnectionFlags) => {
      const format = outputFormat(opts.output, ['json', 'yaml'], 'yaml') as 'json' | 'yaml';
      printData(await clientFrom(opts).getSource(name), format);
    });
  source
    .command('sync <name>')
    .description('poll a source now (also retries a commit the server refused) and show the result')
    .option('-o, --output <format>', 'text, json or yaml', 'text')
    .action(async (name: string, opts: { output: string } & ConnectionFlags) => {
      const format = opts.output === 'text' ? 'text' : outputFormat(opts.output, ['json', 'yaml'], 'json');
      const after = await clientFrom(opts).syncSource(name);
      if (format !== 'text') return printData(after, format as 'json' | 'yaml');
      process.stdout.write(`${summary(after)}\n`);
      const ready = condition(after, 'Ready');
      if (ready?.status === 'False') {
        // A failed sync fails the command, so `edgefleet source sync x && …` stops here.
        throw errors.sourceNotReady(
          `source ${name} is not ready (${ready.reason})`,
          ready.reason === 'SourceUnavailable'
            ? 'check the URL, the branch and that the server can reach the repository'
            : 'fix the manifest in git and commit; the last good state stays in force meanwhile',
        );
      }
    });
  source
    .command('delete <name>')
    .description('delete a source; the deployments it applied are pruned and nodes stop them')
    .action(async (name: string, opts: ConnectionFlags) => {
      await clientFrom(opts).deleteSource(name);
      process.stdout.write(`source/${name} deleted\n`);
    });
}
