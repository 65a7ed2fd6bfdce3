import { readFileSync } from 'node:fs';
import { errors, type RegistryView } from '@edgefleet/protocol';
import { type Command, Option } from 'commander';
import { type ConnectionFlags, clientFrom, readFlagFile } from '../connection.js';
import { ago, type Column, outputFormat, printData, renderTable } from '../output.js';

const REGISTRY_COLUMNS: Column<RegistryView>[] = [
  { header: 'NAME', cell: (r) => r.name },
  { header: 'SERVER', cell: (r) => r.server },
  { header: 'USERNAME', cell: (r) => r.username ?? '' },
  { header: 'PASSWORD', cell: (r) => (r.hasPassword ? 'set' : '') },
  { header: 'CA', cell: (r) => r.ca.map((c) => `${c.subject} (${c.fingerprint.slice(0, 16)})`).join('; ') || 'system' },
  { header: 'UPDATED', cell: (r) => ago(r.updatedAt) },
];

/**
 * The password in a file: its content less one trailing line break (what `echo` or an
 * editor adds), never trimmed further, since spaces may belong to the password.
 */
export function readPasswordFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw errors.config(
      `cannot read --password-file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      'check the path given to --password-file',
    );
  }
  const password = text.replace(/\r?\n$/, '');
  if (password === '') throw errors.config(`--password-file ${path} is empty`, 'write the registry password into the file');
  return password;
}

/** Options of `registry add`: `--server` is the registry, the control plane comes from EDGEFLEET_SERVER or the login config. */
interface RegistryAddFlags extends Omit<ConnectionFlags, 'server'> {
  server: string;
  username?: string;
  password?: string;
  passwordFile?: string;
  caFile?: string;
  output: string;
}

/** `edgefleet registry …`: container registries nodes pull images from, with their CA and pull credentials. */
export function registryCommands(program: Command): void {
  const registry = program.command('registry').alias('registries').description('container registries: address, CA and pull credentials nodes use for images');
  registry
    .command('add <name>')
    .description('add a container registry, or replace the one of that name entirely (fields left out are cleared)')
    .requiredOption('--server <url>', "the REGISTRY's address, https://HOST[:PORT] (not the control plane: see below)")
    .option('--username <user>', 'pull user name (with --password-file)')
    .option('--password-file <file>', 'file holding the pull password (one trailing line break is dropped); stored encrypted on the server')
    .option('--ca-file <pem>', "PEM CA certificate(s) that sign the registry's TLS certificate (for a private CA)")
    .option('--token <token>', 'API token (or EDGEFLEET_TOKEN)')
    .option('--ca <file>', 'fleet CA certificate, PEM (or EDGEFLEET_CA)')
    .option('-o, --output <format>', 'text, json or yaml', 'text')
    // Accepted only to be refused with a hint: a password on the command line lands in shell history and `ps`.
    .addOption(new Option('--password <password>').hideHelp())
    .addHelpText(
      'after',
      '\nHere --server is the registry\'s address. The control plane this command talks to comes from\nEDGEFLEET_SERVER, or from "edgefleet login" (its config), never from a flag.\n\nExample:\n  EDGEFLEET_SERVER=https://fleet.example:8443 edgefleet registry add harbor-eu \\\n    --server https://harbor.example:5000 --username robot-pull --password-file pull.pass --ca-file harbor-ca.pem',
    )
    .action(async (name: string, opts: RegistryAddFlags) => {
      if (opts.password !== undefined)
        throw errors.config(
          '--password is refused: a password on the command line stays in shell history and is visible to every user in `ps`',
          'write it to a file readable only by you and pass --password-file FILE (or --password-file /dev/stdin to pipe it in)',
        );
      if ((opts.username === undefined) !== (opts.passwordFile === undefined))
        throw errors.config('--username and --password-file go together', 'give both for a registry that needs a login, or neither for an anonymous one');
      const format = opts.output === 'text' ? 'text' : outputFormat(opts.output, ['json', 'yaml'], 'json');
      const body = {
        name,
        server: opts.server,
        ...(opts.username === undefined ? {} : { username: opts.username }),
        ...(opts.passwordFile === undefined ? {} : { password: readPasswordFile(opts.passwordFile) }),
        ...(opts.caFile === undefined ? {} : { caPem: `${readFlagFile(opts.caFile, '--ca-file')}\n` }),
      };
      // The control plane: EDGEFLEET_SERVER or the login config (--server is the registry here).
      const client = clientFrom({ ...(opts.token === undefined ? {} : { token: opts.token }), ...(opts.ca === undefined ? {} : { ca: opts.ca }) });
      const put = await client.createRegistry(body);
      if (format !== 'text') return printData(put, format as 'json' | 'yaml');
      process.stdout.write(`registry/${put.registry.name} ${put.replaced ? 'replaced' : 'added'}\n`);
      process.stderr.write(
        `${put.registry.server}${put.registry.username === null ? ', anonymous' : `, user ${put.registry.username} (password stored encrypted)`}${put.registry.ca.length > 0 ? `, CA ${put.registry.ca.map((c) => c.subject).join('; ')}` : ', system CAs'}\n`,
      );
    });
  registry
    .command('list')
    .description('list registries: address, user, whether a password is set, CA (never the password)')
    .option('-o, --output <format>', 'table, json or yaml', 'table')
    .action(async (opts: { output: string } & ConnectionFlags) => {
      const format = outputFormat(opts.output, ['table', 'json', 'yaml'], 'table');
      const { items } = await clientFrom(opts).listRegistries();
      if (format !== 'table') return printData({ items }, format);
      if (items.length === 0) return void process.stderr.write('No registries yet. Add one with "edgefleet registry add NAME --server https://HOST:PORT".\n');
      process.stdout.write(`${renderTable(items, REGISTRY_COLUMNS)}\n`);
    });
  registry
    .command('delete <name>')
    .description('delete a registry (allowed while deployments pull from it: they are named, with a warning)')
    .action(async (name: string, opts: ConnectionFlags) => {
      const deleted = await clientFrom(opts).deleteRegistry(name);
      process.stdout.write(`registry/${deleted.deleted} deleted\n`);
      if (deleted.warning !== null) process.stderr.write(`warning: ${deleted.warning}\n`);
    });
}
